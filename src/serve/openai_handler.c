#include "serve/openai_handler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

cn_status serve_openai_exchange_init(serve_openai_exchange *x, serve_app *app, serve_response *resp,
                                     const char *id_prefix, bool stream, cn_error *err) {
    memset(x, 0, sizeof *x);
    x->app = app;
    x->resp = resp;
    x->tokenizer = app->tokenizer;
    x->request_stream = stream;
    x->meta = (serve_openai_meta){.id = x->id, .model = app->model_name ? app->model_name : "clawnet",
                                  .created = (int64_t)time(NULL)};
    return serve_openai_new_id(id_prefix, x->id, sizeof x->id, err);
}

static bool write_raw(serve_openai_exchange *x, const char *data, size_t len) {
    if (x->client_gone) return false;
    if (!x->stream_started) {
        x->stream_started = true;
        serve_stream_begin(x->resp, 200, "text/event-stream");
    }
    if (!serve_stream_write(x->resp, data, len)) x->client_gone = true;
    return !x->client_gone;
}

bool serve_openai_exchange_send(serve_openai_exchange *x, const cJSON *chunk) {
    size_t len = 0;
    char *sse = serve_openai_sse(chunk, &len);
    if (!sse) return false;
    bool alive = write_raw(x, sse, len);
    free(sse);
    return alive;
}

bool serve_openai_exchange_client_gone(void *exchange) {
    serve_openai_exchange *x = exchange;
    if (!x->client_gone && serve_response_client_gone(x->resp)) x->client_gone = true;
    return x->client_gone;
}

int serve_openai_status_for(cn_status st) {
    switch (st) {
    case CN_OK: return 200;
    case CN_ERR_ARG:
    case CN_ERR_UNSUPPORTED:
    case CN_ERR_FORMAT: return 400;
    case CN_ERR_BUSY: return 429;
    default: return 500;
    }
}

void serve_openai_respond_fault(serve_response *resp, const serve_openai_fault *fault) {
    cJSON *json = serve_openai_error_json(fault->status ? fault->status : 400, fault->error.msg, fault->param);
    serve_respond_json(resp, fault->status ? fault->status : 400, json);
    cJSON_Delete(json);
}

void serve_openai_exchange_end(serve_openai_exchange *x, cn_status st, const cn_error *err) {
    if (st != CN_OK && !x->client_gone) {
        int status = serve_openai_status_for(st);
        const char *message = err && err->msg[0] ? err->msg : cn_status_name(st);
        cJSON *json = serve_openai_error_json(status, message, NULL);
        if (x->stream_started) serve_openai_exchange_send(x, json); /* OpenAI's in-stream error shape */
        else serve_respond_json(x->resp, status, json);
        cJSON_Delete(json);
    }
    if (x->stream_started && !x->client_gone) write_raw(x, "data: [DONE]\n\n", 14);
    else if (x->request_stream && st == CN_OK && !x->client_gone) {
        /* A stream with no delta at all cannot happen (FINISH is always sent); answer anyway. */
        write_raw(x, "data: [DONE]\n\n", 14);
    }
    serve_openai_reply_free(&x->reply);
}

cn_status serve_openai_chat_constraint(serve_app *app, const serve_chat_request *request, cn_token_constraint *out,
                                       cn_error *err) {
    (void)app;
    *out = (cn_token_constraint){0};
    if (request->tool_choice == SERVE_TOOL_CHOICE_REQUIRED || request->tool_choice == SERVE_TOOL_CHOICE_NAMED)
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tool_choice \"required\" or a named function needs constrained decoding, which this server does not have yet");
    if (request->response_kind != SERVE_RESPONSE_TEXT)
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "response_format json_object/json_schema needs constrained decoding, which this server does not have yet");
    return CN_OK;
}
