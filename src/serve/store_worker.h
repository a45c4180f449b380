/* The serving engine's kv-store thread: it owns the persistent prefix store (kv/store.h, which is
 * single-threaded) and runs save and restore jobs on it one at a time, so the engine thread never
 * waits for a disk: a save (chunks and a checkpoint written and fsynced, up to a second or more
 * for a long context) or a restore (every chunk read and verified) runs while the engine keeps
 * stepping the other sequences. Restores go first, in the order submitted, then saves in theirs:
 * a request waiting for its restore should not wait for saves queued before it, and it needs
 * none of them committed, since a state still waiting to be saved is in memory, where the engine
 * looks first. A restore does wait for the save in progress (the store is single-threaded).
 *
 * A job's memory (ids, state) is the submitter's and must stay valid and, for a save, unchanged
 * until `done` is called for it (on the worker thread, after the operation). */
#ifndef CN_SERVE_STORE_WORKER_H
#define CN_SERVE_STORE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/state.h"
#include "kv/store.h"

typedef enum {
    SERVE_STORE_SAVE,    /* cn_kv_store_save(ids[0..n), state) */
    SERVE_STORE_RESTORE, /* cn_kv_store_restore_longest(ids[0..n), state): state initialised, at position 0 */
} serve_store_op;

typedef struct serve_store_job {
    serve_store_op op;
    const int32_t *ids;
    size_t n;
    cn_kv_state *state;
    /* Results, set before done is called. */
    cn_status status;
    cn_error error;
    size_t matched;          /* RESTORE: positions restored (0: none) */
    cn_kv_store_stats stats; /* the store's counters after this job */
    struct serve_store_job *next; /* the worker's queue link */
} serve_store_job;

typedef void (*serve_store_done_fn)(void *context, serve_store_job *job);

typedef struct serve_store_worker serve_store_worker;

/* Starts the thread. The store stays the caller's (closed after serve_store_worker_stop). */
cn_status serve_store_worker_start(cn_kv_store *store, serve_store_done_fn done, void *context,
                                   serve_store_worker **out, cn_error *err);

/* Queues a job (never blocks on the store). */
void serve_store_worker_submit(serve_store_worker *w, serve_store_job *job);

/* Blocks until every job submitted before the call has run and its done callback returned. */
void serve_store_worker_wait_idle(serve_store_worker *w);

/* Runs every job still queued, then stops and joins the thread and frees the worker. */
void serve_store_worker_stop(serve_store_worker *w);

#endif
