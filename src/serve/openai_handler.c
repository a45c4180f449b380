#include "serve/openai_handler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sample/json_constraint.h"
#include "sample/tool_call_constraint.h"
#include "text/chat_tokens.h"

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

/* tool_choice required/named: the DSML tool-call constraint (sample/tool_call_constraint.h), so
 * even a model that would never call a tool writes a call the parser completes, with arguments
 * the tool's schema accepts; response_format json_object/json_schema: the JSON constraint
 * (sample/json_constraint.h). Both end with EOS, the engine's stop id. */
cn_status serve_openai_chat_constraint(serve_app *app, const serve_chat_request *request, cn_token_constraint *out,
                                       cn_error *err) {
    *out = (cn_token_constraint){0};
    bool forced_call = request->tool_choice == SERVE_TOOL_CHOICE_REQUIRED || request->tool_choice == SERVE_TOOL_CHOICE_NAMED;
    if (!forced_call && request->response_kind == SERVE_RESPONSE_TEXT) return CN_OK;
    if (!app->constraint_vocab)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "this server has no vocabulary for constrained decoding (tool_choice %s, response_format)",
                       forced_call ? "required/named" : "auto");
    int32_t eos = cn_tokenizer_token_id(app->tokenizer, CN_CHAT_EOS);
    if (eos < 0) return cn_fail(err, CN_ERR_UNSUPPORTED, "the tokenizer has no %s token", CN_CHAT_EOS);
    cn_status st;
    if (forced_call) {
        cn_tool_call_constraint_options options = {
            .tools = request->tools, .function_name = request->tool_choice == SERVE_TOOL_CHOICE_NAMED ? request->tool_choice_name : NULL,
            .thinking = request->thinking, .max_calls = request->single_tool_call ? 1 : 0, .stop_ids = &eos, .n_stop = 1};
        st = cn_tool_call_constraint_create(app->constraint_vocab, &options, out, err);
        if (st != CN_OK) cn_error_prefix(err, "tools");
    } else {
        cn_json_constraint_options options = {.stop_ids = &eos, .n_stop = 1};
        st = cn_json_constraint_create(app->constraint_vocab,
                                       request->response_kind == SERVE_RESPONSE_JSON_SCHEMA ? request->response_schema : NULL,
                                       &options, out, err);
        if (st != CN_OK) cn_error_prefix(err, "response_format");
    }
    return st;
}
