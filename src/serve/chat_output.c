/* The output side of a reply: tokens -> text (streaming detokenizer) -> stop strings -> output
 * parser -> API-neutral deltas (chat_output.h). */
#include "serve/chat_output.h"

#include <stdlib.h>
#include <string.h>

#include "text/chat_tokens.h"
#include "text/detokenize.h"
#include "text/output_parser_bytes.h"

struct serve_output {
    serve_output_options options;
    char *stop[SERVE_CHAT_MAX_STOP];
    size_t stop_len[SERVE_CHAT_MAX_STOP];
    cn_detokenizer *detokenizer;
    cn_output_parser *parser;

    char *held; /* text that may begin a stop string, not yet passed on */
    size_t held_len, held_capacity;

    serve_token_logprob *logprobs; /* sampled since the last delta */
    size_t n_logprobs, logprobs_capacity;

    /* Per parser call index: our index (-1 before its name arrived) and the id we gave it. */
    int *call_index;
    char (*call_id)[SERVE_TOOL_CALL_ID_MAX];
    size_t calls_capacity;
    int calls_started, calls_complete;

    int32_t think_end_id;     /* </think>, -1 when the tokenizer has none */
    bool in_reasoning;        /* no </think> token sampled yet since a start in reasoning */
    int64_t reasoning_tokens;
    size_t stop_matched;      /* index of the stop string that matched (stopped_by_string) */

    bool stopped_by_string, client_gone, finished;
    cn_status callback_status; /* a failure inside the parser's callback, reported after feed */
    cn_error callback_error;
    cn_output_bytes scratch;
};

static bool emit(serve_output *o, serve_delta *d) {
    if (o->client_gone) return false;
    d->logprobs = o->logprobs;
    d->n_logprobs = o->n_logprobs;
    bool alive = o->options.sink(o->options.sink_context, d);
    o->n_logprobs = 0;
    if (!alive) o->client_gone = true;
    return alive;
}

/* Text not from the parser (raw completions) is not NUL-terminated: deltas always are. */
static void emit_text(serve_output *o, serve_delta_kind kind, const char *text, size_t len) {
    if (len == 0) return;
    o->scratch.len = 0;
    if (!cn_output_bytes_append(&o->scratch, text, len)) {
        o->callback_status = cn_fail(&o->callback_error, CN_ERR_NOMEM, "out of memory");
        return;
    }
    serve_delta d = {.kind = kind, .text = o->scratch.data, .len = len, .call_index = -1};
    emit(o, &d);
}

static cn_status grow_calls(serve_output *o, size_t need, cn_error *err) {
    if (need <= o->calls_capacity) return CN_OK;
    size_t capacity = o->calls_capacity ? o->calls_capacity * 2 : 8;
    while (capacity < need) capacity *= 2;
    int *index = realloc(o->call_index, capacity * sizeof *index);
    if (index) o->call_index = index;
    char(*ids)[SERVE_TOOL_CALL_ID_MAX] = index ? realloc(o->call_id, capacity * sizeof *ids) : NULL;
    if (!index || !ids) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %zu tool calls", need);
    o->call_id = ids;
    for (size_t i = o->calls_capacity; i < capacity; i++) {
        o->call_index[i] = -1;
        o->call_id[i][0] = '\0';
    }
    o->calls_capacity = capacity;
    return CN_OK;
}

static void on_parser_event(void *context, const cn_output_event *e) {
    serve_output *o = context;
    if (o->callback_status != CN_OK) return;
    switch (e->kind) {
    case CN_OUTPUT_REASONING_DELTA: emit_text(o, SERVE_DELTA_REASONING, e->text, e->len); break;
    case CN_OUTPUT_CONTENT_DELTA: emit_text(o, SERVE_DELTA_CONTENT, e->text, e->len); break;
    case CN_OUTPUT_TOOL_CALL_START: {
        size_t at = (size_t)e->call_index;
        if ((o->callback_status = grow_calls(o, at + 1, &o->callback_error)) != CN_OK) return;
        if ((o->callback_status = serve_tool_call_new_id(o->call_id[at], &o->callback_error)) != CN_OK) return;
        o->call_index[at] = o->calls_started++;
        serve_delta d = {.kind = SERVE_DELTA_TOOL_CALL, .text = e->text, .len = e->len,
                         .call_index = o->call_index[at], .call_id = o->call_id[at]};
        emit(o, &d);
        break;
    }
    case CN_OUTPUT_TOOL_ARGUMENTS_DELTA:
        if (e->call_index >= 0 && (size_t)e->call_index < o->calls_capacity && o->call_index[e->call_index] >= 0 &&
            e->len > 0) {
            serve_delta d = {.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = e->text, .len = e->len,
                             .call_index = o->call_index[e->call_index], .call_id = o->call_id[e->call_index]};
            emit(o, &d);
        }
        break;
    case CN_OUTPUT_TOOL_CALL_END: o->calls_complete++; break;
    case CN_OUTPUT_ERROR: /* the call is marked failed in the parser; it is never reported as complete */ break;
    case CN_OUTPUT_END: break;
    }
}

cn_status serve_output_create(const serve_output_options *options, serve_output **out, cn_error *err) {
    *out = NULL;
    if (options->n_stop > SERVE_CHAT_MAX_STOP)
        return cn_fail(err, CN_ERR_ARG, "at most %d stop strings are supported", SERVE_CHAT_MAX_STOP);
    serve_output *o = calloc(1, sizeof *o);
    if (!o) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    o->options = *options;
    o->options.stop = NULL;
    cn_status st = CN_OK;
    for (size_t i = 0; i < options->n_stop && st == CN_OK; i++) {
        o->stop_len[i] = strlen(options->stop[i]);
        if (o->stop_len[i] == 0) st = cn_fail(err, CN_ERR_ARG, "a stop string must not be empty");
        else if (!(o->stop[i] = strdup(options->stop[i]))) st = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        o->options.n_stop = i + 1;
    }
    o->think_end_id = cn_tokenizer_token_id(options->tokenizer, CN_CHAT_THINK_END);
    o->in_reasoning = options->parse && options->start == CN_OUTPUT_START_IN_REASONING;
    if (st == CN_OK) st = cn_detokenizer_new(options->tokenizer, &o->detokenizer, err);
    if (st == CN_OK && options->parse) st = cn_output_parser_create(options->start, on_parser_event, o, &o->parser, err);
    if (st != CN_OK) {
        serve_output_free(o);
        return st;
    }
    *out = o;
    return CN_OK;
}

void serve_output_free(serve_output *o) {
    if (!o) return;
    for (size_t i = 0; i < o->options.n_stop; i++) free(o->stop[i]);
    cn_detokenizer_free(o->detokenizer);
    cn_output_parser_free(o->parser);
    free(o->held);
    cn_output_bytes_free(&o->scratch);
    free(o->logprobs);
    free(o->call_index);
    free(o->call_id);
    free(o);
}

bool serve_output_client_gone(const serve_output *o) { return o->client_gone; }

/* Text past the stop-string filter: parsed, or content as it is. */
static cn_status pass_on(serve_output *o, const char *text, size_t len, cn_error *err) {
    if (len == 0) return CN_OK;
    cn_status st = CN_OK;
    if (o->parser) st = cn_output_parser_feed(o->parser, text, len, err);
    else emit_text(o, SERVE_DELTA_CONTENT, text, len);
    if (st == CN_OK && o->callback_status != CN_OK) {
        *err = o->callback_error;
        st = o->callback_status;
    }
    return st;
}

/* Longest suffix of text[0..len) that is a proper prefix of some stop string. */
static size_t stop_prefix_suffix(const serve_output *o, const char *text, size_t len) {
    size_t best = 0;
    for (size_t i = 0; i < o->options.n_stop; i++) {
        size_t k = o->stop_len[i] - 1 < len ? o->stop_len[i] - 1 : len;
        for (; k > best; k--)
            if (memcmp(text + len - k, o->stop[i], k) == 0) break;
        if (k > best) best = k;
    }
    return best;
}

/* Adds text to what is held, passes on everything that cannot be the start of a stop string, and
 * at a match passes on the text before it and drops the rest (stop strings are never sent). */
static cn_status filter_stops(serve_output *o, const char *text, size_t len, cn_error *err) {
    if (o->stopped_by_string || len == 0) return CN_OK;
    if (o->options.n_stop == 0) return pass_on(o, text, len, err);
    if (o->held_len + len > o->held_capacity) {
        size_t capacity = (o->held_len + len) * 2;
        char *grown = realloc(o->held, capacity);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory holding back output");
        o->held = grown;
        o->held_capacity = capacity;
    }
    memcpy(o->held + o->held_len, text, len);
    o->held_len += len;
    const char *first = NULL;
    for (size_t i = 0; i < o->options.n_stop; i++) {
        const char *hit = memmem(o->held, o->held_len, o->stop[i], o->stop_len[i]);
        if (hit && (!first || hit < first)) {
            first = hit;
            o->stop_matched = i;
        }
    }
    if (first) {
        o->stopped_by_string = true;
        size_t before = (size_t)(first - o->held);
        o->held_len = 0;
        return pass_on(o, o->held, before, err);
    }
    size_t keep = stop_prefix_suffix(o, o->held, o->held_len);
    size_t flush = o->held_len - keep;
    cn_status st = pass_on(o, o->held, flush, err);
    memmove(o->held, o->held + flush, keep);
    o->held_len = keep;
    return st;
}

cn_status serve_output_token(serve_output *o, const cn_engine_event *token, bool *stopped, cn_error *err) {
    *stopped = o->stopped_by_string || o->client_gone;
    if (*stopped || o->finished) return CN_OK;
    if (o->options.logprobs) {
        if (o->n_logprobs == o->logprobs_capacity) {
            size_t capacity = o->logprobs_capacity ? o->logprobs_capacity * 2 : 16;
            serve_token_logprob *grown = realloc(o->logprobs, capacity * sizeof *grown);
            if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory for log-probabilities");
            o->logprobs = grown;
            o->logprobs_capacity = capacity;
        }
        serve_token_logprob *lp = &o->logprobs[o->n_logprobs++];
        lp->token = token->token;
        lp->logprob = token->logprob;
        lp->n_top = token->n_top < 0 ? 0 : token->n_top > CN_ENGINE_MAX_TOP_LOGPROBS ? CN_ENGINE_MAX_TOP_LOGPROBS : token->n_top;
        for (int i = 0; i < lp->n_top; i++) lp->top[i] = (serve_top_logprob){token->top[i].id, token->top[i].logprob};
    }
    if (o->in_reasoning) {
        o->reasoning_tokens++;
        if (token->token == o->think_end_id) o->in_reasoning = false;
    }
    const char *text;
    size_t len;
    cn_status st = cn_detokenizer_push(o->detokenizer, token->token, &text, &len, err);
    if (st == CN_OK) st = filter_stops(o, text, len, err);
    *stopped = o->stopped_by_string || o->client_gone;
    return st;
}

/* Remembers each complete call's exact DSML under the id the client got (tool_call_registry.h). */
static cn_status remember_calls(serve_output *o, cn_error *err) {
    if (!o->parser || !o->options.registry) return CN_OK;
    size_t n = cn_output_parser_call_count(o->parser);
    for (size_t i = 0; i < n && i < o->calls_capacity; i++) {
        cn_output_call call;
        if (!cn_output_parser_call(o->parser, i, &call) || call.status != CN_OUTPUT_CALL_COMPLETE || o->call_index[i] < 0)
            continue;
        cn_status st = serve_tool_calls_put(o->options.registry, o->call_id[i], call.name, call.arguments,
                                            call.arguments_len, call.raw, call.raw_len, err);
        if (st == CN_ERR_NOMEM) return st;
        /* Any other refusal (a NUL byte in the raw text) only costs the exact round trip. */
    }
    return CN_OK;
}

cn_status serve_output_finish(serve_output *o, serve_finish reason, const serve_usage *usage, cn_error *err) {
    if (o->finished) return cn_fail(err, CN_ERR_ARG, "reply already finished");
    o->finished = true;
    const char *text;
    size_t len;
    cn_detokenizer_finish(o->detokenizer, &text, &len);
    cn_status st = filter_stops(o, text, len, err);
    if (st == CN_OK && !o->stopped_by_string) {
        /* No more text can come, so what was held for a stop string is plain text. */
        st = pass_on(o, o->held, o->held_len, err);
        o->held_len = 0;
    }
    if (st == CN_OK && o->parser) {
        st = cn_output_parser_finish(o->parser, err);
        if (st == CN_OK && o->callback_status != CN_OK) {
            *err = o->callback_error;
            st = o->callback_status;
        }
    }
    if (st == CN_OK) st = remember_calls(o, err);
    if (st != CN_OK) return st;
    if (o->stopped_by_string) reason = SERVE_FINISH_STOP;
    if (reason == SERVE_FINISH_STOP && o->calls_complete > 0) reason = SERVE_FINISH_TOOL_CALLS;
    serve_delta d = {.kind = SERVE_DELTA_FINISH, .call_index = -1, .text = "", .finish = reason};
    if (usage) d.usage = *usage;
    d.usage.reasoning_tokens = o->reasoning_tokens;
    if (o->stopped_by_string) d.stop_string = o->stop[o->stop_matched];
    emit(o, &d);
    return CN_OK;
}
