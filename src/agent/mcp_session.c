/* The MCP client session (mcp_session.h). */
#include "agent/mcp_session.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/mcp_jsonrpc.h"

double cn_mcp_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cn_mcp_note(FILE *progress, const char *server, const char *fmt, ...) {
    if (!progress) return;
    fprintf(progress, "mcp %s: ", server);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(progress, fmt, ap);
    va_end(ap);
    fputc('\n', progress);
    fflush(progress);
}

static const char *const accepted_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

static cn_status send_text(cn_mcp_session *s, char *text, double deadline, cn_mcp_fail *fail, cn_error *err) {
    if (!text) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status st = s->transport.ops->send(s->transport.impl, text, deadline, err);
    free(text);
    if (st != CN_OK && st != CN_ERR_NOMEM) *fail = st == CN_ERR_BUSY ? CN_MCP_FAIL_EXPIRED : CN_MCP_FAIL_TRANSPORT;
    return st;
}

char *cn_mcp_file_uri(const char *path) {
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(7 + 3 * strlen(path) + 1), *o = out;
    if (!out) return NULL;
    memcpy(o, "file://", 7);
    o += 7;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("-._~/", *c)) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = 0;
    return out;
}

/* The roots/list result (MCP client features, roots): the workspace, the one place the run's
 * tools may write. */
static char *roots_result(const cn_mcp_session *s, const cJSON *id) {
    cJSON *result = cJSON_CreateObject(), *roots = cJSON_AddArrayToObject(result, "roots"), *root = cJSON_CreateObject();
    if (!result || !roots || !root) {
        cJSON_Delete(result);
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddItemToArray(roots, root);
    if (!cJSON_AddStringToObject(root, "uri", s->root_uri) || !cJSON_AddStringToObject(root, "name", "workspace")) {
        cJSON_Delete(result);
        return NULL;
    }
    return cn_mcp_result(id, result);
}

/* Something the server sent while we wait for response id: everything but that response. */
static cn_status handle_other(cn_mcp_session *s, const cn_mcp_msg *m, const char *text, double deadline,
                              cn_mcp_fail *fail, cn_error *err) {
    switch (m->kind) {
    case CN_MCP_MSG_REQUEST:
        s->server_requests++;
        if (!strcmp(m->method, "ping")) return send_text(s, cn_mcp_result(m->id, NULL), deadline, fail, err);
        if (!strcmp(m->method, "roots/list") && s->root_uri)
            return send_text(s, roots_result(s, m->id), deadline, fail, err);
        cn_mcp_note(s->progress, s->name, "answered server request \"%.80s\" with method-not-found", m->method);
        char why[200];
        snprintf(why, sizeof why, "%.80s is not supported by this client (capability not declared)", m->method);
        return send_text(s, cn_mcp_error_reply(m->id, CN_MCP_METHOD_NOT_FOUND, why), deadline, fail, err);
    case CN_MCP_MSG_NOTIFICATION:
        s->notifications++;
        if (!strcmp(m->method, "notifications/tools/list_changed")) s->tools_changed = true;
        return CN_OK;
    case CN_MCP_MSG_RESPONSE:
    case CN_MCP_MSG_ERROR:
        s->dropped_responses++; /* the answer to a call we gave up on (cancelled on timeout) */
        return CN_OK;
    case CN_MCP_MSG_INVALID:
        s->stray_lines++;
        if (s->stray_lines <= 20)
            cn_mcp_note(s->progress, s->name, "ignored a line that is not JSON-RPC (%s): %.120s", m->problem, text);
        return CN_OK;
    }
    return CN_OK;
}

/* Sends request id and waits for its response; *result gets a copy of its result. */
static cn_status request(cn_mcp_session *s, const char *method, cJSON *params, double deadline, cJSON **result,
                         int64_t *id_out, cn_mcp_fail *fail, cn_error *err) {
    *fail = CN_MCP_FAIL_NONE;
    int64_t id = s->next_id++;
    if (id_out) *id_out = id;
    cn_status st = send_text(s, cn_mcp_request(id, method, params), deadline, fail, err);
    if (st != CN_OK) return st;
    /* A failure to answer a server request does not end the wait at once: our response may be
     * queued behind it already (an HTTP stream, lines the dead process wrote). It decides the
     * outcome only if nothing else does, and never as EXPIRED: the request was processed. */
    bool answer_failed = false;
    cn_error answer_err = {0};
    for (;;) {
        cn_mcp_recv_kind kind;
        char *text = NULL;
        if ((st = s->transport.ops->recv(s->transport.impl, deadline, &kind, &text, err)) != CN_OK) return st;
        if (kind == CN_MCP_RECV_TIMEOUT) {
            *fail = CN_MCP_FAIL_TIMEOUT;
            return cn_fail(err, CN_ERR_IO, "MCP server \"%s\" did not answer %s in time", s->name, method);
        }
        if (kind == CN_MCP_RECV_CLOSED) {
            *fail = CN_MCP_FAIL_TRANSPORT;
            if (answer_failed) {
                size_t at = strlen(err->msg);
                snprintf(err->msg + at, sizeof err->msg - at, "; before that, answering a server request failed: %.300s",
                         answer_err.msg);
            }
            return CN_ERR_IO;
        }
        cn_mcp_msg m;
        cn_mcp_msg_parse(text, strlen(text), &m);
        bool mine = (m.kind == CN_MCP_MSG_RESPONSE || m.kind == CN_MCP_MSG_ERROR) && cn_mcp_msg_id_is(&m, id);
        if (!mine) {
            cn_mcp_fail answer_fail = CN_MCP_FAIL_NONE;
            cn_error e = {0};
            st = handle_other(s, &m, text, deadline, &answer_fail, &e);
            if (st != CN_OK && st != CN_ERR_NOMEM) {
                if (!answer_failed) answer_err = e;
                answer_failed = true;
                st = CN_OK;
            } else if (st == CN_ERR_NOMEM) {
                *err = e;
            }
        } else if (m.kind == CN_MCP_MSG_ERROR) {
            *fail = CN_MCP_FAIL_RPC;
            st = cn_fail(err, CN_ERR_UNSUPPORTED, "MCP server \"%s\" answered %s with error %d: %.300s", s->name, method,
                         m.error_code, m.error_message);
        } else if (!(*result = cJSON_Duplicate(m.result, true))) {
            st = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        }
        cn_mcp_msg_free(&m);
        free(text);
        if (mine || st != CN_OK) return st;
    }
}

cn_status cn_mcp_session_poll(cn_mcp_session *s, cn_mcp_fail *fail, cn_error *err) {
    *fail = CN_MCP_FAIL_NONE;
    for (int n = 0; n < 10000; n++) { /* bounded: a server flooding us is handled at the next call */
        cn_mcp_recv_kind kind;
        char *text = NULL;
        cn_status st = s->transport.ops->poll(s->transport.impl, &kind, &text, err);
        if (st != CN_OK) return st;
        if (kind == CN_MCP_RECV_TIMEOUT) return CN_OK;
        if (kind == CN_MCP_RECV_CLOSED) {
            *fail = CN_MCP_FAIL_TRANSPORT;
            return CN_ERR_IO;
        }
        cn_mcp_msg m;
        cn_mcp_msg_parse(text, strlen(text), &m);
        st = handle_other(s, &m, text, cn_mcp_now() + 5, fail, err);
        cn_mcp_msg_free(&m);
        free(text);
        if (st != CN_OK) return st;
    }
    return CN_OK;
}

static cn_status protocol_error(cn_mcp_fail *fail, cn_error *err, const char *name, const char *what) {
    *fail = CN_MCP_FAIL_PROTOCOL;
    return cn_fail(err, CN_ERR_FORMAT, "MCP server \"%s\": %s", name, what);
}

cn_status cn_mcp_session_open(cn_mcp_session *s, cn_mcp_transport transport, const char *name, const char *workspace,
                              FILE *progress, double deadline, cn_mcp_fail *fail, cn_error *err) {
    *s = (cn_mcp_session){.transport = transport, .name = name, .progress = progress, .next_id = 1};
    cJSON *params = cJSON_CreateObject(), *result = NULL;
    if (!params || (workspace && !(s->root_uri = cn_mcp_file_uri(workspace)))) {
        cJSON_Delete(params);
        cn_mcp_session_close(s);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    cJSON_AddStringToObject(params, "protocolVersion", CN_MCP_PROTOCOL_VERSION);
    /* Declared: roots (the workspace; the list never changes during a run). Not declared, so
     * refused when asked: sampling, elicitation. */
    cJSON *caps = cJSON_AddObjectToObject(params, "capabilities");
    if (s->root_uri) cJSON_AddFalseToObject(cJSON_AddObjectToObject(caps, "roots"), "listChanged");
    cJSON *info = cJSON_AddObjectToObject(params, "clientInfo");
    cJSON_AddStringToObject(info, "name", "clawnet-agent");
    cJSON_AddStringToObject(info, "version", "0.1");
    cn_status st = request(s, "initialize", params, deadline, &result, NULL, fail, err);
    if (st != CN_OK) goto done;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(result, "protocolVersion");
    if (!cJSON_IsString(version)) {
        st = protocol_error(fail, err, name, "the initialize result has no protocolVersion");
        goto done;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof accepted_versions / sizeof *accepted_versions; i++)
        known = known || !strcmp(version->valuestring, accepted_versions[i]);
    if (!known) {
        /* The spec's rule: a client that does not support the server's version disconnects. */
        *fail = CN_MCP_FAIL_PROTOCOL;
        st = cn_fail(err, CN_ERR_UNSUPPORTED,
                     "MCP server \"%s\" wants protocol version \"%.40s\"; this client speaks 2024-11-05 to %s", name,
                     version->valuestring, CN_MCP_PROTOCOL_VERSION);
        goto done;
    }
    snprintf(s->protocol_version, sizeof s->protocol_version, "%s", version->valuestring);
    const cJSON *server_caps = cJSON_GetObjectItemCaseSensitive(result, "capabilities");
    if (server_caps && !cJSON_GetObjectItemCaseSensitive(server_caps, "tools"))
        cn_mcp_note(progress, name, "the server does not declare the tools capability; listing anyway");
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(result, "serverInfo");
    const cJSON *si_name = cJSON_GetObjectItemCaseSensitive(si, "name");
    const cJSON *si_version = cJSON_GetObjectItemCaseSensitive(si, "version");
    snprintf(s->server_info, sizeof s->server_info, "%.80s %.60s", cJSON_IsString(si_name) ? si_name->valuestring : "?",
             cJSON_IsString(si_version) ? si_version->valuestring : "?");
    s->transport.ops->negotiated(s->transport.impl, s->protocol_version);
    st = send_text(s, cn_mcp_notification("notifications/initialized", NULL), deadline, fail, err);
done:
    cJSON_Delete(result);
    if (st != CN_OK) cn_mcp_session_close(s);
    return st;
}

void cn_mcp_session_close(cn_mcp_session *s) {
    if (s->transport.ops) s->transport.ops->close(s->transport.impl);
    s->transport = (cn_mcp_transport){0};
    free(s->root_uri);
    s->root_uri = NULL;
}

cn_status cn_mcp_session_list_tools(cn_mcp_session *s, double deadline, cJSON **tools, cn_mcp_fail *fail,
                                    cn_error *err) {
    *tools = cJSON_CreateArray();
    if (!*tools) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    s->tools_changed = false; /* a change announced before this listing is in it */
    char *cursor = NULL;
    cn_status st = CN_OK;
    for (int page = 0;; page++) {
        if (page == 1000) {
            st = protocol_error(fail, err, s->name, "tools/list still has a nextCursor after 1000 pages");
            break;
        }
        cJSON *params = NULL, *result = NULL;
        if (cursor) {
            params = cJSON_CreateObject();
            cJSON_AddStringToObject(params, "cursor", cursor);
        }
        if ((st = request(s, "tools/list", params, deadline, &result, NULL, fail, err)) != CN_OK) break;
        cJSON *list = cJSON_GetObjectItemCaseSensitive(result, "tools");
        if (!cJSON_IsArray(list)) {
            cJSON_Delete(result);
            st = protocol_error(fail, err, s->name, "a tools/list result has no \"tools\" array");
            break;
        }
        while (cJSON_GetArraySize(list) > 0) cJSON_AddItemToArray(*tools, cJSON_DetachItemFromArray(list, 0));
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(result, "nextCursor");
        free(cursor);
        cursor = cJSON_IsString(next) && next->valuestring[0] ? strdup(next->valuestring) : NULL;
        cJSON_Delete(result);
        if (!cursor) break;
    }
    free(cursor);
    if (st != CN_OK) {
        cJSON_Delete(*tools);
        *tools = NULL;
    }
    return st;
}

cn_status cn_mcp_session_call_tool(cn_mcp_session *s, const char *tool, const cJSON *args, double deadline,
                                   cJSON **result, cn_mcp_fail *fail, cn_error *err) {
    cJSON *params = cJSON_CreateObject();
    if (!params) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(params, "name", tool);
    cJSON_AddItemToObject(params, "arguments", args ? cJSON_Duplicate(args, true) : cJSON_CreateObject());
    int64_t id = 0;
    cn_status st = request(s, "tools/call", params, deadline, result, &id, fail, err);
    if (st != CN_OK && *fail == CN_MCP_FAIL_TIMEOUT) {
        /* Tell the server to stop (MCP utilities, cancellation); its late answer is dropped. */
        cJSON *cp = cJSON_CreateObject();
        cJSON_AddNumberToObject(cp, "requestId", (double)id);
        cJSON_AddStringToObject(cp, "reason", "the client's per-call timeout expired");
        cn_error ignored = {0};
        cn_mcp_fail ignored_fail = CN_MCP_FAIL_NONE;
        send_text(s, cn_mcp_notification("notifications/cancelled", cp), cn_mcp_now() + 5, &ignored_fail, &ignored);
    }
    return st;
}
