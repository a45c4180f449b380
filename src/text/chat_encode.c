/* Rendering of a preprocessed conversation (chat_conversation.h), message by message as the
 * reference's render_message does it; docs/chat.md shows the resulting layout. */
#include "text/chat_encode.h"

#include "text/chat_conversation.h"
#include "text/chat_json.h"
#include "text/chat_tokens.h"
#include "text/chat_utf8.h"

#include <stdlib.h>
#include <string.h>

static const char *const TASK_TOKENS[] = {CN_CHAT_TASK_ACTION, CN_CHAT_TASK_QUERY, CN_CHAT_TASK_AUTHORITY,
                                          CN_CHAT_TASK_DOMAIN, CN_CHAT_TASK_TITLE, CN_CHAT_TASK_READ_URL};

static const char EFFORT_HIGH_PREFIX[] =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

static const char EFFORT_MAX_PREFIX[] =
    "Reasoning Effort: Beyond maximum — exhaustive, relentless, and uncompromising.\n"
    "You MUST reason with the utmost depth and rigor, leaving absolutely nothing to chance: exhaustively "
    "decompose the problem into its most fundamental components, trace every causal chain to its root, and "
    "resolve the underlying cause rather than any surface symptom.\n"
    "Do not stop reasoning until you have independently verified the solution from multiple angles and are "
    "certain that no assumption remains unchecked and no error remains undiscovered.\n\n";

/* The tools block around the schema lines; the DSML and think markers in it are control tokens. */
static const char TOOLS_HEAD[] =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

static const char TOOLS_TAIL[] =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";

static const char RESPONSE_FORMAT_HEAD[] =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

typedef struct {
    cn_chat_prompt *prompt;
    const cn_chat_conversation *conversation;
    const cn_chat_options *options;
    long last_user;
    cn_error *err;
} renderer;

/* Appends json.dumps(value) as text. */
static cn_status put_json(renderer *r, const cJSON *value) {
    cn_chat_bytes json = {0};
    cn_status st = cn_chat_json_dump(value, &json, r->err);
    if (st == CN_OK) st = cn_chat_prompt_raw_text(r->prompt, json.data, json.length, r->err);
    cn_chat_bytes_free(&json);
    return st;
}

/* "\n\n" + tools block (one json.dumps(tool["function"]) per line) + response format. */
static cn_status put_tools_and_format(renderer *r, const cn_chat_message *m) {
    cn_status st = CN_OK;
    if (m->tools) {
        if ((st = cn_chat_prompt_template(r->prompt, "\n\n", r->err)) != CN_OK) return st;
        if ((st = cn_chat_prompt_template(r->prompt, TOOLS_HEAD, r->err)) != CN_OK) return st;
        for (const cJSON *tool = m->tools->child; tool; tool = tool->next) {
            if (tool != m->tools->child && (st = cn_chat_prompt_template(r->prompt, "\n", r->err)) != CN_OK) return st;
            if ((st = put_json(r, cJSON_GetObjectItemCaseSensitive(tool, "function"))) != CN_OK)
                return cn_error_prefix(r->err, "tool schema");
        }
        if ((st = cn_chat_prompt_template(r->prompt, TOOLS_TAIL, r->err)) != CN_OK) return st;
    }
    if (m->response_format) {
        if ((st = cn_chat_prompt_template(r->prompt, "\n\n", r->err)) != CN_OK) return st;
        if ((st = cn_chat_prompt_template(r->prompt, RESPONSE_FORMAT_HEAD, r->err)) != CN_OK) return st;
        if ((st = put_json(r, m->response_format)) != CN_OK) return cn_error_prefix(r->err, "response_format");
    }
    return st;
}

static cn_status put_user(renderer *r, const cn_chat_message *m) {
    cn_status st = cn_chat_prompt_control(r->prompt, CN_CHAT_USER, r->err);
    for (size_t b = 0; b < m->block_count && st == CN_OK; b++) {
        if (b > 0) st = cn_chat_prompt_template(r->prompt, "\n\n", r->err);
        if (st != CN_OK) break;
        if (m->blocks[b].is_tool_result) {
            /* <tool_result> is plain text in the V4 vocabulary. */
            st = cn_chat_prompt_template(r->prompt, "<tool_result>", r->err);
            if (st == CN_OK) st = cn_chat_prompt_text(r->prompt, m->blocks[b].text, r->err);
            if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, "</tool_result>", r->err);
        } else {
            st = cn_chat_prompt_text(r->prompt, m->blocks[b].text, r->err);
        }
    }
    return st;
}

/* One parameter line: strings as they are with string="true", everything else as json.dumps. */
static cn_status put_parameter(renderer *r, const cJSON *arg) {
    cn_status st = cn_chat_prompt_template(r->prompt, "<｜DSML｜parameter name=\"", r->err);
    if (st == CN_OK) st = cn_chat_prompt_text(r->prompt, arg->string, r->err);
    bool is_string = cJSON_IsString(arg);
    if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, is_string ? "\" string=\"true\">" : "\" string=\"false\">", r->err);
    if (st == CN_OK) st = is_string ? cn_chat_prompt_text(r->prompt, arg->valuestring, r->err) : put_json(r, arg);
    if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, "</｜DSML｜parameter>", r->err);
    return st;
}

/* A call's "dsml": the invoke exactly as the model wrote it, rendered verbatim so the prompt's
 * tokens extend the ones the model generated (the server's prefix cache then hits). Re-rendering
 * from the arguments would normalise the model's spelling (json.dumps spacing of string="false"
 * values, for one). Its markers become control tokens as in the template text. */
static cn_status put_verbatim_invoke(renderer *r, const cJSON *dsml, size_t call_index, size_t message_index) {
    static const char open[] = "<" CN_CHAT_DSML "invoke name=\"", close[] = "</" CN_CHAT_DSML "invoke>";
    const char *s = cJSON_IsString(dsml) ? dsml->valuestring : NULL;
    size_t n = s ? strlen(s) : 0;
    if (!s || n < sizeof open - 1 + sizeof close - 1 || memcmp(s, open, sizeof open - 1) != 0 ||
        memcmp(s + n - (sizeof close - 1), close, sizeof close - 1) != 0)
        return cn_fail(r->err, CN_ERR_ARG,
                       "message %zu: tool call %zu: \"dsml\" must be a string from \"<%sinvoke name=\" to \"%s\"",
                       message_index, call_index, CN_CHAT_DSML, close);
    const unsigned char *q = (const unsigned char *)s;
    for (size_t at = 0; at < n;) {
        uint32_t cp;
        size_t len = cn_chat_utf8_decode(q + at, n - at, &cp);
        if (len == 0 || cp == 0)
            return cn_fail(r->err, CN_ERR_ARG, "message %zu: tool call %zu: \"dsml\" is not valid UTF-8 (byte %zu)",
                           message_index, call_index, at);
        at += len;
    }
    return cn_chat_prompt_template(r->prompt, s, r->err);
}

static cn_status put_invoke(renderer *r, const cJSON *call, size_t call_index, size_t message_index) {
    const cJSON *function = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(function, "name");
    const cJSON *arguments = cJSON_GetObjectItemCaseSensitive(function, "arguments");
    cJSON *parsed = NULL;
    cn_status st = CN_OK;
    if (cJSON_IsString(arguments)) {
        /* Arguments arrive as JSON text from the API; the reference json.loads them. */
        if ((st = cn_chat_json_parse(arguments->valuestring, strlen(arguments->valuestring), &parsed, r->err)) != CN_OK)
            return cn_error_prefix(r->err, "message %zu: tool call %zu (%s): arguments", message_index, call_index,
                                   name->valuestring);
        arguments = parsed;
    }
    if (!cJSON_IsObject(arguments)) {
        cJSON_Delete(parsed);
        return cn_fail(r->err, CN_ERR_ARG, "message %zu: tool call %zu (%s): arguments must be a JSON object",
                       message_index, call_index, name->valuestring);
    }
    const cJSON *dsml = cJSON_GetObjectItemCaseSensitive(call, "dsml");
    if (dsml) {
        cJSON_Delete(parsed);
        return put_verbatim_invoke(r, dsml, call_index, message_index);
    }
    st = cn_chat_prompt_template(r->prompt, "<｜DSML｜invoke name=\"", r->err);
    if (st == CN_OK) st = cn_chat_prompt_text(r->prompt, name->valuestring, r->err);
    if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, "\">\n", r->err);
    for (const cJSON *arg = arguments->child; arg && st == CN_OK; arg = arg->next) {
        if (arg != arguments->child) st = cn_chat_prompt_template(r->prompt, "\n", r->err);
        if (st == CN_OK) st = put_parameter(r, arg);
    }
    if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, "\n</｜DSML｜invoke>", r->err);
    cJSON_Delete(parsed);
    return st;
}

static cn_status put_assistant(renderer *r, size_t index) {
    const cn_chat_message *m = &r->conversation->messages[index];
    bool prev_has_task = index > 0 && r->conversation->messages[index - 1].task != CN_CHAT_TASK_NONE;
    cn_status st = CN_OK;
    size_t body_segment = r->prompt->segment_count, body_offset = r->prompt->text.length;
    /* Reasoning closes with </think>: the <think> that opened it ended the previous turn. */
    if (r->options->thinking && !prev_has_task && (!r->conversation->drop_reasoning || (long)index > r->last_user)) {
        if (m->reasoning) st = cn_chat_prompt_text(r->prompt, m->reasoning, r->err);
        if (st == CN_OK) st = cn_chat_prompt_control(r->prompt, CN_CHAT_THINK_END, r->err);
    }
    if (st == CN_OK && m->content) st = cn_chat_prompt_text(r->prompt, m->content, r->err);
    if (st == CN_OK && m->tool_calls) {
        st = cn_chat_prompt_template(r->prompt, "\n\n<｜DSML｜tool_calls>\n", r->err);
        size_t call_index = 0;
        for (const cJSON *call = m->tool_calls->child; call && st == CN_OK; call = call->next, call_index++) {
            if (call != m->tool_calls->child) st = cn_chat_prompt_template(r->prompt, "\n", r->err);
            if (st == CN_OK) st = put_invoke(r, call, call_index, m->source_index);
        }
        if (st == CN_OK) st = cn_chat_prompt_template(r->prompt, "\n</｜DSML｜tool_calls>", r->err);
    }
    /* The body's first text may have joined a text segment before it (no control token between):
       then it has no segments of its own to hand over. */
    bool body_apart = body_segment < r->prompt->segment_count && r->prompt->segments[body_segment].offset == body_offset;
    if (st == CN_OK && r->options->assistant_body && body_apart)
        st = r->options->assistant_body(r->options->assistant_body_context, r->prompt, body_segment, r->err);
    if (st == CN_OK && !m->wo_eos) st = cn_chat_prompt_control(r->prompt, CN_CHAT_EOS, r->err);
    return st;
}

/* What follows a message when the next one is not a new user-side turn: a task token, or the
 * assistant prefix with <think> (thinking mode, reasoning of this turn kept) or </think>. */
static cn_status put_transition(renderer *r, size_t index) {
    const cn_chat_conversation *c = r->conversation;
    const cn_chat_message *m = &c->messages[index];
    bool last = index + 1 == c->count;
    cn_chat_role next = last ? CN_CHAT_ROLE_USER : c->messages[index + 1].role;
    if (!last && next != CN_CHAT_ROLE_ASSISTANT && next != CN_CHAT_ROLE_LATEST_REMINDER) return CN_OK;
    bool thinking = r->options->thinking;
    cn_status st;
    if (m->task != CN_CHAT_TASK_NONE) {
        if (m->task != CN_CHAT_TASK_ACTION_ID) return cn_chat_prompt_control(r->prompt, TASK_TOKENS[m->task], r->err);
        st = cn_chat_prompt_control(r->prompt, CN_CHAT_ASSISTANT, r->err);
        if (st == CN_OK) st = cn_chat_prompt_control(r->prompt, thinking ? CN_CHAT_THINK_START : CN_CHAT_THINK_END, r->err);
        if (st == CN_OK) st = cn_chat_prompt_control(r->prompt, CN_CHAT_TASK_ACTION, r->err);
        return st;
    }
    bool opens_turn = m->role == CN_CHAT_ROLE_USER || m->role == CN_CHAT_ROLE_DEVELOPER ||
                      (m->role == CN_CHAT_ROLE_SYSTEM && (last || next == CN_CHAT_ROLE_ASSISTANT));
    if (!opens_turn || (last && r->options->omit_generation_prompt)) return CN_OK;
    bool open_thinking = thinking && (!c->drop_reasoning || (long)index >= r->last_user);
    st = cn_chat_prompt_control(r->prompt, CN_CHAT_ASSISTANT, r->err);
    if (st == CN_OK) st = cn_chat_prompt_control(r->prompt, open_thinking ? CN_CHAT_THINK_START : CN_CHAT_THINK_END, r->err);
    return st;
}

static cn_status put_message(renderer *r, size_t index) {
    const cn_chat_message *m = &r->conversation->messages[index];
    cn_status st = CN_OK;
    if (index == 0 && r->options->thinking) {
        if (r->options->reasoning_effort == CN_CHAT_EFFORT_HIGH) st = cn_chat_prompt_template(r->prompt, EFFORT_HIGH_PREFIX, r->err);
        if (r->options->reasoning_effort == CN_CHAT_EFFORT_MAX) st = cn_chat_prompt_template(r->prompt, EFFORT_MAX_PREFIX, r->err);
        if (st != CN_OK) return st;
    }
    switch (m->role) {
    case CN_CHAT_ROLE_SYSTEM:
        if (m->content) st = cn_chat_prompt_text(r->prompt, m->content, r->err);
        if (st == CN_OK) st = put_tools_and_format(r, m);
        break;
    case CN_CHAT_ROLE_DEVELOPER:
        st = cn_chat_prompt_control(r->prompt, CN_CHAT_USER, r->err);
        if (st == CN_OK) st = cn_chat_prompt_text(r->prompt, m->content, r->err);
        if (st == CN_OK) st = put_tools_and_format(r, m);
        break;
    case CN_CHAT_ROLE_USER: st = put_user(r, m); break;
    case CN_CHAT_ROLE_LATEST_REMINDER:
        st = cn_chat_prompt_control(r->prompt, CN_CHAT_LATEST_REMINDER, r->err);
        if (st == CN_OK) st = cn_chat_prompt_text(r->prompt, m->content, r->err);
        break;
    case CN_CHAT_ROLE_ASSISTANT: st = put_assistant(r, index); break;
    case CN_CHAT_ROLE_TOOL: st = cn_fail(r->err, CN_ERR_ARG, "unmerged tool message"); break;
    }
    if (st != CN_OK) return st;
    return put_transition(r, index);
}

cn_status cn_chat_encode(const cJSON *messages, const cn_chat_options *options, cn_chat_prompt *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    static const cn_chat_options defaults = {0};
    if (!options) options = &defaults;
    if (options->reasoning_effort < CN_CHAT_EFFORT_DEFAULT || options->reasoning_effort > CN_CHAT_EFFORT_MAX)
        return cn_fail(err, CN_ERR_ARG, "unknown reasoning effort %d", (int)options->reasoning_effort);
    cn_chat_conversation conversation;
    cn_status st = cn_chat_conversation_build(messages, options->tools, options->thinking, options->keep_reasoning,
                                              &conversation, err);
    renderer r = {.prompt = out, .conversation = &conversation, .options = options,
                  .last_user = cn_chat_last_user_index(&conversation), .err = err};
    if (st == CN_OK) st = cn_chat_bytes_append(&out->text, "", 0, err); /* an empty prompt is still a string */
    if (st == CN_OK && !options->omit_bos) st = cn_chat_prompt_control(out, CN_CHAT_BOS, err);
    for (size_t i = 0; i < conversation.count && st == CN_OK; i++) st = put_message(&r, i);
    cn_chat_conversation_free(&conversation);
    return st;
}

cn_status cn_chat_render_text(const cJSON *messages, const cn_chat_options *options, char **text, size_t *length,
                              cn_error *err) {
    *text = NULL;
    *length = 0;
    cn_chat_prompt prompt;
    cn_status st = cn_chat_encode(messages, options, &prompt, err);
    if (st == CN_OK) {
        *text = prompt.text.data;
        *length = prompt.text.length;
        prompt.text.data = NULL;
    }
    cn_chat_prompt_free(&prompt);
    return st;
}

cn_status cn_chat_effort_parse(const char *name, cn_chat_effort *out, cn_error *err) {
    if (name && strcmp(name, "low") == 0) *out = CN_CHAT_EFFORT_LOW;
    else if (name && strcmp(name, "high") == 0) *out = CN_CHAT_EFFORT_HIGH;
    else if (name && strcmp(name, "max") == 0) *out = CN_CHAT_EFFORT_MAX;
    else return cn_fail(err, CN_ERR_ARG, "reasoning effort \"%.32s\" is not low, high or max", name ? name : "(null)");
    return CN_OK;
}
