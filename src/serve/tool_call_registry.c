/* Tool-call id -> exact DSML bytes, a small LRU under one mutex. Lookups are linear over at most
 * `capacity` entries with the id's hash compared first: a server remembers a few thousand calls
 * and each request looks up the handful its history carries. */
#include "serve/tool_call_registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "text/chat_json.h"

typedef struct {
    bool used;
    uint64_t hash;
    char id[SERVE_TOOL_CALL_ID_MAX];
    char *name;
    cJSON *arguments; /* parsed once, compared as a JSON value */
    char *raw;        /* NUL-terminated, no NUL inside */
    size_t bytes;
    uint64_t last_use;
} registry_entry;

struct serve_tool_calls {
    pthread_mutex_t lock;
    registry_entry *entries;
    size_t capacity, max_bytes, bytes, count;
    uint64_t clock;
};

static uint64_t hash_id(const char *id) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

cn_status serve_tool_calls_create(size_t capacity, size_t max_bytes, serve_tool_calls **out, cn_error *err) {
    *out = NULL;
    if (capacity == 0 || max_bytes == 0) return cn_fail(err, CN_ERR_ARG, "tool-call registry needs a capacity and a byte budget");
    serve_tool_calls *r = calloc(1, sizeof *r);
    if (r) r->entries = calloc(capacity, sizeof *r->entries);
    if (!r || !r->entries) {
        free(r);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for a tool-call registry of %zu entries", capacity);
    }
    pthread_mutex_init(&r->lock, NULL);
    r->capacity = capacity;
    r->max_bytes = max_bytes;
    *out = r;
    return CN_OK;
}

static void drop_entry(serve_tool_calls *r, registry_entry *e) {
    free(e->name);
    free(e->raw);
    cJSON_Delete(e->arguments);
    r->bytes -= e->bytes;
    r->count--;
    memset(e, 0, sizeof *e);
}

void serve_tool_calls_free(serve_tool_calls *r) {
    if (!r) return;
    for (size_t i = 0; i < r->capacity; i++)
        if (r->entries[i].used) drop_entry(r, &r->entries[i]);
    pthread_mutex_destroy(&r->lock);
    free(r->entries);
    free(r);
}

cn_status serve_tool_call_new_id(char id[SERVE_TOOL_CALL_ID_MAX], cn_error *err) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    memcpy(id, "call_", 5);
    size_t filled = 0;
    while (filled < 24) {
        unsigned char bytes[32];
        if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
            return cn_fail(err, CN_ERR_IO, "getrandom failed while making a tool-call id");
        /* 248 = 4 * 62: rejecting the rest keeps every character equally likely. */
        for (size_t i = 0; i < sizeof bytes && filled < 24; i++)
            if (bytes[i] < 248) id[5 + filled++] = alphabet[bytes[i] % 62];
    }
    id[5 + 24] = '\0';
    return CN_OK;
}

static registry_entry *find_locked(serve_tool_calls *r, const char *id) {
    uint64_t h = hash_id(id);
    for (size_t i = 0; i < r->capacity; i++) {
        registry_entry *e = &r->entries[i];
        if (e->used && e->hash == h && strcmp(e->id, id) == 0) return e;
    }
    return NULL;
}

static registry_entry *oldest_locked(serve_tool_calls *r) {
    registry_entry *oldest = NULL;
    for (size_t i = 0; i < r->capacity; i++)
        if (r->entries[i].used && (!oldest || r->entries[i].last_use < oldest->last_use)) oldest = &r->entries[i];
    return oldest;
}

static char *copy_text(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

cn_status serve_tool_calls_put(serve_tool_calls *r, const char *id, const char *name, const char *arguments,
                               size_t arguments_len, const char *raw, size_t raw_len, cn_error *err) {
    size_t id_len = strlen(id);
    if (id_len == 0 || id_len >= SERVE_TOOL_CALL_ID_MAX)
        return cn_fail(err, CN_ERR_ARG, "tool-call id must be 1 to %d bytes", SERVE_TOOL_CALL_ID_MAX - 1);
    if (memchr(raw, '\0', raw_len)) return cn_fail(err, CN_ERR_ARG, "tool call %s: raw DSML holds a NUL byte", id);
    size_t bytes = strlen(name) + arguments_len + raw_len;
    if (bytes > r->max_bytes)
        return cn_fail(err, CN_ERR_ARG, "tool call %s: %zu bytes exceed the registry's budget of %zu", id, bytes, r->max_bytes);
    cJSON *parsed = NULL;
    cn_status st = cn_chat_json_parse(arguments, arguments_len, &parsed, err);
    if (st != CN_OK) return cn_error_prefix(err, "tool call %s: arguments", id);
    registry_entry fresh = {.used = true, .hash = hash_id(id), .name = copy_text(name, strlen(name)),
                            .arguments = parsed, .raw = copy_text(raw, raw_len), .bytes = bytes};
    memcpy(fresh.id, id, id_len + 1);
    if (!fresh.name || !fresh.raw) {
        free(fresh.name);
        free(fresh.raw);
        cJSON_Delete(parsed);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory remembering tool call %s", id);
    }
    pthread_mutex_lock(&r->lock);
    registry_entry *slot = find_locked(r, id);
    if (slot) drop_entry(r, slot);
    while (r->count > 0 && (r->count == r->capacity || r->bytes + bytes > r->max_bytes)) drop_entry(r, oldest_locked(r));
    for (size_t i = 0; !slot && i < r->capacity; i++)
        if (!r->entries[i].used) slot = &r->entries[i];
    fresh.last_use = ++r->clock;
    *slot = fresh;
    r->bytes += bytes;
    r->count++;
    pthread_mutex_unlock(&r->lock);
    return CN_OK;
}

/* The client's arguments as a JSON value: an object, or a string holding JSON text. */
static cJSON *client_arguments(const cJSON *function, cJSON **owned) {
    *owned = NULL;
    const cJSON *arguments = cJSON_GetObjectItemCaseSensitive(function, "arguments");
    if (cJSON_IsString(arguments)) {
        cn_error ignored;
        if (cn_chat_json_parse(arguments->valuestring, strlen(arguments->valuestring), owned, &ignored) != CN_OK)
            return NULL;
        return *owned;
    }
    return (cJSON *)arguments;
}

static cn_status annotate_call(serve_tool_calls *r, cJSON *call, size_t *annotated, cn_error *err) {
    cJSON_DeleteItemFromObjectCaseSensitive(call, "dsml"); /* only the server may supply it */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
    const cJSON *function = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(function, "name");
    if (!cJSON_IsString(id) || !cJSON_IsString(name)) return CN_OK;
    cJSON *owned;
    cJSON *arguments = client_arguments(function, &owned);
    char *raw = NULL;
    bool matched = false;
    pthread_mutex_lock(&r->lock);
    registry_entry *e = find_locked(r, id->valuestring);
    if (e && arguments && strcmp(e->name, name->valuestring) == 0 && cJSON_Compare(e->arguments, arguments, true)) {
        matched = true;
        e->last_use = ++r->clock;
        raw = copy_text(e->raw, strlen(e->raw));
    }
    pthread_mutex_unlock(&r->lock);
    cJSON_Delete(owned);
    if (!matched) return CN_OK;
    if (!raw) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cJSON *item = cJSON_CreateString(raw);
    free(raw);
    if (!item || !cJSON_AddItemToObject(call, "dsml", item)) {
        cJSON_Delete(item);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    if (annotated) (*annotated)++;
    return CN_OK;
}

cn_status serve_tool_calls_annotate(serve_tool_calls *r, cJSON *messages, size_t *annotated, cn_error *err) {
    if (annotated) *annotated = 0;
    if (!cJSON_IsArray(messages)) return CN_OK;
    for (cJSON *m = messages->child; m; m = m->next) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "assistant") != 0 || !cJSON_IsArray(calls)) continue;
        for (cJSON *call = calls->child; call; call = call->next) {
            if (!cJSON_IsObject(call)) continue;
            cn_status st = annotate_call(r, call, annotated, err);
            if (st != CN_OK) return st;
        }
    }
    return CN_OK;
}

size_t serve_tool_calls_count(serve_tool_calls *r) {
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}
