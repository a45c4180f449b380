/* Supervision of one MCP server (mcp_server.h). */
#include "agent/mcp_server.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "agent/mcp_http.h"
#include "agent/mcp_stdio.h"

static cn_status connect_server(cn_mcp_server *srv, cn_mcp_fail *fail, cn_error *err) {
    const cn_mcp_server_config *cfg = srv->cfg;
    cn_mcp_transport t;
    *fail = CN_MCP_FAIL_TRANSPORT;
    cn_status s = cfg->command ? cn_mcp_stdio_open(cfg, srv->progress, &t, err)
                               : cn_mcp_http_open(cfg, srv->progress, &t, err);
    if (s != CN_OK) return s;
    s = cn_mcp_session_open(&srv->session, t, cfg->name, srv->workspace, srv->progress, cn_mcp_now() + cfg->timeout_s, fail, err);
    if (s != CN_OK) return s;
    srv->up = true;
    return CN_OK;
}

cn_status cn_mcp_server_start(cn_mcp_server *srv, const cn_mcp_server_config *cfg, const char *workspace,
                              FILE *progress, cJSON **tools, cn_error *err) {
    *srv = (cn_mcp_server){.cfg = cfg, .workspace = workspace, .progress = progress};
    cn_mcp_fail fail;
    cn_status s = connect_server(srv, &fail, err);
    if (s == CN_OK) s = cn_mcp_session_list_tools(&srv->session, cn_mcp_now() + cfg->timeout_s, tools, &fail, err);
    if (s != CN_OK) {
        cn_mcp_server_stop(srv);
        if (!strstr(err->msg, cfg->name)) cn_error_prefix(err, "MCP server \"%s\"", cfg->name);
        return s;
    }
    cn_mcp_note(progress, cfg->name, "%s, protocol %s, %d tool(s)", srv->session.server_info,
                srv->session.protocol_version, cJSON_GetArraySize(*tools));
    return CN_OK;
}

void cn_mcp_server_stop(cn_mcp_server *srv) {
    if (srv->up) cn_mcp_session_close(&srv->session);
    srv->up = false;
}

static void went_down(cn_mcp_server *srv, const char *why) {
    cn_mcp_server_stop(srv);
    srv->down_since = cn_mcp_now();
    /* Longer reasons are cut: last_error is a short status line, the note above has it whole. */
    snprintf(srv->last_error, sizeof srv->last_error, "%.*s", (int)sizeof srv->last_error - 1, why);
    cn_mcp_note(srv->progress, srv->cfg->name, "down: %s", why);
}

/* Brings a down server back if the restart bounds allow; false with problem set otherwise. */
static bool restart(cn_mcp_server *srv, double deadline, char *problem, size_t size) {
    const char *name = srv->cfg->name;
    if (srv->consecutive >= CN_MCP_MAX_CONSECUTIVE_RESTARTS || srv->restarts >= CN_MCP_MAX_RESTARTS) {
        snprintf(problem, size,
                 "MCP server \"%s\" is unavailable: given up after %d restart attempts (last error: %s)", name,
                 srv->restarts, srv->last_error);
        return false;
    }
    double backoff = fmin(0.5 * pow(2.0, srv->consecutive), 8.0);
    double wait = srv->down_since + backoff - cn_mcp_now();
    if (wait > 0) {
        if (cn_mcp_now() + wait > deadline) wait = deadline - cn_mcp_now();
        if (wait > 0)
            nanosleep(&(struct timespec){.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - floor(wait)) * 1e9)}, NULL);
    }
    srv->consecutive++;
    srv->restarts++;
    cn_mcp_note(srv->progress, name, "restarting (attempt %d, %d in all)", srv->consecutive, srv->restarts);
    cn_mcp_fail fail;
    cn_error e = {0};
    if (connect_server(srv, &fail, &e) != CN_OK) {
        went_down(srv, e.msg);
        snprintf(problem, size, "MCP server \"%s\" is down and could not be restarted: %s", name, e.msg);
        return false;
    }
    cn_mcp_note(srv->progress, name, "restarted: %s, protocol %s", srv->session.server_info,
                srv->session.protocol_version);
    srv->relist = true; /* a new process or session may offer other tools */
    return true;
}

cn_status cn_mcp_server_refresh(cn_mcp_server *srv, cJSON **tools, cn_error *err) {
    *tools = NULL;
    if (!srv->up) return CN_OK;
    cn_mcp_fail fail = CN_MCP_FAIL_NONE;
    cn_error e = {0};
    cn_status s = cn_mcp_session_poll(&srv->session, &fail, &e);
    if (s == CN_ERR_NOMEM) {
        *err = e;
        return s;
    }
    if (s != CN_OK) {
        went_down(srv, e.msg);
        return CN_OK;
    }
    if (!srv->session.tools_changed && !srv->relist) return CN_OK;
    srv->session.tools_changed = false;
    srv->relist = false;
    cn_mcp_note(srv->progress, srv->cfg->name, "listing tools again (%s)",
                srv->restarts ? "changed, or restarted" : "the server says they changed");
    s = cn_mcp_session_list_tools(&srv->session, cn_mcp_now() + srv->cfg->timeout_s, tools, &fail, &e);
    if (s == CN_ERR_NOMEM) {
        *err = e;
        return s;
    }
    if (s != CN_OK) {
        cn_mcp_note(srv->progress, srv->cfg->name, "could not list tools again, keeping the previous list: %s", e.msg);
        if (fail != CN_MCP_FAIL_RPC && fail != CN_MCP_FAIL_TIMEOUT) went_down(srv, e.msg);
    }
    return CN_OK;
}

cn_status cn_mcp_server_call(cn_mcp_server *srv, const char *tool, const cJSON *args, double deadline, cJSON **result,
                             char *problem, size_t problem_size, cn_error *err) {
    *result = NULL;
    problem[0] = 0;
    if (!srv->up && !restart(srv, deadline, problem, problem_size)) return CN_OK;
    cn_mcp_fail fail = CN_MCP_FAIL_NONE;
    cn_error e = {0};
    double started = cn_mcp_now();
    cn_status s = cn_mcp_session_call_tool(&srv->session, tool, args, deadline, result, &fail, &e);
    if (fail == CN_MCP_FAIL_EXPIRED) {
        /* The server refused the call unprocessed (streamable HTTP: session unknown, spec
         * "Session Management"): a new session, without backoff, and the call once more. */
        went_down(srv, e.msg);
        srv->down_since -= 8.0;
        if (!restart(srv, deadline, problem, problem_size)) return CN_OK;
        fail = CN_MCP_FAIL_NONE;
        e = (cn_error){0};
        s = cn_mcp_session_call_tool(&srv->session, tool, args, deadline, result, &fail, &e);
    }
    if (s == CN_OK) {
        srv->consecutive = 0;
        return CN_OK;
    }
    switch (fail) {
    case CN_MCP_FAIL_RPC:
        srv->consecutive = 0; /* the server is fine: it refused this call */
        snprintf(problem, problem_size, "%s", e.msg);
        return CN_OK;
    case CN_MCP_FAIL_TIMEOUT:
        snprintf(problem, problem_size,
                 "MCP server \"%s\" did not answer tools/call %s within %.1f s; the call was cancelled "
                 "(notifications/cancelled) and may or may not have taken effect",
                 srv->cfg->name, tool, cn_mcp_now() - started);
        return CN_OK;
    case CN_MCP_FAIL_TRANSPORT:
    case CN_MCP_FAIL_EXPIRED:
    case CN_MCP_FAIL_PROTOCOL:
        went_down(srv, e.msg);
        snprintf(problem, problem_size,
                 "%s during the call, which may or may not have taken effect; the server will be restarted for the "
                 "next call",
                 e.msg);
        return CN_OK;
    case CN_MCP_FAIL_NONE:
        break;
    }
    *err = e;
    return s;
}
