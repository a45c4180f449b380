/* Reply segments -> sampled ids: a keyed LRU table (serve/lru_table.h) under one mutex. */
#include "serve/reply_registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "serve/lru_table.h"
#include "text/chat_bytes.h"

typedef struct {
    int32_t *ids;
    size_t n_ids;
} reply_ids; /* the table's value, keyed by the segments serialised by key_segment */

struct serve_replies {
    pthread_mutex_t lock;
    const cn_tokenizer *tokenizer;
    serve_lru_table *table;
    uint64_t swaps;
};

static void free_reply_ids(void *value) {
    reply_ids *v = value;
    if (v) free(v->ids);
    free(v);
}

cn_status serve_replies_create(const cn_tokenizer *tokenizer, size_t capacity, size_t max_bytes, serve_replies **out,
                               cn_error *err) {
    *out = NULL;
    if (!tokenizer) return cn_fail(err, CN_ERR_ARG, "reply registry needs a tokenizer");
    serve_replies *r = calloc(1, sizeof *r);
    if (!r) return cn_fail(err, CN_ERR_NOMEM, "out of memory for a reply registry of %zu entries", capacity);
    cn_status st = serve_lru_table_create(capacity, max_bytes, free_reply_ids, &r->table, err);
    if (st != CN_OK) {
        free(r);
        return cn_error_prefix(err, "reply registry");
    }
    pthread_mutex_init(&r->lock, NULL);
    r->tokenizer = tokenizer;
    *out = r;
    return CN_OK;
}

void serve_replies_free(serve_replies *r) {
    if (!r) return;
    serve_lru_table_free(r->table);
    pthread_mutex_destroy(&r->lock);
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

static cn_status copy_ids(const int32_t *ids, size_t n, reply_ids **out, cn_error *err) {
    reply_ids *v = calloc(1, sizeof *v);
    if (v) v->ids = malloc(n * sizeof *ids);
    if (!v || !v->ids) {
        free_reply_ids(v);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory remembering a reply of %zu ids", n);
    }
    memcpy(v->ids, ids, n * sizeof *ids);
    v->n_ids = n;
    *out = v;
    return CN_OK;
}

cn_status serve_replies_put(serve_replies *r, const int32_t *ids, size_t n, cn_error *err) {
    if (n == 0) return cn_fail(err, CN_ERR_ARG, "a reply needs at least one id");
    cn_chat_bytes key = {0};
    reply_ids *value = NULL;
    cn_status st = key_from_ids(r->tokenizer, ids, n, &key, err);
    if (st == CN_OK) st = copy_ids(ids, n, &value, err);
    if (st == CN_OK) {
        /* Charged: the key plus the ids. The table owns value from here on, refused or not. */
        pthread_mutex_lock(&r->lock);
        st = serve_lru_table_put(r->table, key.data, key.length, value, key.length + n * sizeof *ids, err);
        pthread_mutex_unlock(&r->lock);
        if (st != CN_OK) cn_error_prefix(err, "a reply");
    }
    cn_chat_bytes_free(&key);
    return st;
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
    pthread_mutex_lock(&r->lock);
    const reply_ids *e = serve_lru_table_get(r->table, key.data, key.length, NULL, NULL);
    if (e) {
        st = cn_chat_prompt_replace_with_ids(prompt, first_segment, e->ids, e->n_ids, err);
        if (st == CN_OK) r->swaps++;
    }
    pthread_mutex_unlock(&r->lock);
    cn_chat_bytes_free(&key);
    return st;
}

size_t serve_replies_count(serve_replies *r) {
    pthread_mutex_lock(&r->lock);
    size_t n = serve_lru_table_count(r->table);
    pthread_mutex_unlock(&r->lock);
    return n;
}

uint64_t serve_replies_swaps(serve_replies *r) {
    pthread_mutex_lock(&r->lock);
    uint64_t n = r->swaps;
    pthread_mutex_unlock(&r->lock);
    return n;
}
