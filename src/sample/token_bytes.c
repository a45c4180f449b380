/* See token_bytes.h. Each token's bytes are a separate small allocation: the table is built once
 * per process, and the trie (token_trie.c) is what the hot path reads. */
#include "sample/token_bytes.h"

#include <stdlib.h>
#include <string.h>

struct cn_token_bytes {
    int32_t n_ids;
    uint8_t **bytes;
    uint32_t *len;
    uint8_t *kind;
    size_t max_len;
};

cn_status cn_token_bytes_create(int32_t n_ids, cn_token_bytes **out, cn_error *err) {
    *out = NULL;
    if (n_ids <= 0) return cn_fail(err, CN_ERR_ARG, "token bytes: the vocabulary needs at least one id (got %d)", (int)n_ids);
    cn_token_bytes *tb = calloc(1, sizeof *tb);
    if (tb) {
        tb->n_ids = n_ids;
        tb->bytes = calloc((size_t)n_ids, sizeof *tb->bytes);
        tb->len = calloc((size_t)n_ids, sizeof *tb->len);
        tb->kind = calloc((size_t)n_ids, sizeof *tb->kind);
    }
    if (!tb || !tb->bytes || !tb->len || !tb->kind) {
        cn_token_bytes_free(tb);
        return cn_fail(err, CN_ERR_NOMEM, "token bytes: out of memory for %d ids", (int)n_ids);
    }
    *out = tb;
    return CN_OK;
}

void cn_token_bytes_free(cn_token_bytes *tb) {
    if (!tb) return;
    if (tb->bytes)
        for (int32_t i = 0; i < tb->n_ids; i++) free(tb->bytes[i]);
    free(tb->bytes);
    free(tb->len);
    free(tb->kind);
    free(tb);
}

cn_status cn_token_bytes_set(cn_token_bytes *tb, int32_t id, const uint8_t *bytes, size_t len, cn_token_kind kind,
                             cn_error *err) {
    if (id < 0 || id >= tb->n_ids) return cn_fail(err, CN_ERR_ARG, "token bytes: id %d is outside 0..%d", (int)id, (int)tb->n_ids - 1);
    if (kind != CN_TOKEN_ABSENT && kind != CN_TOKEN_TEXT && kind != CN_TOKEN_CONTROL)
        return cn_fail(err, CN_ERR_ARG, "token bytes: id %d: unknown kind %d", (int)id, (int)kind);
    if (kind == CN_TOKEN_TEXT && len == 0) return cn_fail(err, CN_ERR_ARG, "token bytes: text token %d has no bytes", (int)id);
    if (len > UINT32_MAX / 2) return cn_fail(err, CN_ERR_ARG, "token bytes: token %d is too long", (int)id);
    uint8_t *copy = NULL;
    if (kind != CN_TOKEN_ABSENT) {
        if (!(copy = malloc(len ? len : 1))) return cn_fail(err, CN_ERR_NOMEM, "token bytes: out of memory");
        if (len) memcpy(copy, bytes, len);
    }
    free(tb->bytes[id]);
    tb->bytes[id] = copy;
    tb->len[id] = kind == CN_TOKEN_ABSENT ? 0 : (uint32_t)len;
    tb->kind[id] = (uint8_t)kind;
    if (kind == CN_TOKEN_TEXT && len > tb->max_len) tb->max_len = len;
    return CN_OK;
}

int32_t cn_token_bytes_count(const cn_token_bytes *tb) { return tb->n_ids; }

cn_token_kind cn_token_bytes_kind(const cn_token_bytes *tb, int32_t id) {
    return id >= 0 && id < tb->n_ids ? (cn_token_kind)tb->kind[id] : CN_TOKEN_ABSENT;
}

const uint8_t *cn_token_bytes_get(const cn_token_bytes *tb, int32_t id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= tb->n_ids || tb->kind[id] == CN_TOKEN_ABSENT) return NULL;
    *len = tb->len[id];
    return tb->bytes[id];
}

int32_t cn_token_bytes_find_control(const cn_token_bytes *tb, const char *s) {
    size_t n = strlen(s);
    for (int32_t id = 0; id < tb->n_ids; id++)
        if (tb->kind[id] == CN_TOKEN_CONTROL && tb->len[id] == n && !memcmp(tb->bytes[id], s, n)) return id;
    return -1;
}

size_t cn_token_bytes_max_len(const cn_token_bytes *tb) { return tb->max_len; }
