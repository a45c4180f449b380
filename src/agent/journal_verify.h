/* `agent verify`: the whole audit trail of a run, checked read-only (docs/agent.md, "Audit"):
 * the hash chain from event 1 through every archive file (journal_archive.h) in order and on
 * through the live events table, every signed checkpoint (archived or live), the recorded chain
 * head, each archive file's SHA-256 against its archives row and against the `archive` event the
 * chain recorded for it, and, for an ended run, a checkpoint covering the last event. */
#ifndef CN_AGENT_JOURNAL_VERIFY_H
#define CN_AGENT_JOURNAL_VERIFY_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include <sodium.h>

#include "base/error.h"

typedef struct {
    bool ok;
    int64_t events;           /* events read (archived and live) */
    int64_t archived_events;  /* of which read from archive files */
    int64_t archives;         /* archive files read */
    int64_t checkpoints;      /* signatures checked */
    int64_t unrecorded_files; /* archive files no archives row names: a kill before the commit left
                                 them (the next runner removes them); not part of the chain */
    int64_t first_bad_seq;    /* 0 when ok */
    char problem[512];        /* what is wrong at first_bad_seq */
} cn_journal_verify_report;

/* Fills report; returns CN_OK when the check ran (report->ok says whether the trail is intact),
 * an error when it could not read the database. run_dir holds the archive directory. */
cn_status cn_journal_verify(sqlite3 *db, const char *run_dir, const char *run_id,
                            const unsigned char pk[crypto_sign_PUBLICKEYBYTES], bool run_finished,
                            cn_journal_verify_report *report, cn_error *err);

#endif
