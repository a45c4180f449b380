/* Neutral deltas -> the Responses API's Response object and stream events, field for field as the
 * openai SDK (3.54.0) types define them (openai/types/responses/response*.py). */
#include "serve/responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *serve_responses_usage_json(const serve_usage *u) {
    cJSON *usage = cJSON_CreateObject();
    cJSON *in = usage ? cJSON_AddObjectToObject(usage, "input_tokens_details") : NULL;
    cJSON *out = usage ? cJSON_AddObjectToObject(usage, "output_tokens_details") : NULL;
    if (!in || !out || !cJSON_AddNumberToObject(usage, "input_tokens", (double)u->prompt_tokens) ||
        !cJSON_AddNumberToObject(in, "cached_tokens", (double)u->cached_tokens) ||
        !cJSON_AddNumberToObject(in, "cache_write_tokens", 0) ||
        !cJSON_AddNumberToObject(usage, "output_tokens", (double)u->completion_tokens) ||
        !cJSON_AddNumberToObject(out, "reasoning_tokens", (double)u->reasoning_tokens) ||
        !cJSON_AddNumberToObject(usage, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens))) {
        cJSON_Delete(usage);
        return NULL;
    }
    return usage;
}

/* ---- items ---- */

static const char *item_status(const serve_responses_reply *r, size_t index) {
    const serve_responses_item *it = &r->items[index];
    if (r->open && index == r->n_items - 1) return "in_progress";
    return it->incomplete ? "incomplete" : "completed";
}

static bool add_str(cJSON *o, const char *key, const char *value) { return cJSON_AddStringToObject(o, key, value) != NULL; }

/* The content part of a reasoning or message item, with its text so far. */
static cJSON *part_json(const serve_responses_item *it, bool with_text) {
    cJSON *p = cJSON_CreateObject();
    const char *text = with_text ? cn_output_bytes_str(&it->text) : "";
    bool ok = p && (it->kind == SERVE_RESPONSES_REASONING
                        ? add_str(p, "type", "reasoning_text") && add_str(p, "text", text)
                        : add_str(p, "type", "output_text") && add_str(p, "text", text) &&
                              cJSON_AddArrayToObject(p, "annotations") && cJSON_AddArrayToObject(p, "logprobs"));
    if (!ok) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* The item as output_item.added shows it (empty) or output_item.done and the Response hold it. */
static cJSON *item_json(const serve_responses_reply *r, size_t index, bool whole) {
    const serve_responses_item *it = &r->items[index];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = add_str(o, "id", it->id);
    switch (it->kind) {
    case SERVE_RESPONSES_REASONING: {
        cJSON *content = NULL;
        ok = ok && add_str(o, "type", "reasoning") && cJSON_AddArrayToObject(o, "summary") &&
             (content = cJSON_AddArrayToObject(o, "content"));
        if (ok && whole) {
            cJSON *part = part_json(it, true);
            ok = part && cJSON_AddItemToArray(content, part);
            if (!ok) cJSON_Delete(part);
        }
        break;
    }
    case SERVE_RESPONSES_MESSAGE: {
        cJSON *content = NULL;
        ok = ok && add_str(o, "type", "message") && add_str(o, "role", "assistant") &&
             (content = cJSON_AddArrayToObject(o, "content"));
        if (ok && whole) {
            cJSON *part = part_json(it, true);
            ok = part && cJSON_AddItemToArray(content, part);
            if (!ok) cJSON_Delete(part);
        }
        break;
    }
    case SERVE_RESPONSES_FUNCTION_CALL:
        ok = ok && add_str(o, "type", "function_call") && add_str(o, "call_id", it->call_id) &&
             add_str(o, "name", cn_output_bytes_str(&it->name)) &&
             add_str(o, "arguments", whole ? cn_output_bytes_str(&it->text) : "");
        break;
    }
    ok = ok && add_str(o, "status", whole ? item_status(r, index) : "in_progress");
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- events ---- */

static cJSON *event(serve_responses_reply *r, const char *type) {
    cJSON *e = cJSON_CreateObject();
    if (!e || !add_str(e, "type", type) || !cJSON_AddNumberToObject(e, "sequence_number", (double)r->sequence_number++)) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* An event about item index: item_id and output_index (and content_index for content events). */
static cJSON *item_event(serve_responses_reply *r, const char *type, size_t index, bool content_index) {
    cJSON *e = event(r, type);
    if (e && (!add_str(e, "item_id", r->items[index].id) || !cJSON_AddNumberToObject(e, "output_index", (double)index) ||
              (content_index && !cJSON_AddNumberToObject(e, "content_index", 0)))) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

static bool push(cJSON *events, cJSON *e) {
    if (e && cJSON_AddItemToArray(events, e)) return true;
    cJSON_Delete(e);
    return false;
}

static bool push_with(cJSON *events, cJSON *e, const char *key, cJSON *value) {
    if (!e || !value || !cJSON_AddItemToObject(e, key, value)) {
        cJSON_Delete(value);
        cJSON_Delete(e);
        return false;
    }
    return push(events, e);
}

static bool push_text(cJSON *events, cJSON *e, const char *key, const char *text, bool logprobs) {
    if (!e || !add_str(e, key, text) || (logprobs && !cJSON_AddArrayToObject(e, "logprobs"))) {
        cJSON_Delete(e);
        return false;
    }
    return push(events, e);
}

static bool close_item(serve_responses_reply *r, cJSON *events) {
    if (!r->open) return true;
    size_t index = r->n_items - 1;
    r->open = false;
    if (!events) return true;
    serve_responses_item *it = &r->items[index];
    const char *text = cn_output_bytes_str(&it->text);
    bool ok = true;
    switch (it->kind) {
    case SERVE_RESPONSES_REASONING:
        ok = push_text(events, item_event(r, "response.reasoning_text.done", index, true), "text", text, false);
        break;
    case SERVE_RESPONSES_MESSAGE:
        ok = push_text(events, item_event(r, "response.output_text.done", index, true), "text", text, true);
        break;
    case SERVE_RESPONSES_FUNCTION_CALL:
        ok = push_text(events, item_event(r, "response.function_call_arguments.done", index, false), "arguments", text, false);
        break;
    }
    if (ok && it->kind != SERVE_RESPONSES_FUNCTION_CALL)
        ok = push_with(events, item_event(r, "response.content_part.done", index, true), "part", part_json(it, true));
    if (ok) {
        cJSON *e = event(r, "response.output_item.done");
        ok = e && cJSON_AddNumberToObject(e, "output_index", (double)index) ? push_with(events, e, "item", item_json(r, index, true))
                                                                           : (cJSON_Delete(e), false);
    }
    return ok;
}

static const char *item_prefix(serve_responses_item_kind kind) {
    return kind == SERVE_RESPONSES_REASONING ? "rs_" : kind == SERVE_RESPONSES_MESSAGE ? "msg_" : "fc_";
}

static serve_responses_item *open_item(serve_responses_reply *r, serve_responses_item_kind kind, const serve_delta *d,
                                       cJSON *events) {
    if (!close_item(r, events)) return NULL;
    if (r->n_items == r->capacity) {
        size_t capacity = r->capacity ? r->capacity * 2 : 4;
        serve_responses_item *grown = realloc(r->items, capacity * sizeof *grown);
        if (!grown) return NULL;
        r->items = grown;
        r->capacity = capacity;
    }
    size_t index = r->n_items++;
    serve_responses_item *it = &r->items[index];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->call_index = -1;
    const char *rid = r->meta && r->meta->id ? r->meta->id : "";
    const char *underscore = strchr(rid, '_');
    snprintf(it->id, sizeof it->id, "%s%.40s_%zu", item_prefix(kind), underscore ? underscore + 1 : rid, index);
    if (kind == SERVE_RESPONSES_FUNCTION_CALL) {
        snprintf(it->call_id, sizeof it->call_id, "%s", d->call_id ? d->call_id : "");
        it->call_index = d->call_index;
        if (!cn_output_bytes_append(&it->name, d->text, d->len)) return NULL;
    }
    r->open = true;
    if (!events) return it;
    cJSON *e = event(r, "response.output_item.added");
    bool ok = e && cJSON_AddNumberToObject(e, "output_index", (double)index)
                  ? push_with(events, e, "item", item_json(r, index, false))
                  : (cJSON_Delete(e), false);
    if (ok && kind != SERVE_RESPONSES_FUNCTION_CALL)
        ok = push_with(events, item_event(r, "response.content_part.added", index, true), "part", part_json(it, false));
    return ok ? it : NULL;
}

static bool add_text(serve_responses_reply *r, serve_responses_item_kind kind, const serve_delta *d, cJSON *events) {
    serve_responses_item *it = r->open ? &r->items[r->n_items - 1] : NULL;
    if ((!it || it->kind != kind) && !(it = open_item(r, kind, d, events))) return false;
    if (!cn_output_bytes_append(&it->text, d->text, d->len)) return false;
    if (!events) return true;
    size_t index = r->n_items - 1;
    return kind == SERVE_RESPONSES_REASONING
               ? push_text(events, item_event(r, "response.reasoning_text.delta", index, true), "delta", d->text, false)
               : push_text(events, item_event(r, "response.output_text.delta", index, true), "delta", d->text, true);
}

static bool add_arguments(serve_responses_reply *r, const serve_delta *d, cJSON *events) {
    for (size_t i = r->n_items; i-- > 0;) {
        serve_responses_item *it = &r->items[i];
        if (it->kind != SERVE_RESPONSES_FUNCTION_CALL || it->call_index != d->call_index) continue;
        if (!cn_output_bytes_append(&it->text, d->text, d->len)) return false;
        return !events ||
               push_text(events, item_event(r, "response.function_call_arguments.delta", i, false), "delta", d->text, false);
    }
    return true;
}

static bool lifecycle_event(serve_responses_reply *r, const char *type, cJSON *events) {
    cJSON *e = event(r, type);
    return push_with(events, e, "response", e ? serve_responses_object(r) : NULL);
}

bool serve_responses_begin(serve_responses_reply *r, cJSON *events) {
    bool ok = lifecycle_event(r, "response.created", events) && lifecycle_event(r, "response.in_progress", events);
    if (!ok) r->out_of_memory = true;
    return ok;
}

bool serve_responses_reply_add(serve_responses_reply *r, const serve_delta *d, cJSON *events) {
    bool ok = true;
    switch (d->kind) {
    case SERVE_DELTA_REASONING: ok = add_text(r, SERVE_RESPONSES_REASONING, d, events); break;
    case SERVE_DELTA_CONTENT: ok = add_text(r, SERVE_RESPONSES_MESSAGE, d, events); break;
    case SERVE_DELTA_TOOL_CALL: ok = open_item(r, SERVE_RESPONSES_FUNCTION_CALL, d, events) != NULL; break;
    case SERVE_DELTA_TOOL_ARGUMENTS: ok = add_arguments(r, d, events); break;
    case SERVE_DELTA_FINISH:
        /* The item being written when max_output_tokens was reached is incomplete. */
        if (d->finish == SERVE_FINISH_LENGTH && r->open) r->items[r->n_items - 1].incomplete = true;
        ok = close_item(r, events);
        r->finished = true;
        r->finish = d->finish;
        r->usage = d->usage;
        if (ok && events)
            ok = lifecycle_event(r, d->finish == SERVE_FINISH_LENGTH ? "response.incomplete" : "response.completed", events);
        break;
    }
    if (!ok) r->out_of_memory = true;
    return ok;
}

void serve_responses_reply_free(serve_responses_reply *r) {
    for (size_t i = 0; i < r->n_items; i++) {
        cn_output_bytes_free(&r->items[i].text);
        cn_output_bytes_free(&r->items[i].name);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* ---- the Response ---- */

static bool arguments_are_an_object(const serve_responses_item *it) {
    cJSON *parsed = cJSON_ParseWithLength(cn_output_bytes_str(&it->text), it->text.len);
    bool object = cJSON_IsObject(parsed);
    cJSON_Delete(parsed);
    return object;
}

cJSON *serve_responses_object(const serve_responses_reply *r) {
    const serve_responses_meta *meta = r->meta;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *status = !r->finished ? "in_progress" : r->finish == SERVE_FINISH_LENGTH ? "incomplete" : "completed";
    cJSON *output = NULL;
    bool ok = add_str(o, "id", meta->id) && add_str(o, "object", "response") &&
              cJSON_AddNumberToObject(o, "created_at", (double)meta->created_at) && add_str(o, "status", status) &&
              cJSON_AddNullToObject(o, "error") && add_str(o, "model", meta->model) &&
              (output = cJSON_AddArrayToObject(o, "output"));
    if (ok && r->finished && r->finish == SERVE_FINISH_LENGTH) {
        cJSON *details = cJSON_AddObjectToObject(o, "incomplete_details");
        ok = details && add_str(details, "reason", "max_output_tokens");
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "incomplete_details") != NULL;
    }
    for (size_t i = 0; ok && r->finished && i < r->n_items; i++) {
        if (r->items[i].kind == SERVE_RESPONSES_FUNCTION_CALL && !arguments_are_an_object(&r->items[i])) continue;
        cJSON *item = item_json(r, i, true);
        ok = item && cJSON_AddItemToArray(output, item);
        if (!ok) cJSON_Delete(item);
    }
    for (const cJSON *e = meta->echo ? meta->echo->child : NULL; ok && e; e = e->next) {
        cJSON *copy = cJSON_Duplicate(e, true);
        ok = copy && cJSON_AddItemToObject(o, e->string, copy);
        if (!ok) cJSON_Delete(copy);
    }
    if (ok) {
        cJSON *usage = r->finished ? serve_responses_usage_json(&r->usage) : cJSON_CreateNull();
        ok = usage && cJSON_AddItemToObject(o, "usage", usage);
        if (!ok) cJSON_Delete(usage);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
