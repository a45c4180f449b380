/* The MCP stdio transport (specs/protocols.md 3.2): the server is a child process we spawn; we
 * write one JSON-RPC message per line to its stdin and read one per line from its stdout. Its
 * stderr is free-form logging: drained whenever we wait and forwarded, line by line, to progress.
 * (The stderr pipe is enlarged to 1 MiB where the system allows, so logging between calls does
 * not block the server.) The child gets its own process group, so shutdown (close stdin, wait 2 s, SIGTERM, wait 1 s,
 * SIGKILL) reaches anything it started. Its stdin is a socket pair written with MSG_NOSIGNAL, so a
 * dead server is an error value, never a SIGPIPE for the runtime. */
#ifndef CN_AGENT_MCP_STDIO_H
#define CN_AGENT_MCP_STDIO_H

#include "agent/mcp_config.h"
#include "agent/mcp_transport.h"

/* Longest message line accepted from a server; longer means the stream is broken. */
#define CN_MCP_MAX_LINE (16u << 20)

/* Spawns cfg's command; err says why it could not be run (not found, not executable, bad cwd). */
cn_status cn_mcp_stdio_open(const cn_mcp_server_config *cfg, FILE *progress, cn_mcp_transport *out, cn_error *err);

#endif
