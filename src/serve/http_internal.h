/* Inside the HTTP layer: what http.c (daemon, routing, requests) and http_response.c (answers,
 * streams, error bodies) share. Nothing outside src/serve/http*.c includes this. */
#ifndef CN_SERVE_HTTP_INTERNAL_H
#define CN_SERVE_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "serve/http.h"

typedef struct {
    char *name, *value;
} serve_header;

/* Copied out of libmicrohttpd's connection memory when the request is complete, so the handler's
 * thread never touches the connection. */
struct serve_request {
    char *method, *path;
    char *body; /* NUL-terminated; "" for none */
    size_t body_len, body_capacity;
    size_t received; /* upload bytes seen, kept or discarded */
    serve_header *headers;
    size_t n_headers;
};

typedef enum {
    SERVE_ANSWER_NONE,
    SERVE_ANSWER_WHOLE,
    SERVE_ANSWER_STREAM,
} serve_answer_kind;

/* Bytes a stream may hold that the client has not taken yet: a handler that produces faster
 * than the client reads waits (backpressure) rather than growing memory. */
#define SERVE_STREAM_BUFFER (64 * 1024)

/* The answer being made by a handler's thread and sent by the connection's thread. The
 * connection thread sleeps in poll() on two descriptors: wake_fd (an eventfd the handler side
 * signals on every change) and the client's socket (POLLRDHUP: the client closed), so it notices
 * both at once without polling on a timer. */
struct serve_response {
    const serve_request *request;
    pthread_mutex_t mutex;
    pthread_cond_t room; /* stream writers wait here for the client to take bytes */
    int wake_fd;
    int socket_fd;
    serve_answer_kind kind;
    int status;
    char *content_type;
    serve_header *headers;
    size_t n_headers;
    char *body; /* whole answer */
    size_t body_len;
    char *ring; /* stream: ring buffer of SERVE_STREAM_BUFFER bytes */
    size_t ring_start, ring_len;
    bool handler_done, client_gone;
};

cn_status serve_response_init(serve_response *r, const serve_request *req, int socket_fd, cn_error *err);
void serve_response_free(serve_response *r);

/* The client is gone (or the server is stopping): writes fail from now on, waiters wake. */
void serve_response_mark_gone(serve_response *r);
/* The handler returned; answers 500 if it had not answered. */
void serve_response_handler_returned(serve_response *r);
/* On the connection's thread: waits until the handler has answered (whole or stream begun).
 * False if the client went away first. */
bool serve_response_wait_answer(serve_response *r);
/* The libmicrohttpd response for the answer (a copy of a whole body, or a content reader on the
 * stream's buffer), with its headers; NULL on out of memory. */
struct MHD_Response *serve_response_to_mhd(serve_response *r);

/* True for paths that answer in Anthropic's format (/v1/messages and below). */
bool serve_path_is_anthropic(const char *path);

#endif
