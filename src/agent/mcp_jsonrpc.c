/* JSON-RPC 2.0 messages and line framing for MCP (mcp_jsonrpc.h). */
#include "agent/mcp_jsonrpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void invalid(cn_mcp_msg *m, const char *why) {
    m->kind = CN_MCP_MSG_INVALID;
    snprintf(m->problem, sizeof m->problem, "%s", why);
}

static bool valid_id(const cJSON *id) {
    return (cJSON_IsNumber(id) && isfinite(id->valuedouble)) || cJSON_IsString(id);
}

void cn_mcp_msg_parse(const char *text, size_t len, cn_mcp_msg *m) {
    *m = (cn_mcp_msg){0};
    m->root = cJSON_ParseWithLength(text, len);
    if (!m->root) return invalid(m, "not JSON");
    if (!cJSON_IsObject(m->root)) return invalid(m, "not a JSON object (batches are not part of MCP)");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(m->root, "jsonrpc");
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0"))
        return invalid(m, "no \"jsonrpc\": \"2.0\"");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->root, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(m->root, "method");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(m->root, "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(m->root, "error");
    m->params = cJSON_GetObjectItemCaseSensitive(m->root, "params");
    if (method) {
        if (!cJSON_IsString(method)) return invalid(m, "\"method\" is not a string");
        m->method = method->valuestring;
        if (!id) {
            m->kind = CN_MCP_MSG_NOTIFICATION;
            return;
        }
        if (!valid_id(id)) return invalid(m, "a request id must be a string or a number");
        m->id = id;
        m->kind = CN_MCP_MSG_REQUEST;
        return;
    }
    if (!valid_id(id)) return invalid(m, "a response without a usable id");
    m->id = id;
    if (result && !error) {
        m->result = result;
        m->kind = CN_MCP_MSG_RESPONSE;
        return;
    }
    if (error && !result && cJSON_IsObject(error)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
        m->error_code = cJSON_IsNumber(code) ? code->valueint : 0;
        m->error_message = cJSON_IsString(message) ? message->valuestring : "(no message)";
        m->kind = CN_MCP_MSG_ERROR;
        return;
    }
    invalid(m, "a response needs exactly one of \"result\" and \"error\" (an object)");
}

void cn_mcp_msg_free(cn_mcp_msg *m) {
    cJSON_Delete(m->root);
    *m = (cn_mcp_msg){0};
}

bool cn_mcp_msg_id_is(const cn_mcp_msg *m, int64_t id) {
    return cJSON_IsNumber(m->id) && m->id->valuedouble == (double)id;
}

static char *print_and_free(cJSON *msg) {
    char *text = msg ? cJSON_PrintUnformatted(msg) : NULL;
    cJSON_Delete(msg);
    return text;
}

static cJSON *envelope(void) {
    cJSON *m = cJSON_CreateObject();
    if (m && !cJSON_AddStringToObject(m, "jsonrpc", "2.0")) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

char *cn_mcp_request(int64_t id, const char *method, cJSON *params) {
    cJSON *m = envelope();
    if (!m || !cJSON_AddNumberToObject(m, "id", (double)id) || !cJSON_AddStringToObject(m, "method", method)) {
        cJSON_Delete(params);
        cJSON_Delete(m);
        return NULL;
    }
    if (params) cJSON_AddItemToObject(m, "params", params);
    return print_and_free(m);
}

char *cn_mcp_notification(const char *method, cJSON *params) {
    cJSON *m = envelope();
    if (!m || !cJSON_AddStringToObject(m, "method", method)) {
        cJSON_Delete(params);
        cJSON_Delete(m);
        return NULL;
    }
    if (params) cJSON_AddItemToObject(m, "params", params);
    return print_and_free(m);
}

char *cn_mcp_result(const cJSON *id, cJSON *result) {
    cJSON *m = envelope();
    if (!m) {
        cJSON_Delete(result);
        return NULL;
    }
    cJSON_AddItemToObject(m, "id", cJSON_Duplicate(id, true));
    cJSON_AddItemToObject(m, "result", result ? result : cJSON_CreateObject());
    return print_and_free(m);
}

char *cn_mcp_error_reply(const cJSON *id, int code, const char *message) {
    cJSON *m = envelope();
    if (!m) return NULL;
    cJSON_AddItemToObject(m, "id", id ? cJSON_Duplicate(id, true) : cJSON_CreateNull());
    cJSON *e = cJSON_AddObjectToObject(m, "error");
    if (e) {
        cJSON_AddNumberToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", message);
    }
    return print_and_free(m);
}

cn_status cn_mcp_lines_push(cn_mcp_lines *l, const char *data, size_t n, cn_error *err) {
    const char *nl = n ? memrchr(data, '\n', n) : NULL;
    size_t partial = nl ? (size_t)(data + n - nl - 1) : l->partial + n;
    if (l->limit && partial > l->limit)
        return cn_fail(err, CN_ERR_FORMAT, "a message line is longer than %zu bytes", l->limit);
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1) cap *= 2;
        char *p = realloc(l->buf, cap);
        if (!p) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        l->buf = p;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    l->partial = partial;
    return CN_OK;
}

static bool take(cn_mcp_lines *l, size_t end, size_t skip, char **line, size_t *len) {
    size_t n = end;
    if (n && l->buf[n - 1] == '\r') n--;
    char *out = malloc(n + 1);
    if (!out) return false;
    memcpy(out, l->buf, n);
    out[n] = 0;
    memmove(l->buf, l->buf + end + skip, l->len - end - skip);
    l->len -= end + skip;
    *line = out;
    *len = n;
    return true;
}

bool cn_mcp_lines_take(cn_mcp_lines *l, char **line, size_t *len) {
    const char *nl = l->len ? memchr(l->buf, '\n', l->len) : NULL;
    return nl && take(l, (size_t)(nl - l->buf), 1, line, len);
}

bool cn_mcp_lines_take_rest(cn_mcp_lines *l, char **line, size_t *len) {
    if (!l->len || !take(l, l->len, 0, line, len)) return false;
    l->partial = 0;
    return true;
}

void cn_mcp_lines_free(cn_mcp_lines *l) {
    free(l->buf);
    *l = (cn_mcp_lines){.limit = l->limit};
}
