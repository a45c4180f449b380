/* The Anthropic Messages adapter's pieces below the HTTP handler, apart so they can be tested
 * without a server (docs/serve_anthropic.md): a POST /v1/messages body -> serve_chat_request
 * (system, content blocks, tool_use / tool_result, thinking, tools, tool_choice, sampling), and
 * the neutral deltas (chat_output.h) -> the Message object and the stream's events
 * (message_start, content_block_start / _delta / _stop per block, message_delta, message_stop).
 * Tool-call ids are the runner's ("call_" + 24 base-62): a tool_use block carries the same id the
 * tool-call registry keys the model's DSML by, so a tool_use sent back renders the same bytes. */
#ifndef CN_SERVE_ANTHROPIC_H
#define CN_SERVE_ANTHROPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "serve/chat_output.h"
#include "serve/chat_request.h"
#include "text/output_parser_bytes.h"

/* The body -> request (initialised here; free it even on failure). A refusal is CN_ERR_ARG with
 * a message naming the field (Anthropic's errors have no param), answered with a 400
 * invalid_request_error; CN_ERR_UNSUPPORTED for what this server cannot do (images, prefill).
 * count_tokens: the body of POST /v1/messages/count_tokens, which has no max_tokens. */
cn_status serve_anthropic_parse(const char *body, size_t len, bool count_tokens, serve_chat_request *out, cn_error *err);

/* {"type":"error","error":{"type":...,"message":...}} with Anthropic's type for the status
 * (400 invalid_request_error, 401 authentication_error, 404 not_found_error, 429
 * rate_limit_error, 529 overloaded_error, other 5xx api_error). */
cJSON *serve_anthropic_error_json(int status, const char *message);
/* A full queue is 529 overloaded_error, as Anthropic answers when it has no capacity. */
int serve_anthropic_status_for(cn_status st);

/* The thinking block's signature: hex BLAKE2b-256 of the thinking text. Nothing is signed with a
 * key; it only lets a client see that a block is unchanged. Blocks sent back are accepted
 * whatever their signature. out has room for 65 bytes. */
void serve_anthropic_thinking_signature(const char *thinking, size_t len, char out[65]);

/* "end_turn", "max_tokens", "stop_sequence" or "tool_use". */
const char *serve_anthropic_stop_reason(serve_finish finish, const char *stop_string);

/* usage: input_tokens are the prompt tokens not read from the prefix cache (Anthropic counts
 * cache reads apart), cache_read_input_tokens those that were. */
cJSON *serve_anthropic_usage_json(const serve_usage *usage);

typedef enum { SERVE_ANTHROPIC_THINKING, SERVE_ANTHROPIC_TEXT, SERVE_ANTHROPIC_TOOL_USE } serve_anthropic_block_kind;

typedef struct {
    serve_anthropic_block_kind kind;
    cn_output_bytes text; /* thinking or text; a tool_use's input JSON */
    char id[64];          /* tool_use */
    cn_output_bytes name; /* tool_use */
    int call_index;       /* tool_use: the delta's call index */
} serve_anthropic_block;

/* The reply as content blocks, built from the deltas in order: a change of kind closes the open
 * block and opens the next one. */
typedef struct {
    serve_anthropic_block *blocks;
    size_t n_blocks, capacity;
    bool open; /* the last block is open */
    bool finished;
    serve_finish finish;
    char *stop_sequence;
    serve_usage usage;
    bool out_of_memory;
} serve_anthropic_reply;

/* Adds one delta; when events is an array, appends the stream events it causes, each an object
 * whose "type" is also its SSE event name. Returns false only when memory ran out. */
bool serve_anthropic_reply_add(serve_anthropic_reply *reply, const serve_delta *delta, cJSON *events);
void serve_anthropic_reply_free(serve_anthropic_reply *reply);

typedef struct {
    const char *id; /* "msg_..." */
    const char *model;
} serve_anthropic_meta;

/* The first event: the message with no content, stop_reason null and the prompt's size as
 * input_tokens (the cache hit is known only at the end: message_delta's usage corrects both). */
cJSON *serve_anthropic_message_start(const serve_anthropic_meta *meta, int64_t prompt_tokens);
/* The Message object of a finished reply. A tool_use whose input is not one JSON object (a call
 * the parser failed on) is left out. */
cJSON *serve_anthropic_message(const serve_anthropic_meta *meta, const serve_anthropic_reply *reply);

#endif
