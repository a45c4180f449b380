/* A chat request in no API's shape: what the OpenAI (and Anthropic, Responses) adapters parse
 * their bodies into and what serve/chat_run.h runs. Messages are already in the chat encoder's
 * form (text/chat_encode.h, docs/chat.md); everything an adapter checked is stored here with the
 * server's defaults filled in, so the runner has no decisions left about the wire format. */
#ifndef CN_SERVE_CHAT_REQUEST_H
#define CN_SERVE_CHAT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "sample/sampler.h"
#include "text/chat_encode.h"

#define SERVE_CHAT_MAX_STOP 16       /* stop strings per request */
#define SERVE_CHAT_MAX_STOP_BYTES 256 /* bytes per stop string */

typedef enum {
    SERVE_TOOL_CHOICE_AUTO,     /* the model decides (the default when tools are given) */
    SERVE_TOOL_CHOICE_NONE,     /* no call: tools are left out of the prompt */
    SERVE_TOOL_CHOICE_REQUIRED, /* at least one call, of any tool */
    SERVE_TOOL_CHOICE_NAMED,    /* a call of tool_choice_name */
} serve_tool_choice;

typedef enum {
    SERVE_RESPONSE_TEXT,
    SERVE_RESPONSE_JSON_OBJECT, /* any JSON object */
    SERVE_RESPONSE_JSON_SCHEMA, /* JSON valid against response_schema */
} serve_response_kind;

typedef struct {
    cJSON *messages; /* chat encoder form, owned */
    cJSON *tools;    /* OpenAI tools array ({type:"function", function:{name, description, parameters}}),
                        owned; NULL when none */
    serve_tool_choice tool_choice;
    char *tool_choice_name; /* SERVE_TOOL_CHOICE_NAMED, owned */
    bool single_tool_call;  /* parallel_tool_calls: false (at most one call when constrained) */

    bool thinking;          /* the prompt opens <think> and the reply starts in reasoning */
    cn_chat_effort effort;

    cn_sampler_params sampling; /* temperature, top_p, seed (random when the client gave none) */
    int64_t max_tokens;         /* 0: the server's default */
    char *stop[SERVE_CHAT_MAX_STOP]; /* owned */
    size_t n_stop;
    bool logprobs;
    int top_logprobs;

    serve_response_kind response_kind;
    cJSON *response_schema; /* SERVE_RESPONSE_JSON_SCHEMA: the JSON schema, owned */

    bool stream;
    bool include_usage; /* stream_options.include_usage */
} serve_chat_request;

/* The server's defaults: no tools, chat mode, temperature 1, top_p 1, a fresh random seed. */
cn_status serve_chat_request_init(serve_chat_request *r, cn_error *err);
void serve_chat_request_free(serve_chat_request *r);

/* Adds a stop string (copied); empty, too long or too many is CN_ERR_ARG. */
cn_status serve_chat_request_add_stop(serve_chat_request *r, const char *stop, cn_error *err);

/* The OpenAI reasoning_effort names as vLLM's V4 wrapper maps them (docs/chat.md): "none" is chat
 * mode, "minimal"/"low"/"medium" low, "high"/"xhigh" high, "max" max; anything else CN_ERR_ARG.
 * Sets r->thinking and r->effort. */
cn_status serve_chat_request_set_effort(serve_chat_request *r, const char *name, cn_error *err);

/* The tool named `name` in r->tools, or NULL. */
const cJSON *serve_chat_request_find_tool(const serve_chat_request *r, const char *name);

#endif
