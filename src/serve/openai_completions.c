/* POST /v1/completions: a raw prompt (text, whose special-token spellings are recognised as HF's
 * encode does, or token ids) continued without chat encoding or parsing. */
#include <stdlib.h>
#include <string.h>

#include "serve/openai_handler.h"

/* ---- the handler ---- */

typedef struct {
    serve_openai_exchange exchange;
    const serve_completion_request *request;
    size_t text_offset;
} completion_stream;

static bool completion_sink(void *context, const serve_delta *delta) {
    completion_stream *s = context;
    serve_openai_exchange *x = &s->exchange;
    if (!x->request_stream) return serve_openai_reply_add(&x->reply, delta) || true;
    cJSON *chunk = serve_openai_completion_chunk(&x->meta, delta, x->tokenizer, s->request->logprobs >= 0,
                                                 s->request->include_usage, &s->text_offset);
    bool alive = serve_openai_exchange_send(x, chunk);
    cJSON_Delete(chunk);
    if (alive && delta->kind == SERVE_DELTA_FINISH && s->request->include_usage) {
        cJSON *usage = serve_openai_usage_chunk(&x->meta, "text_completion", &delta->usage);
        alive = serve_openai_exchange_send(x, usage);
        cJSON_Delete(usage);
    }
    return alive;
}

void serve_openai_handle_completion(void *context, const serve_request *req, serve_response *resp) {
    serve_app *app = context;
    size_t len = 0;
    const char *body = serve_request_body(req, &len);
    serve_completion_request request;
    serve_openai_fault fault;
    if (serve_openai_parse_completion(body, len, &request, &fault) != CN_OK) {
        serve_openai_respond_fault(resp, &fault);
        serve_completion_request_free(&request);
        return;
    }
    completion_stream s = {.request = &request};
    cn_error err = {0};
    int32_t *ids = request.prompt_ids;
    size_t n = request.n_prompt_ids;
    cn_status st = serve_openai_exchange_init(&s.exchange, app, resp, "cmpl-", request.stream, &err);
    if (st == CN_OK && request.prompt_text) {
        st = cn_tokenizer_encode(app->tokenizer, request.prompt_text, strlen(request.prompt_text), CN_ADDED_TOKENS_ALL,
                                 &ids, &n, &err);
        if (st == CN_OK && n == 0) st = cn_fail(&err, CN_ERR_ARG, "the prompt has no tokens");
    }
    if (st == CN_OK)
        for (size_t i = 0; i < n && st == CN_OK; i++)
            if (ids[i] >= cn_tokenizer_id_count(app->tokenizer))
                st = cn_fail(&err, CN_ERR_ARG, "prompt token %zu (%d) is outside the vocabulary", i, (int)ids[i]);
    if (st == CN_OK) {
        serve_run_options options = {
            .prompt = ids, .n_prompt = n, .parse = false, .start = CN_OUTPUT_START_IN_CONTENT,
            .sampling = request.sampling, .max_tokens = request.max_tokens, .stop = request.stop,
            .n_stop = request.n_stop, .logprobs = request.logprobs >= 0,
            .top_logprobs = request.logprobs > 0 ? request.logprobs : 0, .sink = completion_sink, .sink_context = &s,
            .client_gone = serve_openai_exchange_client_gone, .client_gone_context = &s.exchange};
        st = serve_run(app, &options, &err);
    }
    if (st == CN_OK && !request.stream) {
        if (s.exchange.reply.out_of_memory || !s.exchange.reply.finished) {
            st = cn_fail(&err, CN_ERR_NOMEM, "the reply was lost (out of memory or the engine stopped)");
        } else {
            cJSON *json = serve_openai_completion_response(&s.exchange.meta, &s.exchange.reply, app->tokenizer,
                                                           request.logprobs >= 0);
            serve_respond_json(resp, 200, json);
            cJSON_Delete(json);
        }
    }
    serve_openai_exchange_end(&s.exchange, st, &err);
    if (ids != request.prompt_ids) free(ids);
    serve_completion_request_free(&request);
}
