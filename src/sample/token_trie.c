/* See token_trie.h. Inserting the tokens in byte order creates the trie's nodes in preorder (a
 * node's subtree is the range [i, i + subtree[i])); the walk then uses a second layout where the
 * children of a node are contiguous, so testing a node's children reads a few cache lines
 * instead of one scattered node per child (the 256 first-level subtrees of a 129k vocabulary are
 * megabytes apart in preorder: 40 us of cache misses per mask even when all are rejected). */
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
    trie_node *nodes; /* preorder, used while building */
    size_t n_nodes;
    int32_t *same_next; /* per id: the next id with the same bytes, or -1 */
    size_t max_depth;
    /* breadth-first layout: the children of node i are first_child[i] .. + n_children[i] */
    uint32_t *first_child;
    uint16_t *n_children;
    uint8_t *byte;
    int32_t *token;
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

/* The children-contiguous layout from the preorder one: nodes numbered in breadth-first order, so
 * each node's children get consecutive numbers. */
static cn_status breadth_first(cn_token_trie *trie, cn_error *err) {
    size_t n = trie->n_nodes;
    uint32_t *queue = malloc(n * sizeof *queue); /* preorder index of each breadth-first node */
    trie->first_child = malloc(n * sizeof *trie->first_child);
    trie->n_children = malloc(n * sizeof *trie->n_children);
    trie->byte = malloc(n);
    trie->token = malloc(n * sizeof *trie->token);
    if (!queue || !trie->first_child || !trie->n_children || !trie->byte || !trie->token) {
        free(queue);
        return cn_fail(err, CN_ERR_NOMEM, "token trie: out of memory");
    }
    size_t head = 0, tail = 0;
    queue[tail++] = 0;
    while (head < tail) {
        size_t k = head++;
        const trie_node *node = &trie->nodes[queue[k]];
        trie->byte[k] = node->byte;
        trie->token[k] = node->token;
        trie->first_child[k] = (uint32_t)tail;
        uint32_t children = 0;
        for (size_t j = queue[k] + 1; j < queue[k] + node->subtree; j += trie->nodes[j].subtree) {
            queue[tail++] = (uint32_t)j;
            children++;
        }
        trie->n_children[k] = (uint16_t)children; /* at most 256: one per byte value */
    }
    free(queue);
    return CN_OK;
}

void cn_token_trie_free(cn_token_trie *trie) {
    if (!trie) return;
    free(trie->first_child);
    free(trie->n_children);
    free(trie->byte);
    free(trie->token);
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
    cn_status st = breadth_first(trie, err);
    free(trie->nodes);
    trie->nodes = NULL;
    if (st != CN_OK) {
        cn_token_trie_free(trie);
        return st;
    }
    *out = trie;
    return CN_OK;
}

size_t cn_token_trie_max_depth(const cn_token_trie *trie) { return trie->max_depth; }
size_t cn_token_trie_node_count(const cn_token_trie *trie) { return trie->n_nodes; }

size_t cn_token_trie_scratch_size(const cn_token_trie *trie, size_t state_size) {
    return (trie->max_depth + 1) * (state_size + 2 * sizeof(uint32_t));
}

int64_t cn_token_trie_walk(const cn_token_trie *trie, const void *start, size_t state_size, cn_byte_step_fn step,
                           void *context, void *scratch, uint64_t *allowed) {
    /* scratch: per depth, the state after the path so far, then the child range being tried */
    uint8_t *states = scratch;
    uint32_t *next = (uint32_t *)(void *)(states + (trie->max_depth + 1) * state_size);
    uint32_t *end = next + trie->max_depth + 1;
    memcpy(states, start, state_size);
    int64_t count = 0;
    size_t d = 0;
    next[0] = trie->first_child[0];
    end[0] = next[0] + trie->n_children[0];
    for (;;) {
        if (next[d] == end[d]) {
            if (d == 0) break;
            d--;
            continue;
        }
        uint32_t c = next[d]++;
        uint8_t *state = states + (d + 1) * state_size;
        memcpy(state, states + d * state_size, state_size);
        if (!step(context, state, trie->byte[c])) continue;
        for (int32_t id = trie->token[c]; id >= 0; id = trie->same_next[id]) {
            allowed[id >> 6] |= 1ull << (id & 63);
            count++;
        }
        if (trie->n_children[c]) {
            d++;
            next[d] = trie->first_child[c];
            end[d] = next[d] + trie->n_children[c];
        }
    }
    return count;
}
