/* The OpenAI adapter's pieces below the HTTP handlers, apart so they can be tested without a
 * server: request bodies -> serve_chat_request (or a raw completion), neutral deltas -> the
 * response JSON and the streamed chunks of the Chat Completions and Completions APIs
 * (specs/protocols.md 3.6). Errors name the field in OpenAI's `param`. */
#ifndef CN_SERVE_OPENAI_H
#define CN_SERVE_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "serve/chat_request.h"
#include "serve/chat_run.h"
#include "text/output_parser_bytes.h"
#include "text/tokenizer.h"

/* A request the client must fix: HTTP status (400), the offending field and the message. */
typedef struct {
    int status;
    char param[96]; /* "" when no single field is at fault */
    cn_error error;
} serve_openai_fault;

/* Fills f with a 400 naming param (the message may use f->error.msg) and returns CN_ERR_ARG. */
cn_status serve_openai_bad(serve_openai_fault *f, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A 500 "out of memory"; returns CN_ERR_NOMEM. */
cn_status serve_openai_nomem(serve_openai_fault *f);
/* body[name] when given: a number in [lo, hi] ((lo, hi] when lo_open) into *out, else a 400. */
cn_status serve_openai_number(const cJSON *body, const char *name, double lo, double hi, bool lo_open, double *out,
                              serve_openai_fault *f);

/* {"error":{"message","type","param","code"}} with the type OpenAI uses for the status. */
cJSON *serve_openai_error_json(int status, const char *message, const char *param);

/* POST /v1/chat/completions body -> request (initialised here; free it even on failure). */
cn_status serve_openai_parse_chat(const char *body, size_t len, serve_chat_request *out, serve_openai_fault *fault);

/* POST /v1/completions: a prompt (string, or an array of token ids) and its settings. */
typedef struct {
    char *prompt_text;   /* owned; NULL when the prompt is ids */
    int32_t *prompt_ids; /* owned */
    size_t n_prompt_ids;
    cn_sampler_params sampling;
    int64_t max_tokens; /* 0: the server's default (OpenAI's is 16) */
    char *stop[SERVE_CHAT_MAX_STOP];
    size_t n_stop;
    int logprobs; /* -1: none; 0..20 alternatives */
    bool stream, include_usage;
} serve_completion_request;

cn_status serve_openai_parse_completion(const char *body, size_t len, serve_completion_request *out,
                                        serve_openai_fault *fault);
void serve_completion_request_free(serve_completion_request *r);

/* What every response object carries. */
typedef struct {
    const char *id;    /* "chatcmpl-..." / "cmpl-..." */
    const char *model;
    int64_t created;   /* Unix seconds */
} serve_openai_meta;

/* Writes prefix + 24 random base-62 characters into out (room for strlen(prefix) + 25). */
cn_status serve_openai_new_id(const char *prefix, char *out, size_t size, cn_error *err);

/* The non-streamed reply, built from the deltas. */
typedef struct {
    cn_output_bytes reasoning, content;
    struct serve_openai_call {
        char id[SERVE_TOOL_CALL_ID_MAX];
        cn_output_bytes name, arguments;
    } *calls;
    size_t n_calls;
    serve_token_logprob *logprobs;
    size_t n_logprobs;
    bool finished;
    serve_finish finish;
    serve_usage usage;
    bool out_of_memory;
} serve_openai_reply;

/* Adds one delta (returns false only when memory ran out). */
bool serve_openai_reply_add(serve_openai_reply *reply, const serve_delta *delta);
void serve_openai_reply_free(serve_openai_reply *reply);

const char *serve_openai_finish_name(serve_finish finish);
cJSON *serve_openai_usage_json(const serve_usage *usage);

/* The chat.completion object (logprobs shown when with_logprobs). */
cJSON *serve_openai_chat_response(const serve_openai_meta *meta, const serve_openai_reply *reply,
                                  const cn_tokenizer *tok, bool with_logprobs);

/* Chat streaming (specs/protocols.md 3.6): the first chunk (delta.role "assistant"), one chunk per
 * delta (FINISH: finish_reason, delta {}), the usage chunk (choices []). with_usage_field adds
 * "usage": null to the ordinary chunks, as OpenAI does when include_usage is set. */
cJSON *serve_openai_chat_role_chunk(const serve_openai_meta *meta, bool with_usage_field);
cJSON *serve_openai_chat_chunk(const serve_openai_meta *meta, const serve_delta *delta, const cn_tokenizer *tok,
                               bool with_logprobs, bool with_usage_field);
cJSON *serve_openai_usage_chunk(const serve_openai_meta *meta, const char *object, const serve_usage *usage);

/* Completions: the text_completion object, and one streamed chunk per delta. */
cJSON *serve_openai_completion_response(const serve_openai_meta *meta, const serve_openai_reply *reply,
                                        const cn_tokenizer *tok, bool with_logprobs);
/* *text_offset carries the text offset of the next token's logprobs entry from chunk to chunk. */
cJSON *serve_openai_completion_chunk(const serve_openai_meta *meta, const serve_delta *delta, const cn_tokenizer *tok,
                                     bool with_logprobs, bool with_usage_field, size_t *text_offset);

/* {"token","logprob","bytes","top_logprobs"} entries of chat logprobs.content. */
cJSON *serve_openai_chat_logprobs(const serve_token_logprob *lp, size_t n, const cn_tokenizer *tok);

/* "data: " + compact JSON + "\n\n" (malloc'd; NULL when memory ran out). */
char *serve_openai_sse(const cJSON *chunk, size_t *len);

#endif
