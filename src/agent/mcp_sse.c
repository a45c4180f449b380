/* Server-sent events parser (mcp_sse.h). */
#include "agent/mcp_sse.h"

#include <stdlib.h>
#include <string.h>

void cn_mcp_sse_init(cn_mcp_sse *p, size_t limit) {
    *p = (cn_mcp_sse){.limit = limit, .retry_ms = -1};
    p->lines.limit = limit;
}

void cn_mcp_sse_restart(cn_mcp_sse *p) {
    cn_mcp_lines_free(&p->lines);
    p->lines = (cn_mcp_lines){.limit = p->limit};
    p->data_len = 0;
    memcpy(p->id_buffer, p->last_event_id, sizeof p->id_buffer);
}

static cn_status append_data(cn_mcp_sse *p, const char *v, size_t n, cn_error *err) {
    if (p->data_len + n + 2 > p->limit) return cn_fail(err, CN_ERR_FORMAT, "an SSE event is larger than %zu bytes", p->limit);
    if (p->data_len + n + 2 > p->data_cap) {
        size_t cap = p->data_cap ? p->data_cap : 1024;
        while (cap < p->data_len + n + 2) cap *= 2;
        char *d = realloc(p->data, cap);
        if (!d) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        p->data = d;
        p->data_cap = cap;
    }
    memcpy(p->data + p->data_len, v, n);
    p->data_len += n;
    p->data[p->data_len++] = '\n';
    p->data[p->data_len] = 0;
    return CN_OK;
}

static cn_status line(cn_mcp_sse *p, const char *text, size_t len, cn_mcp_sse_event_fn fn, void *ctx, cn_error *err) {
    if (len == 0) {
        memcpy(p->last_event_id, p->id_buffer, sizeof p->last_event_id);
        if (!p->data_len) return CN_OK;
        p->data[--p->data_len] = 0; /* the last data line's "\n" */
        if (!p->data_len) return CN_OK; /* "data:" alone: a priming event */
        cn_status s = fn(ctx, p->data, p->data_len, err);
        p->data_len = 0;
        return s;
    }
    if (text[0] == ':') return CN_OK; /* comment (keep-alive) */
    const char *colon = memchr(text, ':', len);
    size_t name_len = colon ? (size_t)(colon - text) : len;
    const char *value = colon ? colon + 1 : text + len;
    size_t value_len = (size_t)(text + len - value);
    if (value_len && value[0] == ' ') value++, value_len--;
    if (name_len == 4 && !memcmp(text, "data", 4)) return append_data(p, value, value_len, err);
    if (name_len == 2 && !memcmp(text, "id", 2) && !memchr(value, 0, value_len) &&
        value_len < sizeof p->id_buffer) {
        memcpy(p->id_buffer, value, value_len);
        p->id_buffer[value_len] = 0;
    }
    if (name_len == 5 && !memcmp(text, "retry", 5) && value_len && value_len < 10 &&
        strspn(value, "0123456789") >= value_len)
        p->retry_ms = strtol(value, NULL, 10);
    return CN_OK; /* event and unknown fields */
}

cn_status cn_mcp_sse_feed(cn_mcp_sse *p, const char *bytes, size_t n, cn_mcp_sse_event_fn fn, void *ctx,
                          cn_error *err) {
    cn_status s = cn_mcp_lines_push(&p->lines, bytes, n, err);
    char *text;
    size_t len;
    while (s == CN_OK && cn_mcp_lines_take(&p->lines, &text, &len)) {
        s = line(p, text, len, fn, ctx, err);
        free(text);
    }
    return s;
}

void cn_mcp_sse_free(cn_mcp_sse *p) {
    cn_mcp_lines_free(&p->lines);
    free(p->data);
    p->data = NULL;
    p->data_len = p->data_cap = 0;
}
