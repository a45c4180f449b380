/* The TEXT tokens of a vocabulary (sample/token_bytes.h) as a byte trie laid out in preorder, so
 * a grammar can find every token it allows in one pass: a token's bytes are run through the
 * grammar's byte automaton once per distinct prefix instead of once per token, and a rejected
 * prefix skips its whole subtree (after '{' in JSON, the ~50,000 tokens starting with a letter
 * cost one step). Built once per vocabulary, read-only afterwards. */
#ifndef CN_SAMPLE_TOKEN_TRIE_H
#define CN_SAMPLE_TOKEN_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sample/token_bytes.h"

typedef struct cn_token_trie cn_token_trie;

cn_status cn_token_trie_build(const cn_token_bytes *tb, cn_token_trie **out, cn_error *err);
/* The same over the TEXT tokens whose bit is set in include (a bitset over ids). */
cn_status cn_token_trie_build_subset(const cn_token_bytes *tb, const uint64_t *include, cn_token_trie **out,
                                     cn_error *err);
void cn_token_trie_free(cn_token_trie *trie);

/* The longest token in bytes. */
size_t cn_token_trie_max_depth(const cn_token_trie *trie);
/* The scratch a walk with states of state_size bytes needs (one state per depth, and where it is
 * among the children there). Suitably aligned memory from malloc. */
size_t cn_token_trie_scratch_size(const cn_token_trie *trie, size_t state_size);
/* Trie nodes, root included (for reports). */
size_t cn_token_trie_node_count(const cn_token_trie *trie);

/* One byte of a grammar: advances *state (state_size bytes, copied by value between trie levels)
 * over byte; false when the grammar rejects it (*state is then garbage). */
typedef bool (*cn_byte_step_fn)(void *context, void *state, uint8_t byte);

/* Sets bit id of allowed (a bitset of the vocabulary's ids, 64 per word; bits are only set, never
 * cleared) for every TEXT token whose bytes step accepts from start, and returns how many.
 * scratch holds cn_token_trie_scratch_size bytes. state_size must keep uint32_t alignment
 * (a multiple of 4). */
int64_t cn_token_trie_walk(const cn_token_trie *trie, const void *start, size_t state_size, cn_byte_step_fn step,
                           void *context, void *scratch, uint64_t *allowed);

#endif
