/* The added-token trie. Children are sibling lists: a few hundred nodes branch at all, and the
 * first-byte bit set keeps ordinary text from walking the trie at every position. */
#include "text/tokenizer_added.h"

#include <stdlib.h>
#include <string.h>

static cn_status new_node(cn_added_trie *trie, uint8_t byte, int32_t *index, cn_error *err) {
    if (trie->n_nodes == trie->cap) {
        size_t cap = trie->cap ? 2 * trie->cap : 1024;
        cn_added_trie_node *grown = realloc(trie->nodes, cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "tokenizer: out of memory for added tokens");
        trie->nodes = grown;
        trie->cap = cap;
    }
    *index = (int32_t)trie->n_nodes++;
    trie->nodes[*index] = (cn_added_trie_node){-1, -1, -1, byte};
    return CN_OK;
}

cn_status cn_added_trie_init(cn_added_trie *trie, cn_error *err) {
    memset(trie, 0, sizeof *trie);
    int32_t root;
    return new_node(trie, 0, &root, err);
}

void cn_added_trie_free(cn_added_trie *trie) {
    free(trie->nodes);
    memset(trie, 0, sizeof *trie);
}

static int32_t child_of(const cn_added_trie *trie, int32_t node, uint8_t byte) {
    for (int32_t c = trie->nodes[node].first_child; c >= 0; c = trie->nodes[c].next_sibling)
        if (trie->nodes[c].byte == byte) return c;
    return -1;
}

cn_status cn_added_trie_insert(cn_added_trie *trie, const uint8_t *content, size_t len, int32_t token, cn_error *err) {
    if (len == 0) return cn_fail(err, CN_ERR_FORMAT, "tokenizer: added token %d is empty", (int)token);
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t child = child_of(trie, node, content[i]);
        if (child < 0) {
            cn_status st = new_node(trie, content[i], &child, err);
            if (st != CN_OK) return st;
            trie->nodes[child].next_sibling = trie->nodes[node].first_child;
            trie->nodes[node].first_child = child;
        }
        node = child;
    }
    if (trie->nodes[node].token < 0) {
        trie->nodes[node].token = token;
        trie->n_tokens++;
    }
    trie->first_bytes[content[0] >> 3] |= (uint8_t)(1u << (content[0] & 7));
    return CN_OK;
}

bool cn_added_trie_find(const cn_added_trie *trie, const uint8_t *text, size_t start, size_t end,
                        bool (*accept)(const void *ctx, int32_t token), const void *ctx, size_t *match_start,
                        size_t *match_end, int32_t *token) {
    if (trie->n_tokens == 0) return false;
    for (size_t pos = start; pos < end; pos++) {
        if (!(trie->first_bytes[text[pos] >> 3] & (1u << (text[pos] & 7)))) continue;
        int32_t node = 0, best = -1;
        size_t best_end = pos;
        for (size_t i = pos; i < end; i++) {
            node = child_of(trie, node, text[i]);
            if (node < 0) break;
            int32_t t = trie->nodes[node].token;
            if (t >= 0 && (!accept || accept(ctx, t))) {
                best = t;
                best_end = i + 1;
            }
        }
        if (best >= 0) {
            *match_start = pos;
            *match_end = best_end;
            *token = best;
            return true;
        }
    }
    return false;
}

int32_t cn_added_trie_exact(const cn_added_trie *trie, const uint8_t *s, size_t len) {
    int32_t node = 0;
    for (size_t i = 0; i < len && node >= 0; i++) node = child_of(trie, node, s[i]);
    return node > 0 ? trie->nodes[node].token : -1;
}
