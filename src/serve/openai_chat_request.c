/* The Chat Completions request body -> serve_chat_request: every field checked, a 400 naming the
 * field otherwise (specs/protocols.md 3.6 for messages, tools and tool_choice). */
#include "serve/openai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/request_fields.h"
#include "text/chat_json.h"
#include "text/function_name.h"

/* ---- messages ---- */

/* Content: a string, or an array of text parts (the encoder joins them); other part types are
 * refused since the model reads text only. Assistant content may also hold refusal parts. */
static cn_status copy_content(const cJSON *content, cJSON *out, size_t index, bool assistant, serve_openai_fault *f) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", index);
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(out, "content", content->valuestring);
        return CN_OK;
    }
    if (!cJSON_IsArray(content)) return serve_openai_bad(f, param, "%s must be a string or an array of content parts", param);
    cJSON *parts = cJSON_AddArrayToObject(out, "content");
    size_t i = 0;
    for (const cJSON *part = content->child; part; part = part->next, i++) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsString(type)) return serve_openai_bad(f, param, "%s[%zu] has no \"type\" string", param, i);
        const char *text_key = strcmp(type->valuestring, "text") == 0                    ? "text"
                               : assistant && strcmp(type->valuestring, "refusal") == 0 ? "refusal"
                                                                                        : NULL;
        if (!text_key)
            return serve_openai_bad(f, param, "%s[%zu]: content parts of type \"%.40s\" are not supported (text only)", param, i,
                       type->valuestring);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, text_key);
        if (!cJSON_IsString(text)) return serve_openai_bad(f, param, "%s[%zu] has no \"%s\" string", param, i, text_key);
        cJSON *copy = cJSON_CreateObject();
        cJSON_AddStringToObject(copy, "type", "text");
        cJSON_AddStringToObject(copy, "text", text->valuestring);
        cJSON_AddItemToArray(parts, copy);
    }
    if (i == 0) cJSON_ReplaceItemInObjectCaseSensitive(out, "content", cJSON_CreateString(""));
    return CN_OK;
}

static cn_status copy_tool_calls(const cJSON *calls, cJSON *out, size_t index, serve_openai_fault *f) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].tool_calls", index);
    if (!cJSON_IsArray(calls)) return serve_openai_bad(f, param, "%s must be an array", param);
    if (!calls->child) return CN_OK;
    cJSON *list = cJSON_AddArrayToObject(out, "tool_calls");
    size_t i = 0;
    for (const cJSON *call = calls->child; call; call = call->next, i++) {
        const cJSON *id = serve_json_field(call, "id");
        const cJSON *type = serve_json_field(call, "type");
        const cJSON *function = serve_json_field(call, "function");
        const cJSON *name = serve_json_field(function, "name");
        const cJSON *arguments = serve_json_field(function, "arguments");
        if (!cJSON_IsObject(call) || !cJSON_IsObject(function))
            return serve_openai_bad(f, param, "%s[%zu] needs a \"function\" object", param, i);
        if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0))
            return serve_openai_bad(f, param, "%s[%zu].type must be \"function\"", param, i);
        if (id && !cJSON_IsString(id)) return serve_openai_bad(f, param, "%s[%zu].id must be a string", param, i);
        if (!cJSON_IsString(name)) return serve_openai_bad(f, param, "%s[%zu].function.name must be a string", param, i);
        if (!cJSON_IsString(arguments))
            return serve_openai_bad(f, param, "%s[%zu].function.arguments must be a string holding a JSON object", param, i);
        cJSON *parsed = NULL;
        cn_error ignored;
        bool object = cn_chat_json_parse(arguments->valuestring, strlen(arguments->valuestring), &parsed, &ignored) == CN_OK &&
                      cJSON_IsObject(parsed);
        cJSON_Delete(parsed);
        if (!object) return serve_openai_bad(f, param, "%s[%zu].function.arguments is not a JSON object", param, i);
        cJSON *copy = cJSON_CreateObject();
        if (id) cJSON_AddStringToObject(copy, "id", id->valuestring);
        cJSON_AddStringToObject(copy, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(copy, "function");
        cJSON_AddStringToObject(fn, "name", name->valuestring);
        cJSON_AddStringToObject(fn, "arguments", arguments->valuestring);
        cJSON_AddItemToArray(list, copy);
    }
    return CN_OK;
}

/* One OpenAI message -> the encoder's form, copying only the fields the encoder should see (a
 * client cannot smuggle in "dsml" or "task"). OpenAI's developer role is its system role. */
static cn_status copy_message(const cJSON *m, size_t index, cJSON *out, serve_openai_fault *f) {
    char param[48];
    snprintf(param, sizeof param, "messages[%zu]", index);
    if (!cJSON_IsObject(m)) return serve_openai_bad(f, param, "%s must be an object", param);
    const cJSON *role = serve_json_field(m, "role");
    if (!cJSON_IsString(role)) return serve_openai_bad(f, param, "%s has no \"role\" string", param);
    const char *r = role->valuestring;
    const cJSON *content = serve_json_field(m, "content");
    bool assistant = strcmp(r, "assistant") == 0;
    if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0 || strcmp(r, "user") == 0 || strcmp(r, "tool") == 0) {
        cJSON_AddStringToObject(out, "role", strcmp(r, "developer") == 0 ? "system" : r);
        if (!content) return serve_openai_bad(f, param, "%s (%s) needs \"content\"", param, r);
        cn_status st = copy_content(content, out, index, false, f);
        if (st != CN_OK) return st;
        if (strcmp(r, "tool") == 0) {
            const cJSON *id = serve_json_field(m, "tool_call_id");
            if (!cJSON_IsString(id)) return serve_openai_bad(f, param, "%s (tool) needs a \"tool_call_id\" string", param);
            cJSON_AddStringToObject(out, "tool_call_id", id->valuestring);
        }
        return CN_OK;
    }
    if (!assistant) return serve_openai_bad(f, param, "%s has role \"%.40s\"; expected system, developer, user, assistant or tool", param, r);
    cJSON_AddStringToObject(out, "role", "assistant");
    cn_status st = content ? copy_content(content, out, index, true, f) : CN_OK;
    if (st != CN_OK) return st;
    const cJSON *reasoning = serve_json_field(m, "reasoning_content");
    if (!reasoning) reasoning = serve_json_field(m, "reasoning");
    if (reasoning && !cJSON_IsString(reasoning)) return serve_openai_bad(f, param, "%s.reasoning_content must be a string", param);
    if (reasoning) cJSON_AddStringToObject(out, "reasoning_content", reasoning->valuestring);
    const cJSON *calls = serve_json_field(m, "tool_calls");
    if (calls && (st = copy_tool_calls(calls, out, index, f)) != CN_OK) return st;
    if (!content && !cJSON_GetObjectItemCaseSensitive(out, "tool_calls") && !reasoning)
        return serve_openai_bad(f, param, "%s (assistant) needs \"content\" or \"tool_calls\"", param);
    return CN_OK;
}

static cn_status parse_messages(const cJSON *messages, serve_chat_request *r, serve_openai_fault *f) {
    if (!cJSON_IsArray(messages) || !messages->child)
        return serve_openai_bad(f, "messages", "\"messages\" must be a non-empty array");
    r->messages = cJSON_CreateArray();
    size_t i = 0;
    const cJSON *last = NULL;
    for (const cJSON *m = messages->child; m; m = m->next, i++) {
        cJSON *copy = cJSON_CreateObject();
        cJSON_AddItemToArray(r->messages, copy);
        cn_status st = copy_message(m, i, copy, f);
        if (st != CN_OK) return st;
        last = copy;
    }
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    if (strcmp(role->valuestring, "assistant") == 0)
        return serve_openai_bad(f, "messages", "the last message must not be an assistant message (continuing one is not supported)");
    return CN_OK;
}

/* ---- tools ---- */

static cn_status parse_tools(const cJSON *tools, serve_chat_request *r, serve_openai_fault *f) {
    if (!cJSON_IsArray(tools)) return serve_openai_bad(f, "tools", "\"tools\" must be an array");
    size_t i = 0;
    for (const cJSON *tool = tools->child; tool; tool = tool->next, i++) {
        const cJSON *type = serve_json_field(tool, "type");
        const cJSON *function = serve_json_field(tool, "function");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
            return serve_openai_bad(f, "tools", "tools[%zu].type must be \"function\"", i);
        if (!cJSON_IsObject(function)) return serve_openai_bad(f, "tools", "tools[%zu] needs a \"function\" object", i);
        const cJSON *name = serve_json_field(function, "name");
        if (!cJSON_IsString(name) || !cn_function_name_valid(name->valuestring))
            return serve_openai_bad(f, "tools", "tools[%zu].function.name must be 1 to 64 of a-z, A-Z, 0-9, _ and -", i);
        const cJSON *parameters = serve_json_field(function, "parameters");
        if (parameters && !cJSON_IsObject(parameters))
            return serve_openai_bad(f, "tools", "tools[%zu].function.parameters must be a JSON Schema object", i);
        const cJSON *description = serve_json_field(function, "description");
        if (description && !cJSON_IsString(description))
            return serve_openai_bad(f, "tools", "tools[%zu].function.description must be a string", i);
        for (const cJSON *other = tools->child; other != tool; other = other->next)
            if (strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(other, "function"), "name")->valuestring,
                       name->valuestring) == 0)
                return serve_openai_bad(f, "tools", "tools[%zu]: a tool named \"%s\" is already defined", i, name->valuestring);
    }
    if (tools->child) r->tools = cJSON_Duplicate(tools, true);
    return CN_OK;
}

static cn_status parse_tool_choice(const cJSON *choice, serve_chat_request *r, serve_openai_fault *f) {
    if (!choice) {
        r->tool_choice = r->tools ? SERVE_TOOL_CHOICE_AUTO : SERVE_TOOL_CHOICE_NONE;
        return CN_OK;
    }
    if (cJSON_IsString(choice)) {
        const char *c = choice->valuestring;
        if (strcmp(c, "auto") == 0) r->tool_choice = SERVE_TOOL_CHOICE_AUTO;
        else if (strcmp(c, "none") == 0) r->tool_choice = SERVE_TOOL_CHOICE_NONE;
        else if (strcmp(c, "required") == 0) r->tool_choice = SERVE_TOOL_CHOICE_REQUIRED;
        else return serve_openai_bad(f, "tool_choice", "tool_choice \"%.40s\" is not none, auto, required or a named function", c);
    } else {
        const cJSON *type = serve_json_field(choice, "type");
        const cJSON *name = serve_json_field(serve_json_field(choice, "function"), "name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 || !cJSON_IsString(name))
            return serve_openai_bad(f, "tool_choice", "tool_choice must be a string or {\"type\":\"function\",\"function\":{\"name\":...}}");
        r->tool_choice = SERVE_TOOL_CHOICE_NAMED;
        if (!(r->tool_choice_name = strdup(name->valuestring))) return serve_openai_bad(f, "", "out of memory");
        if (!serve_chat_request_find_tool(r, name->valuestring))
            return serve_openai_bad(f, "tool_choice", "tool_choice names \"%.64s\", which is not in tools", name->valuestring);
    }
    if (r->tool_choice != SERVE_TOOL_CHOICE_NONE && r->tool_choice != SERVE_TOOL_CHOICE_AUTO && !r->tools)
        return serve_openai_bad(f, "tool_choice", "tool_choice \"%s\" needs tools", cJSON_IsString(choice) ? choice->valuestring : "function");
    if (r->tool_choice == SERVE_TOOL_CHOICE_AUTO && !r->tools) r->tool_choice = SERVE_TOOL_CHOICE_NONE;
    return CN_OK;
}

/* ---- thinking ---- */

static cn_status parse_thinking(const cJSON *body, serve_chat_request *r, serve_openai_fault *f) {
    /* DeepSeek's API: "thinking": {"type": "enabled"|"disabled"}; vLLM: chat_template_kwargs.thinking. */
    const cJSON *thinking = serve_json_field(body, "thinking");
    if (!thinking) thinking = serve_json_field(serve_json_field(body, "chat_template_kwargs"), "thinking");
    if (!thinking) thinking = serve_json_field(serve_json_field(body, "chat_template_kwargs"), "enable_thinking");
    if (thinking) {
        const cJSON *type = serve_json_field(thinking, "type");
        if (cJSON_IsBool(thinking)) r->thinking = cJSON_IsTrue(thinking);
        else if (cJSON_IsString(type) && strcmp(type->valuestring, "enabled") == 0) r->thinking = true;
        else if (cJSON_IsString(type) && strcmp(type->valuestring, "disabled") == 0) r->thinking = false;
        else return serve_openai_bad(f, "thinking", "thinking must be true, false or {\"type\": \"enabled\" | \"disabled\"}");
    }
    const cJSON *effort = serve_json_field(body, "reasoning_effort");
    if (!effort) effort = serve_json_field(serve_json_field(body, "reasoning"), "effort"); /* the Responses API's spelling */
    if (effort) {
        if (!cJSON_IsString(effort)) return serve_openai_bad(f, "reasoning_effort", "reasoning_effort must be a string");
        bool explicit_off = thinking && !r->thinking;
        if (serve_chat_request_set_effort(r, effort->valuestring, &f->error) != CN_OK)
            return serve_openai_bad(f, "reasoning_effort", "%s", f->error.msg);
        if (explicit_off) r->thinking = false;
    }
    return CN_OK;
}

/* ---- sampling and limits ---- */

static cn_status parse_stop(const cJSON *stop, char **out_list, size_t *n_out, serve_openai_fault *f) {
    serve_chat_request scratch = {0};
    cn_status st = CN_OK;
    if (cJSON_IsString(stop)) {
        st = serve_chat_request_add_stop(&scratch, stop->valuestring, &f->error);
    } else if (cJSON_IsArray(stop)) {
        for (const cJSON *s = stop->child; s && st == CN_OK; s = s->next) {
            if (!cJSON_IsString(s)) st = cn_fail(&f->error, CN_ERR_ARG, "stop must hold strings only");
            else st = serve_chat_request_add_stop(&scratch, s->valuestring, &f->error);
        }
    } else if (stop) {
        st = cn_fail(&f->error, CN_ERR_ARG, "stop must be a string or an array of strings");
    }
    for (size_t i = 0; i < scratch.n_stop; i++) out_list[i] = scratch.stop[i];
    *n_out = scratch.n_stop;
    if (st != CN_OK) return serve_openai_bad(f, "stop", "%s", f->error.msg);
    return CN_OK;
}

/* Things this server does not do, refused rather than silently ignored when they would matter. */
static cn_status refuse_unsupported(const cJSON *body, serve_openai_fault *f) {
    static const char *const penalties[] = {"frequency_penalty", "presence_penalty"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = serve_json_field(body, penalties[i]);
        if (v && (!cJSON_IsNumber(v) || v->valuedouble != 0))
            return serve_openai_bad(f, penalties[i], "%s is not supported (only 0)", penalties[i]);
    }
    const cJSON *n = serve_json_field(body, "n");
    if (n && (!serve_json_is_integer(n) || n->valuedouble != 1)) return serve_openai_bad(f, "n", "only n = 1 is supported");
    const cJSON *bias = serve_json_field(body, "logit_bias");
    if (bias && (!cJSON_IsObject(bias) || bias->child)) return serve_openai_bad(f, "logit_bias", "logit_bias is not supported");
    return CN_OK;
}

static cn_status parse_limits(const cJSON *body, int64_t *max_tokens, serve_openai_fault *f) {
    static const char *const names[] = {"max_tokens", "max_completion_tokens"}; /* the second wins */
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = serve_json_field(body, names[i]);
        if (!v) continue;
        if (!serve_json_is_integer(v) || v->valuedouble < 1 || v->valuedouble > 1e9)
            return serve_openai_bad(f, names[i], "%s must be an integer >= 1", names[i]);
        *max_tokens = (int64_t)v->valuedouble;
    }
    return CN_OK;
}

static cn_status parse_sampling(const cJSON *body, cn_sampler_params *s, serve_openai_fault *f) {
    double temperature = s->temperature, top_p = s->top_p;
    cn_status st = serve_openai_number(body, "temperature", 0, 2, false, &temperature, f);
    if (st == CN_OK) st = serve_openai_number(body, "top_p", 0, 1, true, &top_p, f);
    if (st != CN_OK) return st;
    s->temperature = (float)temperature;
    s->top_p = (float)top_p;
    const cJSON *seed = serve_json_field(body, "seed");
    if (seed) {
        if (!serve_json_is_integer(seed) || fabs(seed->valuedouble) > 9.2e18) return serve_openai_bad(f, "seed", "seed must be an integer");
        s->seed = (uint64_t)(int64_t)seed->valuedouble;
    }
    return CN_OK;
}

static cn_status parse_response_format(const cJSON *format, serve_chat_request *r, serve_openai_fault *f) {
    if (!format) return CN_OK;
    const cJSON *type = serve_json_field(format, "type");
    if (!cJSON_IsObject(format) || !cJSON_IsString(type))
        return serve_openai_bad(f, "response_format", "response_format must be an object with a \"type\"");
    if (strcmp(type->valuestring, "text") == 0) return CN_OK;
    if (strcmp(type->valuestring, "json_object") == 0) {
        r->response_kind = SERVE_RESPONSE_JSON_OBJECT;
        return CN_OK;
    }
    if (strcmp(type->valuestring, "json_schema") != 0)
        return serve_openai_bad(f, "response_format", "response_format.type \"%.40s\" is not text, json_object or json_schema",
                   type->valuestring);
    const cJSON *spec = serve_json_field(format, "json_schema");
    if (!cJSON_IsObject(spec) || !cJSON_IsString(serve_json_field(spec, "name")))
        return serve_openai_bad(f, "response_format", "response_format.json_schema must be an object with a \"name\"");
    const cJSON *schema = serve_json_field(spec, "schema");
    if (schema && !cJSON_IsObject(schema))
        return serve_openai_bad(f, "response_format", "response_format.json_schema.schema must be a JSON Schema object");
    r->response_kind = SERVE_RESPONSE_JSON_SCHEMA;
    r->response_schema = schema ? cJSON_Duplicate(schema, true) : cJSON_CreateObject();
    return CN_OK;
}

static cn_status parse_stream(const cJSON *body, bool *stream, bool *include_usage, serve_openai_fault *f) {
    const cJSON *v = serve_json_field(body, "stream");
    if (v && !cJSON_IsBool(v)) return serve_openai_bad(f, "stream", "stream must be a boolean");
    *stream = cJSON_IsTrue(v);
    const cJSON *options = serve_json_field(body, "stream_options");
    if (options) {
        if (!*stream) return serve_openai_bad(f, "stream_options", "stream_options is only allowed with stream: true");
        const cJSON *usage = serve_json_field(options, "include_usage");
        if (!cJSON_IsObject(options) || (usage && !cJSON_IsBool(usage)))
            return serve_openai_bad(f, "stream_options", "stream_options must be {\"include_usage\": boolean}");
        *include_usage = cJSON_IsTrue(usage);
    }
    return CN_OK;
}

static cn_status parse_logprobs(const cJSON *body, serve_chat_request *r, serve_openai_fault *f) {
    const cJSON *logprobs = serve_json_field(body, "logprobs");
    if (logprobs && !cJSON_IsBool(logprobs)) return serve_openai_bad(f, "logprobs", "logprobs must be a boolean");
    r->logprobs = cJSON_IsTrue(logprobs);
    const cJSON *top = serve_json_field(body, "top_logprobs");
    if (top) {
        if (!serve_json_is_integer(top) || top->valuedouble < 0 || top->valuedouble > CN_ENGINE_MAX_TOP_LOGPROBS)
            return serve_openai_bad(f, "top_logprobs", "top_logprobs must be an integer from 0 to %d", CN_ENGINE_MAX_TOP_LOGPROBS);
        if (!r->logprobs) return serve_openai_bad(f, "top_logprobs", "top_logprobs needs logprobs: true");
        r->top_logprobs = (int)top->valuedouble;
    }
    return CN_OK;
}

cn_status serve_openai_parse_chat(const char *text, size_t len, serve_chat_request *r, serve_openai_fault *f) {
    memset(f, 0, sizeof *f);
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
    if (st == CN_OK) st = parse_messages(serve_json_field(body, "messages"), r, f);
    if (st == CN_OK && serve_json_field(body, "tools")) st = parse_tools(serve_json_field(body, "tools"), r, f);
    if (st == CN_OK) st = parse_tool_choice(serve_json_field(body, "tool_choice"), r, f);
    if (st == CN_OK) {
        const cJSON *parallel = serve_json_field(body, "parallel_tool_calls");
        if (parallel && !cJSON_IsBool(parallel)) st = serve_openai_bad(f, "parallel_tool_calls", "parallel_tool_calls must be a boolean");
        r->single_tool_call = cJSON_IsFalse(parallel);
    }
    if (st == CN_OK) st = parse_thinking(body, r, f);
    if (st == CN_OK) st = parse_sampling(body, &r->sampling, f);
    if (st == CN_OK) st = parse_limits(body, &r->max_tokens, f);
    if (st == CN_OK) st = parse_stop(serve_json_field(body, "stop"), r->stop, &r->n_stop, f);
    if (st == CN_OK) st = parse_logprobs(body, r, f);
    if (st == CN_OK) st = parse_response_format(serve_json_field(body, "response_format"), r, f);
    if (st == CN_OK) st = parse_stream(body, &r->stream, &r->include_usage, f);
    if (st == CN_OK) st = refuse_unsupported(body, f);
    if (st == CN_OK && r->response_kind != SERVE_RESPONSE_TEXT &&
        (r->tool_choice == SERVE_TOOL_CHOICE_REQUIRED || r->tool_choice == SERVE_TOOL_CHOICE_NAMED))
        st = serve_openai_bad(f, "response_format", "response_format %s and a forced tool call (tool_choice %s) cannot both be enforced",
                 r->response_kind == SERVE_RESPONSE_JSON_OBJECT ? "json_object" : "json_schema",
                 r->tool_choice == SERVE_TOOL_CHOICE_REQUIRED ? "required" : "named");
    /* The JSON constraint holds from the first generated token, so the reply cannot open with
       reasoning: a JSON response format answers in chat mode. */
    if (st == CN_OK && r->response_kind != SERVE_RESPONSE_TEXT) r->thinking = false;
    cJSON_Delete(body);
    return st;
}
