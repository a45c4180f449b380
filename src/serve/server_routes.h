/* The routes of `clawnet serve` that belong to no API adapter: GET /health, GET /v1/models (and
 * /v1/models/NAME), POST /tokenize, POST /detokenize, GET /metrics (Prometheus text). */
#ifndef CN_SERVE_SERVER_ROUTES_H
#define CN_SERVE_SERVER_ROUTES_H

#include <stdint.h>

#include "serve/app.h"
#include "serve/http.h"

typedef struct {
    serve_app *app;   /* app->engine may be NULL (tests): /metrics then has the HTTP counters only */
    serve_http *http; /* its counters go into /metrics */
    int64_t created;  /* Unix time the server started: "created" in /v1/models */
} serve_server_context;

/* Registers the routes; ctx must outlive the server. */
cn_status serve_server_routes(serve_http *http, serve_server_context *ctx, cn_error *err);

#endif
