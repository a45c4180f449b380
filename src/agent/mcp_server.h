/* A supervised MCP server: connects (spawns a stdio server or opens an HTTP session), initializes,
 * and keeps it usable across failures. A server that dies or breaks its stream during a call fails
 * that call with a message for the model and is restarted (connect + initialize again) when the
 * next call needs it, after a backoff of 0.5 s doubling per consecutive failed attempt (at most
 * 8 s); after CN_MCP_MAX_CONSECUTIVE_RESTARTS attempts without a successful call in between, or
 * CN_MCP_MAX_RESTARTS in all, the server is given up and its tools answer with an error for the
 * rest of the process (specs/protocols.md 3.2, supervision). */
#ifndef CN_AGENT_MCP_SERVER_H
#define CN_AGENT_MCP_SERVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "agent/mcp_config.h"
#include "agent/mcp_session.h"

#define CN_MCP_MAX_CONSECUTIVE_RESTARTS 5
#define CN_MCP_MAX_RESTARTS 100

typedef struct {
    const cn_mcp_server_config *cfg; /* not owned */
    const char *workspace;           /* offered as the session's root; not owned, may be NULL */
    FILE *progress;
    cn_mcp_session session;
    bool up;
    int consecutive; /* restart attempts since the last successful call */
    int restarts;    /* in all */
    bool relist;     /* restarted since its tools were last listed */
    double down_since;
    char last_error[400];
} cn_mcp_server;

/* First start: connect, initialize, list every tool (*tools: a cJSON array). On failure nothing is
 * left running and err names the server. */
cn_status cn_mcp_server_start(cn_mcp_server *srv, const cn_mcp_server_config *cfg, const char *workspace,
                              FILE *progress, cJSON **tools, cn_error *err);
void cn_mcp_server_stop(cn_mcp_server *srv);

/* Between calls: handles what the server sent since the last one (cn_mcp_session_poll) and, when
 * it announced a new tool list (notifications/tools/list_changed) or was restarted since its
 * tools were last listed, lists them again (paginated): *tools gets the new list, or stays NULL
 * (nothing to do, the server is down, or listing failed: said on progress, the caller keeps the
 * old list). Only out of memory is an error. */
cn_status cn_mcp_server_refresh(cn_mcp_server *srv, cJSON **tools, cn_error *err);

/* Calls a tool. *result gets the CallToolResult, or stays NULL and problem says, for the model,
 * why there is none (server down, died during the call, timed out and cancelled, JSON-RPC error).
 * Only running out of memory is a returned error. deadline: absolute cn_mcp_now() seconds. */
cn_status cn_mcp_server_call(cn_mcp_server *srv, const char *tool, const cJSON *args, double deadline, cJSON **result,
                             char *problem, size_t problem_size, cn_error *err);

#endif
