/* The server's own routes (server_routes.h). Request and answer shapes follow what existing
 * OpenAI-compatible servers offer, so their clients work unchanged: /tokenize and /detokenize as
 * vLLM's ("prompt" in, "tokens"/"count"/"max_model_len" out), also accepting llama.cpp's
 * "content"; /v1/models as OpenAI's list, or Anthropic's when the request carries an
 * anthropic-version header (the anthropic SDK's models.list); /metrics in the Prometheus text
 * exposition format 0.0.4. */
#include "serve/server_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The body as a JSON object, or an error answered (false). */
static cJSON *body_object(const serve_request *req, serve_response *resp) {
    size_t len;
    const char *body = serve_request_body(req, &len);
    cJSON *json = cJSON_ParseWithLength(body, len);
    if (!json) {
        serve_respond_error(resp, 400, "the request body is not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        serve_respond_error(resp, 400, "the request body must be a JSON object");
        return NULL;
    }
    return json;
}

static void health(void *context, const serve_request *req, serve_response *resp) {
    static const char ok[] = "{\"status\":\"ok\"}";
    serve_respond(resp, 200, "application/json", ok, sizeof ok - 1);
}

static cJSON *openai_model(const serve_server_context *ctx) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", ctx->app->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)ctx->created);
    cJSON_AddStringToObject(m, "owned_by", "clawnet");
    if (ctx->app->ctx > 0) cJSON_AddNumberToObject(m, "max_model_len", (double)ctx->app->ctx);
    return m;
}

/* Anthropic's model object: {"type":"model","id","display_name","created_at" (RFC 3339)}. */
static cJSON *anthropic_model(const serve_server_context *ctx) {
    cJSON *m = cJSON_CreateObject();
    char when[32];
    time_t t = (time_t)ctx->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(m, "type", "model");
    cJSON_AddStringToObject(m, "id", ctx->app->model_name);
    cJSON_AddStringToObject(m, "display_name", ctx->app->model_name);
    cJSON_AddStringToObject(m, "created_at", when);
    return m;
}

static void models(void *context, const serve_request *req, serve_response *resp) {
    serve_server_context *ctx = context;
    cJSON *list = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(list, "data");
    if (serve_request_header(req, "anthropic-version")) {
        cJSON_AddItemToArray(data, anthropic_model(ctx));
        cJSON_AddBoolToObject(list, "has_more", false);
        cJSON_AddStringToObject(list, "first_id", ctx->app->model_name);
        cJSON_AddStringToObject(list, "last_id", ctx->app->model_name);
    } else {
        cJSON_AddStringToObject(list, "object", "list");
        cJSON_AddItemToArray(data, openai_model(ctx));
    }
    serve_respond_json(resp, 200, list);
    cJSON_Delete(list);
}

static void model(void *context, const serve_request *req, serve_response *resp) {
    serve_server_context *ctx = context;
    cJSON *m = serve_request_header(req, "anthropic-version") ? anthropic_model(ctx) : openai_model(ctx);
    serve_respond_json(resp, 200, m);
    cJSON_Delete(m);
}

static void tokenize(void *context, const serve_request *req, serve_response *resp) {
    serve_server_context *ctx = context;
    cJSON *json = body_object(req, resp);
    if (!json) return;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(json, "prompt");
    if (!text) text = cJSON_GetObjectItemCaseSensitive(json, "content");
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(json, "add_special_tokens");
    if (!cJSON_IsString(text)) {
        serve_respond_error(resp, 400, "\"prompt\" (or \"content\") must be a string");
    } else if (special && !cJSON_IsBool(special)) {
        serve_respond_error(resp, 400, "\"add_special_tokens\" must be a boolean");
    } else {
        /* DeepSeek's tokenizer.json adds no BOS or EOS (its post-processor is ByteLevel only), so
         * add_special_tokens changes nothing: the ids are HF's encode of the text. */
        int32_t *ids = NULL;
        size_t n = 0;
        cn_error err = {0};
        if (cn_tokenizer_encode(ctx->app->tokenizer, text->valuestring, strlen(text->valuestring), CN_ADDED_TOKENS_ALL,
                                &ids, &n, &err)) {
            serve_respond_error(resp, err.code == CN_ERR_NOMEM ? 503 : 400, err.msg);
        } else {
            cJSON *out = cJSON_CreateObject(), *tokens = cJSON_AddArrayToObject(out, "tokens");
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(tokens, cJSON_CreateNumber(ids[i]));
            cJSON_AddNumberToObject(out, "count", (double)n);
            if (ctx->app->ctx > 0) cJSON_AddNumberToObject(out, "max_model_len", (double)ctx->app->ctx);
            serve_respond_json(resp, 200, out);
            cJSON_Delete(out);
        }
        free(ids);
    }
    cJSON_Delete(json);
}

static void detokenize(void *context, const serve_request *req, serve_response *resp) {
    serve_server_context *ctx = context;
    cJSON *json = body_object(req, resp);
    if (!json) return;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(json, "tokens");
    int count = cJSON_GetArraySize(tokens);
    int32_t *ids = malloc(((size_t)count + 1) * sizeof *ids);
    int32_t limit = cn_tokenizer_id_count(ctx->app->tokenizer);
    char message[160] = "";
    if (!cJSON_IsArray(tokens)) snprintf(message, sizeof message, "\"tokens\" must be an array of token ids");
    else if (!ids) snprintf(message, sizeof message, "out of memory");
    int i = 0;
    for (const cJSON *t = tokens ? tokens->child : NULL; !message[0] && t; t = t->next, i++) {
        double v = cJSON_IsNumber(t) ? t->valuedouble : -1;
        /* range first: casting an infinite or huge double to an integer is undefined (found by
         * fuzz_serve_http with 1e400, which cJSON reads as inf) */
        if (!(v >= 0 && v < limit) || v != (double)(int32_t)v)
            snprintf(message, sizeof message, "tokens[%d] is not a token id (an integer from 0 to %d)", i, limit - 1);
        else ids[i] = (int32_t)v;
    }
    if (message[0]) {
        serve_respond_error(resp, 400, message);
    } else {
        char *text = NULL;
        size_t len = 0;
        cn_error err = {0};
        if (cn_tokenizer_decode(ctx->app->tokenizer, ids, (size_t)count, &text, &len, &err)) {
            serve_respond_error(resp, 400, err.msg);
        } else {
            /* "prompt" as vLLM, "content" as llama.cpp's server */
            cJSON *out = cJSON_CreateObject();
            cJSON_AddStringToObject(out, "prompt", text);
            cJSON_AddStringToObject(out, "content", text);
            serve_respond_json(resp, 200, out);
            cJSON_Delete(out);
        }
        free(text);
    }
    free(ids);
    cJSON_Delete(json);
}

/* ---- /metrics ------------------------------------------------------------------------- */

static void metric(FILE *f, const char *name, const char *type, const char *help, const char *labels, double value) {
    if (help) fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    fprintf(f, "%s%s %.17g\n", name, labels ? labels : "", value);
}

static void metrics(void *context, const serve_request *req, serve_response *resp) {
    serve_server_context *ctx = context;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        serve_respond_error(resp, 503, "out of memory");
        return;
    }
    if (ctx->app && ctx->app->engine) {
        cn_engine_metrics e;
        cn_engine_metrics_get(ctx->app->engine, &e);
        metric(f, "clawnet_requests_total", "counter", "Generation requests the engine accepted.", NULL,
               (double)e.requests_total);
        metric(f, "clawnet_requests_rejected_total", "counter", "Requests refused because the queue was full.",
               NULL, (double)e.requests_rejected);
        metric(f, "clawnet_requests_cancelled_total", "counter", "Requests cancelled (client gone, stop string).",
               NULL, (double)e.requests_cancelled);
        metric(f, "clawnet_requests_failed_total", "counter", "Requests that ended with an error.", NULL,
               (double)e.requests_failed);
        metric(f, "clawnet_prompt_tokens_total", "counter", "Prompt tokens of all requests.", NULL,
               (double)e.prompt_tokens_total);
        metric(f, "clawnet_prompt_tokens_cached_total", "counter",
               "Prompt tokens served from a stored state instead of prefilled.", NULL, (double)e.cached_tokens_total);
        metric(f, "clawnet_generation_tokens_total", "counter", "Tokens generated.", NULL,
               (double)e.generated_tokens_total);
        metric(f, "clawnet_prefix_cache_lookups_total", "counter", "Prefix lookups by where the prefix was found.",
               "{result=\"memory_hit\"}", (double)e.prefix_hits_memory);
        metric(f, "clawnet_prefix_cache_lookups_total", "counter", NULL, "{result=\"disk_hit\"}",
               (double)e.prefix_hits_disk);
        metric(f, "clawnet_prefix_cache_lookups_total", "counter", NULL, "{result=\"miss\"}", (double)e.prefix_misses);
        metric(f, "clawnet_requests_running", "gauge", "Sequences being decoded now.", NULL, e.active);
        metric(f, "clawnet_requests_waiting", "gauge", "Requests queued for a decoding slot.", NULL, e.queued);
        metric(f, "clawnet_kv_bytes", "gauge", "Bytes of sequence state held by running requests.", NULL,
               (double)e.kv_bytes);
        metric(f, "clawnet_prefix_cache_bytes", "gauge", "Bytes held by the in-memory prefix cache.", NULL,
               (double)e.cache_bytes);
        metric(f, "clawnet_kv_store_saves_total", "counter", "Sequence states saved to --kv-dir at request ends.",
               NULL, (double)e.store_saves);
        metric(f, "clawnet_kv_store_save_failures_total", "counter", "Saves to --kv-dir that failed.", NULL,
               (double)e.store_save_failures);
        metric(f, "clawnet_kv_store_bytes", "gauge", "Bytes of the prefix store under --kv-dir.", NULL,
               (double)e.store_bytes);
        metric(f, "clawnet_decode_tokens_per_second", "gauge",
               "Tokens generated per second over the last few seconds, all sequences together.", NULL,
               e.decode_tokens_per_second);
    }
    serve_http_stats h;
    serve_http_stats_get(ctx->http, &h);
    static const char *const classes[] = {NULL, "1xx", "2xx", "3xx", "4xx", "5xx"};
    bool first = true;
    for (int c = 1; c < 6; c++) {
        char labels[32];
        snprintf(labels, sizeof labels, "{code=\"%s\"}", classes[c]);
        metric(f, "clawnet_http_responses_total", "counter", first ? "HTTP responses by status class." : NULL, labels,
               (double)h.responses_by_class[c]);
        first = false;
    }
    metric(f, "clawnet_http_client_disconnects_total", "counter",
           "Requests whose client went away before the answer was complete.", NULL, (double)h.client_disconnects);
    metric(f, "clawnet_http_open_requests", "gauge", "HTTP requests being handled now (this one included).", NULL,
           (double)h.open_requests);
    if (fclose(f) || !text) {
        free(text);
        serve_respond_error(resp, 503, "out of memory");
        return;
    }
    serve_respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

cn_status serve_server_routes(serve_http *http, serve_server_context *ctx, cn_error *err) {
    cn_status st;
    if ((st = serve_http_route(http, "GET", "/health", health, ctx, err)) ||
        (st = serve_http_route(http, "GET", "/v1/models", models, ctx, err)) ||
        (st = serve_http_route(http, "POST", "/tokenize", tokenize, ctx, err)) ||
        (st = serve_http_route(http, "POST", "/detokenize", detokenize, ctx, err)) ||
        (st = serve_http_route(http, "GET", "/metrics", metrics, ctx, err)))
        return st;
    char path[512];
    int n = snprintf(path, sizeof path, "/v1/models/%s", ctx->app->model_name);
    if (n > 0 && (size_t)n < sizeof path) st = serve_http_route(http, "GET", path, model, ctx, err);
    return st;
}
