/* What an MCP session (mcp_session.h) needs from a transport: send one JSON-RPC message, receive
 * the next one the server sent, close. Two implementations: stdio (mcp_stdio.h, a child process
 * speaking one message per line) and streamable HTTP (mcp_http.h, a POST per message whose reply
 * is a JSON body or an SSE stream). Deadlines are absolute CLOCK_MONOTONIC seconds (cn_mcp_now). */
#ifndef CN_AGENT_MCP_TRANSPORT_H
#define CN_AGENT_MCP_TRANSPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

typedef enum {
    CN_MCP_RECV_MESSAGE, /* *text holds one message */
    CN_MCP_RECV_TIMEOUT, /* nothing arrived before the deadline; the transport is still usable */
    CN_MCP_RECV_CLOSED,  /* the server is gone (process exited, connection failed, session expired) */
} cn_mcp_recv_kind;

typedef struct {
    /* Sends one message. An error means the transport is unusable (the server is gone);
     * CN_ERR_BUSY means the server refused it unprocessed because our session is no longer
     * known (HTTP 404 with an Mcp-Session-Id): a new session may safely send it again. For HTTP
     * a request's reply is then read by recv as it arrives. */
    cn_status (*send)(void *impl, const char *json, double deadline, cn_error *err);
    /* Next message from the server; CLOSED and its reason in err, or TIMEOUT. Only out of memory
     * is a returned error. */
    cn_status (*recv)(void *impl, double deadline, cn_mcp_recv_kind *kind, char **text, cn_error *err);
    /* A message that has already arrived outside any request (stdio: in the pipe; HTTP: on the
     * GET stream), without waiting: MESSAGE, or TIMEOUT when there is none, CLOSED when the
     * server is known to be gone. Only out of memory is a returned error. */
    cn_status (*poll)(void *impl, cn_mcp_recv_kind *kind, char **text, cn_error *err);
    /* The negotiated protocol version (HTTP sends it as MCP-Protocol-Version from then on). */
    void (*negotiated)(void *impl, const char *protocol_version);
    /* Ends the connection (stdio: close stdin, wait, SIGTERM, SIGKILL) and frees impl. */
    void (*close)(void *impl);
} cn_mcp_transport_ops;

typedef struct {
    const cn_mcp_transport_ops *ops;
    void *impl;
} cn_mcp_transport;

/* Seconds on CLOCK_MONOTONIC. */
double cn_mcp_now(void);

/* One line "mcp NAME: ..." on progress (when not NULL): start-up, restarts, stray output. */
void cn_mcp_note(FILE *progress, const char *server, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
