/* The HTTP layer on libmicrohttpd (http.h): the daemon, the routing table, authentication, body
 * limits, and one thread per request that runs its handler.
 *
 * Why threads: a handler (an API adapter) blocks on the engine for seconds and pushes stream
 * bytes from its own thread. libmicrohttpd runs here with a thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), where a content reader may block, so a stream needs no
 * suspend/resume bookkeeping; the handler gets a thread of its own because the connection's
 * thread must return from the access handler with a status before it can send a byte. The
 * connection thread then waits for the handler's answer and bytes (http_response.c). Sequences
 * decoded at once are few (--parallel), so two threads per open request are cheap; the number of
 * connections is bounded by max_connections. Suspend/resume with one polling thread would save
 * threads at the price of a state machine per stream: not worth it at this scale. */
#include "serve/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "serve/auth.h"
#include "serve/http_internal.h"

typedef struct {
    char *method, *path;
    serve_handler_fn handler;
    void *context;
} serve_route;

typedef struct serve_exchange serve_exchange;

struct serve_http {
    char *host;
    int port;
    size_t max_body_bytes;
    int max_connections, connection_timeout_s;
    bool quiet;
    serve_api_key key;
    serve_route *routes;
    size_t n_routes;
    struct MHD_Daemon *daemon;
    pthread_mutex_t mutex; /* the fields below */
    serve_exchange *live;  /* requests being handled, so destroy can wake them */
    bool stopping, starting;
    serve_http_stats stats;
    char start_error[256]; /* libmicrohttpd's message while starting */
};

/* One request and its answer, from its headers to libmicrohttpd's completion callback. */
struct serve_exchange {
    serve_http *http;
    serve_request request;
    serve_response response;
    const serve_route *route;
    pthread_t thread;
    bool thread_started, answered;
    int reject_status; /* answered without a handler (401, 404, 405, 413, 503) */
    char reject_message[160];
    serve_exchange *prev, *next;
};

#define DEFAULT_MAX_BODY (16u << 20)

/* ---- routes ---------------------------------------------------------------------------- */

cn_status serve_http_route(serve_http *http, const char *method, const char *path, serve_handler_fn handler,
                           void *context, cn_error *err) {
    if (http->daemon) return cn_fail(err, CN_ERR_ARG, "routes must be added before the server starts");
    if (!method || !path || path[0] != '/' || !handler) return cn_fail(err, CN_ERR_ARG, "bad route");
    for (size_t i = 0; i < http->n_routes; i++)
        if (!strcmp(http->routes[i].method, method) && !strcmp(http->routes[i].path, path))
            return cn_fail(err, CN_ERR_ARG, "route %s %s is registered twice", method, path);
    serve_route *grown = realloc(http->routes, (http->n_routes + 1) * sizeof *grown);
    if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    http->routes = grown;
    serve_route *r = &http->routes[http->n_routes];
    r->method = strdup(method);
    r->path = strdup(path);
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    r->handler = handler;
    r->context = context;
    http->n_routes++;
    return CN_OK;
}

/* The route for method and path; else sets *path_known when another method has it. HEAD is
 * served by the GET route (libmicrohttpd sends the headers only). */
static const serve_route *find_route(const serve_http *http, const char *method, const char *path, bool *path_known) {
    *path_known = false;
    const char *wanted = strcmp(method, "HEAD") ? method : "GET";
    for (size_t i = 0; i < http->n_routes; i++) {
        if (strcmp(http->routes[i].path, path)) continue;
        *path_known = true;
        if (!strcmp(http->routes[i].method, wanted)) return &http->routes[i];
    }
    return NULL;
}

/* "GET, POST": the Allow header of a 405 (RFC 9110 section 15.5.6). */
static void allowed_methods(const serve_http *http, const char *path, char *out, size_t size) {
    out[0] = '\0';
    for (size_t i = 0; i < http->n_routes; i++) {
        if (strcmp(http->routes[i].path, path)) continue;
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", used ? ", " : "", http->routes[i].method);
    }
}

/* ---- requests -------------------------------------------------------------------------- */

static void request_free(serve_request *req) {
    free(req->method);
    free(req->path);
    free(req->body);
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
}

const char *serve_request_method(const serve_request *req) { return req->method; }
const char *serve_request_path(const serve_request *req) { return req->path; }

const char *serve_request_body(const serve_request *req, size_t *len) {
    if (len) *len = req->body_len;
    return req->body ? req->body : "";
}

const char *serve_request_header(const serve_request *req, const char *name) {
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name)) return req->headers[i].value;
    return NULL;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    serve_request *req = cls;
    if (!key || !value) return MHD_YES;
    serve_header *grown = realloc(req->headers, (req->n_headers + 1) * sizeof *grown);
    if (!grown) return MHD_NO;
    req->headers = grown;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return MHD_NO;
    }
    req->headers[req->n_headers++] = (serve_header){k, v};
    return MHD_YES;
}

static bool body_append(serve_request *req, const char *data, size_t n) {
    if (req->body_len + n + 1 > req->body_capacity) {
        size_t capacity = req->body_capacity ? req->body_capacity : 4096;
        while (capacity < req->body_len + n + 1) capacity *= 2;
        char *grown = realloc(req->body, capacity);
        if (!grown) return false;
        req->body = grown;
        req->body_capacity = capacity;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return true;
}

/* ---- exchanges ------------------------------------------------------------------------- */

static void exchange_free(serve_exchange *x) {
    serve_response_free(&x->response);
    request_free(&x->request);
    free(x);
}

static serve_exchange *exchange_new(serve_http *http, struct MHD_Connection *c, const char *url, const char *method) {
    serve_exchange *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->http = http;
    x->request.method = strdup(method);
    x->request.path = strdup(url);
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = info ? info->connect_fd : -1;
    if (!x->request.method || !x->request.path ||
        MHD_get_connection_values(c, MHD_HEADER_KIND, copy_header, &x->request) < 0 ||
        serve_response_init(&x->response, &x->request, fd, NULL)) {
        x->response.wake_fd = -1;
        request_free(&x->request);
        free(x);
        return NULL;
    }
    pthread_mutex_lock(&http->mutex);
    bool stopping = http->stopping;
    x->next = http->live;
    if (http->live) http->live->prev = x;
    http->live = x;
    http->stats.open_requests++;
    pthread_mutex_unlock(&http->mutex);
    if (stopping) serve_response_mark_gone(&x->response);
    return x;
}

static void reject(serve_exchange *x, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reject(serve_exchange *x, int status, const char *fmt, ...) {
    if (x->reject_status) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reject_message, sizeof x->reject_message, fmt, ap);
    va_end(ap);
    x->reject_status = status;
}

/* What can be decided from the headers alone, in order: shutting down, the API key (every
 * route but /health), the route, the declared body size. */
static void check_headers(serve_exchange *x) {
    serve_http *http = x->http;
    const serve_request *req = &x->request;
    if (serve_response_client_gone(&x->response)) {
        reject(x, 503, "the server is shutting down");
        return;
    }
    if (http->key.set && strcmp(req->path, "/health") &&
        !serve_api_key_accepts(&http->key, serve_request_header(req, "Authorization"),
                               serve_request_header(req, "x-api-key"))) {
        reject(x, 401, "a valid API key is required: send \"Authorization: Bearer KEY\" or \"x-api-key: KEY\"");
        return;
    }
    bool path_known;
    x->route = find_route(http, req->method, req->path, &path_known);
    if (!x->route) {
        if (path_known) reject(x, 405, "method %.16s is not allowed on %.100s", req->method, req->path);
        else reject(x, 404, "no such endpoint: %.16s %.100s", req->method, req->path);
        return;
    }
    const char *length = serve_request_header(req, "Content-Length");
    if (length) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(length, &end, 10);
        if (errno || end == length || n > http->max_body_bytes)
            reject(x, 413, "the request body is larger than the server's limit of %zu bytes", http->max_body_bytes);
    }
}

static enum MHD_Result queue(serve_exchange *x, struct MHD_Connection *c) {
    struct MHD_Response *m = serve_response_to_mhd(&x->response);
    if (!m) return MHD_NO;
    if (x->reject_status == 405) {
        char allow[128];
        allowed_methods(x->http, x->request.path, allow, sizeof allow);
        MHD_add_response_header(m, "Allow", allow);
    }
    int status = x->response.status;
    enum MHD_Result result = MHD_queue_response(c, (unsigned)status, m);
    MHD_destroy_response(m);
    if (result == MHD_YES) {
        x->answered = true;
        pthread_mutex_lock(&x->http->mutex);
        x->http->stats.requests_total++;
        if (status / 100 < 6) x->http->stats.responses_by_class[status / 100]++;
        pthread_mutex_unlock(&x->http->mutex);
    }
    return result;
}

static enum MHD_Result answer_rejected(serve_exchange *x, struct MHD_Connection *c) {
    serve_respond_error(&x->response, x->reject_status, x->reject_message);
    return queue(x, c);
}

static void *handler_thread(void *arg) {
    serve_exchange *x = arg;
    x->route->handler(x->route->context, &x->request, &x->response);
    serve_response_handler_returned(&x->response);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    serve_http *http = cls;
    serve_exchange *x = *con_cls;
    if (!x) {
        if (!(x = exchange_new(http, c, url, method))) return MHD_NO;
        *con_cls = x;
        check_headers(x);
        /* A client waiting for "100 Continue", or one announcing too large a body, is answered
         * before it sends the body (which then is never read: the connection closes after). */
        const char *expect = serve_request_header(&x->request, "Expect");
        if (x->reject_status == 413 || (x->reject_status && expect && !strcasecmp(expect, "100-continue")))
            return answer_rejected(x, c);
        return MHD_YES;
    }
    if (x->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        x->request.received += n;
        if (!x->reject_status) {
            if (x->request.body_len + n > http->max_body_bytes)
                reject(x, 413, "the request body is larger than the server's limit of %zu bytes", http->max_body_bytes);
            else if (!body_append(&x->request, upload, n)) reject(x, 503, "out of memory for the request body");
        }
        /* A rejected body is read and dropped so the connection stays usable, up to a bound. */
        if (x->reject_status && x->request.received > 2 * http->max_body_bytes + (1u << 20)) return MHD_NO;
        return MHD_YES;
    }
    /* The whole request is here. */
    if (x->reject_status) return answer_rejected(x, c);
    if (!x->request.body && !body_append(&x->request, "", 0)) return MHD_NO;
    if (pthread_create(&x->thread, NULL, handler_thread, x)) {
        reject(x, 503, "the server cannot start a thread for this request");
        return answer_rejected(x, c);
    }
    x->thread_started = true;
    if (!serve_response_wait_answer(&x->response)) return MHD_NO; /* the client left first */
    return queue(x, c);
}

/* libmicrohttpd is done with the request (answered, failed, timed out or the client left): the
 * handler is told to stop if it still runs, joined, and the exchange freed. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    serve_http *http = cls;
    serve_exchange *x = *con_cls;
    if (!x) return;
    *con_cls = NULL;
    bool gone_early = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    serve_response_mark_gone(&x->response);
    if (x->thread_started) pthread_join(x->thread, NULL);
    pthread_mutex_lock(&http->mutex);
    if (x->prev) x->prev->next = x->next;
    else http->live = x->next;
    if (x->next) x->next->prev = x->prev;
    http->stats.open_requests--;
    if (gone_early) http->stats.client_disconnects++;
    pthread_mutex_unlock(&http->mutex);
    exchange_free(x);
}

/* ---- the daemon ------------------------------------------------------------------------ */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    serve_http *http = cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    pthread_mutex_lock(&http->mutex);
    bool starting = http->starting;
    if (starting) snprintf(http->start_error, sizeof http->start_error, "%s", line);
    pthread_mutex_unlock(&http->mutex);
    if (!starting && !http->quiet) fprintf(stderr, "clawnet serve: libmicrohttpd: %s\n", line);
}

cn_status serve_http_create(const serve_http_options *options, serve_http **out, cn_error *err) {
    *out = NULL;
    if (options->port < 0 || options->port > 65535) return cn_fail(err, CN_ERR_ARG, "port %d is out of range", options->port);
    serve_http *http = calloc(1, sizeof *http);
    if (!http) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&http->mutex, NULL);
    http->host = strdup(options->host && *options->host ? options->host : "127.0.0.1");
    http->port = options->port;
    http->max_body_bytes = options->max_body_bytes ? options->max_body_bytes : DEFAULT_MAX_BODY;
    http->max_connections = options->max_connections > 0 ? options->max_connections : 64;
    http->connection_timeout_s = options->connection_timeout_s > 0 ? options->connection_timeout_s : 60;
    http->quiet = options->quiet;
    cn_status st = CN_OK;
    if (!http->host) st = cn_fail(err, CN_ERR_NOMEM, "out of memory");
    else if (options->api_key) st = serve_api_key_init(&http->key, options->api_key, err);
    if (st) {
        serve_http_destroy(http);
        return st;
    }
    *out = http;
    return CN_OK;
}

cn_status serve_http_start(serve_http *http, cn_error *err) {
    if (http->daemon) return cn_fail(err, CN_ERR_ARG, "the server is already started");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *found = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", http->port);
    int gai = getaddrinfo(http->host, port, &hints, &found);
    if (gai) return cn_fail(err, CN_ERR_ARG, "cannot use host \"%s\": %s", http->host, gai_strerror(gai));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (found->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    pthread_mutex_lock(&http->mutex);
    http->starting = true;
    pthread_mutex_unlock(&http->mutex);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, (uint16_t)http->port, NULL, NULL, on_request, http, MHD_OPTION_SOCK_ADDR, found->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)http->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)http->connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, http, MHD_OPTION_END);
    freeaddrinfo(found);
    pthread_mutex_lock(&http->mutex);
    http->starting = false;
    pthread_mutex_unlock(&http->mutex);
    http->daemon = daemon;
    if (!daemon) {
        pthread_mutex_lock(&http->mutex);
        cn_fail(err, CN_ERR_IO, "cannot listen on %s port %d%s%s", http->host, http->port,
                http->start_error[0] ? ": " : "", http->start_error);
        pthread_mutex_unlock(&http->mutex);
        return CN_ERR_IO;
    }
    return CN_OK;
}

int serve_http_port(const serve_http *http) {
    if (!http->daemon) return http->port;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : http->port;
}

void serve_http_stats_get(serve_http *http, serve_http_stats *out) {
    pthread_mutex_lock(&http->mutex);
    *out = http->stats;
    pthread_mutex_unlock(&http->mutex);
}

void serve_http_destroy(serve_http *http) {
    if (!http) return;
    if (http->daemon) {
        MHD_socket listener = MHD_quiesce_daemon(http->daemon); /* no new connections */
        /* Every open request learns that its client is gone, so handlers stop at once. */
        pthread_mutex_lock(&http->mutex);
        http->stopping = true;
        for (serve_exchange *x = http->live; x; x = x->next) serve_response_mark_gone(&x->response);
        pthread_mutex_unlock(&http->mutex);
        MHD_stop_daemon(http->daemon); /* joins the connection threads, which join the handlers */
        if (listener != MHD_INVALID_SOCKET) close(listener);
    }
    for (size_t i = 0; i < http->n_routes; i++) {
        free(http->routes[i].method);
        free(http->routes[i].path);
    }
    free(http->routes);
    free(http->host);
    pthread_mutex_destroy(&http->mutex);
    free(http);
}
