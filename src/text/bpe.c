/* BPE on one piece, following HF tokenizers' word.rs merge loop (specs/tokenizer.md 1.4):
 * symbols in a doubly linked list over an array, candidates in a binary min-heap ordered by
 * (rank, left position); an entry is stale if its left symbol died, lost its right neighbour, or
 * the pair there no longer makes the same result. O(n log n) per piece, no allocation per merge. */
#include <stdlib.h>
#include <string.h>

#include "text/bpe.h"

struct cn_bpe_candidate {
    uint32_t rank;
    uint32_t pos; /* index of the left symbol */
    int32_t result;
};

cn_status cn_token_ids_push(cn_token_ids *list, int32_t id, cn_error *err) {
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        int32_t *grown = realloc(list->ids, cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory for %zu ids", cap);
        list->ids = grown;
        list->cap = cap;
    }
    list->ids[list->n++] = id;
    return CN_OK;
}

void cn_bpe_scratch_free(cn_bpe_scratch *scratch) {
    free(scratch->symbol_id);
    free(scratch->symbol_prev);
    free(scratch->symbol_next);
    free(scratch->heap);
    memset(scratch, 0, sizeof *scratch);
}

static cn_status scratch_reserve(cn_bpe_scratch *s, size_t symbols, cn_error *err) {
    if (symbols <= s->symbol_cap) return CN_OK;
    size_t cap = symbols < 64 ? 64 : symbols;
    int32_t *ids = realloc(s->symbol_id, cap * sizeof *ids);
    if (ids) s->symbol_id = ids;
    int32_t *prev = realloc(s->symbol_prev, cap * sizeof *prev);
    if (prev) s->symbol_prev = prev;
    int32_t *next = realloc(s->symbol_next, cap * sizeof *next);
    if (next) s->symbol_next = next;
    /* Each merge pushes at most two candidates, so the heap never exceeds 3n. */
    struct cn_bpe_candidate *heap = realloc(s->heap, 3 * cap * sizeof *heap);
    if (heap) s->heap = heap;
    if (!ids || !prev || !next || !heap) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory for a %zu-byte piece", symbols);
    s->symbol_cap = cap;
    s->heap_cap = 3 * cap;
    return CN_OK;
}

static int candidate_before(const struct cn_bpe_candidate *a, const struct cn_bpe_candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(cn_bpe_scratch *s, struct cn_bpe_candidate c) {
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!candidate_before(&c, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = c;
}

static struct cn_bpe_candidate heap_pop(cn_bpe_scratch *s) {
    struct cn_bpe_candidate top = s->heap[0], last = s->heap[--s->heap_len];
    size_t i = 0, n = s->heap_len;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && candidate_before(&s->heap[child + 1], &s->heap[child])) child++;
        if (!candidate_before(&s->heap[child], &last)) break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

/* Pushes the candidate for the pair starting at symbol pos, if a rule exists for it. */
static void push_pair(const cn_bpe *bpe, cn_bpe_scratch *s, int32_t pos) {
    if (pos < 0) return;
    int32_t next = s->symbol_next[pos];
    if (next < 0) return;
    struct cn_bpe_candidate c;
    if (cn_bpe_merge_lookup(bpe, s->symbol_id[pos], s->symbol_id[next], &c.rank, &c.result)) {
        c.pos = (uint32_t)pos;
        heap_push(s, c);
    }
}

cn_status cn_bpe_encode_piece(const cn_bpe *bpe, const uint8_t *bytes, size_t len, cn_bpe_scratch *s,
                              cn_token_ids *out, cn_error *err) {
    if (len == 1) return cn_token_ids_push(out, bpe->byte_token[bytes[0]], err);
    if (len > INT32_MAX / 4) return cn_fail(err, CN_ERR_ARG, "tokenizer: piece of %zu bytes is too long", len);
    cn_status st = scratch_reserve(s, len, err);
    if (st != CN_OK) return st;
    for (size_t i = 0; i < len; i++) {
        s->symbol_id[i] = bpe->byte_token[bytes[i]];
        s->symbol_prev[i] = (int32_t)i - 1;
        s->symbol_next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
    }
    s->heap_len = 0;
    for (size_t i = 0; i + 1 < len; i++) push_pair(bpe, s, (int32_t)i);

    while (s->heap_len > 0) {
        struct cn_bpe_candidate top = heap_pop(s);
        int32_t pos = (int32_t)top.pos;
        if (s->symbol_id[pos] < 0) continue; /* absorbed into its left neighbour */
        int32_t right = s->symbol_next[pos];
        if (right < 0) continue;
        uint32_t rank;
        int32_t result;
        if (!cn_bpe_merge_lookup(bpe, s->symbol_id[pos], s->symbol_id[right], &rank, &result) || result != top.result)
            continue; /* stale: the pair changed since this entry was pushed */
        s->symbol_id[pos] = result;
        s->symbol_id[right] = -1;
        int32_t after = s->symbol_next[right];
        s->symbol_next[pos] = after;
        if (after >= 0) s->symbol_prev[after] = pos;
        push_pair(bpe, s, s->symbol_prev[pos]);
        push_pair(bpe, s, pos);
    }
    for (int32_t pos = 0; pos >= 0; pos = s->symbol_next[pos])
        if ((st = cn_token_ids_push(out, s->symbol_id[pos], err)) != CN_OK) return st;
    return CN_OK;
}
