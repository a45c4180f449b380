/* The OpenAI Responses API adapter's pieces below the HTTP handler, apart so they can be tested
 * without a server (docs/serve_responses.md): a POST /v1/responses body -> serve_chat_request
 * (input items: messages, function_call, function_call_output, reasoning; instructions, function
 * tools, tool_choice, reasoning.effort, text.format), and the neutral deltas (chat_output.h) ->
 * the Response object and its stream events as the openai SDK's types define them
 * (openai/types/responses/: response.created, response.in_progress, response.output_item.added,
 * response.content_part.added, response.reasoning_text.delta/done, response.output_text.delta/
 * done, response.function_call_arguments.delta/done, response.content_part.done,
 * response.output_item.done, response.completed or response.incomplete). No server-side
 * storage: store, previous_response_id, background and conversation are refused. A function
 * call's call_id is the tool-call registry's id, so a function_call item sent back renders the
 * model's exact DSML. */
#ifndef CN_SERVE_RESPONSES_H
#define CN_SERVE_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "serve/chat_output.h"
#include "serve/chat_request.h"
#include "serve/openai.h"
#include "text/output_parser_bytes.h"

/* The body -> request (initialised here; free both even on failure). *echo receives the request
 * fields a Response object repeats (instructions, tools as given, tool_choice, temperature, ...). */
cn_status serve_responses_parse(const char *body, size_t len, serve_chat_request *out, cJSON **echo,
                                serve_openai_fault *fault);

typedef enum { SERVE_RESPONSES_REASONING, SERVE_RESPONSES_MESSAGE, SERVE_RESPONSES_FUNCTION_CALL } serve_responses_item_kind;

typedef struct {
    serve_responses_item_kind kind;
    char id[64];
    cn_output_bytes text; /* reasoning text, output text, or the call's arguments */
    char call_id[64];     /* function_call */
    cn_output_bytes name; /* function_call */
    int call_index;
    bool incomplete;      /* cut by max_output_tokens */
} serve_responses_item;

typedef struct {
    const char *id;       /* "resp_" + 24 base-62 */
    const char *model;
    int64_t created_at;
    const cJSON *echo;    /* from serve_responses_parse (may be NULL) */
} serve_responses_meta;

typedef struct {
    const serve_responses_meta *meta;
    serve_responses_item *items;
    size_t n_items, capacity;
    bool open;                /* the last item is open */
    int64_t sequence_number;  /* of the next event */
    bool finished;
    serve_finish finish;
    serve_usage usage;
    bool out_of_memory;
} serve_responses_reply;

/* response.created and response.in_progress (status "in_progress", no output yet). */
bool serve_responses_begin(serve_responses_reply *reply, cJSON *events);
/* Adds one delta; when events is an array, appends the stream events it causes (each object's
 * "type" is its SSE event name). An item's id is its prefix ("rs_", "msg_", "fc_") + the
 * response id's random part + "_" + its output index. Returns false only when memory ran out. */
bool serve_responses_reply_add(serve_responses_reply *reply, const serve_delta *delta, cJSON *events);
void serve_responses_reply_free(serve_responses_reply *reply);

/* The Response object: status "completed", or "incomplete" with incomplete_details.reason
 * "max_output_tokens"; "in_progress" before the finish. A function call whose arguments are not
 * one JSON object (a call the parser failed on) is left out of a finished response. */
cJSON *serve_responses_object(const serve_responses_reply *reply);

/* usage: input_tokens (cached included, as OpenAI counts them), input_tokens_details
 * {cached_tokens, cache_write_tokens 0}, output_tokens, output_tokens_details.reasoning_tokens,
 * total_tokens. */
cJSON *serve_responses_usage_json(const serve_usage *usage);

#endif
