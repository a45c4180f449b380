/* The HTTP layer of `clawnet serve`, on libmicrohttpd: a routing table of handlers that each get a
 * whole request (body read and size-checked) and answer it either at once or as a stream
 * (server-sent events), pushing bytes from the handler's own thread. The API adapters (OpenAI,
 * Anthropic, ...) see only this interface, never libmicrohttpd. */
#ifndef CN_SERVE_HTTP_H
#define CN_SERVE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"

typedef struct serve_request serve_request;
typedef struct serve_response serve_response;
typedef struct serve_http serve_http;

/* Request accessors; strings stay valid for the handler's call. path has no query string. */
const char *serve_request_method(const serve_request *req);
const char *serve_request_path(const serve_request *req);
const char *serve_request_body(const serve_request *req, size_t *len); /* NUL-terminated */
const char *serve_request_header(const serve_request *req, const char *name); /* NULL if absent */

/* An extra response header (Retry-After, ...), before serve_respond or serve_stream_begin. */
void serve_response_header(serve_response *resp, const char *name, const char *value);

/* A whole response. Call once; later answers to the same request are ignored. */
void serve_respond(serve_response *resp, int status, const char *content_type, const char *body, size_t len);
void serve_respond_json(serve_response *resp, int status, const cJSON *json);
/* An error in the format of the API the request's path belongs to: Anthropic's
 * {"type":"error","error":{"type":...,"message":...}} under /v1/messages, OpenAI's
 * {"error":{"message":...,"type":...,"param":null,"code":null}} everywhere else; the type is
 * chosen from the status (400 invalid_request_error, 401 authentication_error, ...). */
void serve_respond_error(serve_response *resp, int status, const char *message);

/* A streamed response: begin once, then write pieces as they are made; the response ends when the
 * handler returns. Writes return false once the client has gone (the handler then stops its work
 * at once and returns). */
void serve_stream_begin(serve_response *resp, int status, const char *content_type);
bool serve_stream_write(serve_response *resp, const char *data, size_t len);
/* true once the client has disconnected (also for a response not streamed yet). */
bool serve_response_client_gone(const serve_response *resp);

/* Runs on a connection's thread; must answer (respond or stream) before returning. */
typedef void (*serve_handler_fn)(void *context, const serve_request *req, serve_response *resp);

typedef struct {
    const char *host;         /* "127.0.0.1" by default: loopback only */
    int port;                 /* 0: any free port (see serve_http_port) */
    size_t max_body_bytes;    /* larger bodies get 413 before any handler runs */
    int max_connections;
    int connection_timeout_s; /* idle keep-alive connections are closed after this */
    const char *api_key;      /* when set, every route but /health needs "Authorization: Bearer KEY"
                                 or "x-api-key: KEY", compared in constant time */
    bool quiet;               /* libmicrohttpd's runtime messages are not printed (fuzzing, tests) */
} serve_http_options;

cn_status serve_http_create(const serve_http_options *options, serve_http **out, cn_error *err);
/* Routes "METHOD PATH" (exact path) to a handler; unknown paths get 404, a known path with another
 * method 405, in the error format of the API the path belongs to. Register before start. */
cn_status serve_http_route(serve_http *http, const char *method, const char *path, serve_handler_fn handler,
                           void *context, cn_error *err);
cn_status serve_http_start(serve_http *http, cn_error *err);
int serve_http_port(const serve_http *http);

/* What the HTTP layer has seen since start, for /metrics. */
typedef struct {
    uint64_t requests_total;        /* answered, by any route or error */
    uint64_t responses_by_class[6]; /* [status / 100]: 2xx, 4xx, 5xx, ... */
    uint64_t client_disconnects;    /* requests whose client went away before the answer ended */
    uint64_t open_requests;         /* being handled now */
} serve_http_stats;
void serve_http_stats_get(serve_http *http, serve_http_stats *out);
/* Stops accepting, waits for handlers to return, frees. */
void serve_http_destroy(serve_http *http);

#endif
