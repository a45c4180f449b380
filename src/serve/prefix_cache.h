/* The serving engine's in-memory prefix cache: copies of sequence states keyed by the exact token
 * ids they hold, each with the logits of its last position, kept under a byte budget by evicting
 * the least recently used. A request whose prompt starts with an entry's ids resumes from a copy
 * of that state and feeds only the rest (specs/kv-store.md 7.1: "logits of the checkpoint
 * position lets a restored session sample without a step"): with the logits stored, an entry may
 * cover the whole prompt, so a repeated prompt costs no forward at all before its first token.
 *
 * Lookup is a linear scan comparing ids, which is cheap next to one forward step for the few
 * hundred entries a memory budget holds. Used by the engine thread alone: no locking. */
#ifndef CN_SERVE_PREFIX_CACHE_H
#define CN_SERVE_PREFIX_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/state.h"

typedef struct cn_prefix_cache cn_prefix_cache;

/* budget_bytes counts states (cn_kv_state_bytes), ids and logits; vocab is the logits' length. */
cn_status cn_prefix_cache_create(size_t budget_bytes, int64_t vocab, cn_prefix_cache **out, cn_error *err);
void cn_prefix_cache_free(cn_prefix_cache *cache);

/* Finds the longest entry whose ids are a prefix of ids[0..n) (the whole of it included) and
 * initialises *st as a copy of its state and logits[vocab] as its logits; *matched is its length,
 * 0 when there is none (st and logits untouched). The entry becomes the most recently used. */
cn_status cn_prefix_cache_restore_longest(cn_prefix_cache *cache, const int32_t *ids, size_t n, cn_kv_state *st,
                                          float *logits, size_t *matched, cn_error *err);

/* Stores a copy of st, which holds ids[0..n) (st->n_tokens == n), with the logits of position
 * n-1. An entry with the same ids is only refreshed; one larger than the whole budget is not
 * stored. Older entries are evicted to stay within the budget. */
cn_status cn_prefix_cache_store(cn_prefix_cache *cache, const int32_t *ids, size_t n, const cn_kv_state *st,
                                const float *logits, cn_error *err);
/* The same, taking st itself instead of a copy (st is emptied: freed or moved into the cache). */
cn_status cn_prefix_cache_store_take(cn_prefix_cache *cache, const int32_t *ids, size_t n, cn_kv_state *st,
                                     const float *logits, cn_error *err);

size_t cn_prefix_cache_bytes(const cn_prefix_cache *cache);
size_t cn_prefix_cache_entries(const cn_prefix_cache *cache);

#endif
