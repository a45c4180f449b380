/* Added tokens (tokenizer.json "added_tokens"): a byte trie searched leftmost-longest, as HF's
 * Aho-Corasick (MatchKind::LeftmostLongest) finds them: the earliest position where any token
 * starts wins, and there the longest token. Patterns are valid UTF-8, so matches fall on
 * character boundaries of valid text. */
#ifndef CN_TEXT_TOKENIZER_ADDED_H
#define CN_TEXT_TOKENIZER_ADDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    int32_t first_child, next_sibling; /* node indices, -1 for none */
    int32_t token;                     /* the token ending here, -1 for none */
    uint8_t byte;                      /* the edge byte into this node */
} cn_added_trie_node;

typedef struct {
    cn_added_trie_node *nodes; /* node 0 is the root */
    size_t n_nodes, cap;
    uint8_t first_bytes[32]; /* bit set: bytes that start some token, to skip text quickly */
    size_t n_tokens;
} cn_added_trie;

cn_status cn_added_trie_init(cn_added_trie *trie, cn_error *err);
void cn_added_trie_free(cn_added_trie *trie);

/* Adds a token's content (non-empty); a repeated content keeps the first id. */
cn_status cn_added_trie_insert(cn_added_trie *trie, const uint8_t *content, size_t len, int32_t token, cn_error *err);

/* Leftmost-longest search in text[start, end) among tokens for which accept(ctx, token) holds
 * (accept NULL = all). Returns true with [*match_start, *match_end) and *token on a match. */
bool cn_added_trie_find(const cn_added_trie *trie, const uint8_t *text, size_t start, size_t end,
                        bool (*accept)(const void *ctx, int32_t token), const void *ctx, size_t *match_start,
                        size_t *match_end, int32_t *token);

/* The token whose content is exactly s[0, len), or -1. */
int32_t cn_added_trie_exact(const cn_added_trie *trie, const uint8_t *s, size_t len);

#endif
