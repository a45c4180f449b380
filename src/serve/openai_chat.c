/* POST /v1/chat/completions: the parsed request (openai_chat_request.c) run on the engine and
 * answered whole or streamed as SSE chunks (specs/protocols.md 3.6); the OpenAI routes. */
#include <stdlib.h>
#include <string.h>

#include "serve/openai_handler.h"

/* ---- the handler ---- */

typedef struct {
    serve_openai_exchange exchange;
    const serve_chat_request *request;
    bool sent_role;
} chat_stream;

static bool chat_sink(void *context, const serve_delta *delta) {
    chat_stream *s = context;
    serve_openai_exchange *x = &s->exchange;
    if (!x->request_stream) return serve_openai_reply_add(&x->reply, delta) || true;
    bool with_usage = s->request->include_usage;
    if (!s->sent_role) {
        s->sent_role = true;
        cJSON *first = serve_openai_chat_role_chunk(&x->meta, with_usage);
        bool alive = serve_openai_exchange_send(x, first);
        cJSON_Delete(first);
        if (!alive) return false;
    }
    cJSON *chunk = serve_openai_chat_chunk(&x->meta, delta, x->tokenizer, s->request->logprobs, with_usage);
    bool alive = serve_openai_exchange_send(x, chunk);
    cJSON_Delete(chunk);
    if (alive && delta->kind == SERVE_DELTA_FINISH && with_usage) {
        cJSON *usage = serve_openai_usage_chunk(&x->meta, "chat.completion.chunk", &delta->usage);
        alive = serve_openai_exchange_send(x, usage);
        cJSON_Delete(usage);
    }
    return alive;
}

static void handle_chat(void *context, const serve_request *req, serve_response *resp) {
    serve_app *app = context;
    size_t len = 0;
    const char *body = serve_request_body(req, &len);
    serve_chat_request request;
    serve_openai_fault fault;
    if (serve_openai_parse_chat(body, len, &request, &fault) != CN_OK) {
        serve_openai_respond_fault(resp, &fault);
        serve_chat_request_free(&request);
        return;
    }
    chat_stream s = {.request = &request};
    cn_error err = {0};
    cn_token_constraint constraint = {0};
    cn_status st = serve_openai_exchange_init(&s.exchange, app, resp, "chatcmpl-", request.stream, &err);
    if (st == CN_OK) st = serve_openai_chat_constraint(app, &request, &constraint, &err);
    if (st == CN_OK)
        st = serve_chat_run(app, &request, &constraint, chat_sink, &s, serve_openai_exchange_client_gone, &s.exchange, &err);
    if (st == CN_OK && !request.stream) {
        cJSON *json = serve_openai_chat_response(&s.exchange.meta, &s.exchange.reply, app->tokenizer, request.logprobs);
        if (s.exchange.reply.out_of_memory || !s.exchange.reply.finished)
            st = cn_fail(&err, CN_ERR_NOMEM, "the reply was lost (out of memory or the engine stopped)");
        else serve_respond_json(resp, 200, json);
        cJSON_Delete(json);
    }
    serve_openai_exchange_end(&s.exchange, st, &err);
    cn_constraint_destroy(&constraint);
    serve_chat_request_free(&request);
}

cn_status serve_openai_routes(serve_http *http, serve_app *app, cn_error *err) {
    cn_status st = serve_http_route(http, "POST", "/v1/chat/completions", handle_chat, app, err);
    if (st == CN_OK) st = serve_http_route(http, "POST", "/v1/completions", serve_openai_handle_completion, app, err);
    return st;
}
