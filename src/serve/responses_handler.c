/* POST /v1/responses: the parsed request (responses_request.c) run through the shared chat runner
 * (chat_run.h: prompt, prefix reuse, tool-call registry, stop handling, constraints, cancel on
 * disconnect) and answered as a Response object or as the Responses event stream. The stream
 * begins with the first delta, so a full queue (429) or a prompt too long (400) still gets a
 * plain error response. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/app.h"
#include "serve/chat_run.h"
#include "serve/openai.h"
#include "serve/openai_handler.h"
#include "serve/responses.h"
#include "serve/sse_event.h"

typedef struct {
    serve_event_stream out;
    bool stream;
    serve_responses_reply reply;
} responses_exchange;

static bool sink(void *context, const serve_delta *delta) {
    responses_exchange *x = context;
    if (!x->stream) {
        serve_responses_reply_add(&x->reply, delta, NULL); /* out of memory is seen at the end */
        return true;
    }
    cJSON *events = cJSON_CreateArray();
    bool ok = events && (x->out.started || serve_responses_begin(&x->reply, events)) &&
              serve_responses_reply_add(&x->reply, delta, events);
    bool alive = serve_event_stream_send_all(&x->out, events);
    cJSON_Delete(events);
    return alive || (!ok && !x->out.client_gone);
}

static bool client_gone(void *context) {
    responses_exchange *x = context;
    return serve_event_stream_client_gone(&x->out);
}

/* Before any byte: OpenAI's error response. In the stream: an "error" event (ResponseErrorEvent)
 * and response.failed with the error, as the API ends a failed stream. */
static void answer_error(responses_exchange *x, cn_status st, const cn_error *err) {
    if (x->out.client_gone) return;
    int status = serve_openai_status_for(st);
    const char *message = err->msg[0] ? err->msg : cn_status_name(st);
    if (!x->out.started) {
        cJSON *json = serve_openai_error_json(status, message, NULL);
        if (json) serve_respond_json(x->out.resp, status, json);
        else serve_respond_error(x->out.resp, status, message);
        cJSON_Delete(json);
        return;
    }
    cJSON *e = cJSON_CreateObject();
    if (e && cJSON_AddStringToObject(e, "type", "error") &&
        cJSON_AddStringToObject(e, "code", status >= 500 ? "server_error" : "invalid_prompt") &&
        cJSON_AddStringToObject(e, "message", message) && cJSON_AddNullToObject(e, "param") &&
        cJSON_AddNumberToObject(e, "sequence_number", (double)x->reply.sequence_number++))
        serve_event_stream_send(&x->out, e);
    cJSON_Delete(e);
    cJSON *failed = cJSON_CreateObject(), *response = serve_responses_object(&x->reply);
    cJSON *error = cJSON_CreateObject();
    if (failed && response && error && cJSON_AddStringToObject(error, "code", "server_error") &&
        cJSON_AddStringToObject(error, "message", message)) {
        cJSON_ReplaceItemInObjectCaseSensitive(response, "status", cJSON_CreateString("failed"));
        cJSON_ReplaceItemInObjectCaseSensitive(response, "error", error);
        error = NULL;
        cJSON_AddStringToObject(failed, "type", "response.failed");
        cJSON_AddNumberToObject(failed, "sequence_number", (double)x->reply.sequence_number++);
        cJSON_AddItemToObject(failed, "response", response);
        response = NULL;
        serve_event_stream_send(&x->out, failed);
    }
    cJSON_Delete(error);
    cJSON_Delete(response);
    cJSON_Delete(failed);
}

static void handle_responses(void *context, const serve_request *req, serve_response *resp) {
    serve_app *app = context;
    size_t len = 0;
    const char *body = serve_request_body(req, &len);
    serve_chat_request request;
    cJSON *echo = NULL;
    serve_openai_fault fault;
    if (serve_responses_parse(body, len, &request, &echo, &fault) != CN_OK) {
        serve_openai_respond_fault(resp, &fault);
        serve_chat_request_free(&request);
        cJSON_Delete(echo);
        return;
    }
    char id[64];
    cn_error err = {0};
    serve_responses_meta meta = {.id = id, .model = app->model_name ? app->model_name : "clawnet",
                                 .created_at = (int64_t)time(NULL), .echo = echo};
    responses_exchange x = {.out = {.resp = resp}, .stream = request.stream, .reply = {.meta = &meta}};
    cn_token_constraint constraint = {0};
    cn_status st = serve_openai_new_id("resp_", id, sizeof id, &err);
    if (st == CN_OK) st = serve_openai_chat_constraint(app, &request, &constraint, &err);
    if (st == CN_OK)
        st = serve_chat_run(app, &request, &constraint, sink, &x, client_gone, &x, &err);
    if (st == CN_OK && !x.out.client_gone && (x.reply.out_of_memory || !x.reply.finished))
        st = cn_fail(&err, CN_ERR_NOMEM, "the reply was lost (out of memory or the engine stopped)");
    if (st != CN_OK) {
        answer_error(&x, st, &err);
    } else if (!x.stream) {
        cJSON *response = serve_responses_object(&x.reply);
        if (response) serve_respond_json(resp, 200, response);
        else serve_respond_error(resp, 500, "out of memory formatting the reply");
        cJSON_Delete(response);
    }
    cn_constraint_destroy(&constraint);
    serve_responses_reply_free(&x.reply);
    serve_chat_request_free(&request);
    cJSON_Delete(echo);
}

cn_status serve_responses_routes(serve_http *http, serve_app *app, cn_error *err) {
    return serve_http_route(http, "POST", "/v1/responses", handle_responses, app, err);
}
