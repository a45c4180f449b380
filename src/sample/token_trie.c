/* See token_trie.h. Inserting the tokens in byte order creates the trie's nodes in preorder, so
 * a node's subtree is the contiguous range [i, i + subtree[i]) and the walk is a single forward
 * scan: accept a node's byte and go to i + 1, or reject it and jump past its subtree. */
/* qsort_r is GNU (the build defines _GNU_SOURCE, as sampler.c relies on) */
#include "sample/token_trie.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t subtree; /* nodes in this subtree, itself included */
    int32_t token;    /* the first TEXT id spelled by the path to here, or -1 */
    uint16_t depth;   /* bytes from the root (root 0) */
    uint8_t byte;     /* the edge byte into this node */
} trie_node;

struct cn_token_trie {
    trie_node *nodes;
    size_t n_nodes;
    int32_t *same_next; /* per id: the next id with the same bytes, or -1 */
    size_t max_depth;
};

static int compare_ids(const void *a, const void *b, void *ctx) {
    const cn_token_bytes *tb = ctx;
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    size_t la, lb;
    const uint8_t *x = cn_token_bytes_get(tb, ia, &la);
    const uint8_t *y = cn_token_bytes_get(tb, ib, &lb);
    int c = memcmp(x, y, la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return (ia > ib) - (ia < ib);
}

void cn_token_trie_free(cn_token_trie *trie) {
    if (!trie) return;
    free(trie->nodes);
    free(trie->same_next);
    free(trie);
}

cn_status cn_token_trie_build(const cn_token_bytes *tb, cn_token_trie **out, cn_error *err) {
    return cn_token_trie_build_subset(tb, NULL, out, err);
}

cn_status cn_token_trie_build_subset(const cn_token_bytes *tb, const uint64_t *include, cn_token_trie **out,
                                     cn_error *err) {
    *out = NULL;
    int32_t n_ids = cn_token_bytes_count(tb);
    size_t max_len = cn_token_bytes_max_len(tb);
    if (max_len > UINT16_MAX) return cn_fail(err, CN_ERR_ARG, "token trie: a token of %zu bytes is too long", max_len);
    int32_t *ids = malloc((size_t)n_ids * sizeof *ids);
    size_t *path = malloc((max_len + 1) * sizeof *path); /* node index per depth of the previous token */
    cn_token_trie *trie = calloc(1, sizeof *trie);
    size_t total_bytes = 0, n_text = 0;
    if (ids)
        for (int32_t id = 0; id < n_ids; id++)
            if (cn_token_bytes_kind(tb, id) == CN_TOKEN_TEXT && (!include || (include[id >> 6] >> (id & 63) & 1))) {
                size_t len;
                cn_token_bytes_get(tb, id, &len);
                ids[n_text++] = id;
                total_bytes += len;
            }
    if (trie) {
        trie->nodes = malloc((total_bytes + 1) * sizeof *trie->nodes);
        trie->same_next = malloc((size_t)n_ids * sizeof *trie->same_next);
    }
    if (!ids || !path || !trie || !trie->nodes || !trie->same_next) {
        free(ids);
        free(path);
        cn_token_trie_free(trie);
        return cn_fail(err, CN_ERR_NOMEM, "token trie: out of memory");
    }
    qsort_r(ids, n_text, sizeof *ids, compare_ids, (void *)tb);
    for (int32_t id = 0; id < n_ids; id++) trie->same_next[id] = -1;

    trie->nodes[0] = (trie_node){.subtree = 1, .token = -1, .depth = 0, .byte = 0};
    size_t n_nodes = 1, prev_len = 0;
    const uint8_t *prev = NULL;
    path[0] = 0;
    for (size_t k = 0; k < n_text; k++) {
        size_t len;
        const uint8_t *b = cn_token_bytes_get(tb, ids[k], &len);
        size_t common = 0;
        while (prev && common < len && common < prev_len && b[common] == prev[common]) common++;
        if (prev && common == len && len == prev_len) { /* same bytes as the previous id */
            int32_t at = trie->nodes[path[len]].token;
            while (trie->same_next[at] >= 0) at = trie->same_next[at];
            trie->same_next[at] = ids[k];
            continue;
        }
        for (size_t d = common + 1; d <= len; d++) {
            trie->nodes[n_nodes] = (trie_node){.subtree = 1, .token = -1, .depth = (uint16_t)d, .byte = b[d - 1]};
            path[d] = n_nodes++;
        }
        trie->nodes[path[len]].token = ids[k];
        if (len > trie->max_depth) trie->max_depth = len;
        prev = b;
        prev_len = len;
    }
    /* Subtree sizes: in preorder the subtree of node i ends where the next node at its depth or
     * shallower begins. path[d] holds the open node at depth d. */
    size_t open_depth = 0;
    path[0] = 0;
    for (size_t i = 1; i <= n_nodes; i++) {
        size_t d = i < n_nodes ? trie->nodes[i].depth : 0;
        while (open_depth >= d && open_depth > 0) {
            size_t j = path[open_depth--];
            trie->nodes[j].subtree = (uint32_t)(i - j);
        }
        if (i < n_nodes) path[++open_depth] = i;
    }
    trie->nodes[0].subtree = (uint32_t)n_nodes;
    free(ids);
    free(path);
    trie->n_nodes = n_nodes;
    *out = trie;
    return CN_OK;
}

size_t cn_token_trie_max_depth(const cn_token_trie *trie) { return trie->max_depth; }
size_t cn_token_trie_node_count(const cn_token_trie *trie) { return trie->n_nodes; }

int64_t cn_token_trie_walk(const cn_token_trie *trie, const void *start, size_t state_size, cn_byte_step_fn step,
                           void *context, void *scratch, uint64_t *allowed) {
    uint8_t *states = scratch;
    memcpy(states, start, state_size);
    const trie_node *nodes = trie->nodes;
    int64_t count = 0;
    size_t i = 1;
    while (i < trie->n_nodes) {
        const trie_node *node = &nodes[i];
        uint8_t *state = states + (size_t)node->depth * state_size;
        memcpy(state, state - state_size, state_size);
        if (!step(context, state, node->byte)) {
            i += node->subtree;
            continue;
        }
        for (int32_t id = node->token; id >= 0; id = trie->same_next[id]) {
            allowed[id >> 6] |= 1ull << (id & 63);
            count++;
        }
        i++;
    }
    return count;
}
