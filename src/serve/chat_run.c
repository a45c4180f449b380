/* Running a request on the engine: the loop that feeds a ticket's tokens to the reply's output
 * side (chat_output.h), and the chat prompt. */
#include "serve/chat_run.h"

#include <stdlib.h>
#include <string.h>

#include "serve/reply_registry.h"
#include "text/chat_tokenize.h"
#include "text/chat_tokens.h"

/* ---- the engine loop ---- */

static serve_usage usage_of(const cn_engine_event *done) {
    return (serve_usage){.prompt_tokens = done->prompt_tokens, .cached_tokens = done->cached_tokens,
                         .completion_tokens = done->generated_tokens};
}

/* The ids a reply was sampled as, for the reply registry. */
typedef struct {
    int32_t *ids;
    size_t count, capacity;
    bool out_of_memory; /* then the reply is not remembered; nothing else is lost */
} sampled_ids;

static void sampled_push(sampled_ids *s, int32_t id) {
    if (s->out_of_memory) return;
    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 256;
        int32_t *grown = realloc(s->ids, capacity * sizeof *grown);
        if (!grown) {
            s->out_of_memory = true;
            return;
        }
        s->ids = grown;
        s->capacity = capacity;
    }
    s->ids[s->count++] = id;
}

/* Waits for the ticket's DONE after a cancel (its usage is still wanted). */
static void drain(cn_engine_ticket *ticket, cn_engine_event *event) {
    while (!cn_engine_ticket_next(ticket, event, 1000) || event->kind != CN_ENGINE_DONE) {}
}

cn_status serve_run(serve_app *app, const serve_run_options *options, cn_error *err) {
    cn_token_constraint constraint = options->constraint;
    int32_t eos = cn_tokenizer_token_id(app->tokenizer, CN_CHAT_EOS);
    serve_output_options out_options = {
        .tokenizer = app->tokenizer, .parse = options->parse, .start = options->start, .stop = options->stop,
        .n_stop = options->n_stop, .logprobs = options->logprobs, .registry = app->tool_calls,
        .sink = options->sink, .sink_context = options->sink_context};
    serve_output *output = NULL;
    cn_status st = eos < 0 ? cn_fail(err, CN_ERR_ARG, "the tokenizer has no %s token", CN_CHAT_EOS)
                           : serve_output_create(&out_options, &output, err);
    if (st != CN_OK) {
        cn_constraint_destroy(&constraint);
        return st;
    }
    cn_engine_request request = {
        .prompt = options->prompt, .n_prompt = options->n_prompt, .sampling = options->sampling,
        .max_tokens = options->max_tokens > 0 ? options->max_tokens : app->default_max_tokens,
        .stop_ids = &eos, .n_stop_ids = 1, .logprobs = options->logprobs, .top_logprobs = options->top_logprobs,
        .constraint = constraint};
    if (request.max_tokens <= 0) request.max_tokens = 256;
    cn_engine_ticket *ticket = NULL;
    if ((st = cn_engine_submit(app->engine, &request, &ticket, err)) != CN_OK) { /* the engine freed the constraint */
        serve_output_free(output);
        return st;
    }
    cn_engine_event event;
    bool cancelled = false, stopped_early = false;
    /* A chat reply's ids are remembered when it ends as the model ended it (its stop id or a length
       limit): then the text the client gets back is what the ids spell. */
    sampled_ids sampled = {.out_of_memory = !options->parse || !app->replies};
    for (;;) {
        /* Asked at every event too, not only while waiting: a whole (non-streamed) reply's sink
           never sees the client go, and a decoding ticket always has the next token ready. */
        if (options->client_gone && options->client_gone(options->client_gone_context)) {
            cn_engine_ticket_cancel(ticket);
            cancelled = true;
            break;
        }
        if (!cn_engine_ticket_next(ticket, &event, 100)) continue;
        if (event.kind == CN_ENGINE_DONE) break;
        sampled_push(&sampled, event.token);
        bool stopped = false;
        if ((st = serve_output_token(output, &event, &stopped, err)) != CN_OK || stopped) {
            cn_engine_ticket_cancel(ticket);
            drain(ticket, &event);
            cancelled = st != CN_OK || serve_output_client_gone(output);
            stopped_early = true;
            break;
        }
    }
    if (!cancelled && st == CN_OK) {
        serve_usage usage = usage_of(&event);
        switch (event.finish) {
        case CN_FINISH_STOP_TOKEN: st = serve_output_finish(output, SERVE_FINISH_STOP, &usage, err); break;
        case CN_FINISH_LENGTH:
        case CN_FINISH_CONTEXT: st = serve_output_finish(output, SERVE_FINISH_LENGTH, &usage, err); break;
        case CN_FINISH_CANCELLED:
            /* We cancelled for a stop string (finish says STOP), or the engine is shutting down. */
            st = serve_output_finish(output, SERVE_FINISH_STOP, &usage, err);
            break;
        case CN_FINISH_ERROR:
            if (err) *err = event.error;
            st = event.error.code != CN_OK ? event.error.code : CN_ERR_ARG;
            break;
        }
    }
    bool ended_by_model = !cancelled && !stopped_early && st == CN_OK &&
                          (event.finish == CN_FINISH_STOP_TOKEN || event.finish == CN_FINISH_LENGTH ||
                           event.finish == CN_FINISH_CONTEXT);
    if (ended_by_model && !sampled.out_of_memory && sampled.count > 0) {
        cn_error ignored;
        serve_replies_put(app->replies, sampled.ids, sampled.count, &ignored); /* a refusal only costs a cache hit */
    }
    free(sampled.ids);
    cn_engine_ticket_release(ticket);
    serve_output_free(output);
    return st;
}

/* response_format json_schema: the schema goes into the first system message (the encoder renders it
 * as "## Response Format"), a system message being made up at the front when there is none. */
static cn_status attach_response_format(const serve_chat_request *r, cn_error *err) {
    if (r->response_kind != SERVE_RESPONSE_JSON_SCHEMA || !r->response_schema) return CN_OK;
    cJSON *system = NULL;
    for (cJSON *m = r->messages->child; m && !system; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "system") == 0) system = m;
    }
    if (!system) {
        if (!(system = cJSON_CreateObject()) || !cJSON_AddStringToObject(system, "role", "system") ||
            !cJSON_AddStringToObject(system, "content", "") || !cJSON_InsertItemInArray(r->messages, 0, system)) {
            cJSON_Delete(system);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(system, "response_format");
    cJSON *copy = cJSON_Duplicate(r->response_schema, true);
    if (!copy || !cJSON_AddItemToObject(system, "response_format", copy)) {
        cJSON_Delete(copy);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    return CN_OK;
}

cn_status serve_chat_prompt(const serve_app *app, const serve_chat_request *request, int32_t **ids, size_t *n,
                            cn_output_start *start, cn_error *err) {
    *ids = NULL;
    *n = 0;
    cn_status st = CN_OK;
    if (app->tool_calls) st = serve_tool_calls_annotate(app->tool_calls, request->messages, NULL, err);
    if (st == CN_OK) st = attach_response_format(request, err);
    if (st != CN_OK) return st;
    cn_chat_options options = {.thinking = request->thinking, .reasoning_effort = request->effort,
                               .tools = request->tool_choice == SERVE_TOOL_CHOICE_NONE ? NULL : request->tools};
    if (app->replies) {
        options.assistant_body = serve_replies_swap_body;
        options.assistant_body_context = app->replies;
    }
    cn_chat_prompt prompt;
    st = cn_chat_encode(request->messages, &options, &prompt, err);
    if (st == CN_OK) st = cn_chat_prompt_tokenize(app->tokenizer, &prompt, ids, n, err);
    if (st == CN_OK) {
        const cn_chat_segment *last = prompt.segment_count ? &prompt.segments[prompt.segment_count - 1] : NULL;
        bool in_think = last && last->kind == CN_CHAT_SEGMENT_CONTROL && last->length == strlen(CN_CHAT_THINK_START) &&
                        memcmp(prompt.text.data + last->offset, CN_CHAT_THINK_START, last->length) == 0;
        *start = in_think ? CN_OUTPUT_START_IN_REASONING : CN_OUTPUT_START_IN_CONTENT;
    }
    cn_chat_prompt_free(&prompt);
    return st;
}

serve_run_options serve_chat_run_options(const serve_chat_request *request, const int32_t *ids, size_t n,
                                         cn_output_start start) {
    return (serve_run_options){
        .prompt = ids, .n_prompt = n, .parse = true, .start = start, .sampling = request->sampling,
        .max_tokens = request->max_tokens, .stop = request->stop, .n_stop = request->n_stop,
        .logprobs = request->logprobs, .top_logprobs = request->top_logprobs};
}

cn_status serve_chat_run(serve_app *app, const serve_chat_request *request, cn_token_constraint *constraint,
                         serve_delta_fn sink, void *sink_context, bool (*client_gone)(void *), void *client_gone_context,
                         cn_error *err) {
    cn_token_constraint taken = constraint ? *constraint : (cn_token_constraint){0};
    if (constraint) *constraint = (cn_token_constraint){0};
    int32_t *ids = NULL;
    size_t n = 0;
    cn_output_start start;
    cn_status st = serve_chat_prompt(app, request, &ids, &n, &start, err);
    if (st != CN_OK) {
        cn_constraint_destroy(&taken);
        return st;
    }
    serve_run_options options = serve_chat_run_options(request, ids, n, start);
    options.constraint = taken;
    options.sink = sink;
    options.sink_context = sink_context;
    options.client_gone = client_gone;
    options.client_gone_context = client_gone_context;
    st = serve_run(app, &options, err);
    free(ids);
    return st;
}
