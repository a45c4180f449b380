/* MCP over streamable HTTP (mcp_http.h). */
#include "agent/mcp_http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/mcp_sse.h"
#include "agent/mcp_stdio.h" /* CN_MCP_MAX_LINE */

typedef struct {
    const cn_mcp_server_config *cfg;
    FILE *progress;
    CURL *curl;
    char *session_id;
    char protocol_version[32];
    /* Messages received and not yet taken by recv, oldest first. */
    char **queue;
    size_t q_head, q_len, q_cap;
    bool timed_out; /* the last POST hit its deadline: recv reports TIMEOUT once the queue is empty */
    /* Per POST: */
    bool is_sse;
    char content_type[128];
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    cn_mcp_sse sse;
    cn_error sse_err;
    bool sse_failed;
} http_conn;

static cn_status enqueue(http_conn *h, const char *data, size_t len) {
    if (h->q_head + h->q_len == h->q_cap) {
        if (h->q_head) {
            memmove(h->queue, h->queue + h->q_head, h->q_len * sizeof *h->queue);
            h->q_head = 0;
        } else {
            size_t cap = h->q_cap ? 2 * h->q_cap : 8;
            char **q = realloc(h->queue, cap * sizeof *q);
            if (!q) return CN_ERR_NOMEM;
            h->queue = q;
            h->q_cap = cap;
        }
    }
    char *copy = malloc(len + 1);
    if (!copy) return CN_ERR_NOMEM;
    memcpy(copy, data, len);
    copy[len] = 0;
    h->queue[h->q_head + h->q_len++] = copy;
    return CN_OK;
}

static cn_status on_event(void *ctx, const char *data, size_t len, cn_error *err) {
    return enqueue(ctx, data, len) == CN_OK ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

static size_t on_header(char *buf, size_t size, size_t n, void *ctx) {
    http_conn *h = ctx;
    size_t len = size * n, name_len;
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    name_len = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    size_t vlen = (size_t)(end - v);
    if (name_len == 14 && !strncasecmp(buf, "Mcp-Session-Id", 14) && vlen && vlen < 1024) {
        char *id = strndup(v, vlen);
        if (id) {
            free(h->session_id);
            h->session_id = id;
        }
    } else if (name_len == 12 && !strncasecmp(buf, "Content-Type", 12)) {
        snprintf(h->content_type, sizeof h->content_type, "%.*s", (int)vlen, v);
        h->is_sse = !strncasecmp(h->content_type, "text/event-stream", 17);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
    http_conn *h = ctx;
    size_t len = size * n;
    if (h->is_sse) {
        if (cn_mcp_sse_feed(&h->sse, data, len, on_event, h, &h->sse_err) != CN_OK) {
            h->sse_failed = true;
            return 0;
        }
        return len;
    }
    if (h->body_len + len + 1 > CN_MCP_MAX_LINE) {
        h->too_large = true;
        return 0;
    }
    if (h->body_len + len + 1 > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 4096;
        while (cap < h->body_len + len + 1) cap *= 2;
        char *b = realloc(h->body, cap);
        if (!b) return 0;
        h->body = b;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, data, len);
    h->body_len += len;
    h->body[h->body_len] = 0;
    return len;
}

static struct curl_slist *request_headers(http_conn *h, bool with_body) {
    struct curl_slist *list = NULL, *next;
    char line[1200];
#define ADD(...)                                                   \
    do {                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                  \
        if (!(next = curl_slist_append(list, line))) goto nomem;   \
        list = next;                                               \
    } while (0)
    if (with_body) ADD("Content-Type: application/json");
    ADD("Accept: application/json, text/event-stream");
    if (h->session_id) ADD("Mcp-Session-Id: %s", h->session_id);
    if (h->protocol_version[0]) ADD("MCP-Protocol-Version: %s", h->protocol_version);
    for (size_t i = 0; i < h->cfg->n_headers; i++) ADD("%s: %s", h->cfg->headers[i].key, h->cfg->headers[i].value);
#undef ADD
    return list;
nomem:
    curl_slist_free_all(list);
    return NULL;
}

static void reset_reply(http_conn *h) {
    h->is_sse = false;
    h->content_type[0] = 0;
    h->body_len = 0;
    h->too_large = false;
    h->sse_failed = false;
    cn_mcp_sse_free(&h->sse);
    cn_mcp_sse_init(&h->sse, CN_MCP_MAX_LINE);
}

/* Runs one request (POST with json, or DELETE when json is NULL) until deadline. */
static cn_status perform(http_conn *h, const char *json, double deadline, long *status, bool *timed_out,
                         cn_error *err) {
    reset_reply(h);
    *timed_out = false;
    struct curl_slist *headers = request_headers(h, json != NULL);
    if (!headers) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, h->cfg->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (json) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    double left = deadline - cn_mcp_now();
    long ms = left > 1e-3 ? (long)(left * 1000) : 1;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms < 10000 ? ms : 10000L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        /* No answer in time (a slow stream: what arrived is queued; the rest is a timeout). */
        *timed_out = true;
        return CN_OK;
    }
    if (h->sse_failed) {
        *err = h->sse_err;
        return cn_error_prefix(err, "MCP server \"%s\": event stream", h->cfg->name);
    }
    if (h->too_large)
        return cn_fail(err, CN_ERR_FORMAT, "MCP server \"%s\": a reply is larger than %u bytes", h->cfg->name,
                       CN_MCP_MAX_LINE);
    if (rc != CURLE_OK)
        return cn_fail(err, CN_ERR_IO, "MCP server \"%s\" at %s: %s", h->cfg->name, h->cfg->url,
                       curl_easy_strerror(rc));
    return CN_OK;
}

static cn_status http_send(void *impl, const char *json, double deadline, cn_error *err) {
    http_conn *h = impl;
    long status = 0;
    bool timed_out;
    cn_status s = perform(h, json, deadline, &status, &timed_out, err);
    if (s != CN_OK) return s;
    if (timed_out) {
        h->timed_out = true;
        return CN_OK;
    }
    if (status == 202 || status == 204) return CN_OK;
    if (status == 404 && h->session_id)
        return cn_fail(err, CN_ERR_BUSY, "MCP server \"%s\": its session expired (HTTP 404)", h->cfg->name);
    if (status != 200)
        return cn_fail(err, CN_ERR_IO, "MCP server \"%s\" answered HTTP %ld: %.200s", h->cfg->name, status,
                       h->body_len ? h->body : "");
    if (h->is_sse) return CN_OK; /* the events are queued already */
    if (strncasecmp(h->content_type, "application/json", 16))
        return cn_fail(err, CN_ERR_FORMAT, "MCP server \"%s\" answered with Content-Type \"%s\"", h->cfg->name,
                       h->content_type);
    if (h->body_len && enqueue(h, h->body, h->body_len) != CN_OK) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    return CN_OK;
}

static cn_status http_recv(void *impl, double deadline, cn_mcp_recv_kind *kind, char **text, cn_error *err) {
    (void)deadline;
    http_conn *h = impl;
    if (h->q_len) {
        *text = h->queue[h->q_head++];
        h->q_len--;
        *kind = CN_MCP_RECV_MESSAGE;
        return CN_OK;
    }
    if (h->timed_out) {
        h->timed_out = false;
        *kind = CN_MCP_RECV_TIMEOUT;
        return CN_OK;
    }
    /* Without the optional GET stream nothing more can come: the reply ended unanswered. */
    *kind = CN_MCP_RECV_CLOSED;
    cn_fail(err, CN_ERR_IO, "MCP server \"%s\" ended its reply without answering the request", h->cfg->name);
    return CN_OK;
}

static void http_negotiated(void *impl, const char *version) {
    http_conn *h = impl;
    snprintf(h->protocol_version, sizeof h->protocol_version, "%s", version);
}

static void http_close(void *impl) {
    http_conn *h = impl;
    if (!h) return;
    if (h->session_id && h->curl) {
        long status;
        bool timed_out;
        cn_error ignored = {0};
        perform(h, NULL, cn_mcp_now() + 2, &status, &timed_out, &ignored); /* best effort */
    }
    if (h->curl) curl_easy_cleanup(h->curl);
    for (size_t i = 0; i < h->q_len; i++) free(h->queue[h->q_head + i]);
    free(h->queue);
    free(h->session_id);
    free(h->body);
    cn_mcp_sse_free(&h->sse);
    free(h);
}

static const cn_mcp_transport_ops http_ops = {http_send, http_recv, http_negotiated, http_close};

cn_status cn_mcp_http_open(const cn_mcp_server_config *cfg, FILE *progress, cn_mcp_transport *out, cn_error *err) {
    http_conn *h = calloc(1, sizeof *h);
    if (!h) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    h->cfg = cfg;
    h->progress = progress;
    cn_mcp_sse_init(&h->sse, CN_MCP_MAX_LINE);
    if (!(h->curl = curl_easy_init())) {
        http_close(h);
        return cn_fail(err, CN_ERR_NOMEM, "MCP server \"%s\": cannot create an HTTP handle", cfg->name);
    }
    out->ops = &http_ops;
    out->impl = h;
    return CN_OK;
}
