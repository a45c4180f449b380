/* The Responses request body -> serve_chat_request: every field checked, a 400 naming the field
 * otherwise (OpenAI API reference, "Responses"; docs/serve_responses.md). Input items map to the
 * chat encoder's messages (docs/chat.md): reasoning, assistant message and function_call items in
 * a row form one assistant turn (reasoning, content, tool calls, as V4 writes a turn);
 * function_call_output items are tool messages. */
#include "serve/responses.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/request_fields.h"
#include "text/chat_json.h"
#include "text/function_name.h"

static bool is(const cJSON *v, const char *s) { return cJSON_IsString(v) && strcmp(v->valuestring, s) == 0; }

/* ---- input items ---- */

typedef struct {
    cJSON *messages;
    cJSON *assistant; /* the assistant turn being gathered, or NULL */
    serve_openai_fault *fault;
} input_state;

static cJSON *add_message(input_state *s, const char *role) {
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    cJSON_AddItemToArray(s->messages, m);
    return cJSON_AddStringToObject(m, "role", role) ? m : NULL;
}

static cJSON *assistant_turn(input_state *s) {
    if (!s->assistant) s->assistant = add_message(s, "assistant");
    return s->assistant;
}

static cn_status add_text_part(cJSON *message, const char *text, serve_openai_fault *f) {
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(message, "content");
    if (!parts && !(parts = cJSON_AddArrayToObject(message, "content"))) return serve_openai_nomem(f);
    cJSON *part = cJSON_CreateObject();
    if (!part) return serve_openai_nomem(f);
    cJSON_AddItemToArray(parts, part);
    return cJSON_AddStringToObject(part, "type", "text") && cJSON_AddStringToObject(part, "text", text) ? CN_OK : serve_openai_nomem(f);
}

/* A message item's content: a string, or parts (input_text; output_text and refusal from the
 * assistant). Files, images and audio are refused: the model reads text only. */
static cn_status copy_content(const cJSON *content, cJSON *message, const char *at, bool assistant, serve_openai_fault *f) {
    if (cJSON_IsString(content))
        return assistant ? add_text_part(message, content->valuestring, f)
                         : cJSON_AddStringToObject(message, "content", content->valuestring) ? CN_OK : serve_openai_nomem(f);
    if (!cJSON_IsArray(content)) return serve_openai_bad(f, "input", "%s.content must be a string or an array of content parts", at);
    size_t i = 0;
    for (const cJSON *part = content->child; part; part = part->next, i++) {
        const cJSON *type = serve_json_field(part, "type");
        const char *key = is(type, "input_text") || (assistant && is(type, "output_text")) ? "text"
                          : assistant && is(type, "refusal")                             ? "refusal"
                                                                                         : NULL;
        if (!key)
            return serve_openai_bad(f, "input", "%s.content[%zu]: parts of type \"%.40s\" are not supported (text only)", at, i,
                       cJSON_IsString(type) ? type->valuestring : "?");
        const cJSON *text = serve_json_field(part, key);
        if (!cJSON_IsString(text)) return serve_openai_bad(f, "input", "%s.content[%zu] has no \"%s\" string", at, i, key);
        cn_status st = add_text_part(message, text->valuestring, f);
        if (st != CN_OK) return st;
    }
    if (i == 0 && !cJSON_AddStringToObject(message, "content", "")) return serve_openai_nomem(f);
    return CN_OK;
}

static cn_status message_item(input_state *s, const cJSON *item, const char *at) {
    serve_openai_fault *f = s->fault;
    const cJSON *role = serve_json_field(item, "role");
    const cJSON *content = serve_json_field(item, "content");
    if (!content) return serve_openai_bad(f, "input", "%s needs \"content\"", at);
    if (is(role, "assistant")) {
        cJSON *turn = assistant_turn(s);
        if (!turn) return serve_openai_nomem(f);
        if (cJSON_GetObjectItemCaseSensitive(turn, "tool_calls")) { /* text after calls starts a new turn */
            s->assistant = NULL;
            if (!(turn = assistant_turn(s))) return serve_openai_nomem(f);
        }
        return copy_content(content, turn, at, true, f);
    }
    if (!is(role, "user") && !is(role, "system") && !is(role, "developer"))
        return serve_openai_bad(f, "input", "%s.role must be user, assistant, system or developer", at);
    s->assistant = NULL;
    cJSON *m = add_message(s, is(role, "user") ? "user" : "system"); /* developer is the system role */
    if (!m) return serve_openai_nomem(f);
    return copy_content(content, m, at, false, f);
}

static cn_status function_call_item(input_state *s, const cJSON *item, const char *at) {
    serve_openai_fault *f = s->fault;
    const cJSON *call_id = serve_json_field(item, "call_id");
    const cJSON *name = serve_json_field(item, "name");
    const cJSON *arguments = serve_json_field(item, "arguments");
    if (!cJSON_IsString(call_id) || !call_id->valuestring[0]) return serve_openai_bad(f, "input", "%s (function_call) needs a \"call_id\" string", at);
    if (!cJSON_IsString(name)) return serve_openai_bad(f, "input", "%s (function_call) needs a \"name\" string", at);
    if (!cJSON_IsString(arguments)) return serve_openai_bad(f, "input", "%s.arguments must be a string holding a JSON object", at);
    cJSON *parsed = NULL;
    cn_error ignored;
    bool object = cn_chat_json_parse(arguments->valuestring, strlen(arguments->valuestring), &parsed, &ignored) == CN_OK &&
                  cJSON_IsObject(parsed);
    cJSON_Delete(parsed);
    if (!object) return serve_openai_bad(f, "input", "%s.arguments is not a JSON object", at);
    cJSON *turn = assistant_turn(s);
    cJSON *calls = turn ? cJSON_GetObjectItemCaseSensitive(turn, "tool_calls") : NULL;
    if (!turn || (!calls && !(calls = cJSON_AddArrayToObject(turn, "tool_calls")))) return serve_openai_nomem(f);
    cJSON *call = cJSON_CreateObject();
    if (!call) return serve_openai_nomem(f);
    cJSON_AddItemToArray(calls, call);
    cJSON *function = cJSON_AddStringToObject(call, "id", call_id->valuestring) && cJSON_AddStringToObject(call, "type", "function")
                          ? cJSON_AddObjectToObject(call, "function")
                          : NULL;
    if (!function || !cJSON_AddStringToObject(function, "name", name->valuestring) ||
        !cJSON_AddStringToObject(function, "arguments", arguments->valuestring))
        return serve_openai_nomem(f);
    return CN_OK;
}

static cn_status function_output_item(input_state *s, const cJSON *item, const char *at) {
    serve_openai_fault *f = s->fault;
    const cJSON *call_id = serve_json_field(item, "call_id");
    const cJSON *output = serve_json_field(item, "output");
    if (!cJSON_IsString(call_id)) return serve_openai_bad(f, "input", "%s (function_call_output) needs a \"call_id\" string", at);
    if (!output) return serve_openai_bad(f, "input", "%s (function_call_output) needs \"output\"", at);
    s->assistant = NULL;
    cJSON *m = add_message(s, "tool");
    if (!m) return serve_openai_nomem(f);
    cn_status st = copy_content(output, m, at, false, f);
    if (st == CN_OK && !cJSON_AddStringToObject(m, "tool_call_id", call_id->valuestring)) st = serve_openai_nomem(f);
    return st;
}

/* Joins the "text" of parts of the given type. */
static bool join_parts(const cJSON *parts, const char *type, const char *separator, cn_output_bytes *out, bool *any) {
    for (const cJSON *p = cJSON_IsArray(parts) ? parts->child : NULL; p; p = p->next) {
        const cJSON *text = serve_json_field(p, "text");
        if (!is(serve_json_field(p, "type"), type) || !cJSON_IsString(text)) continue;
        if ((*any && !cn_output_bytes_append_str(out, separator)) || !cn_output_bytes_append_str(out, text->valuestring))
            return false;
        *any = true;
    }
    return true;
}

/* A reasoning item opens an assistant turn: its reasoning_text content (what this server
 * returns), else its summaries. encrypted_content is opaque and ignored. */
static cn_status reasoning_item(input_state *s, const cJSON *item, const char *at) {
    serve_openai_fault *f = s->fault;
    const cJSON *content = serve_json_field(item, "content"), *summary = serve_json_field(item, "summary");
    if ((content && !cJSON_IsArray(content)) || (summary && !cJSON_IsArray(summary)))
        return serve_openai_bad(f, "input", "%s: content and summary must be arrays", at);
    cJSON *turn = s->assistant;
    if (turn && (cJSON_GetObjectItemCaseSensitive(turn, "content") || cJSON_GetObjectItemCaseSensitive(turn, "tool_calls")))
        s->assistant = NULL;
    if (!(turn = assistant_turn(s))) return serve_openai_nomem(f);
    cn_output_bytes text = {0};
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(turn, "reasoning_content");
    bool any = false, ok = !before || (cn_output_bytes_append_str(&text, before->valuestring) && (any = true));
    bool from_content = false;
    ok = ok && join_parts(content, "reasoning_text", "", &text, &from_content);
    if (ok && !from_content) ok = join_parts(summary, "summary_text", "\n\n", &text, &any);
    cJSON_DeleteItemFromObjectCaseSensitive(turn, "reasoning_content");
    ok = ok && cJSON_AddStringToObject(turn, "reasoning_content", cn_output_bytes_str(&text));
    cn_output_bytes_free(&text);
    return ok ? CN_OK : serve_openai_nomem(f);
}

static cn_status parse_input(const cJSON *body, serve_chat_request *r, serve_openai_fault *f) {
    const cJSON *input = serve_json_field(body, "input");
    const cJSON *instructions = serve_json_field(body, "instructions");
    if (!(r->messages = cJSON_CreateArray())) return serve_openai_nomem(f);
    input_state s = {.messages = r->messages, .fault = f};
    if (instructions) {
        if (!cJSON_IsString(instructions)) return serve_openai_bad(f, "instructions", "instructions must be a string");
        cJSON *m = add_message(&s, "system");
        if (!m || !cJSON_AddStringToObject(m, "content", instructions->valuestring)) return serve_openai_nomem(f);
    }
    if (cJSON_IsString(input)) {
        cJSON *m = add_message(&s, "user");
        return m && cJSON_AddStringToObject(m, "content", input->valuestring) ? CN_OK : serve_openai_nomem(f);
    }
    if (!cJSON_IsArray(input) || !input->child) return serve_openai_bad(f, "input", "\"input\" must be a string or a non-empty array of items");
    size_t i = 0;
    for (const cJSON *item = input->child; item; item = item->next, i++) {
        char at[32];
        snprintf(at, sizeof at, "input[%zu]", i);
        if (!cJSON_IsObject(item)) return serve_openai_bad(f, "input", "%s must be an object", at);
        const cJSON *type = serve_json_field(item, "type");
        cn_status st;
        if (!type || is(type, "message")) st = message_item(&s, item, at);
        else if (is(type, "function_call")) st = function_call_item(&s, item, at);
        else if (is(type, "function_call_output")) st = function_output_item(&s, item, at);
        else if (is(type, "reasoning")) st = reasoning_item(&s, item, at);
        else if (is(type, "item_reference"))
            st = serve_openai_bad(f, "input", "%s: item_reference needs stored items, which this server does not keep", at);
        else
            st = serve_openai_bad(f, "input", "%s: items of type \"%.40s\" are not supported", at, cJSON_IsString(type) ? type->valuestring : "?");
        if (st != CN_OK) return st;
    }
    if (s.assistant) return serve_openai_bad(f, "input", "the last input item is assistant output; continuing it is not supported");
    return CN_OK;
}

/* ---- tools and the rest ---- */

static cn_status parse_tools(const cJSON *tools, serve_chat_request *r, serve_openai_fault *f) {
    if (!tools) return CN_OK;
    if (!cJSON_IsArray(tools)) return serve_openai_bad(f, "tools", "\"tools\" must be an array");
    if (!tools->child) return CN_OK;
    if (!(r->tools = cJSON_CreateArray())) return serve_openai_nomem(f);
    size_t i = 0;
    for (const cJSON *tool = tools->child; tool; tool = tool->next, i++) {
        const cJSON *type = serve_json_field(tool, "type"), *name = serve_json_field(tool, "name");
        const cJSON *description = serve_json_field(tool, "description"), *parameters = serve_json_field(tool, "parameters");
        if (!is(type, "function"))
            return serve_openai_bad(f, "tools", "tools[%zu].type \"%.40s\" is not supported (function tools only)", i,
                       cJSON_IsString(type) ? type->valuestring : "?");
        if (!cJSON_IsString(name) || !cn_function_name_valid(name->valuestring))
            return serve_openai_bad(f, "tools", "tools[%zu].name must be 1 to 64 of a-z, A-Z, 0-9, _ and -", i);
        if (description && !cJSON_IsString(description)) return serve_openai_bad(f, "tools", "tools[%zu].description must be a string", i);
        if (parameters && !cJSON_IsObject(parameters)) return serve_openai_bad(f, "tools", "tools[%zu].parameters must be a JSON Schema object", i);
        if (serve_chat_request_find_tool(r, name->valuestring))
            return serve_openai_bad(f, "tools", "tools[%zu]: a tool named \"%s\" is already defined", i, name->valuestring);
        /* The Chat Completions shape the encoder reads, so both APIs render the same prompt. */
        cJSON *copy = cJSON_CreateObject();
        if (!copy) return serve_openai_nomem(f);
        cJSON_AddItemToArray(r->tools, copy);
        cJSON *function = cJSON_AddStringToObject(copy, "type", "function") ? cJSON_AddObjectToObject(copy, "function") : NULL;
        cJSON *schema = parameters ? cJSON_Duplicate(parameters, true) : NULL;
        bool ok = function && cJSON_AddStringToObject(function, "name", name->valuestring) &&
                  (!description || cJSON_AddStringToObject(function, "description", description->valuestring));
        if (ok && parameters) ok = schema && cJSON_AddItemToObject(function, "parameters", schema);
        if (!ok) {
            if (schema && !cJSON_GetObjectItemCaseSensitive(function, "parameters")) cJSON_Delete(schema);
            return serve_openai_nomem(f);
        }
    }
    return CN_OK;
}

static cn_status parse_tool_choice(const cJSON *choice, serve_chat_request *r, serve_openai_fault *f) {
    r->tool_choice = r->tools ? SERVE_TOOL_CHOICE_AUTO : SERVE_TOOL_CHOICE_NONE;
    if (!choice) return CN_OK;
    if (is(choice, "auto")) return CN_OK;
    if (is(choice, "none")) {
        r->tool_choice = SERVE_TOOL_CHOICE_NONE;
        return CN_OK;
    }
    if (is(choice, "required")) {
        r->tool_choice = SERVE_TOOL_CHOICE_REQUIRED;
    } else if (cJSON_IsObject(choice) && is(serve_json_field(choice, "type"), "function") && cJSON_IsString(serve_json_field(choice, "name"))) {
        const char *name = serve_json_field(choice, "name")->valuestring;
        if (!serve_chat_request_find_tool(r, name))
            return serve_openai_bad(f, "tool_choice", "tool_choice names \"%.64s\", which is not in tools", name);
        r->tool_choice = SERVE_TOOL_CHOICE_NAMED;
        if (!(r->tool_choice_name = strdup(name))) return serve_openai_nomem(f);
    } else {
        return serve_openai_bad(f, "tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}");
    }
    if (!r->tools) return serve_openai_bad(f, "tool_choice", "tool_choice \"required\" or a named function needs tools");
    return CN_OK;
}

static cn_status parse_settings(const cJSON *body, serve_chat_request *r, serve_openai_fault *f) {
    double temperature = r->sampling.temperature, top_p = r->sampling.top_p;
    cn_status st = serve_openai_number(body, "temperature", 0, 2, false, &temperature, f);
    if (st == CN_OK) st = serve_openai_number(body, "top_p", 0, 1, true, &top_p, f);
    if (st != CN_OK) return st;
    r->sampling.temperature = (float)temperature;
    r->sampling.top_p = (float)top_p;
    const cJSON *seed = serve_json_field(body, "seed"); /* this server's extension, as in Chat Completions */
    if (seed) {
        if (!serve_json_is_integer(seed) || fabs(seed->valuedouble) > 9.2e18) return serve_openai_bad(f, "seed", "seed must be an integer");
        r->sampling.seed = (uint64_t)(int64_t)seed->valuedouble;
    }
    const cJSON *stop = serve_json_field(body, "stop"); /* this server's extension, as in Chat Completions */
    if (stop) {
        if (cJSON_IsString(stop)) {
            if (serve_chat_request_add_stop(r, stop->valuestring, &f->error) != CN_OK) return serve_openai_bad(f, "stop", "stop: %s", f->error.msg);
        } else if (cJSON_IsArray(stop)) {
            for (const cJSON *s = stop->child; s; s = s->next)
                if (!cJSON_IsString(s) || serve_chat_request_add_stop(r, s->valuestring, &f->error) != CN_OK)
                    return serve_openai_bad(f, "stop", "stop must be a string or up to %d strings of 1 to %d bytes", SERVE_CHAT_MAX_STOP,
                               SERVE_CHAT_MAX_STOP_BYTES);
        } else {
            return serve_openai_bad(f, "stop", "stop must be a string or an array of strings");
        }
    }
    const cJSON *max = serve_json_field(body, "max_output_tokens");
    if (max) {
        if (!serve_json_is_integer(max) || max->valuedouble < 1 || max->valuedouble > 1e9)
            return serve_openai_bad(f, "max_output_tokens", "max_output_tokens must be an integer >= 1");
        r->max_tokens = (int64_t)max->valuedouble;
    }
    const cJSON *reasoning = serve_json_field(body, "reasoning");
    if (reasoning) {
        const cJSON *effort = serve_json_field(reasoning, "effort");
        if (!cJSON_IsObject(reasoning)) return serve_openai_bad(f, "reasoning", "reasoning must be an object");
        if (effort && (!cJSON_IsString(effort) || serve_chat_request_set_effort(r, effort->valuestring, &f->error) != CN_OK))
            return serve_openai_bad(f, "reasoning.effort", "reasoning.effort must be one of none, minimal, low, medium, high, xhigh, max");
    }
    const cJSON *format = serve_json_field(serve_json_field(body, "text"), "format");
    if (format) {
        const cJSON *type = serve_json_field(format, "type");
        if (is(type, "json_object")) r->response_kind = SERVE_RESPONSE_JSON_OBJECT;
        else if (is(type, "json_schema")) {
            const cJSON *schema = serve_json_field(format, "schema");
            if (!cJSON_IsString(serve_json_field(format, "name")) || (schema && !cJSON_IsObject(schema)))
                return serve_openai_bad(f, "text.format", "text.format json_schema needs a \"name\" and a \"schema\" object");
            r->response_kind = SERVE_RESPONSE_JSON_SCHEMA;
            if (!(r->response_schema = schema ? cJSON_Duplicate(schema, true) : cJSON_CreateObject())) return serve_openai_nomem(f);
        } else if (!is(type, "text"))
            return serve_openai_bad(f, "text.format", "text.format.type must be text, json_object or json_schema");
    }
    const cJSON *stream = serve_json_field(body, "stream");
    if (stream && !cJSON_IsBool(stream)) return serve_openai_bad(f, "stream", "stream must be a boolean");
    r->stream = cJSON_IsTrue(stream);
    const cJSON *parallel = serve_json_field(body, "parallel_tool_calls");
    if (parallel && !cJSON_IsBool(parallel)) return serve_openai_bad(f, "parallel_tool_calls", "parallel_tool_calls must be a boolean");
    return CN_OK;
}

/* What needs server-side state or features this server does not have. */
static cn_status refuse_unsupported(const cJSON *body, serve_openai_fault *f) {
    if (cJSON_IsTrue(serve_json_field(body, "store")))
        return serve_openai_bad(f, "store", "store: true is not supported: this server keeps no responses (send store: false)");
    if (serve_json_field(body, "previous_response_id"))
        return serve_openai_bad(f, "previous_response_id", "previous_response_id is not supported: this server keeps no responses (send the whole input)");
    if (serve_json_field(body, "conversation")) return serve_openai_bad(f, "conversation", "conversation is not supported: this server keeps no conversations");
    if (cJSON_IsTrue(serve_json_field(body, "background"))) return serve_openai_bad(f, "background", "background responses are not supported");
    if (serve_json_field(body, "prompt")) return serve_openai_bad(f, "prompt", "prompt templates are not supported");
    const cJSON *top = serve_json_field(body, "top_logprobs");
    if (top && (!cJSON_IsNumber(top) || top->valuedouble != 0)) return serve_openai_bad(f, "top_logprobs", "top_logprobs is not supported");
    return CN_OK;
}

/* The request fields a Response object repeats. */
static cJSON *make_echo(const cJSON *body, const serve_chat_request *r) {
    cJSON *echo = cJSON_CreateObject();
    if (!echo) return NULL;
    const cJSON *v;
    bool ok = true;
    v = serve_json_field(body, "instructions");
    ok = ok && (v ? cJSON_AddItemToObject(echo, "instructions", cJSON_Duplicate(v, true)) : cJSON_AddNullToObject(echo, "instructions") != NULL);
    v = serve_json_field(body, "tools");
    ok = ok && (v ? cJSON_AddItemToObject(echo, "tools", cJSON_Duplicate(v, true)) : cJSON_AddArrayToObject(echo, "tools") != NULL);
    v = serve_json_field(body, "tool_choice");
    ok = ok && (v ? cJSON_AddItemToObject(echo, "tool_choice", cJSON_Duplicate(v, true)) : cJSON_AddStringToObject(echo, "tool_choice", "auto") != NULL);
    v = serve_json_field(body, "parallel_tool_calls");
    ok = ok && cJSON_AddBoolToObject(echo, "parallel_tool_calls", v ? cJSON_IsTrue(v) : true);
    ok = ok && cJSON_AddNumberToObject(echo, "temperature", r->sampling.temperature);
    ok = ok && cJSON_AddNumberToObject(echo, "top_p", r->sampling.top_p);
    ok = ok && (r->max_tokens > 0 ? cJSON_AddNumberToObject(echo, "max_output_tokens", (double)r->max_tokens) != NULL
                                  : cJSON_AddNullToObject(echo, "max_output_tokens") != NULL);
    v = serve_json_field(body, "reasoning");
    ok = ok && (v ? cJSON_AddItemToObject(echo, "reasoning", cJSON_Duplicate(v, true)) : cJSON_AddNullToObject(echo, "reasoning") != NULL);
    v = serve_json_field(body, "metadata");
    ok = ok && (v ? cJSON_AddItemToObject(echo, "metadata", cJSON_Duplicate(v, true)) : cJSON_AddObjectToObject(echo, "metadata") != NULL);
    ok = ok && cJSON_AddBoolToObject(echo, "store", false);
    if (!ok) {
        cJSON_Delete(echo);
        return NULL;
    }
    return echo;
}

cn_status serve_responses_parse(const char *text, size_t len, serve_chat_request *r, cJSON **echo, serve_openai_fault *f) {
    memset(f, 0, sizeof *f);
    *echo = NULL;
    cn_status st = serve_chat_request_init(r, &f->error);
    if (st != CN_OK) {
        f->status = 500;
        return st;
    }
    cJSON *body = NULL;
    if (cn_chat_json_parse(text, len, &body, &f->error) != CN_OK)
        return serve_openai_bad(f, "", "the request body is not valid JSON: %s", f->error.msg);
    if (!cJSON_IsObject(body)) st = serve_openai_bad(f, "", "the request body must be a JSON object");
    if (st == CN_OK && !cJSON_IsString(serve_json_field(body, "model"))) st = serve_openai_bad(f, "model", "\"model\" must be a string");
    if (st == CN_OK) st = refuse_unsupported(body, f);
    if (st == CN_OK) st = parse_input(body, r, f);
    if (st == CN_OK) st = parse_tools(serve_json_field(body, "tools"), r, f);
    if (st == CN_OK) st = parse_tool_choice(serve_json_field(body, "tool_choice"), r, f);
    if (st == CN_OK) st = parse_settings(body, r, f);
    if (st == CN_OK && !(*echo = make_echo(body, r))) st = serve_openai_nomem(f);
    cJSON_Delete(body);
    return st;
}
