/* Encoding and decoding with a loaded tokenizer: added tokens first (two rounds, as HF), then the
 * pre-tokenizer and BPE on the text between them. */
#include <stdlib.h>
#include <string.h>

#include "text/pretokenize.h"
#include "text/tokenizer_internal.h"
#include "text/unicode_utf8.h"

typedef struct {
    const cn_tokenizer *tok;
    const uint8_t *span; /* the text the pre-tokenizer is splitting now */
    cn_bpe_scratch scratch;
    cn_token_ids out;
} encoder;

static cn_status encode_piece(void *ctx, size_t start, size_t end, cn_error *err) {
    encoder *e = ctx;
    return cn_bpe_encode_piece(&e->tok->bpe, e->span + start, end - start, &e->scratch, &e->out, err);
}

static cn_status encode_plain(encoder *e, const uint8_t *text, size_t len, cn_error *err) {
    e->span = text;
    return cn_pretokenize(text, len, encode_piece, e, err);
}

static bool accept_special(const void *ctx, int32_t token) { return ((const cn_tokenizer *)ctx)->special[token]; }

/* Splits text[start, end) on the added tokens of one trie; the gaps go to the next round
 * (the normalized trie) or, after the last round, to the pre-tokenizer and BPE. */
static cn_status encode_round(encoder *e, const uint8_t *text, size_t start, size_t end, int round,
                              cn_added_tokens_mode mode, cn_error *err) {
    if (start == end) return CN_OK;
    if (round == 2) return encode_plain(e, text + start, end - start, err);
    const cn_added_trie *trie = round == 0 ? &e->tok->raw_tokens : &e->tok->normalized_tokens;
    bool (*accept)(const void *, int32_t) = mode == CN_ADDED_TOKENS_SPECIAL_ONLY ? accept_special : NULL;
    size_t pos = start, match_start, match_end;
    int32_t token;
    cn_status st;
    while (cn_added_trie_find(trie, text, pos, end, accept, e->tok, &match_start, &match_end, &token)) {
        if ((st = encode_round(e, text, pos, match_start, round + 1, mode, err)) != CN_OK) return st;
        if ((st = cn_token_ids_push(&e->out, token, err)) != CN_OK) return st;
        pos = match_end;
    }
    return encode_round(e, text, pos, end, round + 1, mode, err);
}

cn_status cn_tokenizer_encode(const cn_tokenizer *tok, const char *text, size_t len, cn_added_tokens_mode mode,
                              int32_t **ids, size_t *n, cn_error *err) {
    *ids = NULL;
    *n = 0;
    if (mode != CN_ADDED_TOKENS_ALL && mode != CN_ADDED_TOKENS_NONE && mode != CN_ADDED_TOKENS_SPECIAL_ONLY)
        return cn_fail(err, CN_ERR_ARG, "tokenizer: unknown added-token mode %d", (int)mode);
    if (len > 0 && !text) return cn_fail(err, CN_ERR_ARG, "tokenizer: NULL text");
    size_t bad;
    if (len > 0 && !cn_utf8_validate((const uint8_t *)text, len, &bad))
        return cn_fail(err, CN_ERR_ARG, "tokenizer: text is not valid UTF-8 (byte %zu)", bad);
    encoder e = {.tok = tok};
    cn_status st = mode == CN_ADDED_TOKENS_NONE ? encode_plain(&e, (const uint8_t *)text, len, err)
                                                : encode_round(&e, (const uint8_t *)text, 0, len, 0, mode, err);
    cn_bpe_scratch_free(&e.scratch);
    if (st != CN_OK) {
        free(e.out.ids);
        return st;
    }
    *ids = e.out.ids;
    *n = e.out.n;
    return CN_OK;
}

const uint8_t *cn_tokenizer_token_bytes(const cn_tokenizer *tok, int32_t id, size_t *len) {
    return cn_bpe_token_bytes(&tok->bpe, id, len);
}

int32_t cn_tokenizer_id_count(const cn_tokenizer *tok) { return tok->bpe.id_capacity; }

int cn_tokenizer_is_special(const cn_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->bpe.id_capacity && tok->special[id];
}

int cn_tokenizer_is_added(const cn_tokenizer *tok, int32_t id) {
    size_t len = 0;
    const uint8_t *bytes = cn_tokenizer_token_bytes(tok, id, &len);
    if (!bytes || len == 0) return 0;
    /* An added token decodes to its content; it is added if that content maps back to this id. */
    return cn_added_trie_exact(&tok->raw_tokens, bytes, len) == id ||
           cn_added_trie_exact(&tok->normalized_tokens, bytes, len) == id;
}

int32_t cn_tokenizer_token_id(const cn_tokenizer *tok, const char *token) {
    size_t len = strlen(token);
    if (!cn_utf8_validate((const uint8_t *)token, len, NULL)) return -1;
    int32_t id = cn_added_trie_exact(&tok->raw_tokens, (const uint8_t *)token, len);
    if (id < 0) id = cn_added_trie_exact(&tok->normalized_tokens, (const uint8_t *)token, len);
    if (id >= 0) return id;
    uint8_t *bytes = malloc(len + 1);
    if (!bytes) return -1;
    int in_alphabet;
    size_t n = cn_tokenizer_spelling_bytes(token, len, bytes, &in_alphabet);
    id = in_alphabet ? cn_bpe_lookup(&tok->bpe, bytes, n) : -1;
    free(bytes);
    return id;
}

/* Appends the lossy UTF-8 reading of bytes (ill-formed parts become U+FFFD, as Rust's
 * from_utf8_lossy) to out; returns the bytes written. out must hold 3 * len bytes. */
static size_t append_lossy(const uint8_t *bytes, size_t len, uint8_t *out) {
    size_t w = 0;
    for (size_t i = 0; i < len;) {
        size_t n;
        uint32_t cp;
        if (cn_utf8_next(bytes + i, len - i, &n, &cp) == CN_UTF8_CHAR) {
            memcpy(out + w, bytes + i, n);
            w += n;
        } else {
            w += cn_utf8_encode(0xFFFD, out + w);
        }
        i += n;
    }
    return w;
}

cn_status cn_tokenizer_decode(const cn_tokenizer *tok, const int32_t *ids, size_t n, char **text, size_t *len,
                              cn_error *err) {
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t token_len;
        if (!cn_bpe_token_bytes(&tok->bpe, ids[i], &token_len))
            return cn_fail(err, CN_ERR_ARG, "tokenizer: id %d (position %zu) is not a token", (int)ids[i], i);
        total += token_len;
    }
    uint8_t *raw = malloc(total + 1), *out = malloc(3 * total + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory decoding %zu ids", n);
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t token_len;
        const uint8_t *bytes = cn_bpe_token_bytes(&tok->bpe, ids[i], &token_len);
        memcpy(raw + used, bytes, token_len);
        used += token_len;
    }
    size_t w = append_lossy(raw, used, out);
    free(raw);
    out[w] = 0;
    *text = (char *)out;
    *len = w;
    return CN_OK;
}
