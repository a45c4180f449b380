/* Tool-call id -> exact DSML bytes: a keyed LRU table (serve/lru_table.h) under one mutex. */
#include "serve/tool_call_registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "serve/lru_table.h"
#include "text/chat_json.h"

typedef struct {
    char *name;
    cJSON *arguments; /* parsed once, compared as a JSON value */
    char *raw;        /* NUL-terminated, no NUL inside */
} remembered_call;    /* the table's value, keyed by the call id */

struct serve_tool_calls {
    pthread_mutex_t lock;
    serve_lru_table *table;
};

static void free_remembered_call(void *value) {
    remembered_call *c = value;
    if (!c) return;
    free(c->name);
    free(c->raw);
    cJSON_Delete(c->arguments);
    free(c);
}

cn_status serve_tool_calls_create(size_t capacity, size_t max_bytes, serve_tool_calls **out, cn_error *err) {
    *out = NULL;
    serve_tool_calls *r = calloc(1, sizeof *r);
    if (!r) return cn_fail(err, CN_ERR_NOMEM, "out of memory for a tool-call registry of %zu entries", capacity);
    if (serve_lru_table_create(capacity, max_bytes, free_remembered_call, &r->table, err) != CN_OK) {
        free(r);
        return cn_error_prefix(err, "tool-call registry");
    }
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return CN_OK;
}

void serve_tool_calls_free(serve_tool_calls *r) {
    if (!r) return;
    serve_lru_table_free(r->table);
    pthread_mutex_destroy(&r->lock);
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
    cJSON *parsed = NULL;
    cn_status st = cn_chat_json_parse(arguments, arguments_len, &parsed, err);
    if (st != CN_OK) return cn_error_prefix(err, "tool call %s: arguments", id);
    remembered_call *call = malloc(sizeof *call);
    if (call)
        *call = (remembered_call){.name = copy_text(name, strlen(name)), .arguments = parsed,
                                  .raw = copy_text(raw, raw_len)};
    if (!call || !call->name || !call->raw) {
        if (call) free_remembered_call(call);
        else cJSON_Delete(parsed);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory remembering tool call %s", id);
    }
    /* Charged: the name, arguments and raw text. The table owns call from here on, refused or not. */
    pthread_mutex_lock(&r->lock);
    st = serve_lru_table_put(r->table, id, id_len, call, strlen(name) + arguments_len + raw_len, err);
    pthread_mutex_unlock(&r->lock);
    return st == CN_OK ? CN_OK : cn_error_prefix(err, "tool call %s", id);
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

/* Whether a remembered call is the one the client re-sent: same name, arguments equal as JSON. */
static bool same_call(const void *value, const void *context) {
    const remembered_call *have = value, *want = context;
    return strcmp(have->name, want->name) == 0 && cJSON_Compare(have->arguments, want->arguments, true);
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
    const remembered_call wanted = {.name = name->valuestring, .arguments = arguments};
    pthread_mutex_lock(&r->lock);
    /* Only a match counts as a use: a call the client changed does not keep the old bytes alive. */
    const remembered_call *e =
        arguments ? serve_lru_table_get(r->table, id->valuestring, strlen(id->valuestring), same_call, &wanted) : NULL;
    if (e) {
        matched = true;
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
    size_t n = serve_lru_table_count(r->table);
    pthread_mutex_unlock(&r->lock);
    return n;
}
