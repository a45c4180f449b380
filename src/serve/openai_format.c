/* The OpenAI wire shapes of a reply: error objects, chat.completion, chat.completion.chunk,
 * text_completion, logprobs and usage (specs/protocols.md 3.6; the API reference's examples are the tests'
 * expected values). */
#include "serve/openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "text/output_parser_utf8.h"

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "overloaded_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

cJSON *serve_openai_error_json(int status, const char *message, const char *param) {
    cJSON *root = cJSON_CreateObject();
    cJSON *error = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(error, "message", message);
    cJSON_AddStringToObject(error, "type", error_type(status));
    if (param && param[0]) cJSON_AddStringToObject(error, "param", param);
    else cJSON_AddNullToObject(error, "param");
    cJSON_AddNullToObject(error, "code");
    return root;
}

cn_status serve_openai_new_id(const char *prefix, char *out, size_t size, cn_error *err) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t p = strlen(prefix);
    if (size < p + 25) return cn_fail(err, CN_ERR_ARG, "id buffer too small");
    memcpy(out, prefix, p);
    size_t filled = 0;
    while (filled < 24) {
        unsigned char bytes[32];
        if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) return cn_fail(err, CN_ERR_IO, "getrandom failed");
        for (size_t i = 0; i < sizeof bytes && filled < 24; i++)
            if (bytes[i] < 248) out[p + filled++] = alphabet[bytes[i] % 62]; /* 248 = 4 * 62: unbiased */
    }
    out[p + 24] = '\0';
    return CN_OK;
}

/* ---- the non-streamed reply ---- */

bool serve_openai_reply_add(serve_openai_reply *r, const serve_delta *d) {
    bool ok = true;
    if (d->n_logprobs > 0) {
        serve_token_logprob *grown = realloc(r->logprobs, (r->n_logprobs + d->n_logprobs) * sizeof *grown);
        if (grown) {
            memcpy(grown + r->n_logprobs, d->logprobs, d->n_logprobs * sizeof *grown);
            r->logprobs = grown;
            r->n_logprobs += d->n_logprobs;
        } else {
            ok = false;
        }
    }
    switch (d->kind) {
    case SERVE_DELTA_REASONING: ok = ok && cn_output_bytes_append(&r->reasoning, d->text, d->len); break;
    case SERVE_DELTA_CONTENT: ok = ok && cn_output_bytes_append(&r->content, d->text, d->len); break;
    case SERVE_DELTA_TOOL_CALL: {
        struct serve_openai_call *grown = realloc(r->calls, (r->n_calls + 1) * sizeof *grown);
        if (!grown) {
            ok = false;
            break;
        }
        r->calls = grown;
        struct serve_openai_call *c = &r->calls[r->n_calls++];
        memset(c, 0, sizeof *c);
        snprintf(c->id, sizeof c->id, "%s", d->call_id ? d->call_id : "");
        ok = ok && cn_output_bytes_append(&c->name, d->text, d->len);
        break;
    }
    case SERVE_DELTA_TOOL_ARGUMENTS:
        if (d->call_index >= 0 && (size_t)d->call_index < r->n_calls)
            ok = ok && cn_output_bytes_append(&r->calls[d->call_index].arguments, d->text, d->len);
        break;
    case SERVE_DELTA_FINISH:
        r->finished = true;
        r->finish = d->finish;
        r->usage = d->usage;
        break;
    }
    if (!ok) r->out_of_memory = true;
    return ok;
}

void serve_openai_reply_free(serve_openai_reply *r) {
    cn_output_bytes_free(&r->reasoning);
    cn_output_bytes_free(&r->content);
    for (size_t i = 0; i < r->n_calls; i++) {
        cn_output_bytes_free(&r->calls[i].name);
        cn_output_bytes_free(&r->calls[i].arguments);
    }
    free(r->calls);
    free(r->logprobs);
    memset(r, 0, sizeof *r);
}

const char *serve_openai_finish_name(serve_finish finish) {
    switch (finish) {
    case SERVE_FINISH_LENGTH: return "length";
    case SERVE_FINISH_TOOL_CALLS: return "tool_calls";
    case SERVE_FINISH_STOP: break;
    }
    return "stop";
}

cJSON *serve_openai_usage_json(const serve_usage *u) {
    cJSON *usage = cJSON_CreateObject();
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    cJSON *details = cJSON_AddObjectToObject(usage, "prompt_tokens_details");
    cJSON_AddNumberToObject(details, "cached_tokens", (double)u->cached_tokens);
    return usage;
}

/* A token's text for logprobs: its bytes, with a partial or invalid UTF-8 sequence shown as U+FFFD
 * (the exact bytes are in "bytes"). */
static cJSON *token_entry(const cn_tokenizer *tok, int32_t id, float logprob) {
    size_t n = 0;
    const uint8_t *bytes = cn_tokenizer_token_bytes(tok, id, &n);
    if (!bytes) n = 0;
    cn_output_bytes text = {0};
    size_t consumed;
    cn_output_utf8_sanitize_append(&text, (const char *)bytes, n, false, &consumed);
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "token", cn_output_bytes_str(&text));
    cn_output_bytes_free(&text);
    cJSON_AddNumberToObject(entry, "logprob", logprob);
    cJSON *list = cJSON_AddArrayToObject(entry, "bytes");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(list, cJSON_CreateNumber(bytes[i]));
    return entry;
}

cJSON *serve_openai_chat_logprobs(const serve_token_logprob *lp, size_t n, const cn_tokenizer *tok) {
    cJSON *content = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *entry = token_entry(tok, lp[i].token, lp[i].logprob);
        cJSON *top = cJSON_AddArrayToObject(entry, "top_logprobs");
        for (int k = 0; k < lp[i].n_top; k++) cJSON_AddItemToArray(top, token_entry(tok, lp[i].top[k].id, lp[i].top[k].logprob));
        cJSON_AddItemToArray(content, entry);
    }
    return content;
}

static cJSON *chat_logprobs_object(const serve_token_logprob *lp, size_t n, const cn_tokenizer *tok) {
    cJSON *logprobs = cJSON_CreateObject();
    cJSON_AddItemToObject(logprobs, "content", serve_openai_chat_logprobs(lp, n, tok));
    cJSON_AddNullToObject(logprobs, "refusal");
    return logprobs;
}

static cJSON *object_head(const serve_openai_meta *meta, const char *object) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", meta->id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)meta->created);
    cJSON_AddStringToObject(root, "model", meta->model);
    return root;
}

/* Arguments are returned only for calls whose text is one JSON object (protocols.md 3.6: validate
 * the joined arguments at the end); a call the parser failed on never is. */
static bool arguments_are_object(const cn_output_bytes *arguments) {
    cJSON *parsed = cJSON_ParseWithLength(cn_output_bytes_str(arguments), arguments->len);
    bool ok = cJSON_IsObject(parsed);
    cJSON_Delete(parsed);
    return ok;
}

cJSON *serve_openai_chat_response(const serve_openai_meta *meta, const serve_openai_reply *r, const cn_tokenizer *tok,
                                  bool with_logprobs) {
    cJSON *root = object_head(meta, "chat.completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON *message = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(message, "role", "assistant");
    cJSON *calls = cJSON_CreateArray();
    for (size_t i = 0; i < r->n_calls; i++) {
        if (!arguments_are_object(&r->calls[i].arguments)) continue;
        cJSON *call = cJSON_CreateObject();
        cJSON_AddStringToObject(call, "id", r->calls[i].id);
        cJSON_AddStringToObject(call, "type", "function");
        cJSON *function = cJSON_AddObjectToObject(call, "function");
        cJSON_AddStringToObject(function, "name", cn_output_bytes_str(&r->calls[i].name));
        cJSON_AddStringToObject(function, "arguments", cn_output_bytes_str(&r->calls[i].arguments));
        cJSON_AddItemToArray(calls, call);
    }
    if (r->content.len == 0 && cJSON_GetArraySize(calls) > 0) cJSON_AddNullToObject(message, "content");
    else cJSON_AddStringToObject(message, "content", cn_output_bytes_str(&r->content));
    if (r->reasoning.len > 0) cJSON_AddStringToObject(message, "reasoning_content", cn_output_bytes_str(&r->reasoning));
    if (cJSON_GetArraySize(calls) > 0) cJSON_AddItemToObject(message, "tool_calls", calls);
    else cJSON_Delete(calls);
    if (with_logprobs) cJSON_AddItemToObject(choice, "logprobs", chat_logprobs_object(r->logprobs, r->n_logprobs, tok));
    else cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", serve_openai_finish_name(r->finish));
    cJSON_AddItemToObject(root, "usage", serve_openai_usage_json(&r->usage));
    return root;
}

static cJSON *chunk_head(const serve_openai_meta *meta, const char *object, cJSON **choice, bool with_usage_field) {
    cJSON *root = object_head(meta, object);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, *choice);
    cJSON_AddNumberToObject(*choice, "index", 0);
    if (with_usage_field) cJSON_AddNullToObject(root, "usage");
    return root;
}

cJSON *serve_openai_chat_role_chunk(const serve_openai_meta *meta, bool with_usage_field) {
    cJSON *choice;
    cJSON *root = chunk_head(meta, "chat.completion.chunk", &choice, with_usage_field);
    cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON_AddStringToObject(delta, "role", "assistant");
    cJSON_AddStringToObject(delta, "content", "");
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddNullToObject(choice, "finish_reason");
    return root;
}

cJSON *serve_openai_chat_chunk(const serve_openai_meta *meta, const serve_delta *d, const cn_tokenizer *tok,
                               bool with_logprobs, bool with_usage_field) {
    cJSON *choice;
    cJSON *root = chunk_head(meta, "chat.completion.chunk", &choice, with_usage_field);
    cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
    switch (d->kind) {
    case SERVE_DELTA_REASONING: cJSON_AddStringToObject(delta, "reasoning_content", d->text); break;
    case SERVE_DELTA_CONTENT: cJSON_AddStringToObject(delta, "content", d->text); break;
    case SERVE_DELTA_TOOL_CALL:
    case SERVE_DELTA_TOOL_ARGUMENTS: {
        /* id, type and name in the first fragment of a call; then arguments only (3.6). */
        cJSON *calls = cJSON_AddArrayToObject(delta, "tool_calls");
        cJSON *call = cJSON_CreateObject();
        cJSON_AddItemToArray(calls, call);
        cJSON_AddNumberToObject(call, "index", d->call_index);
        cJSON *function;
        if (d->kind == SERVE_DELTA_TOOL_CALL) {
            cJSON_AddStringToObject(call, "id", d->call_id);
            cJSON_AddStringToObject(call, "type", "function");
            function = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(function, "name", d->text);
            cJSON_AddStringToObject(function, "arguments", "");
        } else {
            function = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(function, "arguments", d->text);
        }
        break;
    }
    case SERVE_DELTA_FINISH: break;
    }
    if (with_logprobs && d->n_logprobs > 0)
        cJSON_AddItemToObject(choice, "logprobs", chat_logprobs_object(d->logprobs, d->n_logprobs, tok));
    else cJSON_AddNullToObject(choice, "logprobs");
    if (d->kind == SERVE_DELTA_FINISH) cJSON_AddStringToObject(choice, "finish_reason", serve_openai_finish_name(d->finish));
    else cJSON_AddNullToObject(choice, "finish_reason");
    return root;
}

cJSON *serve_openai_usage_chunk(const serve_openai_meta *meta, const char *object, const serve_usage *usage) {
    cJSON *root = object_head(meta, object);
    cJSON_AddArrayToObject(root, "choices");
    cJSON_AddItemToObject(root, "usage", serve_openai_usage_json(usage));
    return root;
}

char *serve_openai_sse(const cJSON *chunk, size_t *len) {
    char *json = cJSON_PrintUnformatted(chunk);
    if (!json) return NULL;
    size_t n = strlen(json);
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, json, n);
        memcpy(out + 6 + n, "\n\n", 3);
        *len = n + 8;
    }
    free(json);
    return out;
}

/* ---- the Completions API ---- */

static size_t token_text(const cn_tokenizer *tok, int32_t id, cn_output_bytes *out) {
    size_t n = 0;
    const uint8_t *bytes = cn_tokenizer_token_bytes(tok, id, &n);
    size_t consumed;
    out->len = 0;
    if (bytes) cn_output_utf8_sanitize_append(out, (const char *)bytes, n, false, &consumed);
    return bytes ? n : 0;
}

/* The Completions API's logprobs: tokens, token_logprobs, top_logprobs (token -> logprob maps),
 * text_offset (bytes into the completion). */
static cJSON *completion_logprobs(const serve_token_logprob *lp, size_t n, const cn_tokenizer *tok, size_t *offset) {
    cJSON *root = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(root, "tokens");
    cJSON *token_logprobs = cJSON_AddArrayToObject(root, "token_logprobs");
    cJSON *top = cJSON_AddArrayToObject(root, "top_logprobs");
    cJSON *text_offset = cJSON_AddArrayToObject(root, "text_offset");
    cn_output_bytes text = {0};
    for (size_t i = 0; i < n; i++) {
        size_t bytes = token_text(tok, lp[i].token, &text);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(cn_output_bytes_str(&text)));
        cJSON_AddItemToArray(token_logprobs, cJSON_CreateNumber(lp[i].logprob));
        cJSON *alternatives = cJSON_CreateObject();
        for (int k = 0; k < lp[i].n_top; k++) {
            token_text(tok, lp[i].top[k].id, &text);
            if (!cJSON_GetObjectItemCaseSensitive(alternatives, cn_output_bytes_str(&text)))
                cJSON_AddNumberToObject(alternatives, cn_output_bytes_str(&text), lp[i].top[k].logprob);
        }
        cJSON_AddItemToArray(top, alternatives);
        cJSON_AddItemToArray(text_offset, cJSON_CreateNumber((double)*offset));
        *offset += bytes;
    }
    cn_output_bytes_free(&text);
    return root;
}

static cJSON *completion_object(const serve_openai_meta *meta, cJSON **choice, bool with_usage_field) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", meta->id);
    cJSON_AddStringToObject(root, "object", "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)meta->created);
    cJSON_AddStringToObject(root, "model", meta->model);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, *choice);
    if (with_usage_field) cJSON_AddNullToObject(root, "usage");
    return root;
}

cJSON *serve_openai_completion_response(const serve_openai_meta *meta, const serve_openai_reply *reply,
                                        const cn_tokenizer *tok, bool with_logprobs) {
    cJSON *choice;
    cJSON *root = completion_object(meta, &choice, false);
    cJSON_AddStringToObject(choice, "text", cn_output_bytes_str(&reply->content));
    cJSON_AddNumberToObject(choice, "index", 0);
    size_t offset = 0;
    if (with_logprobs) cJSON_AddItemToObject(choice, "logprobs", completion_logprobs(reply->logprobs, reply->n_logprobs, tok, &offset));
    else cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", serve_openai_finish_name(reply->finish));
    cJSON_AddItemToObject(root, "usage", serve_openai_usage_json(&reply->usage));
    return root;
}

cJSON *serve_openai_completion_chunk(const serve_openai_meta *meta, const serve_delta *delta, const cn_tokenizer *tok,
                                     bool with_logprobs, bool with_usage_field, size_t *text_offset) {
    cJSON *choice;
    cJSON *root = completion_object(meta, &choice, with_usage_field);
    cJSON_AddStringToObject(choice, "text", delta->kind == SERVE_DELTA_CONTENT ? delta->text : "");
    cJSON_AddNumberToObject(choice, "index", 0);
    if (with_logprobs && delta->n_logprobs > 0)
        cJSON_AddItemToObject(choice, "logprobs", completion_logprobs(delta->logprobs, delta->n_logprobs, tok, text_offset));
    else cJSON_AddNullToObject(choice, "logprobs");
    if (delta->kind == SERVE_DELTA_FINISH) cJSON_AddStringToObject(choice, "finish_reason", serve_openai_finish_name(delta->finish));
    else cJSON_AddNullToObject(choice, "finish_reason");
    return root;
}
