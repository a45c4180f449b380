/* One MCP client session over a transport (specs/protocols.md 3.1, 3.3): the initialize handshake
 * with protocol version negotiation, notifications/initialized, paginated tools/list and
 * tools/call with a deadline and cancellation. While waiting for a response, whatever else the
 * server sends is handled in arrival order: notifications are noted (notifications/tools/
 * list_changed sets tools_changed), server requests are answered at once (ping with an empty
 * result; roots/list with the workspace as the one file:// root, the only client capability
 * declared; sampling/createMessage, elicitation/create and anything else with JSON-RPC error
 * -32601, as those capabilities are not declared), responses to ids no one waits for any more (a
 * call cancelled on timeout) are dropped, and lines that are not JSON-RPC are reported on progress
 * and skipped. */
#ifndef CN_AGENT_MCP_SESSION_H
#define CN_AGENT_MCP_SESSION_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/mcp_transport.h"

/* The newest revision we offer, and every one we accept from the server (all handshake-era:
 * 2026-07-28's stateless envelope is not spoken, specs/protocols.md 3.5). */
#define CN_MCP_PROTOCOL_VERSION "2025-11-25"

typedef enum {
    CN_MCP_FAIL_NONE,
    CN_MCP_FAIL_RPC,       /* the server answered with a JSON-RPC error (err has code and message) */
    CN_MCP_FAIL_TIMEOUT,   /* no answer before the deadline (a tools/call was cancelled) */
    CN_MCP_FAIL_TRANSPORT, /* the server is gone: restart it */
    CN_MCP_FAIL_EXPIRED,   /* the request was refused unprocessed (HTTP session expired): re-initialize, resend */
    CN_MCP_FAIL_PROTOCOL,  /* it answered something unusable (bad initialize result, version) */
} cn_mcp_fail;

typedef struct {
    cn_mcp_transport transport; /* owned */
    const char *name;           /* the server's configured name (not owned) */
    FILE *progress;
    int64_t next_id;
    char protocol_version[32];
    char server_info[160]; /* "name version" from initialize */
    uint64_t stray_lines;  /* lines that were not JSON-RPC */
    uint64_t notifications, server_requests, dropped_responses;
    char *root_uri;     /* "file:///..." of the workspace, owned; NULL: the roots capability is not declared */
    bool tools_changed; /* a notifications/tools/list_changed came; the owner clears it after re-listing */
} cn_mcp_session;

/* Takes ownership of transport (closed by cn_mcp_session_close, also on failure here). Runs
 * initialize and notifications/initialized. workspace (may be NULL) is offered as the root. */
cn_status cn_mcp_session_open(cn_mcp_session *s, cn_mcp_transport transport, const char *name, const char *workspace,
                              FILE *progress, double deadline, cn_mcp_fail *fail, cn_error *err);

/* An absolute path as a file:// URI (RFC 8089): every byte outside the RFC 3986 unreserved set
 * and "/" percent-encoded. NULL when out of memory. */
char *cn_mcp_file_uri(const char *path);
void cn_mcp_session_close(cn_mcp_session *s);

/* Handles what the server sent outside any request and is already here (a notification or a
 * server request that came after the last answer): answered or noted as while waiting, without
 * waiting for more. CN_MCP_FAIL_TRANSPORT in fail when the server turned out to be gone. */
cn_status cn_mcp_session_poll(cn_mcp_session *s, cn_mcp_fail *fail, cn_error *err);

/* Every tool, following nextCursor (bounded: 1000 pages); *tools is a cJSON array. */
cn_status cn_mcp_session_list_tools(cn_mcp_session *s, double deadline, cJSON **tools, cn_mcp_fail *fail,
                                    cn_error *err);

/* tools/call; *result is the CallToolResult object. On a timeout notifications/cancelled is sent. */
cn_status cn_mcp_session_call_tool(cn_mcp_session *s, const char *tool, const cJSON *args, double deadline,
                                   cJSON **result, cn_mcp_fail *fail, cn_error *err);

#endif
