/* The MCP streamable HTTP transport (specs/protocols.md 3.4), over libcurl: every message is a
 * POST to the one endpoint with Content-Type: application/json and Accept: application/json,
 * text/event-stream; the reply is a JSON body (one message), an SSE stream whose events carry the
 * messages (notifications and server requests may come before the response), or 202 for a
 * notification or response we sent. The Mcp-Session-Id the server gives on initialize is sent on
 * every later request, MCP-Protocol-Version after the handshake, the configured headers always
 * (a static bearer token, for instance). A 404 while holding a session id means the session
 * expired: the transport reports itself closed and the supervisor initializes a new session. The
 * session is ended with DELETE on close.
 *
 * Exchanges overlap (one libcurl multi handle): send of a request starts its POST and returns
 * once the status is known (so a 404 is reported by send), and recv then takes the messages of
 * its reply as they arrive, while send of a notification or of our answer to a server request
 * runs as a second exchange to its end (202) without closing the first: a server may wait for
 * our answer before it finishes the call. After the handshake the optional GET stream is opened
 * for server messages outside a call (405: not offered). A request's SSE reply that ends without
 * the response after the server gave event ids is resumed with GET + Last-Event-ID
 * (specs/protocols.md 3.4; MCP 2025-11-25 "Resumability and Redelivery"). */
#ifndef CN_AGENT_MCP_HTTP_H
#define CN_AGENT_MCP_HTTP_H

#include "agent/mcp_config.h"
#include "agent/mcp_transport.h"

cn_status cn_mcp_http_open(const cn_mcp_server_config *cfg, FILE *progress, cn_mcp_transport *out, cn_error *err);

#endif
