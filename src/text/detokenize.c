/* The held tail is at most 3 bytes: the longest valid prefix of a 4-byte character. */
#include "text/detokenize.h"

#include <stdlib.h>
#include <string.h>

#include "text/unicode_utf8.h"

struct cn_detokenizer {
    const cn_tokenizer *tok;
    uint8_t held[4];
    size_t n_held;
    uint8_t *work; /* held bytes + the new token's bytes */
    char *out;
    size_t cap; /* of work; out has 3 * cap */
};

cn_status cn_detokenizer_new(const cn_tokenizer *tok, cn_detokenizer **out, cn_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return cn_fail(err, CN_ERR_NOMEM, "detokenizer: out of memory");
    (*out)->tok = tok;
    return CN_OK;
}

void cn_detokenizer_free(cn_detokenizer *d) {
    if (!d) return;
    free(d->work);
    free(d->out);
    free(d);
}

static cn_status reserve(cn_detokenizer *d, size_t need, cn_error *err) {
    if (need <= d->cap) return CN_OK;
    size_t cap = need < 256 ? 256 : 2 * need;
    uint8_t *work = realloc(d->work, cap);
    if (work) d->work = work;
    char *out = realloc(d->out, 3 * cap);
    if (out) d->out = out;
    if (!work || !out) return cn_fail(err, CN_ERR_NOMEM, "detokenizer: out of memory");
    d->cap = cap;
    return CN_OK;
}

cn_status cn_detokenizer_push(cn_detokenizer *d, int32_t id, const char **text, size_t *len, cn_error *err) {
    *text = "";
    *len = 0;
    size_t token_len;
    const uint8_t *bytes = cn_tokenizer_token_bytes(d->tok, id, &token_len);
    if (!bytes) return cn_fail(err, CN_ERR_ARG, "detokenizer: id %d is not a token", (int)id);
    cn_status st = reserve(d, d->n_held + token_len, err);
    if (st != CN_OK) return st;
    memcpy(d->work, d->held, d->n_held);
    memcpy(d->work + d->n_held, bytes, token_len);
    size_t total = d->n_held + token_len, w = 0, i = 0;
    d->n_held = 0;
    while (i < total) {
        size_t n;
        uint32_t cp;
        cn_utf8_kind kind = cn_utf8_next(d->work + i, total - i, &n, &cp);
        if (kind == CN_UTF8_INCOMPLETE) { /* wait for the next token */
            memcpy(d->held, d->work + i, n);
            d->n_held = n;
            break;
        }
        if (kind == CN_UTF8_CHAR) {
            memcpy(d->out + w, d->work + i, n);
            w += n;
        } else {
            w += cn_utf8_encode(0xFFFD, (uint8_t *)d->out + w);
        }
        i += n;
    }
    *text = d->out ? d->out : "";
    *len = w;
    return CN_OK;
}

void cn_detokenizer_finish(cn_detokenizer *d, const char **text, size_t *len) {
    static const char replacement[] = "\xEF\xBF\xBD";
    *text = d->n_held ? replacement : "";
    *len = d->n_held ? 3 : 0;
    d->n_held = 0;
}
