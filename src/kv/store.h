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

/* Steps of the commit protocol (specs/kv-store.md 6.4), reported to a test's fault hook after
 * each one completes, so a test can stop the protocol there (a simulated crash) or make the step
 * fail (a simulated EIO / failed fsync). */
typedef enum {
    CN_KV_STEP_WRITE,         /* a temporary file's bytes are written */
    CN_KV_STEP_FSYNC_FILE,    /* ... and fsynced */
    CN_KV_STEP_RENAME,        /* ... and renamed to its final name */
    CN_KV_STEP_FSYNC_DIR,     /* the directory is fsynced */
    CN_KV_STEP_JOURNAL_WRITE, /* a journal record is appended */
    CN_KV_STEP_JOURNAL_FSYNC, /* ... and fsynced: a COMMIT record is now the commit point */
    CN_KV_STEP_UNLINK,        /* a file is removed (eviction, damage) */
} cn_kv_store_step;

typedef enum {
    CN_KV_FAULT_NONE = 0,  /* go on */
    CN_KV_FAULT_CRASH = 1, /* stop here as if the process died: the store does nothing more and
                              refuses every later call but close; reopen the directory to recover */
    CN_KV_FAULT_FAIL = 2,  /* the step fails with an I/O error, handled as a real one */
} cn_kv_store_fault;

typedef struct {
    size_t budget_bytes;  /* 0: 8 GiB */
    int64_t chunk_tokens; /* positions per immutable chunk: a multiple of 128 that every compress
                             ratio divides; 0: 2048 (the production value) */
    /* Tests only: called after every step of the commit protocol; NULL in production. */
    cn_kv_store_fault (*fault)(void *ctx, cn_kv_store_step step, const char *file);
    void *fault_ctx;
} cn_kv_store_options;

/* Opens (creating) the store for one model and state layout under dir: model_identity names the
 * weights; `like` is an empty state of that model with the row encodings in use (its shapes and
 * encodings are part of the fingerprint, so states of another layout are never mixed in).
 * budget_bytes 0: 8 GiB. The directory <dir>/<fingerprint>/ is locked (flock) while open: a
 * second store over the same model directory gets CN_ERR_BUSY. Recovery happens here: the
 * journal's valid prefix is the committed state; uncommitted and unreferenced files are removed. */
cn_status cn_kv_store_open(const char *dir, const char *model_identity, const cn_kv_state *like, size_t budget_bytes,
                           cn_kv_store **out, cn_error *err);
cn_status cn_kv_store_open_opts(const char *dir, const char *model_identity, const cn_kv_state *like,
                                const cn_kv_store_options *options, cn_kv_store **out, cn_error *err);
void cn_kv_store_close(cn_kv_store *store);

/* The directory holding this store's files (<dir>/<fingerprint hex>). */
const char *cn_kv_store_path(const cn_kv_store *store);

/* Saves st, which holds ids[0..n) (st->n_tokens == n). Durable when it returns CN_OK: the chunks
 * of every complete span not stored yet, then a checkpoint of the mutable state, then a COMMIT
 * record in the journal, each written temp -> fsync -> rename -> fsync(dir). Saving a prefix that
 * is stored already only marks it used. A failed write or fsync returns CN_ERR_IO and leaves the
 * previous commit intact. May evict least recently used entries to stay under the budget. */
cn_status cn_kv_store_save(cn_kv_store *store, const int32_t *ids, size_t n, const cn_kv_state *st, cn_error *err);

/* Finds the longest stored prefix of ids[0..n) and restores it into st (initialised with the
 * store's shapes, at position 0); *matched is its length (0, st left at position 0, when none).
 * Every file is validated before a byte of it reaches st; damaged entries are skipped, counted in
 * stats.rejected and removed, and the next shorter stored prefix is tried. A caller that needs the
 * logits of the last prompt token passes n - 1. Only misuse (a state of another layout) is an
 * error. */
cn_status cn_kv_store_restore_longest(cn_kv_store *store, const int32_t *ids, size_t n, cn_kv_state *st,
                                      size_t *matched, cn_error *err);

void cn_kv_store_stats_get(const cn_kv_store *store, cn_kv_store_stats *out);

#endif
