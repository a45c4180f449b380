/* Reply segments -> sampled ids, a small LRU under one mutex. Lookups are linear over at most
 * `capacity` entries with the key's hash compared first: a server remembers a few thousand replies
 * and each request looks up the handful of assistant turns its history carries. */
#include "serve/reply_registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat_bytes.h"

typedef struct {
    bool used;
    uint64_t hash;
    char *key; /* the segments, serialised by key_segment */
    size_t key_len;
    int32_t *ids;
    size_t n_ids;
    size_t bytes;
    uint64_t last_use;
} reply_entry;

struct serve_replies {
    pthread_mutex_t lock;
    const cn_tokenizer *tokenizer;
    reply_entry *entries;
    size_t capacity, max_bytes, bytes, count;
    uint64_t clock, swaps;
};

static uint64_t hash_key(const char *key, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a; equal hashes are confirmed by comparing keys */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return h;
}

cn_status serve_replies_create(const cn_tokenizer *tokenizer, size_t capacity, size_t max_bytes, serve_replies **out,
                               cn_error *err) {
    *out = NULL;
    if (!tokenizer || capacity == 0 || max_bytes == 0)
        return cn_fail(err, CN_ERR_ARG, "reply registry needs a tokenizer, a capacity and a byte budget");
    serve_replies *r = calloc(1, sizeof *r);
    if (r) r->entries = calloc(capacity, sizeof *r->entries);
    if (!r || !r->entries) {
        free(r);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for a reply registry of %zu entries", capacity);
    }
    pthread_mutex_init(&r->lock, NULL);
    r->tokenizer = tokenizer;
    r->capacity = capacity;
    r->max_bytes = max_bytes;
    *out = r;
    return CN_OK;
}

static void drop_entry(serve_replies *r, reply_entry *e) {
    free(e->key);
    free(e->ids);
    r->bytes -= e->bytes;
    r->count--;
    memset(e, 0, sizeof *e);
}

void serve_replies_free(serve_replies *r) {
    if (!r) return;
    for (size_t i = 0; i < r->capacity; i++)
        if (r->entries[i].used) drop_entry(r, &r->entries[i]);
    pthread_mutex_destroy(&r->lock);
    free(r->entries);
    free(r);
}

/* One segment of a key: a tag ('T' text, 'C' control token), its length in 8 bytes, its bytes.
 * The length makes the serialisation unambiguous whatever bytes the text holds (NUL included). */
static cn_status key_segment(cn_chat_bytes *key, char tag, const void *bytes, size_t len, cn_error *err) {
    unsigned char header[9] = {(unsigned char)tag};
    for (int i = 0; i < 8; i++) header[1 + i] = (unsigned char)((uint64_t)len >> (8 * i));
    cn_status st = cn_chat_bytes_append(key, header, sizeof header, err);
    if (st == CN_OK) st = cn_chat_bytes_append(key, bytes, len, err);
    return st;
}

/* What ids spell: maximal runs of ordinary tokens as text (their bytes joined, as the tokenizer
 * decodes them), each added token as a control segment of its string. */
static cn_status key_from_ids(const cn_tokenizer *tok, const int32_t *ids, size_t n, cn_chat_bytes *key, cn_error *err) {
    cn_chat_bytes run = {0};
    cn_status st = CN_OK;
    for (size_t i = 0; i < n && st == CN_OK; i++) {
        size_t len = 0;
        const uint8_t *bytes = cn_tokenizer_token_bytes(tok, ids[i], &len);
        if (!bytes) {
            st = cn_fail(err, CN_ERR_ARG, "reply id %d (at %zu) is not in the vocabulary", (int)ids[i], i);
        } else if (cn_tokenizer_is_added(tok, ids[i])) {
            if (run.length) st = key_segment(key, 'T', run.data, run.length, err);
            run.length = 0;
            if (st == CN_OK) st = key_segment(key, 'C', bytes, len, err);
        } else {
            st = cn_chat_bytes_append(&run, bytes, len, err);
        }
    }
    if (st == CN_OK && run.length) st = key_segment(key, 'T', run.data, run.length, err);
    cn_chat_bytes_free(&run);
    return st;
}

/* What a rendered body spells, in the same form. *usable is false for a body that holds ids
 * already (it cannot be matched again). */
static cn_status key_from_prompt(const cn_chat_prompt *p, size_t first, cn_chat_bytes *key, bool *usable, cn_error *err) {
    *usable = true;
    for (size_t i = first; i < p->segment_count; i++) {
        const cn_chat_segment *s = &p->segments[i];
        if (s->kind == CN_CHAT_SEGMENT_IDS) {
            *usable = false;
            return CN_OK;
        }
        cn_status st = key_segment(key, s->kind == CN_CHAT_SEGMENT_CONTROL ? 'C' : 'T', p->text.data + s->offset,
                                   s->length, err);
        if (st != CN_OK) return st;
    }
    return CN_OK;
}

static reply_entry *find_locked(serve_replies *r, uint64_t hash, const char *key, size_t key_len) {
    for (size_t i = 0; i < r->capacity; i++) {
        reply_entry *e = &r->entries[i];
        if (e->used && e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) return e;
    }
    return NULL;
}

static reply_entry *oldest_locked(serve_replies *r) {
    reply_entry *oldest = NULL;
    for (size_t i = 0; i < r->capacity; i++)
        if (r->entries[i].used && (!oldest || r->entries[i].last_use < oldest->last_use)) oldest = &r->entries[i];
    return oldest;
}

cn_status serve_replies_put(serve_replies *r, const int32_t *ids, size_t n, cn_error *err) {
    if (n == 0) return cn_fail(err, CN_ERR_ARG, "a reply needs at least one id");
    cn_chat_bytes key = {0};
    cn_status st = key_from_ids(r->tokenizer, ids, n, &key, err);
    size_t bytes = key.length + n * sizeof *ids;
    if (st == CN_OK && bytes > r->max_bytes)
        st = cn_fail(err, CN_ERR_ARG, "a reply of %zu bytes exceeds the registry's budget of %zu", bytes, r->max_bytes);
    int32_t *copy = st == CN_OK ? malloc(n * sizeof *copy) : NULL;
    if (st == CN_OK && !copy) st = cn_fail(err, CN_ERR_NOMEM, "out of memory remembering a reply of %zu ids", n);
    if (st != CN_OK) {
        cn_chat_bytes_free(&key);
        return st;
    }
    memcpy(copy, ids, n * sizeof *copy);
    reply_entry fresh = {.used = true, .hash = hash_key(key.data, key.length), .key = key.data, .key_len = key.length,
                         .ids = copy, .n_ids = n, .bytes = bytes};
    pthread_mutex_lock(&r->lock);
    reply_entry *slot = find_locked(r, fresh.hash, fresh.key, fresh.key_len);
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

cn_status serve_replies_swap_body(void *registry, cn_chat_prompt *prompt, size_t first_segment, cn_error *err) {
    serve_replies *r = registry;
    cn_chat_bytes key = {0};
    bool usable;
    cn_status st = key_from_prompt(prompt, first_segment, &key, &usable, err);
    if (st != CN_OK || !usable || key.length == 0) {
        cn_chat_bytes_free(&key);
        return st;
    }
    uint64_t hash = hash_key(key.data, key.length);
    pthread_mutex_lock(&r->lock);
    reply_entry *e = find_locked(r, hash, key.data, key.length);
    if (e) {
        e->last_use = ++r->clock;
        st = cn_chat_prompt_replace_with_ids(prompt, first_segment, e->ids, e->n_ids, err);
        if (st == CN_OK) r->swaps++;
    }
    pthread_mutex_unlock(&r->lock);
    cn_chat_bytes_free(&key);
    return st;
}

size_t serve_replies_count(serve_replies *r) {
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

uint64_t serve_replies_swaps(serve_replies *r) {
    pthread_mutex_lock(&r->lock);
    uint64_t n = r->swaps;
    pthread_mutex_unlock(&r->lock);
    return n;
}
