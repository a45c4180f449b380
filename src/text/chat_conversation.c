/* Validation and the reference encoder's preprocessing (merge_tool_messages,
 * sort_tool_results_by_call_order, _drop_thinking_messages and vLLM's attachment of request
 * tools), with one rule: where the reference would crash, print Python's "None" or silently drop
 * input, this returns an error instead (docs/chat.md lists those cases). */
#include "text/chat_conversation.h"

#include "text/chat_bytes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ROLE_NAMES[] = {"system", "user", "assistant", "developer", "latest_reminder", "tool"};
static const char *const TASK_NAMES[] = {"action", "query", "authority", "domain", "title", "read_url"};

typedef struct {
    cn_chat_conversation *conversation;
    cn_error *err;
} builder;

static cn_status keep_owned(cn_chat_conversation *c, char *s, cn_error *err) {
    if (c->owned_count == c->owned_capacity) {
        size_t capacity = c->owned_capacity ? c->owned_capacity * 2 : 16;
        char **grown = realloc(c->owned, capacity * sizeof *grown);
        if (!grown) {
            free(s);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory building the conversation");
        }
        c->owned = grown;
        c->owned_capacity = capacity;
    }
    c->owned[c->owned_count++] = s;
    return CN_OK;
}

static cn_status fail_at(cn_error *err, cn_status code, size_t index, const char *role, const char *what) {
    return cn_fail(err, code, "message %zu (%s): %s", index, role, what);
}

/* Content as flatten_content_blocks reads it: a string, or parts joined by a blank line (text
 * parts by their text, plain strings as themselves). Images are refused: this engine is text-only. */
static cn_status flatten_content(const cJSON *content, size_t index, const char *role, cn_chat_conversation *c,
                                 const char **out, cn_error *err) {
    *out = NULL;
    if (!content || cJSON_IsNull(content)) return CN_OK;
    if (cJSON_IsString(content)) {
        *out = content->valuestring;
        return CN_OK;
    }
    if (!cJSON_IsArray(content)) return fail_at(err, CN_ERR_ARG, index, role, "content must be a string or a list of parts");
    cn_chat_bytes joined = {0};
    cn_status st = cn_chat_bytes_append(&joined, "", 0, err);
    size_t part_index = 0;
    for (const cJSON *part = content->child; part && st == CN_OK; part = part->next, part_index++) {
        const char *text = NULL;
        if (cJSON_IsString(part)) {
            text = part->valuestring;
        } else if (cJSON_IsObject(part)) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
            const char *type_name = cJSON_IsString(type) ? type->valuestring : NULL;
            if (type_name && strcmp(type_name, "text") == 0) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!t) text = "";
                else if (cJSON_IsString(t)) text = t->valuestring;
            } else if (type_name && (strcmp(type_name, "image") == 0 || strcmp(type_name, "image_url") == 0)) {
                st = cn_fail(err, CN_ERR_UNSUPPORTED, "message %zu (%s): content part %zu is an image; images are not supported",
                             index, role, part_index);
                break;
            } else {
                st = cn_fail(err, CN_ERR_ARG, "message %zu (%s): content part %zu has unsupported type %s", index, role,
                             part_index, type_name ? type_name : "(none)");
                break;
            }
        }
        if (!text) {
            st = cn_fail(err, CN_ERR_ARG, "message %zu (%s): content part %zu has no text string", index, role, part_index);
            break;
        }
        if (part != content->child) st = cn_chat_bytes_append_str(&joined, "\n\n", err);
        if (st == CN_OK) st = cn_chat_bytes_append_str(&joined, text, err);
    }
    if (st != CN_OK) {
        cn_chat_bytes_free(&joined);
        return st;
    }
    if ((st = keep_owned(c, joined.data, err)) != CN_OK) return st;
    *out = joined.data;
    return CN_OK;
}

/* A tool message's content: a string, or parts where text parts give their text and any other
 * part the reference's "[Unsupported TYPE]" marker, joined by a blank line. */
static cn_status flatten_tool_content(const cJSON *content, size_t index, cn_chat_conversation *c, const char **out,
                                      cn_error *err) {
    if (!content || cJSON_IsNull(content)) return fail_at(err, CN_ERR_ARG, index, "tool", "tool result has no content");
    if (cJSON_IsString(content)) {
        *out = content->valuestring;
        return CN_OK;
    }
    if (!cJSON_IsArray(content)) return fail_at(err, CN_ERR_ARG, index, "tool", "content must be a string or a list of parts");
    cn_chat_bytes joined = {0};
    cn_status st = cn_chat_bytes_append(&joined, "", 0, err);
    for (const cJSON *part = content->child; part && st == CN_OK; part = part->next) {
        if (!cJSON_IsObject(part)) {
            st = fail_at(err, CN_ERR_ARG, index, "tool", "content parts must be objects");
            break;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (type && !cJSON_IsNull(type) && !cJSON_IsString(type)) {
            st = fail_at(err, CN_ERR_ARG, index, "tool", "content part type must be a string");
            break;
        }
        if (part != content->child) st = cn_chat_bytes_append_str(&joined, "\n\n", err);
        if (st != CN_OK) break;
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (t && !cJSON_IsString(t)) {
                st = fail_at(err, CN_ERR_ARG, index, "tool", "text part without a text string");
                break;
            }
            st = cn_chat_bytes_append_str(&joined, t ? t->valuestring : "", err);
        } else {
            st = cn_chat_bytes_append_str(&joined, "[Unsupported ", err);
            if (st == CN_OK) st = cn_chat_bytes_append_str(&joined, cJSON_IsString(type) ? type->valuestring : "None", err);
            if (st == CN_OK) st = cn_chat_bytes_append_str(&joined, "]", err);
        }
    }
    if (st != CN_OK) {
        cn_chat_bytes_free(&joined);
        return st;
    }
    if ((st = keep_owned(c, joined.data, err)) != CN_OK) return st;
    *out = joined.data;
    return CN_OK;
}

static cn_status check_tools(const cJSON *tools, const char *where, cn_error *err) {
    if (!cJSON_IsArray(tools)) return cn_fail(err, CN_ERR_ARG, "%s: tools must be an array", where);
    size_t i = 0;
    for (const cJSON *tool = tools->child; tool; tool = tool->next, i++)
        if (!cJSON_IsObject(tool) || !cJSON_GetObjectItemCaseSensitive(tool, "function"))
            return cn_fail(err, CN_ERR_ARG, "%s: tool %zu has no \"function\"", where, i);
    return CN_OK;
}

/* Python truthiness, which decides whether response_format is rendered. */
static bool json_truthy(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return false;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0 || isnan(v->valuedouble);
    if (cJSON_IsString(v)) return v->valuestring && v->valuestring[0];
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
    return true;
}

static cn_status check_tool_calls(const cJSON *calls, size_t index, cn_error *err) {
    if (!cJSON_IsArray(calls)) return fail_at(err, CN_ERR_ARG, index, "assistant", "tool_calls must be an array");
    size_t i = 0;
    for (const cJSON *call = calls->child; call; call = call->next, i++) {
        const cJSON *function = cJSON_IsObject(call) ? cJSON_GetObjectItemCaseSensitive(call, "function") : NULL;
        if (!cJSON_IsObject(function))
            return cn_fail(err, CN_ERR_ARG, "message %zu (assistant): tool call %zu has no \"function\" object", index, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(function, "name");
        if (!cJSON_IsString(name))
            return cn_fail(err, CN_ERR_ARG, "message %zu (assistant): tool call %zu has no name string", index, i);
        const cJSON *arguments = cJSON_GetObjectItemCaseSensitive(function, "arguments");
        if (!cJSON_IsString(arguments) && !cJSON_IsObject(arguments))
            return cn_fail(err, CN_ERR_ARG,
                           "message %zu (assistant): tool call %zu (%s) needs \"arguments\" as a JSON object or a string holding one",
                           index, i, name->valuestring);
    }
    return CN_OK;
}

static cn_status read_task(const cJSON *msg, size_t index, const char *role, cn_chat_task *out, cn_error *err) {
    *out = CN_CHAT_TASK_NONE;
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(msg, "task");
    if (!task || cJSON_IsNull(task)) return CN_OK;
    if (cJSON_IsString(task))
        for (int i = 0; i < (int)(sizeof TASK_NAMES / sizeof TASK_NAMES[0]); i++)
            if (strcmp(task->valuestring, TASK_NAMES[i]) == 0) {
                *out = (cn_chat_task)i;
                return CN_OK;
            }
    return fail_at(err, CN_ERR_ARG, index, role,
                   "task must be one of action, query, authority, domain, title, read_url");
}

/* Reads one caller message into m (roles as given; tool messages not merged yet). */
static cn_status read_message(const cJSON *msg, size_t index, cn_chat_conversation *c, cn_chat_message *m,
                              cn_error *err) {
    memset(m, 0, sizeof *m);
    m->source_index = index;
    if (!cJSON_IsObject(msg)) return cn_fail(err, CN_ERR_ARG, "message %zu: not a JSON object", index);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
    if (!cJSON_IsString(role)) return cn_fail(err, CN_ERR_ARG, "message %zu: no role string", index);
    int r = -1;
    for (int i = 0; i < (int)(sizeof ROLE_NAMES / sizeof ROLE_NAMES[0]); i++)
        if (strcmp(role->valuestring, ROLE_NAMES[i]) == 0) r = i;
    if (r < 0)
        return cn_fail(err, CN_ERR_ARG,
                       "message %zu: unknown role \"%.64s\" (expected system, user, assistant, developer, tool or latest_reminder)",
                       index, role->valuestring);
    m->role = (cn_chat_role)r;
    const char *name = ROLE_NAMES[r];
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    cn_status st = read_task(msg, index, name, &m->task, err);
    if (st != CN_OK) return st;

    if (m->role == CN_CHAT_ROLE_TOOL) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "tool_call_id");
        if (id && !cJSON_IsNull(id) && !cJSON_IsString(id)) return fail_at(err, CN_ERR_ARG, index, name, "tool_call_id must be a string");
        const char *text = NULL;
        if ((st = flatten_tool_content(content, index, c, &text, err)) != CN_OK) return st;
        /* The block is attached while merging; stash what it needs. */
        m->content = text;
        m->reasoning = cJSON_IsString(id) ? id->valuestring : "";
        return CN_OK;
    }
    if ((st = flatten_content(content, index, name, c, &m->content, err)) != CN_OK) return st;
    if (m->role == CN_CHAT_ROLE_USER || m->role == CN_CHAT_ROLE_LATEST_REMINDER) {
        if (!m->content) return fail_at(err, CN_ERR_ARG, index, name, "no content");
        return CN_OK; /* a user message's other fields do not survive merging */
    }
    if (m->role == CN_CHAT_ROLE_DEVELOPER && (!m->content || !m->content[0]))
        return fail_at(err, CN_ERR_ARG, index, name, "developer message needs non-empty content");

    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(msg, "tools");
    if (tools && !cJSON_IsNull(tools)) {
        char where[64];
        snprintf(where, sizeof where, "message %zu (%s)", index, name);
        if ((st = check_tools(tools, where, err)) != CN_OK) return st;
        if (tools->child) m->tools = tools;
    }
    const cJSON *response_format = cJSON_GetObjectItemCaseSensitive(msg, "response_format");
    if (json_truthy(response_format)) m->response_format = response_format;

    if (m->role == CN_CHAT_ROLE_ASSISTANT) {
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
        if (calls && !cJSON_IsNull(calls)) {
            if ((st = check_tool_calls(calls, index, err)) != CN_OK) return st;
            if (calls->child) m->tool_calls = calls;
        }
        const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(msg, "reasoning");
        if (!reasoning) reasoning = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content");
        if (reasoning && !cJSON_IsNull(reasoning)) {
            if (!cJSON_IsString(reasoning)) return fail_at(err, CN_ERR_ARG, index, name, "reasoning must be a string");
            m->reasoning = reasoning->valuestring;
        }
        const cJSON *wo_eos = cJSON_GetObjectItemCaseSensitive(msg, "wo_eos");
        if (wo_eos && !cJSON_IsNull(wo_eos) && !cJSON_IsBool(wo_eos))
            return fail_at(err, CN_ERR_ARG, index, name, "wo_eos must be true or false");
        m->wo_eos = cJSON_IsTrue(wo_eos);
    }
    return CN_OK;
}

static cn_status append_block(cn_chat_message *m, cn_chat_block block, cn_error *err) {
    cn_chat_block *grown = realloc(m->blocks, (m->block_count + 1) * sizeof *grown);
    if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory merging messages");
    m->blocks = grown;
    m->blocks[m->block_count++] = block;
    return CN_OK;
}

/* merge_tool_messages: a tool result joins the previous merged user turn or starts one; a user
 * message joins the previous user turn unless that turn carries a task (and then loses its own). */
static cn_status merge_into(cn_chat_conversation *c, cn_chat_message *m, cn_error *err) {
    cn_chat_message *last = c->count ? &c->messages[c->count - 1] : NULL;
    bool last_is_user = last && last->role == CN_CHAT_ROLE_USER;
    if (m->role == CN_CHAT_ROLE_TOOL) {
        cn_chat_block block = {.is_tool_result = true, .text = m->content, .tool_use_id = m->reasoning};
        if (last_is_user) return append_block(last, block, err);
        cn_chat_message user = {.role = CN_CHAT_ROLE_USER, .source_index = m->source_index, .task = CN_CHAT_TASK_NONE};
        c->messages[c->count++] = user;
        return append_block(&c->messages[c->count - 1], block, err);
    }
    if (m->role == CN_CHAT_ROLE_USER) {
        cn_chat_block block = {.is_tool_result = false, .text = m->content, .tool_use_id = ""};
        if (last_is_user && last->task == CN_CHAT_TASK_NONE) return append_block(last, block, err);
        cn_chat_message user = {.role = CN_CHAT_ROLE_USER, .source_index = m->source_index, .task = m->task};
        c->messages[c->count++] = user;
        return append_block(&c->messages[c->count - 1], block, err);
    }
    c->messages[c->count++] = *m;
    return CN_OK;
}

/* The id a tool call is matched by: "id", or else function.id (reference: tc.get("id") or ...). */
static const char *tool_call_id(const cJSON *call) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
    if (cJSON_IsString(id) && id->valuestring[0]) return id->valuestring;
    if (id && json_truthy(id)) return NULL; /* a non-string id matches nothing */
    const cJSON *function = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *fid = cJSON_GetObjectItemCaseSensitive(function, "id");
    return cJSON_IsString(fid) && fid->valuestring[0] ? fid->valuestring : NULL;
}

/* Position of the call with this id in the latest tool-calling assistant turn: the last call with
 * that id wins, and unknown ids sort as 0 (the reference's dict.get(id, 0)). */
static long call_order(const cJSON *calls, const char *id) {
    long found = 0, i = 0;
    for (const cJSON *call = calls->child; call; call = call->next, i++) {
        const char *cid = tool_call_id(call);
        if (cid && strcmp(cid, id) == 0) found = i;
    }
    return found;
}

static bool any_call_has_id(const cJSON *calls) {
    for (const cJSON *call = calls->child; call; call = call->next)
        if (tool_call_id(call)) return true;
    return false;
}

/* sort_tool_results_by_call_order: a stable sort of each user turn's tool results by call order,
 * the results taking the slots tool results had. */
static cn_status sort_tool_results(cn_chat_conversation *c, cn_error *err) {
    const cJSON *calls = NULL;
    for (size_t i = 0; i < c->count; i++) {
        cn_chat_message *m = &c->messages[i];
        if (m->role == CN_CHAT_ROLE_ASSISTANT && m->tool_calls) {
            calls = any_call_has_id(m->tool_calls) ? m->tool_calls : NULL;
            continue;
        }
        if (m->role != CN_CHAT_ROLE_USER || !calls || m->block_count < 2) continue;
        size_t *slots = malloc(m->block_count * sizeof *slots);
        cn_chat_block *sorted = malloc(m->block_count * sizeof *sorted);
        long *keys = malloc(m->block_count * sizeof *keys);
        if (!slots || !sorted || !keys) {
            free(slots), free(sorted), free(keys);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory sorting tool results");
        }
        size_t n = 0;
        for (size_t b = 0; b < m->block_count; b++)
            if (m->blocks[b].is_tool_result) slots[n++] = b;
        for (size_t k = 0; k < n; k++) {
            cn_chat_block block = m->blocks[slots[k]];
            long key = call_order(calls, block.tool_use_id);
            size_t j = k;
            while (j > 0 && keys[j - 1] > key) { /* insertion sort: stable, like Python's sorted */
                sorted[j] = sorted[j - 1];
                keys[j] = keys[j - 1];
                j--;
            }
            sorted[j] = block;
            keys[j] = key;
        }
        for (size_t k = 0; k < n; k++) m->blocks[slots[k]] = sorted[k];
        free(slots), free(sorted), free(keys);
    }
    return CN_OK;
}

long cn_chat_last_user_index(const cn_chat_conversation *c) {
    for (size_t i = c->count; i > 0; i--)
        if (c->messages[i - 1].role == CN_CHAT_ROLE_USER || c->messages[i - 1].role == CN_CHAT_ROLE_DEVELOPER)
            return (long)(i - 1);
    return -1;
}

/* _drop_thinking_messages: before the last user/developer turn, assistant turns lose their
 * reasoning and developer turns disappear. */
static void drop_earlier_thinking(cn_chat_conversation *c) {
    long last_user = cn_chat_last_user_index(c);
    size_t kept = 0;
    for (size_t i = 0; i < c->count; i++) {
        cn_chat_message m = c->messages[i];
        if ((long)i < last_user) {
            if (m.role == CN_CHAT_ROLE_DEVELOPER) continue;
            if (m.role == CN_CHAT_ROLE_ASSISTANT) m.reasoning = NULL;
        }
        c->messages[kept++] = m;
    }
    c->count = kept;
}

cn_status cn_chat_conversation_build(const cJSON *messages, const cJSON *request_tools, bool thinking,
                                     bool keep_reasoning, cn_chat_conversation *c, cn_error *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsArray(messages)) return cn_fail(err, CN_ERR_ARG, "messages must be a JSON array");
    cn_status st;
    bool attach_tools = false;
    if (request_tools && !cJSON_IsNull(request_tools)) {
        if ((st = check_tools(request_tools, "request", err)) != CN_OK) return st;
        attach_tools = request_tools->child != NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(messages);
    c->messages = calloc(n + 1, sizeof *c->messages); /* +1: a system message made up for tools */
    if (!c->messages) return cn_fail(err, CN_ERR_NOMEM, "out of memory for %zu messages", n);

    /* vLLM attaches request tools to the first system message, or puts an empty one first. */
    bool tools_placed = !attach_tools;
    bool has_system = false;
    for (const cJSON *msg = messages->child; msg; msg = msg->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        if (cJSON_IsString(role) && strcmp(role->valuestring, "system") == 0) has_system = true;
    }
    if (attach_tools && !has_system) {
        c->messages[c->count++] =
            (cn_chat_message){.role = CN_CHAT_ROLE_SYSTEM, .tools = request_tools, .task = CN_CHAT_TASK_NONE};
        tools_placed = true;
    }
    size_t index = 0;
    for (const cJSON *msg = messages->child; msg; msg = msg->next, index++) {
        cn_chat_message m;
        if ((st = read_message(msg, index, c, &m, err)) != CN_OK) return st;
        if (!tools_placed && m.role == CN_CHAT_ROLE_SYSTEM) {
            m.tools = request_tools;
            tools_placed = true;
        }
        if ((st = merge_into(c, &m, err)) != CN_OK) return st;
    }
    if ((st = sort_tool_results(c, err)) != CN_OK) return st;
    c->drop_reasoning = !keep_reasoning;
    for (size_t i = 0; i < c->count; i++)
        if (c->messages[i].tools) c->drop_reasoning = false;
    if (thinking && c->drop_reasoning) drop_earlier_thinking(c);
    return CN_OK;
}

void cn_chat_conversation_free(cn_chat_conversation *c) {
    if (c->messages)
        for (size_t i = 0; i < c->count; i++) free(c->messages[i].blocks);
    free(c->messages);
    for (size_t i = 0; i < c->owned_count; i++) free(c->owned[i]);
    free(c->owned);
    memset(c, 0, sizeof *c);
}
