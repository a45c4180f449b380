/* See constraint_vocab.h. */
#include "sample/constraint_vocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether bytes are whole valid UTF-8 characters (RFC 3629) without U+FF5C; for json, also
 * without '"', '\\' and control characters. */
static bool is_plain(const uint8_t *p, size_t n, bool json) {
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            if (json && (b < 0x20 || b == '"' || b == '\\')) return false;
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b >= 0xE1 && b <= 0xEF) need = 2;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else return false;
        if (i + need >= n) return false;
        for (size_t k = 1; k <= need; k++) {
            if (p[i + k] < lo || p[i + k] > hi) return false;
            lo = 0x80, hi = 0xBF;
        }
        if (need == 2 && b == 0xEF && p[i + 1] == 0xBD && p[i + 2] == 0x9C) return false; /* U+FF5C */
        i += need + 1;
    }
    return true;
}

/* A class bitset, its size, and the trie of the TEXT tokens outside it. */
typedef enum { CLASS_JSON, CLASS_TEXT, CLASS_REASON } token_class;

static bool in_class(const uint8_t *b, size_t len, token_class c) {
    if (c == CLASS_REASON) return !memchr(b, '>', len);
    return is_plain(b, len, c == CLASS_JSON);
}

static cn_status build_class(const cn_token_bytes *bytes, token_class cls, uint64_t **bits, int64_t *count,
                             cn_token_trie **other, cn_error *err) {
    int32_t n = cn_token_bytes_count(bytes);
    size_t words = ((size_t)n + 63) / 64;
    *bits = calloc(words, sizeof **bits);
    uint64_t *rest = calloc(words, sizeof *rest);
    if (!*bits || !rest) {
        free(rest);
        return cn_fail(err, CN_ERR_NOMEM, "constraint vocabulary: out of memory");
    }
    *count = 0;
    for (int32_t id = 0; id < n; id++) {
        if (cn_token_bytes_kind(bytes, id) != CN_TOKEN_TEXT) continue;
        size_t len;
        const uint8_t *b = cn_token_bytes_get(bytes, id, &len);
        if (in_class(b, len, cls)) {
            (*bits)[id >> 6] |= 1ull << (id & 63);
            (*count)++;
        } else {
            rest[id >> 6] |= 1ull << (id & 63);
        }
    }
    cn_status st = cn_token_trie_build_subset(bytes, rest, other, err);
    free(rest);
    return st;
}

cn_status cn_constraint_vocab_create(const cn_token_bytes *bytes, cn_constraint_vocab **out, cn_error *err) {
    *out = NULL;
    cn_constraint_vocab *v = calloc(1, sizeof *v);
    if (!v) return cn_fail(err, CN_ERR_NOMEM, "constraint vocabulary: out of memory");
    v->bytes = bytes;
    cn_status st = cn_token_trie_build(bytes, &v->trie, err);
    int32_t n = cn_token_bytes_count(bytes);
    if (st == CN_OK) {
        for (int32_t id = 0; id < n; id++) v->n_control += cn_token_bytes_kind(bytes, id) == CN_TOKEN_CONTROL;
        v->control_ids = malloc((v->n_control ? v->n_control : 1) * sizeof *v->control_ids);
        if (!v->control_ids) st = cn_fail(err, CN_ERR_NOMEM, "constraint vocabulary: out of memory");
    }
    if (st == CN_OK) st = build_class(bytes, CLASS_JSON, &v->json_plain, &v->n_json_plain, &v->json_other, err);
    if (st == CN_OK) st = build_class(bytes, CLASS_TEXT, &v->text_plain, &v->n_text_plain, &v->text_other, err);
    if (st == CN_OK) st = build_class(bytes, CLASS_REASON, &v->reason_plain, &v->n_reason_plain, &v->reason_other, err);
    if (st != CN_OK) {
        cn_constraint_vocab_free(v);
        return st;
    }
    size_t k = 0;
    for (int32_t id = 0; id < n; id++)
        if (cn_token_bytes_kind(bytes, id) == CN_TOKEN_CONTROL) v->control_ids[k++] = id;
    *out = v;
    return CN_OK;
}

void cn_constraint_vocab_free(cn_constraint_vocab *vocab) {
    if (!vocab) return;
    cn_token_trie_free(vocab->trie);
    cn_token_trie_free(vocab->json_other);
    cn_token_trie_free(vocab->text_other);
    cn_token_trie_free(vocab->reason_other);
    free(vocab->reason_plain);
    free(vocab->json_plain);
    free(vocab->text_plain);
    free(vocab->control_ids);
    free(vocab);
}

void cn_constraint_apply_bits(const uint64_t *allowed, int32_t n_ids, float *logits, int64_t vocab) {
    int64_t limit = vocab < n_ids ? vocab : n_ids;
    int64_t i = 0;
    for (; i + 64 <= limit; i += 64) {
        uint64_t w = allowed[i >> 6];
        if (w == ~0ull) continue;
        if (w == 0) { /* the common case outside free text: a plain fill the compiler vectorises */
            for (int k = 0; k < 64; k++) logits[i + k] = -INFINITY;
            continue;
        }
        for (int k = 0; k < 64; k++)
            if (!(w >> k & 1)) logits[i + k] = -INFINITY;
    }
    for (; i < limit; i++)
        if (!(allowed[i >> 6] >> (i & 63) & 1)) logits[i] = -INFINITY;
    for (i = limit; i < vocab; i++) logits[i] = -INFINITY;
}

bool cn_constraint_any_bit(const uint64_t *allowed, int64_t n) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        if (allowed[i >> 6]) return true;
    for (; i < n; i++)
        if (allowed[i >> 6] >> (i & 63) & 1) return true;
    return false;
}
