/* The persistent prefix store (specs/kv-store.md 7.2): sequence states saved under a directory,
 * keyed by the token ids they hold, so that a request that extends an earlier conversation
 * resumes from the longest stored prefix, also after a restart. Files are checksummed and
 * written temp -> fsync -> rename -> fsync(dir); a corrupt, truncated or foreign file is detected
 * and ignored (never loaded); the directory is kept under a byte budget by evicting the least
 * recently used entries. Immutable prefix chunks are shared between conversations, so the later
 * spill of long contexts off-chip can reuse this store rather than replace it.
 *
 * One store is used by one thread at a time (the serving engine's). */
#ifndef CN_KV_STORE_H
#define CN_KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/state.h"

typedef struct cn_kv_store cn_kv_store;

typedef struct {
    uint64_t saves, save_bytes;
    uint64_t hits, misses;
    uint64_t rejected;  /* files found corrupt, truncated or from another model, and dropped */
    uint64_t evicted;
    size_t bytes;       /* on disk now */
} cn_kv_store_stats;

/* Opens (creating) the store for one model and state layout under dir: model_identity names the
 * weights; `like` is an empty state of that model with the row encodings in use (its shapes and
 * encodings are part of the fingerprint, so states of another layout are never mixed in).
 * budget_bytes 0: 8 GiB. */
cn_status cn_kv_store_open(const char *dir, const char *model_identity, const cn_kv_state *like, size_t budget_bytes,
                           cn_kv_store **out, cn_error *err);
void cn_kv_store_close(cn_kv_store *store);

/* Saves st, which holds ids[0..n) (st->n_tokens == n). Durable when it returns. */
cn_status cn_kv_store_save(cn_kv_store *store, const int32_t *ids, size_t n, const cn_kv_state *st, cn_error *err);

/* Finds the longest stored prefix of ids[0..n) and restores it into st (initialised with the
 * store's shapes); *matched is its length (0, st untouched, when none). Damaged entries are
 * skipped and removed; only a failure to read the directory at all is an error. */
cn_status cn_kv_store_restore_longest(cn_kv_store *store, const int32_t *ids, size_t n, cn_kv_state *st,
                                      size_t *matched, cn_error *err);

void cn_kv_store_stats_get(const cn_kv_store *store, cn_kv_store_stats *out);

#endif
