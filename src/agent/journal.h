/* The agent's journal: one SQLite database per run (WAL, synchronous=FULL) holding an append-only,
 * hash-chained table of events and, beside it, the run's state tables. Every event is written in
 * the same transaction as the state it implies (docs/agent.md, "Journal first"), so after a crash
 * the database holds either both or neither.
 *
 * Schema owned here (the run's own state tables belong to agent/run.c):
 *   events(seq INTEGER PRIMARY KEY, run_id TEXT, kind TEXT, payload BLOB, prev_hash BLOB, hash BLOB)
 *   checkpoints(seq INTEGER PRIMARY KEY, head BLOB, signature BLOB)   -- Ed25519 over the chain head
 *   journal_head(id=1, seq, hash)                                      -- the last event, same txn
 *   archives(first, last, file, sha256, bytes, last_hash)  -- event ranges moved out (journal_archive.h)
 *
 * The database is created with auto_vacuum=INCREMENTAL so that archiving can hand the pages of
 * archived events back to the file system (journal_archive.c converts journals made before).
 */
#ifndef CN_AGENT_JOURNAL_H
#define CN_AGENT_JOURNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "base/error.h"

typedef struct cn_journal cn_journal;

/* Called right after each durable boundary with the number of boundaries this handle has passed
 * (1-based) and the boundary's name: "commit" for a COMMIT that returned, or one of the steps of
 * archiving (journal_archive.h: "archive_written", "archive_renamed", "archive_commit",
 * "archive_vacuumed"). The CLI uses it for the test-only crash hooks CLAWNET_AGENT_CRASH_AT and
 * CLAWNET_AGENT_CRASH_AT_ARCHIVE. */
typedef void (*cn_journal_commit_hook)(void *ctx, int64_t commits, const char *point);

/* Opens (creating if needed) the journal at path. checkpoint_every: sign the chain head every
 * that many events (0: only on explicit cn_journal_checkpoint). secret_key may be NULL for a
 * read-only user (status, log, verify); appending then fails. */
cn_status cn_journal_open(const char *path, const char *run_id,
                          const unsigned char secret_key[crypto_sign_SECRETKEYBYTES], int checkpoint_every,
                          cn_journal **out, cn_error *err);
void cn_journal_close(cn_journal *j);

sqlite3 *cn_journal_db(cn_journal *j);
const char *cn_journal_run_id(const cn_journal *j);
void cn_journal_set_commit_hook(cn_journal *j, cn_journal_commit_hook hook, void *ctx);

/* BEGIN IMMEDIATE: takes the write lock, so the chain head read by cn_journal_append cannot move
 * under us even when another process (agent stop) appends concurrently. */
cn_status cn_journal_begin(cn_journal *j, cn_error *err);
cn_status cn_journal_commit(cn_journal *j, cn_error *err);
/* COMMIT reported to the hook as boundary `point` (journal_archive.c's own transaction). */
cn_status cn_journal_commit_point(cn_journal *j, const char *point, cn_error *err);
/* Reports a durable boundary that is not a COMMIT (an archive file fsync'd or renamed). */
void cn_journal_boundary(cn_journal *j, const char *point);
void cn_journal_rollback(cn_journal *j);

/* Appends one event inside the open transaction: seq = head + 1, prev_hash = head's hash, hash
 * from cn_audit_event_hash over the exact payload bytes; signs a checkpoint when due. */
cn_status cn_journal_append(cn_journal *j, const char *kind, const void *payload, size_t payload_len,
                            int64_t *seq_out, cn_error *err);
/* The chain head as recorded: (0, zeros) before the first event. */
cn_status cn_journal_head(cn_journal *j, int64_t *seq, unsigned char hash[32], cn_error *err);
/* Signs the current head (at run end). Inside an open transaction. */
cn_status cn_journal_checkpoint(cn_journal *j, cn_error *err);

/* Runs SQL without results (schema, simple updates); message names the statement's purpose. */
cn_status cn_journal_exec(cn_journal *j, const char *sql, cn_error *err);
/* Prepares a statement or fails with SQLite's message. */
cn_status cn_journal_prepare(cn_journal *j, const char *sql, sqlite3_stmt **out, cn_error *err);
/* Runs a write statement with up to two text parameters (?1 = a, ?2 = b; NULL leaves one unbound). */
cn_status cn_journal_exec_text(cn_journal *j, const char *sql, const char *a, const char *b, cn_error *err);
/* Steps a write statement to SQLITE_DONE and finalizes it. */
cn_status cn_journal_step_done(cn_journal *j, sqlite3_stmt *st, cn_error *err);

#endif
