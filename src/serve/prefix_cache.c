#include "serve/prefix_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *ids;
    size_t n;
    cn_kv_state state;
    float *logits;
    size_t bytes;     /* what this entry counts against the budget */
    uint64_t used_at; /* LRU clock: larger is more recent */
} cache_entry;

struct cn_prefix_cache {
    size_t budget, bytes;
    int64_t vocab;
    cache_entry *entries;
    size_t count, cap;
    uint64_t clock;
};

cn_status cn_prefix_cache_create(size_t budget_bytes, int64_t vocab, cn_prefix_cache **out, cn_error *err) {
    *out = NULL;
    if (vocab < 1) return cn_fail(err, CN_ERR_ARG, "prefix cache: vocabulary of %lld", (long long)vocab);
    cn_prefix_cache *c = calloc(1, sizeof *c);
    if (!c) return cn_fail(err, CN_ERR_NOMEM, "prefix cache: out of memory");
    c->budget = budget_bytes;
    c->vocab = vocab;
    *out = c;
    return CN_OK;
}

static void entry_free(cache_entry *e) {
    free(e->ids);
    free(e->logits);
    cn_kv_state_free(&e->state);
}

void cn_prefix_cache_free(cn_prefix_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->count; i++) entry_free(&c->entries[i]);
    free(c->entries);
    free(c);
}

static void remove_entry(cn_prefix_cache *c, size_t i) {
    c->bytes -= c->entries[i].bytes;
    entry_free(&c->entries[i]);
    c->entries[i] = c->entries[--c->count];
}

static bool is_prefix(const cache_entry *e, const int32_t *ids, size_t n) {
    return e->n <= n && memcmp(e->ids, ids, e->n * sizeof *ids) == 0;
}

cn_status cn_prefix_cache_restore_longest(cn_prefix_cache *c, const int32_t *ids, size_t n, cn_kv_state *st,
                                          float *logits, size_t *matched, cn_error *err) {
    *matched = 0;
    cache_entry *best = NULL;
    for (size_t i = 0; i < c->count; i++) {
        cache_entry *e = &c->entries[i];
        if ((!best || e->n > best->n) && is_prefix(e, ids, n)) best = e;
    }
    if (!best) return CN_OK;
    cn_status s = cn_kv_state_copy(st, &best->state, err);
    if (s) return cn_error_prefix(err, "prefix cache: copying a %zu-token state", best->n);
    memcpy(logits, best->logits, (size_t)c->vocab * sizeof *logits);
    best->used_at = ++c->clock;
    *matched = best->n;
    return CN_OK;
}

/* Evicts least recently used entries until `incoming` more bytes fit. */
static void make_room(cn_prefix_cache *c, size_t incoming) {
    while (c->count > 0 && c->bytes + incoming > c->budget) {
        size_t oldest = 0;
        for (size_t i = 1; i < c->count; i++)
            if (c->entries[i].used_at < c->entries[oldest].used_at) oldest = i;
        remove_entry(c, oldest);
    }
}

/* Shared by store and store_take: `take` moves *st in instead of copying it. */
static cn_status store(cn_prefix_cache *c, const int32_t *ids, size_t n, cn_kv_state *st, bool take,
                       const float *logits, cn_error *err) {
    if (n == 0 || (size_t)st->n_tokens != n)
        return cn_fail(err, CN_ERR_ARG, "prefix cache: state holds %lld tokens, ids %zu", (long long)st->n_tokens, n);
    for (size_t i = 0; i < c->count; i++)
        if (c->entries[i].n == n && is_prefix(&c->entries[i], ids, n)) {
            c->entries[i].used_at = ++c->clock; /* same ids, same state: refresh only */
            return CN_OK;
        }
    const size_t bytes = cn_kv_state_bytes(st) + n * sizeof *ids + (size_t)c->vocab * sizeof *logits + sizeof(cache_entry);
    if (bytes > c->budget) return CN_OK; /* would evict everything and still not fit */
    make_room(c, bytes);
    if (c->count == c->cap) {
        const size_t cap = c->cap ? 2 * c->cap : 16;
        cache_entry *grown = realloc(c->entries, cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "prefix cache: out of memory");
        c->entries = grown;
        c->cap = cap;
    }
    cache_entry e = {.n = n, .bytes = bytes};
    e.ids = malloc(n * sizeof *ids);
    e.logits = malloc((size_t)c->vocab * sizeof *logits);
    if (!e.ids || !e.logits) {
        free(e.ids);
        free(e.logits);
        return cn_fail(err, CN_ERR_NOMEM, "prefix cache: out of memory for a %zu-token entry", n);
    }
    memcpy(e.ids, ids, n * sizeof *ids);
    memcpy(e.logits, logits, (size_t)c->vocab * sizeof *logits);
    if (take) {
        e.state = *st;
        memset(st, 0, sizeof *st);
    } else {
        cn_status s = cn_kv_state_copy(&e.state, st, err);
        if (s) {
            free(e.ids);
            free(e.logits);
            return cn_error_prefix(err, "prefix cache: copying a %zu-token state", n);
        }
    }
    e.used_at = ++c->clock;
    c->entries[c->count++] = e;
    c->bytes += bytes;
    return CN_OK;
}

cn_status cn_prefix_cache_store(cn_prefix_cache *c, const int32_t *ids, size_t n, const cn_kv_state *st,
                                const float *logits, cn_error *err) {
    return store(c, ids, n, (cn_kv_state *)st, false, logits, err);
}

cn_status cn_prefix_cache_store_take(cn_prefix_cache *c, const int32_t *ids, size_t n, cn_kv_state *st,
                                     const float *logits, cn_error *err) {
    cn_status s = store(c, ids, n, st, true, logits, err);
    if (st->layers) cn_kv_state_free(st); /* not taken: refreshed, too large, or failed */
    return s;
}

size_t cn_prefix_cache_bytes(const cn_prefix_cache *c) { return c ? c->bytes : 0; }
size_t cn_prefix_cache_entries(const cn_prefix_cache *c) { return c ? c->count : 0; }
