/* The output side of a reply, in no API's shape: the tokens the engine samples become deltas
 * (reasoning text, content text, tool calls with a generated "call_..." id and the name first,
 * then argument fragments, and a finish with the reason and usage) that each API adapter formats
 * in its own wire shape (OpenAI chunks, Anthropic events, ...).
 *
 * Fed one engine event at a time, so it is tested without an engine: streaming detokenizer
 * (text/detokenize.h) -> stop strings (a possible prefix of one is held back; a match ends the
 * reply and its text is never sent) -> output parser (text/output_parser.h,
 * docs/output_parser.md) -> deltas. Stop strings apply to all generated text, reasoning included,
 * as vLLM applies them. */
#ifndef CN_SERVE_CHAT_OUTPUT_H
#define CN_SERVE_CHAT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serve/chat_request.h"
#include "serve/engine.h"
#include "serve/tool_call_registry.h"
#include "text/output_parser.h"
#include "text/tokenizer.h"

typedef enum {
    SERVE_DELTA_REASONING,      /* text */
    SERVE_DELTA_CONTENT,        /* text */
    SERVE_DELTA_TOOL_CALL,      /* call_index, call_id, text: the tool name */
    SERVE_DELTA_TOOL_ARGUMENTS, /* call_index, text: a fragment of the arguments JSON */
    SERVE_DELTA_FINISH,         /* finish, usage; always the last delta */
} serve_delta_kind;

typedef enum {
    SERVE_FINISH_STOP,       /* end of sentence or a stop string */
    SERVE_FINISH_LENGTH,     /* max_tokens or the context limit */
    SERVE_FINISH_TOOL_CALLS, /* the reply holds at least one complete tool call */
} serve_finish;

typedef struct {
    int32_t id;
    float logprob;
} serve_top_logprob;

/* One generated token's log-probability and alternatives (logprobs requested). */
typedef struct {
    int32_t token;
    float logprob;
    int n_top;
    serve_top_logprob top[CN_ENGINE_MAX_TOP_LOGPROBS];
} serve_token_logprob;

typedef struct {
    int64_t prompt_tokens, cached_tokens, completion_tokens;
    /* Of completion_tokens, those sampled while the reply was in reasoning: from a prompt that
       ended in <think>, every token up to and including the first </think> token (all of them
       when none came). The Responses API reports them as output_tokens_details.reasoning_tokens. */
    int64_t reasoning_tokens;
} serve_usage;

typedef struct {
    serve_delta_kind kind;
    const char *text; /* valid UTF-8, NUL-terminated, valid during the call */
    size_t len;
    int call_index;   /* tool deltas: 0, 1, ... in the order calls start */
    const char *call_id;
    /* The tokens sampled since the previous delta (logprobs requested): their text is in this
       delta or still held back. FINISH carries the rest. */
    const serve_token_logprob *logprobs;
    size_t n_logprobs;
    serve_finish finish;
    serve_usage usage;
    const char *stop_string; /* FINISH: the stop string that ended the reply, NULL when none did */
} serve_delta;

/* Receives the deltas in order; returns false when the client has gone (the run is cancelled). */
typedef bool (*serve_delta_fn)(void *context, const serve_delta *delta);

typedef struct serve_output serve_output;

typedef struct {
    const cn_tokenizer *tokenizer;
    bool parse;                  /* chat: reasoning/content/tool calls; false: raw text as content */
    cn_output_start start;       /* where the parser starts (the prompt ended with <think>: reasoning) */
    char *const *stop;           /* stop strings, copied */
    size_t n_stop;
    bool logprobs;
    serve_tool_calls *registry;  /* complete calls are remembered here (may be NULL) */
    serve_delta_fn sink;
    void *sink_context;
} serve_output_options;

cn_status serve_output_create(const serve_output_options *options, serve_output **out, cn_error *err);
void serve_output_free(serve_output *o);

/* One generated token (a CN_ENGINE_TOKEN event). *stopped is set when a stop string matched (the
 * caller cancels the engine's ticket and calls finish) or the sink reported the client gone. */
cn_status serve_output_token(serve_output *o, const cn_engine_event *token, bool *stopped, cn_error *err);

/* Ends the reply: flushes what was held back, remembers the complete tool calls in the registry
 * and sends the FINISH delta with `reason` (TOOL_CALLS replaces STOP when a call completed; a
 * stop-string match is STOP whatever `reason` says) and the usage. */
cn_status serve_output_finish(serve_output *o, serve_finish reason, const serve_usage *usage, cn_error *err);

/* true once the sink returned false. */
bool serve_output_client_gone(const serve_output *o);

#endif
