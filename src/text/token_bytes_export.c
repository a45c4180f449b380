/* See token_bytes_export.h. Added tokens are found in the two added-token tries (a node with a
 * token id ends one); everything else with bytes is TEXT. */
#include "text/token_bytes_export.h"

#include <stdlib.h>

#include "text/tokenizer_internal.h"

/* Marks every token id in trie in is_added (iteratively: the trie can be deep). */
static cn_status mark_added(const cn_added_trie *trie, uint8_t *is_added, int32_t n_ids, cn_error *err) {
    if (!trie->nodes || trie->n_nodes == 0) return CN_OK;
    int32_t *stack = malloc(trie->n_nodes * sizeof *stack);
    if (!stack) return cn_fail(err, CN_ERR_NOMEM, "token bytes: out of memory");
    size_t top = 0;
    stack[top++] = 0;
    while (top) {
        int32_t node = stack[--top];
        int32_t id = trie->nodes[node].token;
        if (id >= 0 && id < n_ids) is_added[id] = 1;
        for (int32_t c = trie->nodes[node].first_child; c >= 0; c = trie->nodes[c].next_sibling)
            if (top < trie->n_nodes) stack[top++] = c;
    }
    free(stack);
    return CN_OK;
}

cn_status cn_token_bytes_from_tokenizer(const cn_tokenizer *tok, cn_token_bytes **out, cn_error *err) {
    *out = NULL;
    int32_t n = cn_tokenizer_id_count(tok);
    uint8_t *is_added = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!is_added) return cn_fail(err, CN_ERR_NOMEM, "token bytes: out of memory");
    cn_token_bytes *tb = NULL;
    cn_status st = mark_added(&tok->raw_tokens, is_added, n, err);
    if (st == CN_OK) st = mark_added(&tok->normalized_tokens, is_added, n, err);
    if (st == CN_OK) st = cn_token_bytes_create(n, &tb, err);
    for (int32_t id = 0; id < n && st == CN_OK; id++) {
        size_t len;
        const uint8_t *bytes = cn_tokenizer_token_bytes(tok, id, &len);
        if (!bytes || (len == 0 && !is_added[id])) continue; /* stays ABSENT */
        st = cn_token_bytes_set(tb, id, bytes, len, is_added[id] ? CN_TOKEN_CONTROL : CN_TOKEN_TEXT, err);
    }
    free(is_added);
    if (st != CN_OK) {
        cn_token_bytes_free(tb);
        return st;
    }
    *out = tb;
    return CN_OK;
}
