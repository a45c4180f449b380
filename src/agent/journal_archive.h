/* Archiving the journal's old events (docs/agent.md, "Archives"): once the live events table
 * holds more than a threshold of events, the oldest ones are moved, sealed, into an immutable
 * file RUN_DIR/archive/events-FIRST-LAST.jsonl, so journal.db stops growing on long runs while
 * the hash chain stays whole across archives and the live table (journal_verify.h).
 *
 * Resume never reads events: the run's state is the state tables written in the same
 * transactions (run.h), so every committed event may be archived; `agent log` and `agent verify`
 * read archives and the live table as one sequence.
 *
 * The protocol, each step a durable boundary (journal.h's hook names them):
 *   1. archive/.events-F-L.jsonl.tmp written and fsync'd             ("archive_written")
 *   2. renamed to events-F-L.jsonl, the directory fsync'd            ("archive_renamed")
 *   3. one transaction: an `archive` event (file, range, first prev_hash, last hash, the file's
 *      SHA-256 and size), the rows and checkpoints of the range deleted, an `archives` row, a
 *      signed checkpoint at the archive event                          ("archive_commit")
 *   4. PRAGMA incremental_vacuum and a WAL checkpoint: the file shrinks ("archive_vacuumed")
 * A kill before 3 leaves the rows in the database and a temporary or unrecorded file, which the
 * next runner removes (cn_archive_clean); after 3 the archive is part of the chain.
 *
 * File format: JSON Lines. Line 1 {"format":"clawnet-agent-archive-v1","run_id","first","last"};
 * then one line per event in seq order {"seq","kind","prev_hash","hash","payload"} (hashes in
 * hex; payload the exact stored bytes as a JSON string, or "payload_hex" when they are not
 * UTF-8 text without NUL; "run_id" only when it differs from the header's), each followed by
 * the checkpoint signed at it, if any: {"checkpoint": seq, "head", "signature"}.
 */
#ifndef CN_AGENT_JOURNAL_ARCHIVE_H
#define CN_AGENT_JOURNAL_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/journal.h"
#include "base/error.h"

#define CN_ARCHIVE_DIR "archive"
#define CN_ARCHIVE_FORMAT "clawnet-agent-archive-v1"
/* The default threshold (agent run --archive-events), also for journals made before archiving:
 * about 12 MB of events at the ~600 bytes an event takes in a typical run. */
#define CN_ARCHIVE_DEFAULT_EVENTS 20000

/* The archives table (first seq PRIMARY KEY, last, file name, sha256 of the file, bytes, hash of
 * the last event). */
cn_status cn_archive_schema(cn_journal *j, cn_error *err);

/* Removes what a kill during archiving left in RUN_DIR/archive: temporaries, and finished files
 * that no archives row records while their first event is still in the live table (the commit
 * never happened). Anything else is left alone (verify reports it). */
cn_status cn_archive_clean(cn_journal *j, const char *run_dir, int64_t *removed, cn_error *err);

/* When the live table holds more than threshold events (threshold > 0), archives the oldest,
 * keeping the newest threshold / 2, by the protocol above. *archived: events moved (0: none). */
cn_status cn_archive_maybe(cn_journal *j, const char *run_dir, int64_t threshold, int64_t *archived, cn_error *err);

/* One event as read from an archive or the live table; pointers valid during the callback. */
typedef struct {
    int64_t seq;
    const char *run_id, *kind;
    const unsigned char *payload, *prev_hash, *hash;
    size_t payload_len, prev_hash_len, hash_len;
} cn_archive_event;

/* The live events table's columns in the order cn_archive_event_from_row reads them: select
 * them first ("SELECT " CN_ARCHIVE_EVENT_COLUMNS " FROM events ..."). */
#define CN_ARCHIVE_EVENT_COLUMNS "seq, run_id, kind, payload, prev_hash, hash"

/* The event in the current row of a statement selecting CN_ARCHIVE_EVENT_COLUMNS (a NULL run_id
 * or kind reads as ""); its pointers are valid until the statement steps again. */
void cn_archive_event_from_row(sqlite3_stmt *st, cn_archive_event *ev);

/* One checkpoint line of an archive. */
typedef struct {
    int64_t seq;
    const unsigned char *head, *signature;
    size_t head_len, signature_len;
} cn_archive_checkpoint;

typedef struct {
    void *ctx;
    /* Return false to stop reading (the read then ends with CN_OK). */
    bool (*event)(void *ctx, const cn_archive_event *ev);
    bool (*checkpoint)(void *ctx, const cn_archive_checkpoint *cp); /* may be NULL */
} cn_archive_visitor;

typedef struct {
    int64_t first, last;    /* from the header line */
    char run_id[64];
    unsigned char sha256[32]; /* of the file's bytes as read */
    int64_t bytes;
    bool stopped;           /* the visitor stopped early (sha256 and bytes then cover less) */
} cn_archive_file_info;

/* Reads one archive file line by line, calling the visitor; a line that is not in the format is
 * an error naming the file and line (CN_ERR_FORMAT); a missing file CN_ERR_MISSING. */
cn_status cn_archive_read_file(const char *path, const cn_archive_visitor *v, cn_archive_file_info *info, cn_error *err);

/* Every event with seq > after, from the archives (in order) then the live table, inside one
 * read transaction of the given database so a concurrent archiving cannot hide events. */
cn_status cn_archive_foreach_event(sqlite3 *db, const char *run_dir, int64_t after, const cn_archive_visitor *v,
                                   cn_error *err);

#endif
