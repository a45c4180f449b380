/* Neutral deltas -> the Messages API's Message object and stream events (Anthropic API reference,
 * "Messages" and "Streaming Messages"); errors in its error shape. */
#include "serve/anthropic.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

cJSON *serve_anthropic_error_json(int status, const char *message) {
    const char *type;
    switch (status) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 413: type = "request_too_large"; break;
    case 429: type = "rate_limit_error"; break;
    case 503:
    case 529: type = "overloaded_error"; break;
    default: type = status >= 500 ? "api_error" : "invalid_request_error"; break;
    }
    cJSON *root = cJSON_CreateObject(), *error = cJSON_CreateObject();
    if (!root || !error || !cJSON_AddStringToObject(root, "type", "error") || !cJSON_AddStringToObject(error, "type", type) ||
        !cJSON_AddStringToObject(error, "message", message ? message : "")) {
        cJSON_Delete(root);
        cJSON_Delete(error);
        return NULL;
    }
    cJSON_AddItemToObject(root, "error", error);
    return root;
}

int serve_anthropic_status_for(cn_status st) {
    switch (st) {
    case CN_OK: return 200;
    case CN_ERR_ARG:
    case CN_ERR_UNSUPPORTED:
    case CN_ERR_FORMAT: return 400;
    case CN_ERR_BUSY: return 529;
    default: return 500;
    }
}

void serve_anthropic_thinking_signature(const char *thinking, size_t len, char out[65]) {
    unsigned char digest[32];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)thinking, len, NULL, 0);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

const char *serve_anthropic_stop_reason(serve_finish finish, const char *stop_string) {
    switch (finish) {
    case SERVE_FINISH_LENGTH: return "max_tokens";
    case SERVE_FINISH_TOOL_CALLS: return "tool_use";
    case SERVE_FINISH_STOP: break;
    }
    return stop_string ? "stop_sequence" : "end_turn";
}

cJSON *serve_anthropic_usage_json(const serve_usage *u) {
    cJSON *usage = cJSON_CreateObject();
    int64_t cached = u->cached_tokens < u->prompt_tokens ? u->cached_tokens : u->prompt_tokens;
    if (!usage || !cJSON_AddNumberToObject(usage, "input_tokens", (double)(u->prompt_tokens - cached)) ||
        !cJSON_AddNumberToObject(usage, "cache_creation_input_tokens", 0) ||
        !cJSON_AddNumberToObject(usage, "cache_read_input_tokens", (double)cached) ||
        !cJSON_AddNumberToObject(usage, "output_tokens", (double)u->completion_tokens)) {
        cJSON_Delete(usage);
        return NULL;
    }
    return usage;
}

/* ---- the reply as blocks, and the events that build it ---- */

static bool add_event(cJSON *events, cJSON *event) {
    if (!event) return false;
    if (!events) {
        cJSON_Delete(event);
        return true;
    }
    if (!cJSON_AddItemToArray(events, event)) {
        cJSON_Delete(event);
        return false;
    }
    return true;
}

static cJSON *event_object(const char *type, int index) {
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddStringToObject(e, "type", type) || (index >= 0 && !cJSON_AddNumberToObject(e, "index", index))) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* content_block_stop for the open block; a thinking block gets its signature_delta first, as
 * Anthropic sends it. */
static bool close_block(serve_anthropic_reply *r, cJSON *events) {
    if (!r->open) return true;
    r->open = false;
    int index = (int)r->n_blocks - 1;
    serve_anthropic_block *b = &r->blocks[index];
    if (b->kind == SERVE_ANTHROPIC_THINKING && events) {
        char signature[65];
        serve_anthropic_thinking_signature(cn_output_bytes_str(&b->text), b->text.len, signature);
        cJSON *e = event_object("content_block_delta", index);
        cJSON *delta = e ? cJSON_AddObjectToObject(e, "delta") : NULL;
        if (!delta || !cJSON_AddStringToObject(delta, "type", "signature_delta") ||
            !cJSON_AddStringToObject(delta, "signature", signature)) {
            cJSON_Delete(e);
            return false;
        }
        if (!add_event(events, e)) return false;
    }
    return !events || add_event(events, event_object("content_block_stop", index));
}

/* The block object as content_block_start shows it (empty) or the Message holds it (whole). */
static cJSON *block_json(const serve_anthropic_block *b, bool whole) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = true;
    switch (b->kind) {
    case SERVE_ANTHROPIC_THINKING: {
        char signature[65] = "";
        if (whole) serve_anthropic_thinking_signature(cn_output_bytes_str(&b->text), b->text.len, signature);
        ok = cJSON_AddStringToObject(o, "type", "thinking") &&
             cJSON_AddStringToObject(o, "thinking", whole ? cn_output_bytes_str(&b->text) : "") &&
             cJSON_AddStringToObject(o, "signature", signature);
        break;
    }
    case SERVE_ANTHROPIC_TEXT:
        ok = cJSON_AddStringToObject(o, "type", "text") && cJSON_AddStringToObject(o, "text", whole ? cn_output_bytes_str(&b->text) : "");
        break;
    case SERVE_ANTHROPIC_TOOL_USE: {
        cJSON *input = NULL;
        if (whole) {
            /* Strict JSON (no NaN): the arguments text as the other adapters return it. Checked to
               be an object, then passed on verbatim: a parsed copy would print its numbers from
               doubles, and an integer of more than 15 digits would come back changed. */
            const char *text = b->text.len ? cn_output_bytes_str(&b->text) : "{}";
            cJSON *parsed = cJSON_ParseWithLength(text, b->text.len ? b->text.len : 2);
            bool object = cJSON_IsObject(parsed);
            cJSON_Delete(parsed);
            if (!object) {
                cJSON_Delete(o);
                return cJSON_CreateNull(); /* left out by the caller */
            }
            input = cJSON_CreateRaw(text);
        } else {
            input = cJSON_CreateObject();
        }
        ok = cJSON_AddStringToObject(o, "type", "tool_use") && cJSON_AddStringToObject(o, "id", b->id) &&
             cJSON_AddStringToObject(o, "name", cn_output_bytes_str(&b->name)) && input &&
             cJSON_AddItemToObject(o, "input", input);
        if (!ok && input && !cJSON_GetObjectItemCaseSensitive(o, "input")) cJSON_Delete(input);
        break;
    }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static serve_anthropic_block *open_block(serve_anthropic_reply *r, serve_anthropic_block_kind kind, cJSON *events) {
    if (!close_block(r, events)) return NULL;
    if (r->n_blocks == r->capacity) {
        size_t capacity = r->capacity ? r->capacity * 2 : 4;
        serve_anthropic_block *grown = realloc(r->blocks, capacity * sizeof *grown);
        if (!grown) return NULL;
        r->blocks = grown;
        r->capacity = capacity;
    }
    serve_anthropic_block *b = &r->blocks[r->n_blocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->call_index = -1;
    r->open = true;
    return b;
}

static bool start_event(serve_anthropic_reply *r, cJSON *events) {
    if (!events) return true;
    const serve_anthropic_block *b = &r->blocks[r->n_blocks - 1];
    cJSON *e = event_object("content_block_start", (int)r->n_blocks - 1);
    cJSON *block = e ? block_json(b, false) : NULL;
    if (!block || !cJSON_AddItemToObject(e, "content_block", block)) {
        cJSON_Delete(block);
        cJSON_Delete(e);
        return false;
    }
    return add_event(events, e);
}

static bool delta_event(cJSON *events, int index, const char *type, const char *key, const char *text) {
    if (!events) return true;
    cJSON *e = event_object("content_block_delta", index);
    cJSON *delta = e ? cJSON_AddObjectToObject(e, "delta") : NULL;
    if (!delta || !cJSON_AddStringToObject(delta, "type", type) || !cJSON_AddStringToObject(delta, key, text)) {
        cJSON_Delete(e);
        return false;
    }
    return add_event(events, e);
}

static bool add_text(serve_anthropic_reply *r, serve_anthropic_block_kind kind, const serve_delta *d, cJSON *events) {
    serve_anthropic_block *b = r->open ? &r->blocks[r->n_blocks - 1] : NULL;
    if (!b || b->kind != kind) {
        if (!(b = open_block(r, kind, events)) || !start_event(r, events)) return false;
    }
    if (!cn_output_bytes_append(&b->text, d->text, d->len)) return false;
    return kind == SERVE_ANTHROPIC_THINKING ? delta_event(events, (int)r->n_blocks - 1, "thinking_delta", "thinking", d->text)
                                           : delta_event(events, (int)r->n_blocks - 1, "text_delta", "text", d->text);
}

static bool finish(serve_anthropic_reply *r, const serve_delta *d, cJSON *events) {
    if (!close_block(r, events)) return false;
    r->finished = true;
    r->finish = d->finish;
    r->usage = d->usage;
    if (d->stop_string && !(r->stop_sequence = strdup(d->stop_string))) return false;
    if (!events) return true;
    cJSON *e = event_object("message_delta", -1);
    cJSON *delta = e ? cJSON_AddObjectToObject(e, "delta") : NULL;
    cJSON *usage = serve_anthropic_usage_json(&r->usage);
    bool ok = delta && usage &&
              cJSON_AddStringToObject(delta, "stop_reason", serve_anthropic_stop_reason(r->finish, r->stop_sequence)) &&
              (r->stop_sequence ? cJSON_AddStringToObject(delta, "stop_sequence", r->stop_sequence)
                                : cJSON_AddNullToObject(delta, "stop_sequence")) &&
              cJSON_AddItemToObject(e, "usage", usage);
    if (!ok) {
        if (e && !cJSON_GetObjectItemCaseSensitive(e, "usage")) cJSON_Delete(usage);
        cJSON_Delete(e);
        return false;
    }
    return add_event(events, e) && add_event(events, event_object("message_stop", -1));
}

bool serve_anthropic_reply_add(serve_anthropic_reply *r, const serve_delta *d, cJSON *events) {
    bool ok = true;
    switch (d->kind) {
    case SERVE_DELTA_REASONING: ok = add_text(r, SERVE_ANTHROPIC_THINKING, d, events); break;
    case SERVE_DELTA_CONTENT: ok = add_text(r, SERVE_ANTHROPIC_TEXT, d, events); break;
    case SERVE_DELTA_TOOL_CALL: {
        serve_anthropic_block *b = open_block(r, SERVE_ANTHROPIC_TOOL_USE, events);
        ok = b && cn_output_bytes_append(&b->name, d->text, d->len);
        if (ok) {
            snprintf(b->id, sizeof b->id, "%s", d->call_id ? d->call_id : "");
            b->call_index = d->call_index;
            ok = start_event(r, events);
        }
        break;
    }
    case SERVE_DELTA_TOOL_ARGUMENTS: {
        /* Fragments belong to the call with their index; it is the open block in practice. */
        for (size_t i = r->n_blocks; i-- > 0;) {
            serve_anthropic_block *b = &r->blocks[i];
            if (b->kind != SERVE_ANTHROPIC_TOOL_USE || b->call_index != d->call_index) continue;
            ok = cn_output_bytes_append(&b->text, d->text, d->len) &&
                 delta_event(events, (int)i, "input_json_delta", "partial_json", d->text);
            break;
        }
        break;
    }
    case SERVE_DELTA_FINISH: ok = finish(r, d, events); break;
    }
    if (!ok) r->out_of_memory = true;
    return ok;
}

void serve_anthropic_reply_free(serve_anthropic_reply *r) {
    for (size_t i = 0; i < r->n_blocks; i++) {
        cn_output_bytes_free(&r->blocks[i].text);
        cn_output_bytes_free(&r->blocks[i].name);
    }
    free(r->blocks);
    free(r->stop_sequence);
    memset(r, 0, sizeof *r);
}

/* ---- the Message ---- */

static cJSON *message_shell(const serve_anthropic_meta *meta) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "id", meta->id) || !cJSON_AddStringToObject(m, "type", "message") ||
        !cJSON_AddStringToObject(m, "role", "assistant") || !cJSON_AddStringToObject(m, "model", meta->model) ||
        !cJSON_AddArrayToObject(m, "content")) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

cJSON *serve_anthropic_message_start(const serve_anthropic_meta *meta, int64_t prompt_tokens) {
    cJSON *e = cJSON_CreateObject();
    cJSON *m = message_shell(meta);
    serve_usage u = {.prompt_tokens = prompt_tokens};
    cJSON *usage = serve_anthropic_usage_json(&u);
    bool ok = e && m && usage && cJSON_AddStringToObject(e, "type", "message_start") && cJSON_AddNullToObject(m, "stop_reason") &&
              cJSON_AddNullToObject(m, "stop_sequence") && cJSON_AddItemToObject(m, "usage", usage);
    if (!ok) cJSON_Delete(usage);
    if (ok && cJSON_AddItemToObject(e, "message", m)) return e;
    if (!ok) cJSON_Delete(m);
    cJSON_Delete(e);
    return NULL;
}

cJSON *serve_anthropic_message(const serve_anthropic_meta *meta, const serve_anthropic_reply *r) {
    cJSON *m = message_shell(meta);
    if (!m) return NULL;
    cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    for (size_t i = 0; i < r->n_blocks; i++) {
        cJSON *block = block_json(&r->blocks[i], true);
        if (cJSON_IsNull(block)) {
            cJSON_Delete(block);
            continue;
        }
        if (!block || !cJSON_AddItemToArray(content, block)) {
            cJSON_Delete(block);
            cJSON_Delete(m);
            return NULL;
        }
    }
    cJSON *usage = serve_anthropic_usage_json(&r->usage);
    bool ok = usage && cJSON_AddStringToObject(m, "stop_reason", serve_anthropic_stop_reason(r->finish, r->stop_sequence)) &&
              (r->stop_sequence ? cJSON_AddStringToObject(m, "stop_sequence", r->stop_sequence)
                                : cJSON_AddNullToObject(m, "stop_sequence")) &&
              cJSON_AddItemToObject(m, "usage", usage);
    if (!ok) {
        if (!cJSON_GetObjectItemCaseSensitive(m, "usage")) cJSON_Delete(usage);
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}
