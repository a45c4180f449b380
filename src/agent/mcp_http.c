/* MCP over streamable HTTP (mcp_http.h), on one libcurl multi handle so that several exchanges
 * can be open at once: the POST whose answer the session waits for (often an SSE stream that
 * stays open while the tool runs), the POST that answers a server request arriving on that
 * stream, and the optional GET stream. */
#include "agent/mcp_http.h"

#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/mcp_sse.h"
#include "agent/mcp_stdio.h" /* CN_MCP_MAX_LINE */

/* Reconnections of one request's broken stream that bring no new event, in a row, before the
 * request is given up (spec 2025-11-25, "Resumability and Redelivery"). */
#define MAX_FRUITLESS_RESUMES 3
/* Upper bound on a server's suggested reconnection delay ("retry:"), milliseconds. */
#define MAX_RETRY_MS 5000
/* Times the GET stream is opened again after it ended, without an event in between. */
#define MAX_GET_REOPENS 3

typedef enum {
    STREAM_REQUEST, /* a POST carrying a request, or a GET resuming its broken stream */
    STREAM_OTHER,   /* a POST carrying a notification or a response: 202 expected */
    STREAM_GET,     /* the server-push stream */
} stream_kind;

typedef struct http_conn http_conn;

typedef struct {
    http_conn *h;
    stream_kind kind;
    CURL *easy;
    struct curl_slist *headers;
    long status;       /* 0 until the final status line */
    bool headers_done; /* the final response's header block ended */
    bool is_sse;
    char content_type[128];
    char *body; /* a non-SSE reply */
    size_t body_len, body_cap;
    bool too_large;
    cn_mcp_sse sse;
    uint64_t events; /* dispatched on this connection */
    cn_error err;    /* why a callback stopped the transfer */
    bool failed;
    bool done;
    CURLcode result;
} http_stream;

struct http_conn {
    const cn_mcp_server_config *cfg;
    FILE *progress;
    CURLM *multi;
    char *session_id;
    char protocol_version[32];
    /* Messages received and not yet taken by recv, oldest first, from any stream. */
    char **queue;
    size_t q_head, q_len, q_cap;
    http_stream *request;   /* the exchange the session waits on; NULL before the first request */
    int fruitless_resumes;  /* for request: reconnections in a row without a new event */
    bool negotiated;        /* initialize is done: the GET stream may be opened */
    http_stream *get;       /* the open GET stream, if any */
    bool get_unavailable;   /* 405 or another refusal: not tried again */
    int get_reopens;        /* the GET stream ended this many times in a row without an event */
    char get_last_event_id[128];
};

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
    http_stream *st = ctx;
    st->events++;
    return enqueue(st->h, data, len) == CN_OK ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

static size_t on_header(char *buf, size_t size, size_t n, void *ctx) {
    http_stream *st = ctx;
    http_conn *h = st->h;
    size_t len = size * n, name_len;
    if (len <= 2 && (len == 0 || buf[0] == '\r' || buf[0] == '\n')) {
        /* The end of a header block; a 1xx block is followed by the final one. */
        long code = 0;
        curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            st->status = code;
            st->headers_done = true;
        }
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) {
        st->is_sse = false; /* a status line: a new header block starts */
        st->content_type[0] = 0;
        return len;
    }
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
        snprintf(st->content_type, sizeof st->content_type, "%.*s", (int)vlen, v);
        st->is_sse = !strncasecmp(st->content_type, "text/event-stream", 17);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
    http_stream *st = ctx;
    size_t len = size * n;
    if (st->is_sse && st->status == 200) {
        if (cn_mcp_sse_feed(&st->sse, data, len, on_event, st, &st->err) != CN_OK) {
            st->failed = true;
            return 0;
        }
        return len;
    }
    if (st->body_len + len + 1 > CN_MCP_MAX_LINE) {
        st->too_large = true;
        return 0;
    }
    if (st->body_len + len + 1 > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < st->body_len + len + 1) cap *= 2;
        char *b = realloc(st->body, cap);
        if (!b) {
            st->failed = true;
            cn_fail(&st->err, CN_ERR_NOMEM, "out of memory");
            return 0;
        }
        st->body = b;
        st->body_cap = cap;
    }
    memcpy(st->body + st->body_len, data, len);
    st->body_len += len;
    st->body[st->body_len] = 0;
    return len;
}

static struct curl_slist *request_headers(http_conn *h, bool with_body, bool sse_only, const char *last_event_id) {
    struct curl_slist *list = NULL, *next;
    char line[1200];
#define ADD(...)                                                 \
    do {                                                         \
        snprintf(line, sizeof line, __VA_ARGS__);                \
        if (!(next = curl_slist_append(list, line))) goto nomem; \
        list = next;                                             \
    } while (0)
    if (with_body) ADD("Content-Type: application/json");
    if (sse_only) ADD("Accept: text/event-stream");
    else ADD("Accept: application/json, text/event-stream");
    if (h->session_id) ADD("Mcp-Session-Id: %s", h->session_id);
    if (h->protocol_version[0]) ADD("MCP-Protocol-Version: %s", h->protocol_version);
    if (last_event_id && last_event_id[0]) ADD("Last-Event-ID: %s", last_event_id);
    for (size_t i = 0; i < h->cfg->n_headers; i++) ADD("%s: %s", h->cfg->headers[i].key, h->cfg->headers[i].value);
#undef ADD
    return list;
nomem:
    curl_slist_free_all(list);
    return NULL;
}

static void stream_free(http_stream *st) {
    if (!st) return;
    if (st->easy) {
        curl_multi_remove_handle(st->h->multi, st->easy);
        curl_easy_cleanup(st->easy);
    }
    curl_slist_free_all(st->headers);
    free(st->body);
    cn_mcp_sse_free(&st->sse);
    free(st);
}

/* Starts an exchange on the multi handle: a POST of json, or a GET (json NULL) with
 * Last-Event-ID when one is given. timeout_ms 0: no limit on the whole transfer (a tool may run
 * long; the session's deadline decides). */
static cn_status stream_start(http_conn *h, stream_kind kind, const char *json, const char *last_event_id,
                              long timeout_ms, http_stream **out, cn_error *err) {
    http_stream *st = calloc(1, sizeof *st);
    if (!st) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    st->h = h;
    st->kind = kind;
    cn_mcp_sse_init(&st->sse, CN_MCP_MAX_LINE);
    if (last_event_id) snprintf(st->sse.last_event_id, sizeof st->sse.last_event_id, "%s", last_event_id);
    cn_mcp_sse_restart(&st->sse);
    st->headers = request_headers(h, json != NULL, json == NULL, last_event_id);
    if (!st->headers || !(st->easy = curl_easy_init())) {
        stream_free(st);
        return cn_fail(err, CN_ERR_NOMEM, "MCP server \"%s\": out of memory for an HTTP request", h->cfg->name);
    }
    CURL *c = st->easy;
    curl_easy_setopt(c, CURLOPT_URL, h->cfg->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, st->headers);
    if (json) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, json);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_PRIVATE, st);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (curl_multi_add_handle(h->multi, c) != CURLM_OK) {
        stream_free(st);
        return cn_fail(err, CN_ERR_NOMEM, "MCP server \"%s\": cannot start an HTTP request", h->cfg->name);
    }
    *out = st;
    return CN_OK;
}

/* Lets every open exchange make progress for up to until - now seconds (at least one pass):
 * bytes arriving on any stream are parsed and their messages queued; finished transfers are
 * marked done. Stops early when something happened. */
static void pump(http_conn *h, double until) {
    int running = 0;
    size_t queued = h->q_len;
    curl_multi_perform(h->multi, &running);
    CURLMsg *m;
    int left;
    bool progressed = false;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        http_stream *st = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&st);
        if (!st) continue;
        st->done = true;
        st->result = m->data.result;
        if (!st->status) curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->status);
        progressed = true;
    }
    if (progressed || h->q_len != queued) return;
    double wait = until - cn_mcp_now();
    if (wait <= 0) return;
    int ms = wait > 1.0 ? 1000 : (int)ceil(wait * 1000);
    curl_multi_poll(h->multi, NULL, 0, ms, NULL);
    curl_multi_perform(h->multi, &running);
}

static void sleep_until(double t) {
    double wait = t - cn_mcp_now();
    if (wait > 0)
        nanosleep(&(struct timespec){.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - floor(wait)) * 1e9)}, NULL);
}

/* Why an exchange failed, as an error for the session (CN_OK when it did not). */
static cn_status stream_problem(http_conn *h, http_stream *st, cn_error *err) {
    if (st->failed) {
        *err = st->err;
        return cn_error_prefix(err, "MCP server \"%s\": event stream", h->cfg->name);
    }
    if (st->too_large)
        return cn_fail(err, CN_ERR_FORMAT, "MCP server \"%s\": a reply is larger than %u bytes", h->cfg->name,
                       CN_MCP_MAX_LINE);
    if (st->done && st->result != CURLE_OK && !st->status)
        return cn_fail(err, CN_ERR_IO, "MCP server \"%s\" at %s: %s", h->cfg->name, h->cfg->url,
                       curl_easy_strerror(st->result));
    if (!st->status) return CN_OK;
    if (st->status == 404 && h->session_id)
        return cn_fail(err, CN_ERR_BUSY, "MCP server \"%s\": its session expired (HTTP 404)", h->cfg->name);
    if (st->status != 200 && st->status != 202 && st->status != 204)
        return cn_fail(err, CN_ERR_IO, "MCP server \"%s\" answered HTTP %ld: %.200s", h->cfg->name, st->status,
                       st->body_len ? st->body : "");
    return CN_OK;
}

/* The optional server-push stream (spec "Listening for Messages from the Server"): opened once the
 * session is initialized, again (with Last-Event-ID when the server gave ids) when it ends, unless
 * the server refused it (405: not offered) or it keeps ending without an event. */
static void tend_get_stream(http_conn *h) {
    if (h->get && h->get->done) {
        http_stream *g = h->get;
        h->get = NULL;
        if (g->status != 200 || !g->is_sse) {
            h->get_unavailable = true;
            if (g->status == 405)
                cn_mcp_note(h->progress, h->cfg->name, "no GET stream (HTTP 405): server messages come with replies only");
            else
                cn_mcp_note(h->progress, h->cfg->name, "GET stream refused (HTTP %ld, %s); not tried again", g->status,
                            curl_easy_strerror(g->result));
        } else {
            h->get_reopens = g->events ? 0 : h->get_reopens + 1;
            snprintf(h->get_last_event_id, sizeof h->get_last_event_id, "%s", g->sse.last_event_id);
            if (h->get_reopens >= MAX_GET_REOPENS) {
                h->get_unavailable = true;
                cn_mcp_note(h->progress, h->cfg->name, "the GET stream keeps ending; not opened again");
            }
        }
        stream_free(g);
    }
    if (!h->get && h->negotiated && !h->get_unavailable) {
        cn_error ignored = {0};
        if (stream_start(h, STREAM_GET, NULL, h->get_last_event_id, 0, &h->get, &ignored) != CN_OK)
            h->get_unavailable = true;
    }
}

static bool is_request(const char *json) {
    cn_mcp_msg m;
    cn_mcp_msg_parse(json, strlen(json), &m);
    bool request = m.kind == CN_MCP_MSG_REQUEST;
    cn_mcp_msg_free(&m);
    return request;
}

static cn_status http_send(void *impl, const char *json, double deadline, cn_error *err) {
    http_conn *h = impl;
    if (is_request(json)) {
        /* A new request: the session has stopped waiting on the previous one (answered, or
         * cancelled on timeout), so its exchange is dropped. */
        stream_free(h->request);
        h->request = NULL;
        h->fruitless_resumes = 0;
        cn_status s = stream_start(h, STREAM_REQUEST, json, NULL, 0, &h->request, err);
        if (s != CN_OK) return s;
        /* Wait for the status (a 404 must come back here, as BUSY), unless messages from another
         * stream arrive first: one may be a server request the server needs answered before it
         * answers this one, so the session must get to see it (recv goes on waiting). */
        http_stream *st = h->request;
        size_t queued = h->q_len;
        while (!st->headers_done && !st->done && h->q_len == queued && cn_mcp_now() < deadline) pump(h, deadline);
        if (st->headers_done && st->status != 200 && st->status != 202)
            while (!st->done && cn_mcp_now() < deadline) pump(h, deadline); /* the error body */
        s = stream_problem(h, st, err);
        if (s == CN_OK) tend_get_stream(h);
        return s;
    }
    /* A notification or our answer to a server request: its own exchange, waited for to the
     * end (202), while the others stay open and keep queueing what arrives. */
    double left = deadline - cn_mcp_now();
    http_stream *st;
    cn_status s = stream_start(h, STREAM_OTHER, json, NULL, left > 1e-3 ? (long)(left * 1000) : 1, &st, err);
    if (s != CN_OK) return s;
    while (!st->done) pump(h, deadline + 1); /* curl's own timeout ends it */
    s = stream_problem(h, st, err);
    if (s == CN_OK && st->result == CURLE_OPERATION_TIMEDOUT)
        s = cn_fail(err, CN_ERR_IO, "MCP server \"%s\" did not accept a message in time", h->cfg->name);
    stream_free(st);
    if (s == CN_OK) tend_get_stream(h);
    return s;
}

/* The request's stream ended without its answer. Reconnect with Last-Event-ID when the server
 * gave event ids (it may close a stream on purpose, spec 2025-11-25 "polling"; a proxy may cut
 * it); otherwise, or when reconnecting keeps bringing nothing new, the request is lost. */
static bool resume_request(http_conn *h, double deadline, cn_error *err) {
    http_stream *old = h->request;
    if (!old->is_sse || old->status != 200 || !old->sse.last_event_id[0] || old->failed) return false;
    h->fruitless_resumes = old->events ? 0 : h->fruitless_resumes + 1;
    if (h->fruitless_resumes >= MAX_FRUITLESS_RESUMES) return false;
    long retry = old->sse.retry_ms >= 0 ? old->sse.retry_ms : 100;
    retry = retry > MAX_RETRY_MS ? MAX_RETRY_MS : retry;
    retry <<= h->fruitless_resumes;
    double at = cn_mcp_now() + (double)(retry > MAX_RETRY_MS ? MAX_RETRY_MS : retry) * 1e-3;
    if (at >= deadline) return false;
    sleep_until(at);
    char last[128];
    snprintf(last, sizeof last, "%s", old->sse.last_event_id);
    long keep_retry = old->sse.retry_ms;
    http_stream *st;
    if (stream_start(h, STREAM_REQUEST, NULL, last, 0, &st, err) != CN_OK) return false;
    st->sse.retry_ms = keep_retry;
    stream_free(old);
    h->request = st;
    cn_mcp_note(h->progress, h->cfg->name, "reply stream ended early; resuming after event %s", last);
    return true;
}

static cn_status http_recv(void *impl, double deadline, cn_mcp_recv_kind *kind, char **text, cn_error *err) {
    http_conn *h = impl;
    for (;;) {
        if (h->q_len) {
            *text = h->queue[h->q_head++];
            h->q_len--;
            *kind = CN_MCP_RECV_MESSAGE;
            return CN_OK;
        }
        http_stream *st = h->request;
        if (!st) {
            *kind = CN_MCP_RECV_CLOSED;
            cn_fail(err, CN_ERR_IO, "MCP server \"%s\": no request is open", h->cfg->name);
            return CN_OK;
        }
        if (st->done) {
            cn_error e = {0};
            cn_status s = stream_problem(h, st, &e);
            if (s == CN_OK && !st->is_sse && st->status == 200) {
                if (strncasecmp(st->content_type, "application/json", 16)) {
                    s = cn_fail(&e, CN_ERR_FORMAT, "MCP server \"%s\" answered with Content-Type \"%s\"",
                                h->cfg->name, st->content_type);
                } else if (st->body_len) {
                    if (enqueue(h, st->body, st->body_len) != CN_OK) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
                    st->body_len = 0;
                    continue;
                }
            }
            if (s == CN_ERR_NOMEM) {
                *err = e;
                return s;
            }
            if (s == CN_OK && resume_request(h, deadline, &e)) continue;
            *kind = CN_MCP_RECV_CLOSED;
            if (s != CN_OK) *err = e;
            else if (st->result != CURLE_OK)
                cn_fail(err, CN_ERR_IO, "MCP server \"%s\": its reply broke off (%s) before the answer", h->cfg->name,
                        curl_easy_strerror(st->result));
            else
                cn_fail(err, CN_ERR_IO, "MCP server \"%s\" ended its reply without answering the request",
                        h->cfg->name);
            return CN_OK;
        }
        if (cn_mcp_now() >= deadline) {
            *kind = CN_MCP_RECV_TIMEOUT;
            return CN_OK;
        }
        pump(h, deadline);
        tend_get_stream(h);
    }
}

static void http_negotiated(void *impl, const char *version) {
    http_conn *h = impl;
    snprintf(h->protocol_version, sizeof h->protocol_version, "%s", version);
    h->negotiated = true; /* the GET stream opens after the next message (notifications/initialized) */
}

static size_t discard(char *data, size_t size, size_t n, void *ctx) {
    (void)data, (void)ctx;
    return size * n;
}

static void http_close(void *impl) {
    http_conn *h = impl;
    if (!h) return;
    stream_free(h->request);
    stream_free(h->get);
    if (h->session_id && h->multi) {
        /* End the session (spec "Session Management"): best effort, briefly. */
        struct curl_slist *headers = request_headers(h, false, false, NULL);
        CURL *c = headers ? curl_easy_init() : NULL;
        if (c) {
            curl_easy_setopt(c, CURLOPT_URL, h->cfg->url);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
            curl_easy_perform(c);
            curl_easy_cleanup(c);
        }
        curl_slist_free_all(headers);
    }
    if (h->multi) curl_multi_cleanup(h->multi);
    for (size_t i = 0; i < h->q_len; i++) free(h->queue[h->q_head + i]);
    free(h->queue);
    free(h->session_id);
    free(h);
}

static cn_status http_poll(void *impl, cn_mcp_recv_kind *kind, char **text, cn_error *err) {
    (void)err;
    http_conn *h = impl;
    if (!h->q_len) {
        pump(h, cn_mcp_now());
        tend_get_stream(h);
    }
    if (!h->q_len) {
        *kind = CN_MCP_RECV_TIMEOUT;
        return CN_OK;
    }
    *text = h->queue[h->q_head++];
    h->q_len--;
    *kind = CN_MCP_RECV_MESSAGE;
    return CN_OK;
}

static const cn_mcp_transport_ops http_ops = {http_send, http_recv, http_poll, http_negotiated, http_close};

cn_status cn_mcp_http_open(const cn_mcp_server_config *cfg, FILE *progress, cn_mcp_transport *out, cn_error *err) {
    http_conn *h = calloc(1, sizeof *h);
    if (!h) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    h->cfg = cfg;
    h->progress = progress;
    if (!(h->multi = curl_multi_init())) {
        http_close(h);
        return cn_fail(err, CN_ERR_NOMEM, "MCP server \"%s\": cannot create an HTTP handle", cfg->name);
    }
    out->ops = &http_ops;
    out->impl = h;
    return CN_OK;
}
