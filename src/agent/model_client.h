/* A client for OpenAI-compatible chat completions (specs/protocols.md section 3.6), non-streaming:
 * POST {base_url}/chat/completions with a request body the caller built, and a validated reply. */
#ifndef CN_AGENT_MODEL_CLIENT_H
#define CN_AGENT_MODEL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    const char *base_url;  /* e.g. http://127.0.0.1:8080/v1 */
    const char *api_key;   /* sent as "Authorization: Bearer KEY"; NULL or "" for none */
    long timeout_s;        /* whole request */
    long connect_timeout_s;
} cn_model_client_config;

typedef struct {
    char *id;              /* kept exactly: some backends validate it (section 3.6) */
    char *name;
    char *arguments;       /* the JSON string as received */
    char *arguments_error; /* non-NULL when arguments is not a JSON object: told to the model */
} cn_model_tool_call;

typedef struct {
    char *message_json;  /* the assistant message to append to the conversation, as received */
    char *content;       /* may be NULL */
    char *reasoning;     /* reasoning_content, may be NULL; must be sent back (section 3.6) */
    char *finish_reason; /* may be NULL */
    cn_model_tool_call *calls;
    size_t n_calls;
    int64_t prompt_tokens, completion_tokens;
    bool usage_reported; /* the reply carried usage.prompt_tokens or completion_tokens */
} cn_model_reply;

/* Sends body (a chat.completions request) and parses the reply. Transport failures, non-2xx
 * statuses (with the start of the body) and malformed replies are errors with a clear message. */
cn_status cn_model_chat(const cn_model_client_config *cfg, const char *body, size_t body_len, cn_model_reply *out,
                        cn_error *err);

/* Parses and validates a chat.completion response body: choices[0].message with string or null
 * content, tool_calls each {id, type:"function", function:{name, arguments:string}}. */
cn_status cn_model_reply_parse(const char *json, size_t len, cn_model_reply *out, cn_error *err);
void cn_model_reply_free(cn_model_reply *reply);

#endif
