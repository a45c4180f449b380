/* See tokenizer_export.h. Added tokens come from the two added-token tries (their contents are
 * the trie paths), vocabulary spellings from the BPE byte strings mapped through the byte-level
 * alphabet (tokens spelled outside it, which are decode-only, keep their UTF-8), merges from the
 * merge table sorted by rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe_bytelevel.h"
#include "text/tokenizer_export.h"
#include "text/tokenizer_internal.h"
#include "text/unicode_utf8.h"

static bool starts_ends(const char *s, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    return n >= la + lb && !memcmp(s, a, la) && !memcmp(s + n - lb, b, lb);
}

/* convert_hf_to_gguf.py TextModel.does_token_look_special */
static bool looks_special(const char *s, size_t n) {
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (n == strlen(exact[i]) && !memcmp(s, exact[i], n)) return true;
    return starts_ends(s, n, "<|", "|>") || starts_ends(s, n, "<\xef\xbd\x9c", "\xef\xbd\x9c>") ||
           starts_ends(s, n, "<unused", ">");
}

/* The byte-level spelling of bytes (each byte one code point); malloc'd, NUL-terminated. */
static char *bytelevel_spelling(const uint8_t *bytes, size_t n, size_t *len) {
    char *s = malloc(2 * n + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += cn_utf8_encode(cn_bytelevel_char(bytes[i]), (uint8_t *)s + k);
    s[k] = 0;
    *len = k;
    return s;
}

static char *copy(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* Records every token in trie as added (its content = the path to it); the first trie wins. */
static cn_status walk_trie(const cn_added_trie *trie, int32_t node, uint8_t *path, size_t depth, size_t max_depth,
                           cn_tokenizer_vocab *v, cn_error *err) {
    for (int32_t c = trie->nodes[node].first_child; c >= 0; c = trie->nodes[c].next_sibling) {
        if (depth >= max_depth) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: added token too long");
        path[depth] = trie->nodes[c].byte;
        int32_t id = trie->nodes[c].token;
        if (id >= 0 && id < v->n_tokens && !v->tokens[id]) {
            if (!(v->tokens[id] = copy(path, depth + 1))) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
            v->token_len[id] = depth + 1;
            v->types[id] = CN_TOKEN_TYPE_CONTROL; /* refined below */
        }
        cn_status st = walk_trie(trie, c, path, depth + 1, max_depth, v, err);
        if (st) return st;
    }
    return CN_OK;
}

static int by_rank(const void *a, const void *b) {
    uint32_t x = ((const cn_bpe_merge_slot *)a)->rank, y = ((const cn_bpe_merge_slot *)b)->rank;
    return x < y ? -1 : x > y;
}

static cn_status export_vocab(const cn_tokenizer *tok, cn_tokenizer_vocab *v, cn_error *err) {
    const int32_t n = v->n_tokens;
    if (!(v->tokens = calloc((size_t)n, sizeof *v->tokens)) || !(v->token_len = calloc((size_t)n, sizeof *v->token_len)) ||
        !(v->types = calloc((size_t)n, sizeof *v->types)))
        return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    enum { MAX_ADDED = 65536 };
    uint8_t *path = malloc(MAX_ADDED);
    if (!path) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    cn_status st = walk_trie(&tok->raw_tokens, 0, path, 0, MAX_ADDED, v, err);
    if (!st) st = walk_trie(&tok->normalized_tokens, 0, path, 0, MAX_ADDED, v, err);
    free(path);
    if (st) return st;
    char pad[32];
    for (int32_t id = 0; id < n; id++) {
        if (v->tokens[id]) { /* added */
            char *s = v->tokens[id];
            if (cn_tokenizer_is_special(tok, id) || looks_special(s, v->token_len[id])) continue;
            v->types[id] = CN_TOKEN_TYPE_USER_DEFINED;
            char *w = s; /* "pre-normalize user-defined spaces": U+2581 (E2 96 81) -> ' ' */
            const char *end = s + v->token_len[id];
            for (const char *r = s; r < end;) {
                if (end - r >= 3 && !memcmp(r, "\xe2\x96\x81", 3)) { /* never compare past the end */
                    *w++ = ' ';
                    r += 3;
                } else *w++ = *r++;
            }
            *w = 0;
            v->token_len[id] = (size_t)(w - s);
            continue;
        }
        size_t len;
        const uint8_t *bytes = id < tok->bpe.id_capacity ? cn_bpe_token_bytes(&tok->bpe, id, &len) : NULL;
        if (bytes) {
            /* encodable tokens were spelled in the alphabet; decode-only ones keep their UTF-8 */
            if (len > 0 && cn_bpe_lookup(&tok->bpe, bytes, len) == id) v->tokens[id] = bytelevel_spelling(bytes, len, &v->token_len[id]);
            else {
                v->tokens[id] = copy(bytes, len);
                v->token_len[id] = len;
            }
            v->types[id] = CN_TOKEN_TYPE_NORMAL;
        } else {
            snprintf(pad, sizeof pad, "[PAD%d]", (int)id);
            v->tokens[id] = copy((const uint8_t *)pad, strlen(pad));
            v->token_len[id] = strlen(pad);
            v->types[id] = CN_TOKEN_TYPE_UNUSED;
        }
        if (!v->tokens[id]) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    }

    /* Merges by rank. */
    const cn_bpe *bpe = &tok->bpe;
    cn_bpe_merge_slot *slots = malloc(((size_t)bpe->merge_count + 1) * sizeof *slots);
    if (!slots) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    size_t m = 0;
    if (bpe->merge_slots)
        for (size_t i = 0; i <= bpe->merge_mask; i++)
            if (bpe->merge_slots[i].key && m < bpe->merge_count + 1) slots[m++] = bpe->merge_slots[i];
    qsort(slots, m, sizeof *slots, by_rank);
    if (!(v->merges = calloc(m ? m : 1, sizeof *v->merges))) st = cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < m && !st; i++) {
        int32_t ids[2] = {(int32_t)(slots[i].key >> 32) - 1, (int32_t)(slots[i].key & 0xffffffffu) - 1};
        char *sp[2] = {NULL, NULL};
        size_t sl[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            size_t len;
            const uint8_t *bytes = cn_bpe_token_bytes(bpe, ids[k], &len);
            if (bytes) sp[k] = bytelevel_spelling(bytes, len, &sl[k]);
        }
        char *s = sp[0] && sp[1] ? malloc(sl[0] + sl[1] + 2) : NULL;
        if (s) {
            memcpy(s, sp[0], sl[0]);
            s[sl[0]] = ' ';
            memcpy(s + sl[0] + 1, sp[1], sl[1] + 1);
            v->merges[v->n_merges++] = s;
        } else st = cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory");
        free(sp[0]);
        free(sp[1]);
    }
    free(slots);
    return st;
}

cn_status cn_tokenizer_export_vocab(const cn_tokenizer *tok, int32_t n_vocab, cn_tokenizer_vocab *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    int32_t ids = cn_tokenizer_id_count(tok);
    out->n_tokens = n_vocab > ids ? n_vocab : ids;
    cn_status st = export_vocab(tok, out, err);
    if (st) cn_tokenizer_vocab_free(out);
    return st;
}

void cn_tokenizer_vocab_free(cn_tokenizer_vocab *v) {
    if (v->tokens)
        for (int32_t i = 0; i < v->n_tokens; i++) free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->token_len);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}
