/* The Messages request body -> serve_chat_request: every field checked, a 400 naming the field
 * otherwise (Anthropic API reference, "Messages"; docs/serve_anthropic.md). Content blocks map to
 * the chat encoder's messages (docs/chat.md): text -> content parts, thinking -> reasoning_content,
 * tool_use -> tool_calls (same id), tool_result -> a tool message, in block order. */
#include "serve/anthropic.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/request_fields.h"
#include "text/chat_json.h"
#include "text/function_name.h"

static cn_status bad(cn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static cn_status bad(cn_error *err, const char *fmt, ...) {
    char message[sizeof err->msg]; /* the arguments may point into err->msg */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    memcpy(err->msg, message, sizeof message);
    err->code = CN_ERR_ARG;
    return CN_ERR_ARG;
}

static cn_status unsupported(cn_error *err, const char *what, const char *type) {
    bad(err, "%s: content blocks of type \"%.40s\" are not supported (this server's model reads text only)", what, type);
    err->code = CN_ERR_UNSUPPORTED;
    return CN_ERR_UNSUPPORTED;
}

static cn_status nomem(cn_error *err) { return cn_fail(err, CN_ERR_NOMEM, "out of memory"); }

/* Text blocks (or a string) -> one string, blocks joined by "\n\n" as the encoder joins parts. */
static cn_status join_text(const cJSON *content, const char *what, cn_output_bytes *out, cn_error *err) {
    if (cJSON_IsString(content)) return cn_output_bytes_append_str(out, content->valuestring) ? CN_OK : nomem(err);
    if (!cJSON_IsArray(content)) return bad(err, "%s must be a string or an array of text blocks", what);
    size_t i = 0;
    for (const cJSON *block = content->child; block; block = block->next, i++) {
        const cJSON *type = serve_json_field(block, "type");
        if (!cJSON_IsString(type)) return bad(err, "%s[%zu] has no \"type\" string", what, i);
        if (strcmp(type->valuestring, "text") != 0) {
            char at[96];
            snprintf(at, sizeof at, "%s[%zu]", what, i);
            return unsupported(err, at, type->valuestring);
        }
        const cJSON *text = serve_json_field(block, "text");
        if (!cJSON_IsString(text)) return bad(err, "%s[%zu] has no \"text\" string", what, i);
        if ((i > 0 && !cn_output_bytes_append_str(out, "\n\n")) || !cn_output_bytes_append_str(out, text->valuestring))
            return nomem(err);
    }
    return CN_OK;
}

/* ---- messages ---- */

static cJSON *add_message(cJSON *messages, const char *role) {
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    cJSON_AddItemToArray(messages, m);
    return cJSON_AddStringToObject(m, "role", role) ? m : NULL;
}

static cn_status add_tool_result(const cJSON *block, const char *at, cJSON *messages, cn_error *err) {
    const cJSON *id = serve_json_field(block, "tool_use_id");
    if (!cJSON_IsString(id)) return bad(err, "%s (tool_result) needs a \"tool_use_id\" string", at);
    const cJSON *is_error = serve_json_field(block, "is_error");
    if (is_error && !cJSON_IsBool(is_error)) return bad(err, "%s.is_error must be a boolean", at);
    cn_output_bytes text = {0};
    /* V4 has no way to mark a failed tool, so the model reads it in the result's text. */
    cn_status st = cJSON_IsTrue(is_error) && !cn_output_bytes_append_str(&text, "Error: ") ? nomem(err) : CN_OK;
    const cJSON *content = serve_json_field(block, "content");
    char what[96];
    snprintf(what, sizeof what, "%s.content", at);
    if (st == CN_OK && content) st = join_text(content, what, &text, err);
    cJSON *m = st == CN_OK ? add_message(messages, "tool") : NULL;
    if (st == CN_OK && (!m || !cJSON_AddStringToObject(m, "content", cn_output_bytes_str(&text)) ||
                        !cJSON_AddStringToObject(m, "tool_call_id", id->valuestring)))
        st = nomem(err);
    cn_output_bytes_free(&text);
    return st;
}

/* A user turn: runs of text blocks become user messages, each tool_result a tool message, in the
 * blocks' order (the encoder merges them into one turn and sorts results into call order). */
static cn_status copy_user(const cJSON *content, size_t index, cJSON *messages, cn_error *err) {
    if (cJSON_IsString(content)) {
        cJSON *m = add_message(messages, "user");
        return m && cJSON_AddStringToObject(m, "content", content->valuestring) ? CN_OK : nomem(err);
    }
    if (!cJSON_IsArray(content)) return bad(err, "messages[%zu].content must be a string or an array of content blocks", index);
    cJSON *parts = NULL; /* the open user message's text parts */
    size_t i = 0;
    for (const cJSON *block = content->child; block; block = block->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "messages[%zu].content[%zu]", index, i);
        const cJSON *type = serve_json_field(block, "type");
        if (!cJSON_IsObject(block) || !cJSON_IsString(type)) return bad(err, "%s must be an object with a \"type\"", at);
        if (strcmp(type->valuestring, "text") == 0) {
            const cJSON *text = serve_json_field(block, "text");
            if (!cJSON_IsString(text)) return bad(err, "%s has no \"text\" string", at);
            if (!parts) {
                cJSON *m = add_message(messages, "user");
                if (!m || !(parts = cJSON_AddArrayToObject(m, "content"))) return nomem(err);
            }
            cJSON *part = cJSON_CreateObject();
            cJSON_AddItemToArray(parts, part);
            if (!part || !cJSON_AddStringToObject(part, "type", "text") ||
                !cJSON_AddStringToObject(part, "text", text->valuestring))
                return nomem(err);
        } else if (strcmp(type->valuestring, "tool_result") == 0) {
            parts = NULL;
            cn_status st = add_tool_result(block, at, messages, err);
            if (st != CN_OK) return st;
        } else if (strcmp(type->valuestring, "tool_use") == 0 || strcmp(type->valuestring, "thinking") == 0) {
            return bad(err, "%s: a \"%s\" block belongs in an assistant message", at, type->valuestring);
        } else {
            return unsupported(err, at, type->valuestring);
        }
    }
    if (i == 0) {
        cJSON *m = add_message(messages, "user");
        if (!m || !cJSON_AddStringToObject(m, "content", "")) return nomem(err);
    }
    return CN_OK;
}

static cn_status copy_tool_use(const cJSON *block, const char *at, cJSON *calls, cn_error *err) {
    const cJSON *id = serve_json_field(block, "id");
    const cJSON *name = serve_json_field(block, "name");
    const cJSON *input = serve_json_field(block, "input");
    if (!cJSON_IsString(id) || !id->valuestring[0]) return bad(err, "%s (tool_use) needs an \"id\" string", at);
    if (!cJSON_IsString(name)) return bad(err, "%s (tool_use) needs a \"name\" string", at);
    if (!cJSON_IsObject(input)) return bad(err, "%s (tool_use) needs \"input\": a JSON object", at);
    cJSON *call = cJSON_CreateObject();
    cJSON_AddItemToArray(calls, call);
    cJSON *function = call && cJSON_AddStringToObject(call, "id", id->valuestring) &&
                              cJSON_AddStringToObject(call, "type", "function")
                          ? cJSON_AddObjectToObject(call, "function")
                          : NULL;
    /* The input object itself (numbers keep their spelling, chat_json.h): the encoder renders it
     * and the registry compares it with the call it returned as JSON values. */
    cJSON *arguments = cJSON_Duplicate(input, true);
    if (!function || !cJSON_AddStringToObject(function, "name", name->valuestring) || !arguments ||
        !cJSON_AddItemToObject(function, "arguments", arguments)) {
        if (!function || !cJSON_GetObjectItemCaseSensitive(function, "arguments")) cJSON_Delete(arguments);
        return nomem(err);
    }
    return CN_OK;
}

/* An assistant turn: thinking -> reasoning_content, text -> content, tool_use -> tool_calls. */
static cn_status copy_assistant(const cJSON *content, size_t index, cJSON *messages, cn_error *err) {
    cJSON *m = add_message(messages, "assistant");
    if (!m) return nomem(err);
    if (cJSON_IsString(content)) return cJSON_AddStringToObject(m, "content", content->valuestring) ? CN_OK : nomem(err);
    if (!cJSON_IsArray(content)) return bad(err, "messages[%zu].content must be a string or an array of content blocks", index);
    cn_output_bytes reasoning = {0};
    bool has_reasoning = false;
    cJSON *parts = NULL, *calls = NULL;
    cn_status st = CN_OK;
    size_t i = 0;
    for (const cJSON *block = content->child; block && st == CN_OK; block = block->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "messages[%zu].content[%zu]", index, i);
        const cJSON *type = serve_json_field(block, "type");
        if (!cJSON_IsObject(block) || !cJSON_IsString(type)) {
            st = bad(err, "%s must be an object with a \"type\"", at);
        } else if (strcmp(type->valuestring, "text") == 0) {
            const cJSON *text = serve_json_field(block, "text");
            cJSON *part = NULL;
            if (!cJSON_IsString(text)) st = bad(err, "%s has no \"text\" string", at);
            else if ((!parts && !(parts = cJSON_AddArrayToObject(m, "content"))) || !(part = cJSON_CreateObject()))
                st = nomem(err);
            else {
                cJSON_AddItemToArray(parts, part);
                if (!cJSON_AddStringToObject(part, "type", "text") || !cJSON_AddStringToObject(part, "text", text->valuestring))
                    st = nomem(err);
            }
        } else if (strcmp(type->valuestring, "thinking") == 0) {
            const cJSON *thinking = serve_json_field(block, "thinking");
            if (!cJSON_IsString(thinking)) st = bad(err, "%s has no \"thinking\" string", at);
            else if (!cn_output_bytes_append_str(&reasoning, thinking->valuestring)) st = nomem(err);
            has_reasoning = true;
        } else if (strcmp(type->valuestring, "redacted_thinking") == 0) {
            /* Opaque to this server (it never makes one): nothing to render. */
        } else if (strcmp(type->valuestring, "tool_use") == 0) {
            if (!calls && !(calls = cJSON_AddArrayToObject(m, "tool_calls"))) st = nomem(err);
            else st = copy_tool_use(block, at, calls, err);
        } else if (strcmp(type->valuestring, "tool_result") == 0) {
            st = bad(err, "%s: a \"tool_result\" block belongs in a user message", at);
        } else {
            st = unsupported(err, at, type->valuestring);
        }
    }
    if (st == CN_OK && has_reasoning && !cJSON_AddStringToObject(m, "reasoning_content", cn_output_bytes_str(&reasoning)))
        st = nomem(err);
    if (st == CN_OK && !parts && !calls && !cJSON_AddStringToObject(m, "content", "")) st = nomem(err);
    cn_output_bytes_free(&reasoning);
    return st;
}

static cn_status parse_system(const cJSON *system, cJSON *messages, cn_error *err) {
    if (!system) return CN_OK;
    cn_output_bytes text = {0};
    cn_status st = join_text(system, "system", &text, err);
    cJSON *m = st == CN_OK ? add_message(messages, "system") : NULL;
    if (st == CN_OK && (!m || !cJSON_AddStringToObject(m, "content", cn_output_bytes_str(&text)))) st = nomem(err);
    cn_output_bytes_free(&text);
    return st;
}

static cn_status parse_messages(const cJSON *body, serve_chat_request *r, cn_error *err) {
    const cJSON *messages = serve_json_field(body, "messages");
    if (!cJSON_IsArray(messages) || !messages->child) return bad(err, "\"messages\" must be a non-empty array");
    if (!(r->messages = cJSON_CreateArray())) return nomem(err);
    cn_status st = parse_system(serve_json_field(body, "system"), r->messages, err);
    size_t i = 0;
    const char *last_role = NULL;
    for (const cJSON *m = messages->child; m && st == CN_OK; m = m->next, i++) {
        const cJSON *role = serve_json_field(m, "role");
        const cJSON *content = serve_json_field(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return bad(err, "messages[%zu] must be an object with a \"role\" string", i);
        if (!content) return bad(err, "messages[%zu] needs \"content\"", i);
        last_role = role->valuestring;
        if (strcmp(last_role, "user") == 0) st = copy_user(content, i, r->messages, err);
        else if (strcmp(last_role, "assistant") == 0) st = copy_assistant(content, i, r->messages, err);
        else return bad(err, "messages[%zu].role \"%.40s\" is not \"user\" or \"assistant\" (system goes in \"system\")", i, last_role);
    }
    if (st == CN_OK && strcmp(last_role, "assistant") == 0) {
        bad(err, "messages: the last message is an assistant message; continuing a prefilled reply is not supported");
        err->code = CN_ERR_UNSUPPORTED;
        return CN_ERR_UNSUPPORTED;
    }
    return st;
}

/* ---- tools ---- */

static cn_status parse_tools(const cJSON *tools, serve_chat_request *r, cn_error *err) {
    if (!tools) return CN_OK;
    if (!cJSON_IsArray(tools)) return bad(err, "\"tools\" must be an array");
    cJSON *list = cJSON_CreateArray();
    if (!list) return nomem(err);
    r->tools = list;
    size_t i = 0;
    for (const cJSON *tool = tools->child; tool; tool = tool->next, i++) {
        const cJSON *type = serve_json_field(tool, "type");
        const cJSON *name = serve_json_field(tool, "name");
        const cJSON *description = serve_json_field(tool, "description");
        const cJSON *schema = serve_json_field(tool, "input_schema");
        if (!cJSON_IsObject(tool)) return bad(err, "tools[%zu] must be an object", i);
        if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "custom") != 0))
            return bad(err, "tools[%zu].type \"%.60s\" is not supported (client tools only: leave type out or use \"custom\")", i,
                       cJSON_IsString(type) ? type->valuestring : "?");
        if (!cJSON_IsString(name) || !cn_function_name_valid(name->valuestring))
            return bad(err, "tools[%zu].name must be 1 to 64 of a-z, A-Z, 0-9, _ and -", i);
        if (description && !cJSON_IsString(description)) return bad(err, "tools[%zu].description must be a string", i);
        if (!cJSON_IsObject(schema)) return bad(err, "tools[%zu].input_schema must be a JSON Schema object", i);
        if (serve_chat_request_find_tool(r, name->valuestring))
            return bad(err, "tools[%zu]: a tool named \"%s\" is already defined", i, name->valuestring);
        /* The chat encoder's (OpenAI's) shape, so the prompt is the one a Chat Completions
         * request with the same tools renders. */
        cJSON *copy = cJSON_CreateObject();
        cJSON_AddItemToArray(list, copy);
        cJSON *function = copy && cJSON_AddStringToObject(copy, "type", "function") ? cJSON_AddObjectToObject(copy, "function")
                                                                                   : NULL;
        cJSON *parameters = cJSON_Duplicate(schema, true);
        if (!function || !cJSON_AddStringToObject(function, "name", name->valuestring) ||
            (description && !cJSON_AddStringToObject(function, "description", description->valuestring)) || !parameters ||
            !cJSON_AddItemToObject(function, "parameters", parameters)) {
            if (!function || !cJSON_GetObjectItemCaseSensitive(function, "parameters")) cJSON_Delete(parameters);
            return nomem(err);
        }
    }
    if (!list->child) {
        cJSON_Delete(list);
        r->tools = NULL;
    }
    return CN_OK;
}

static cn_status parse_tool_choice(const cJSON *choice, serve_chat_request *r, cn_error *err) {
    r->tool_choice = r->tools ? SERVE_TOOL_CHOICE_AUTO : SERVE_TOOL_CHOICE_NONE;
    if (!choice) return CN_OK;
    const cJSON *type = serve_json_field(choice, "type");
    if (!cJSON_IsObject(choice) || !cJSON_IsString(type))
        return bad(err, "tool_choice must be an object with a \"type\": auto, any, tool or none");
    const cJSON *parallel = serve_json_field(choice, "disable_parallel_tool_use");
    if (parallel && !cJSON_IsBool(parallel)) return bad(err, "tool_choice.disable_parallel_tool_use must be a boolean");
    const char *t = type->valuestring;
    if (strcmp(t, "none") == 0) {
        r->tool_choice = SERVE_TOOL_CHOICE_NONE;
        return CN_OK;
    }
    if (strcmp(t, "auto") == 0) return CN_OK;
    if (strcmp(t, "any") == 0) {
        r->tool_choice = SERVE_TOOL_CHOICE_REQUIRED;
    } else if (strcmp(t, "tool") == 0) {
        const cJSON *name = serve_json_field(choice, "name");
        if (!cJSON_IsString(name)) return bad(err, "tool_choice of type \"tool\" needs a \"name\" string");
        if (!serve_chat_request_find_tool(r, name->valuestring))
            return bad(err, "tool_choice names \"%.64s\", which is not in tools", name->valuestring);
        r->tool_choice = SERVE_TOOL_CHOICE_NAMED;
        if (!(r->tool_choice_name = strdup(name->valuestring))) return nomem(err);
    } else {
        return bad(err, "tool_choice.type \"%.40s\" is not auto, any, tool or none", t);
    }
    if (!r->tools) return bad(err, "tool_choice \"%s\" needs tools", t);
    return CN_OK;
}

/* ---- thinking, sampling, limits ---- */

static cn_status parse_thinking(const cJSON *body, serve_chat_request *r, cn_error *err) {
    const cJSON *thinking = serve_json_field(body, "thinking");
    if (thinking) {
        const cJSON *type = serve_json_field(thinking, "type");
        if (!cJSON_IsObject(thinking) || !cJSON_IsString(type))
            return bad(err, "thinking must be {\"type\": \"enabled\", \"budget_tokens\": N}, {\"type\": \"adaptive\"} or {\"type\": \"disabled\"}");
        if (strcmp(type->valuestring, "enabled") == 0) {
            const cJSON *budget = serve_json_field(thinking, "budget_tokens");
            if (!serve_json_is_integer(budget) || budget->valuedouble < 1 || budget->valuedouble > 1e9)
                return bad(err, "thinking.budget_tokens must be an integer >= 1");
            r->thinking = true; /* the budget is not enforced: max_tokens bounds thinking and answer together */
        } else if (strcmp(type->valuestring, "adaptive") == 0) {
            r->thinking = true;
        } else if (strcmp(type->valuestring, "disabled") == 0) {
            r->thinking = false;
        } else {
            return bad(err, "thinking.type \"%.40s\" is not enabled, adaptive or disabled", type->valuestring);
        }
    }
    const cJSON *config = serve_json_field(body, "output_config");
    if (config && !cJSON_IsObject(config)) return bad(err, "output_config must be an object");
    const cJSON *effort = serve_json_field(config, "effort");
    if (effort) {
        bool thinking_on = r->thinking; /* effort guides thinking; it does not turn it on */
        if (!cJSON_IsString(effort) || strcmp(effort->valuestring, "none") == 0 ||
            serve_chat_request_set_effort(r, effort->valuestring, err) != CN_OK)
            return bad(err, "output_config.effort must be one of low, medium, high, xhigh, max");
        r->thinking = thinking_on;
    }
    const cJSON *format = serve_json_field(config, "format");
    if (format) return bad(err, "output_config.format is not supported");
    return CN_OK;
}

static cn_status parse_number(const cJSON *body, const char *name, double lo, double hi, bool lo_open, double *out,
                              cn_error *err) {
    const cJSON *v = serve_json_field(body, name);
    if (!v) return CN_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble > hi || v->valuedouble < lo ||
        (lo_open && v->valuedouble == lo))
        return bad(err, "%s must be a number in %s%g, %g]", name, lo_open ? "(" : "[", lo, hi);
    *out = v->valuedouble;
    return CN_OK;
}

static cn_status parse_sampling(const cJSON *body, bool count_tokens, serve_chat_request *r, cn_error *err) {
    double temperature = r->sampling.temperature, top_p = r->sampling.top_p;
    cn_status st = parse_number(body, "temperature", 0, 1, false, &temperature, err); /* Anthropic's range */
    if (st == CN_OK) st = parse_number(body, "top_p", 0, 1, true, &top_p, err);
    if (st != CN_OK) return st;
    r->sampling.temperature = (float)temperature;
    r->sampling.top_p = (float)top_p;
    const cJSON *top_k = serve_json_field(body, "top_k");
    if (top_k) {
        if (!serve_json_is_integer(top_k) || top_k->valuedouble < 0 || top_k->valuedouble > 1e9)
            return bad(err, "top_k must be an integer >= 0");
        r->sampling.top_k = (int64_t)top_k->valuedouble;
    }
    const cJSON *seed = serve_json_field(body, "seed"); /* not Anthropic's: this server's extension, as in OpenAI's API */
    if (seed) {
        if (!serve_json_is_integer(seed) || fabs(seed->valuedouble) > 9.2e18) return bad(err, "seed must be an integer");
        r->sampling.seed = (uint64_t)(int64_t)seed->valuedouble;
    }
    const cJSON *max_tokens = serve_json_field(body, "max_tokens");
    if (!max_tokens && !count_tokens) return bad(err, "max_tokens: Field required");
    if (max_tokens && (!serve_json_is_integer(max_tokens) || max_tokens->valuedouble < 1 || max_tokens->valuedouble > 1e9))
        return bad(err, "max_tokens must be an integer >= 1");
    if (max_tokens) r->max_tokens = (int64_t)max_tokens->valuedouble;
    const cJSON *stops = serve_json_field(body, "stop_sequences");
    if (stops) {
        if (!cJSON_IsArray(stops)) return bad(err, "stop_sequences must be an array of strings");
        for (const cJSON *s = stops->child; s; s = s->next) {
            if (!cJSON_IsString(s)) return bad(err, "stop_sequences must hold strings only");
            if (serve_chat_request_add_stop(r, s->valuestring, err) != CN_OK) return bad(err, "stop_sequences: %s", err->msg);
        }
    }
    const cJSON *stream = serve_json_field(body, "stream");
    if (stream && !cJSON_IsBool(stream)) return bad(err, "stream must be a boolean");
    r->stream = cJSON_IsTrue(stream);
    const cJSON *metadata = serve_json_field(body, "metadata");
    if (metadata && !cJSON_IsObject(metadata)) return bad(err, "metadata must be an object");
    return CN_OK;
}

cn_status serve_anthropic_parse(const char *text, size_t len, bool count_tokens, serve_chat_request *r, cn_error *err) {
    cn_status st = serve_chat_request_init(r, err);
    if (st != CN_OK) return st;
    cJSON *body = NULL;
    if (cn_chat_json_parse(text, len, &body, err) != CN_OK) return bad(err, "the request body is not valid JSON: %s", err->msg);
    if (!cJSON_IsObject(body)) st = bad(err, "the request body must be a JSON object");
    if (st == CN_OK && !cJSON_IsString(serve_json_field(body, "model"))) st = bad(err, "model: a string is required");
    if (st == CN_OK) st = parse_sampling(body, count_tokens, r, err); /* max_tokens first: the API's first complaint */
    if (st == CN_OK) st = parse_messages(body, r, err);
    if (st == CN_OK) st = parse_tools(serve_json_field(body, "tools"), r, err);
    if (st == CN_OK) st = parse_tool_choice(serve_json_field(body, "tool_choice"), r, err);
    if (st == CN_OK) st = parse_thinking(body, r, err);
    if (st == CN_OK && serve_json_field(body, "mcp_servers")) st = bad(err, "mcp_servers is not supported");
    if (st == CN_OK && serve_json_field(body, "container")) st = bad(err, "container is not supported");
    cJSON_Delete(body);
    return st;
}
