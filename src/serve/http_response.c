/* Answers of the HTTP layer: a whole body, or a stream that a handler's thread fills while the
 * connection's thread sends it (http_internal.h); and the error bodies of the two APIs.
 *
 * Threads: the handler runs on its own thread (http.c starts one per request) and calls
 * serve_respond / serve_stream_*; libmicrohttpd runs each connection on its own thread
 * (MHD_USE_THREAD_PER_CONNECTION), which waits in serve_response_wait_answer for the status and
 * then, for a stream, in stream_read for bytes. A content reader may block in that mode (it must
 * not return 0 under internal polling, which would spin), so the connection thread sleeps in
 * poll() until the handler writes, ends, or the client's socket reports that it closed. */
#include "serve/http_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

cn_status serve_response_init(serve_response *r, const serve_request *req, int socket_fd, cn_error *err) {
    memset(r, 0, sizeof *r);
    r->request = req;
    r->socket_fd = socket_fd;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) return cn_fail(err, CN_ERR_IO, "eventfd: %s", strerror(errno));
    pthread_mutex_init(&r->mutex, NULL);
    pthread_cond_init(&r->room, NULL);
    return CN_OK;
}

static void headers_free(serve_header *h, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

void serve_response_free(serve_response *r) {
    if (r->wake_fd >= 0) close(r->wake_fd);
    pthread_mutex_destroy(&r->mutex);
    pthread_cond_destroy(&r->room);
    free(r->content_type);
    headers_free(r->headers, r->n_headers);
    free(r->body);
    free(r->ring);
}

static void wake(serve_response *r) {
    uint64_t one = 1;
    while (write(r->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* Sleeps until wake() or the client's socket closes (then marks the client gone). */
static void connection_wait(serve_response *r) {
    struct pollfd p[2] = {{.fd = r->wake_fd, .events = POLLIN}, {.fd = r->socket_fd, .events = POLLRDHUP}};
    if (poll(p, 2, -1) < 0) return; /* EINTR: the caller looks again */
    if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) serve_response_mark_gone(r);
    if (p[0].revents & POLLIN) {
        uint64_t count;
        if (read(r->wake_fd, &count, sizeof count) < 0) { /* EAGAIN: already drained */
        }
    }
}

void serve_response_mark_gone(serve_response *r) {
    pthread_mutex_lock(&r->mutex);
    r->client_gone = true;
    pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->mutex);
    wake(r);
}

bool serve_response_client_gone(const serve_response *resp) {
    serve_response *r = (serve_response *)resp; /* the mutex is not part of the value */
    pthread_mutex_lock(&r->mutex);
    bool gone = r->client_gone;
    pthread_mutex_unlock(&r->mutex);
    return gone;
}

void serve_response_handler_returned(serve_response *r) {
    pthread_mutex_lock(&r->mutex);
    bool answered = r->kind != SERVE_ANSWER_NONE;
    pthread_mutex_unlock(&r->mutex);
    if (!answered) serve_respond_error(r, 500, "the server ended the request without an answer");
    pthread_mutex_lock(&r->mutex);
    r->handler_done = true;
    pthread_mutex_unlock(&r->mutex);
    wake(r);
}

bool serve_response_wait_answer(serve_response *r) {
    for (;;) {
        pthread_mutex_lock(&r->mutex);
        serve_answer_kind kind = r->kind;
        bool gone = r->client_gone;
        pthread_mutex_unlock(&r->mutex);
        if (kind != SERVE_ANSWER_NONE) return true;
        if (gone) return false;
        connection_wait(r);
    }
}

static bool header_text_ok(const char *s) {
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return false;
    return true;
}

void serve_response_header(serve_response *r, const char *name, const char *value) {
    if (!name || !value || !*name || !header_text_ok(name) || !header_text_ok(value) || strchr(name, ':')) return;
    pthread_mutex_lock(&r->mutex);
    if (r->kind == SERVE_ANSWER_NONE) {
        serve_header *grown = realloc(r->headers, (r->n_headers + 1) * sizeof *grown);
        if (grown) {
            r->headers = grown;
            char *n = strdup(name), *v = strdup(value);
            if (n && v) r->headers[r->n_headers++] = (serve_header){n, v};
            else free(n), free(v);
        }
    }
    pthread_mutex_unlock(&r->mutex);
}

/* Takes ownership of body (malloc'd) and content_type (strdup'd). */
static void answer_whole(serve_response *r, int status, char *content_type, char *body, size_t len) {
    pthread_mutex_lock(&r->mutex);
    if (r->kind != SERVE_ANSWER_NONE) {
        pthread_mutex_unlock(&r->mutex);
        free(content_type);
        free(body);
        return;
    }
    r->kind = SERVE_ANSWER_WHOLE;
    r->status = status;
    r->content_type = content_type;
    r->body = body;
    r->body_len = len;
    pthread_mutex_unlock(&r->mutex);
    wake(r);
}

void serve_respond(serve_response *r, int status, const char *content_type, const char *body, size_t len) {
    char *copy = malloc(len + 1), *type = strdup(content_type ? content_type : "application/octet-stream");
    if (!copy || !type || status < 100 || status > 999) {
        free(copy);
        free(type);
        /* out of memory or a bad status: an empty 500 still ends the request */
        answer_whole(r, 500, strdup("text/plain"), NULL, 0);
        return;
    }
    if (len) memcpy(copy, body, len);
    copy[len] = '\0';
    answer_whole(r, status, type, copy, len);
}

void serve_respond_json(serve_response *r, int status, const cJSON *json) {
    char *text = cJSON_PrintUnformatted(json);
    if (!text) {
        answer_whole(r, 500, strdup("text/plain"), NULL, 0);
        return;
    }
    answer_whole(r, status, strdup("application/json"), text, strlen(text));
}

bool serve_path_is_anthropic(const char *path) {
    return !strncmp(path, "/v1/messages", 12) && (path[12] == '\0' || path[12] == '/');
}

/* Anthropic's error types (docs.anthropic.com "Errors"); OpenAI uses invalid_request_error for
 * client errors and server_error for the rest, with a code where its API has one. */
static const char *anthropic_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static const char *openai_error_code(int status) {
    switch (status) {
    case 401: return "invalid_api_key";
    case 429: return "rate_limit_exceeded";
    default: return NULL;
    }
}

void serve_respond_error(serve_response *r, int status, const char *message) {
    cJSON *root = cJSON_CreateObject(), *error = cJSON_CreateObject();
    if (!root || !error) goto fail;
    if (serve_path_is_anthropic(r->request->path)) {
        cJSON_AddStringToObject(root, "type", "error");
        cJSON_AddStringToObject(error, "type", anthropic_error_type(status));
        cJSON_AddStringToObject(error, "message", message);
    } else {
        cJSON_AddStringToObject(error, "message", message);
        cJSON_AddStringToObject(error, "type", status >= 500 ? "server_error" : "invalid_request_error");
        cJSON_AddNullToObject(error, "param");
        const char *code = openai_error_code(status);
        if (code) cJSON_AddStringToObject(error, "code", code);
        else cJSON_AddNullToObject(error, "code");
    }
    cJSON_AddItemToObject(root, "error", error);
    error = NULL;
    serve_respond_json(r, status, root);
    cJSON_Delete(root);
    return;
fail:
    cJSON_Delete(root);
    cJSON_Delete(error);
    answer_whole(r, 500, strdup("text/plain"), NULL, 0);
}

void serve_stream_begin(serve_response *r, int status, const char *content_type) {
    char *ring = malloc(SERVE_STREAM_BUFFER), *type = strdup(content_type ? content_type : "text/event-stream");
    if (!ring || !type || status < 100 || status > 999) {
        free(ring);
        free(type);
        answer_whole(r, 500, strdup("text/plain"), NULL, 0);
        return;
    }
    pthread_mutex_lock(&r->mutex);
    if (r->kind != SERVE_ANSWER_NONE) {
        pthread_mutex_unlock(&r->mutex);
        free(ring);
        free(type);
        return;
    }
    r->kind = SERVE_ANSWER_STREAM;
    r->status = status;
    r->content_type = type;
    r->ring = ring;
    pthread_mutex_unlock(&r->mutex);
    wake(r);
}

bool serve_stream_write(serve_response *r, const char *data, size_t len) {
    pthread_mutex_lock(&r->mutex);
    bool ok = r->kind == SERVE_ANSWER_STREAM && !r->client_gone;
    while (ok && len) {
        while (r->ring_len == SERVE_STREAM_BUFFER && !r->client_gone) pthread_cond_wait(&r->room, &r->mutex);
        if (r->client_gone) {
            ok = false;
            break;
        }
        size_t end = (r->ring_start + r->ring_len) % SERVE_STREAM_BUFFER;
        size_t n = SERVE_STREAM_BUFFER - r->ring_len; /* room */
        if (n > SERVE_STREAM_BUFFER - end) n = SERVE_STREAM_BUFFER - end; /* up to the wrap */
        if (n > len) n = len;
        memcpy(r->ring + end, data, n);
        r->ring_len += n;
        data += n;
        len -= n;
        wake(r);
    }
    pthread_mutex_unlock(&r->mutex);
    return ok;
}

/* libmicrohttpd's content reader, on the connection's thread: blocks until there are bytes, the
 * handler has returned (end of stream: the chunked body is closed, the connection kept) or the
 * client is gone (error: the connection is closed). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    serve_response *r = cls;
    for (;;) {
        pthread_mutex_lock(&r->mutex);
        if (r->ring_len && !r->client_gone) {
            size_t n = 0;
            while (n < max && r->ring_len) {
                size_t piece = SERVE_STREAM_BUFFER - r->ring_start;
                if (piece > r->ring_len) piece = r->ring_len;
                if (piece > max - n) piece = max - n;
                memcpy(buf + n, r->ring + r->ring_start, piece);
                n += piece;
                r->ring_start = (r->ring_start + piece) % SERVE_STREAM_BUFFER;
                r->ring_len -= piece;
            }
            pthread_cond_broadcast(&r->room);
            pthread_mutex_unlock(&r->mutex);
            return (ssize_t)n;
        }
        bool done = r->handler_done, gone = r->client_gone;
        pthread_mutex_unlock(&r->mutex);
        if (gone) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (done) return MHD_CONTENT_READER_END_OF_STREAM;
        connection_wait(r);
    }
}

struct MHD_Response *serve_response_to_mhd(serve_response *r) {
    struct MHD_Response *m;
    pthread_mutex_lock(&r->mutex);
    if (r->kind == SERVE_ANSWER_STREAM) {
        m = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, r, NULL);
        if (m) {
            MHD_add_response_header(m, "Cache-Control", "no-cache");
            MHD_add_response_header(m, "X-Accel-Buffering", "no"); /* proxies: do not hold events back */
        }
    } else {
        /* libmicrohttpd frees the body with free() once sent */
        m = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                            r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (m) r->body = NULL;
    }
    if (m) {
        if (r->content_type) MHD_add_response_header(m, "Content-Type", r->content_type);
        for (size_t i = 0; i < r->n_headers; i++) MHD_add_response_header(m, r->headers[i].name, r->headers[i].value);
    }
    pthread_mutex_unlock(&r->mutex);
    return m;
}
