/* POST /v1/messages and /v1/messages/count_tokens: the parsed request (anthropic_request.c) run
 * through the shared chat runner (chat_run.h: prompt, prefix reuse, tool-call registry, stop
 * strings, constraints, cancel on disconnect) and answered as a Message or as Anthropic's event
 * stream. The stream begins with the first delta, so a full queue (529) or a prompt too long
 * (400) still gets a plain error response. */
#include <stdlib.h>
#include <string.h>

#include "serve/anthropic.h"
#include "serve/app.h"
#include "serve/chat_run.h"
#include "serve/openai.h"
#include "serve/openai_handler.h"
#include "serve/sse_event.h"

typedef struct {
    serve_app *app;
    serve_event_stream out;
    char id[64];
    serve_anthropic_meta meta;
    bool stream;
    int64_t prompt_tokens;
    serve_anthropic_reply reply;
} anthropic_exchange;

static bool send_opening(anthropic_exchange *x) {
    cJSON *start = serve_anthropic_message_start(&x->meta, x->prompt_tokens);
    cJSON *ping = cJSON_CreateObject();
    bool alive = start && ping && cJSON_AddStringToObject(ping, "type", "ping") && serve_event_stream_send(&x->out, start) && serve_event_stream_send(&x->out, ping);
    cJSON_Delete(start);
    cJSON_Delete(ping);
    return alive;
}

static bool sink(void *context, const serve_delta *delta) {
    anthropic_exchange *x = context;
    if (!x->stream) {
        serve_anthropic_reply_add(&x->reply, delta, NULL); /* out of memory is seen at the end */
        return true;
    }
    if (!x->out.started && !send_opening(x)) return false;
    cJSON *events = cJSON_CreateArray();
    bool alive = events && serve_anthropic_reply_add(&x->reply, delta, events) && serve_event_stream_send_all(&x->out, events);
    cJSON_Delete(events);
    return alive || !x->out.client_gone; /* out of memory mid-stream: carry on, the client is still there */
}

static bool client_gone(void *context) {
    anthropic_exchange *x = context;
    return serve_event_stream_client_gone(&x->out);
}

/* A failure before any byte is a plain error response; after the stream began, an error event
 * (Anthropic's in-stream error shape). */
static void answer_error(anthropic_exchange *x, cn_status st, const cn_error *err) {
    if (x->out.client_gone) return;
    int status = serve_anthropic_status_for(st);
    const char *message = err->msg[0] ? err->msg : cn_status_name(st);
    if (!x->out.started) {
        serve_respond_error(x->out.resp, status, message);
        return;
    }
    cJSON *e = serve_anthropic_error_json(status, message);
    if (e) serve_event_stream_send(&x->out, e);
    cJSON_Delete(e);
}

static void handle_messages(void *context, const serve_request *req, serve_response *resp) {
    serve_app *app = context;
    size_t len = 0;
    const char *body = serve_request_body(req, &len);
    serve_chat_request request;
    cn_error err = {0};
    cn_status st = serve_anthropic_parse(body, len, false, &request, &err);
    if (st != CN_OK) {
        serve_respond_error(resp, serve_anthropic_status_for(st), err.msg);
        serve_chat_request_free(&request);
        return;
    }
    anthropic_exchange x = {.app = app, .out = {.resp = resp}, .stream = request.stream};
    x.meta = (serve_anthropic_meta){.id = x.id, .model = app->model_name ? app->model_name : "clawnet"};
    cn_token_constraint constraint = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    cn_output_start start = CN_OUTPUT_START_IN_CONTENT;
    st = serve_openai_new_id("msg_", x.id, sizeof x.id, &err);
    if (st == CN_OK) st = serve_openai_chat_constraint(app, &request, &constraint, &err);
    if (st == CN_OK) st = serve_chat_prompt(app, &request, &ids, &n, &start, &err);
    if (st == CN_OK) {
        x.prompt_tokens = (int64_t)n;
        serve_run_options options = serve_chat_run_options(&request, ids, n, start);
        options.constraint = constraint; /* serve_run owns it from here */
        constraint = (cn_token_constraint){0};
        options.sink = sink;
        options.sink_context = &x;
        options.client_gone = client_gone;
        options.client_gone_context = &x;
        st = serve_run(app, &options, &err);
    }
    if (st == CN_OK && !x.out.client_gone && (x.reply.out_of_memory || !x.reply.finished))
        st = cn_fail(&err, CN_ERR_NOMEM, "the reply was lost (out of memory or the engine stopped)");
    if (st != CN_OK) {
        answer_error(&x, st, &err);
    } else if (!x.stream) {
        cJSON *message = serve_anthropic_message(&x.meta, &x.reply);
        if (message) serve_respond_json(resp, 200, message);
        else serve_respond_error(resp, 500, "out of memory formatting the reply");
        cJSON_Delete(message);
    }
    free(ids);
    cn_constraint_destroy(&constraint);
    serve_anthropic_reply_free(&x.reply);
    serve_chat_request_free(&request);
}

/* {"input_tokens": N}: the prompt's size as this server would encode it (Anthropic's
 * "Count tokens in a message"). */
static void handle_count_tokens(void *context, const serve_request *req, serve_response *resp) {
    serve_app *app = context;
    size_t len = 0;
    const char *body = serve_request_body(req, &len);
    serve_chat_request request;
    cn_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    cn_output_start start;
    cn_status st = serve_anthropic_parse(body, len, true, &request, &err);
    if (st == CN_OK) st = serve_chat_prompt(app, &request, &ids, &n, &start, &err);
    cJSON *json = st == CN_OK ? cJSON_CreateObject() : NULL;
    if (st != CN_OK) serve_respond_error(resp, serve_anthropic_status_for(st), err.msg);
    else if (json && cJSON_AddNumberToObject(json, "input_tokens", (double)n)) serve_respond_json(resp, 200, json);
    else serve_respond_error(resp, 500, "out of memory");
    cJSON_Delete(json);
    free(ids);
    serve_chat_request_free(&request);
}

cn_status serve_anthropic_routes(serve_http *http, serve_app *app, cn_error *err) {
    cn_status st = serve_http_route(http, "POST", "/v1/messages", handle_messages, app, err);
    if (st == CN_OK) st = serve_http_route(http, "POST", "/v1/messages/count_tokens", handle_count_tokens, app, err);
    return st;
}
