/* Keyed LRU table. Lookups are linear over at most `capacity` slots with the key's hash compared
 * first (then length and bytes): a server remembers a few thousand entries and each request looks
 * up the handful its history carries, so a scan of one cache-friendly array beats the upkeep of a
 * hash index and a use list. Order of use is a counter stamped on each entry. */
#include "serve/lru_table.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    uint64_t hash;
    unsigned char *key;
    size_t key_len;
    void *value;
    size_t cost;
    uint64_t last_use;
} lru_slot;

struct serve_lru_table {
    lru_slot *slots;
    size_t capacity, max_bytes, bytes, count;
    uint64_t clock;
    serve_lru_free_fn free_value;
    serve_lru_hash_fn hash;
};

static uint64_t fnv1a(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a; equal hashes are confirmed by comparing keys */
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

cn_status serve_lru_table_create(size_t capacity, size_t max_bytes, serve_lru_free_fn free_value, serve_lru_table **out,
                                 cn_error *err) {
    *out = NULL;
    if (capacity == 0 || max_bytes == 0) return cn_fail(err, CN_ERR_ARG, "LRU table needs a capacity and a byte budget");
    if (!free_value) return cn_fail(err, CN_ERR_ARG, "LRU table needs a function that frees its values");
    serve_lru_table *t = calloc(1, sizeof *t);
    if (t) t->slots = calloc(capacity, sizeof *t->slots);
    if (!t || !t->slots) {
        free(t);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for an LRU table of %zu entries", capacity);
    }
    t->capacity = capacity;
    t->max_bytes = max_bytes;
    t->free_value = free_value;
    t->hash = fnv1a;
    *out = t;
    return CN_OK;
}

static void drop_slot(serve_lru_table *t, lru_slot *s) {
    t->free_value(s->value);
    free(s->key);
    t->bytes -= s->cost;
    t->count--;
    memset(s, 0, sizeof *s);
}

void serve_lru_table_free(serve_lru_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].used) drop_slot(t, &t->slots[i]);
    free(t->slots);
    free(t);
}

static lru_slot *find_slot(serve_lru_table *t, uint64_t hash, const void *key, size_t key_len) {
    for (size_t i = 0; i < t->capacity; i++) {
        lru_slot *s = &t->slots[i];
        if (s->used && s->hash == hash && s->key_len == key_len && (key_len == 0 || memcmp(s->key, key, key_len) == 0))
            return s;
    }
    return NULL;
}

static lru_slot *oldest_slot(serve_lru_table *t) {
    lru_slot *oldest = NULL;
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].used && (!oldest || t->slots[i].last_use < oldest->last_use)) oldest = &t->slots[i];
    return oldest;
}

cn_status serve_lru_table_put(serve_lru_table *t, const void *key, size_t key_len, void *value, size_t cost,
                              cn_error *err) {
    if (cost > t->max_bytes) {
        t->free_value(value);
        return cn_fail(err, CN_ERR_ARG, "%zu bytes exceed the registry's budget of %zu", cost, t->max_bytes);
    }
    unsigned char *key_copy = malloc(key_len ? key_len : 1);
    if (!key_copy) {
        t->free_value(value);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory copying a key of %zu bytes", key_len);
    }
    if (key_len) memcpy(key_copy, key, key_len);
    uint64_t hash = t->hash(key, key_len);
    lru_slot *slot = find_slot(t, hash, key, key_len);
    if (slot) drop_slot(t, slot);
    while (t->count > 0 && (t->count == t->capacity || t->bytes + cost > t->max_bytes)) drop_slot(t, oldest_slot(t));
    for (size_t i = 0; !slot && i < t->capacity; i++)
        if (!t->slots[i].used) slot = &t->slots[i];
    *slot = (lru_slot){.used = true, .hash = hash, .key = key_copy, .key_len = key_len, .value = value, .cost = cost,
                       .last_use = ++t->clock};
    t->bytes += cost;
    t->count++;
    return CN_OK;
}

void *serve_lru_table_get(serve_lru_table *t, const void *key, size_t key_len, serve_lru_accept_fn accept,
                          const void *context) {
    lru_slot *s = find_slot(t, t->hash(key, key_len), key, key_len);
    if (!s || (accept && !accept(s->value, context))) return NULL;
    s->last_use = ++t->clock;
    return s->value;
}

size_t serve_lru_table_count(const serve_lru_table *t) { return t->count; }

size_t serve_lru_table_bytes(const serve_lru_table *t) { return t->bytes; }

void serve_lru_table_set_hash_for_tests(serve_lru_table *t, serve_lru_hash_fn hash) { t->hash = hash ? hash : fnv1a; }
