/* Verification of a run's audit trail across archives and the live journal (journal_verify.h). */
#include "agent/journal_verify.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"
#include "agent/journal_archive.h"

typedef struct {
    int64_t first, last;
    char file[128];
    unsigned char sha256[32];      /* as the archives row records it */
    unsigned char file_sha256[32]; /* as read */
    bool read, in_chain;
} archive_row;

typedef struct {
    int64_t seq;
    unsigned char head[32];
} checkpoint;

typedef struct {
    cn_journal_verify_report *r;
    const char *run_id;
    const unsigned char *pk;
    unsigned char prev[32];
    int64_t expect;             /* the next event's seq */
    unsigned char (*hashes)[32]; /* hashes[seq - 1] of every event read */
    size_t hashes_cap;
    checkpoint *cps;
    size_t n_cps, cps_cap;
    archive_row *rows;
    size_t n_rows;
    bool oom;
} walker;

static void report_bad(cn_journal_verify_report *r, int64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report_bad(cn_journal_verify_report *r, int64_t seq, const char *fmt, ...) {
    if (!r->ok) return;
    r->ok = false;
    r->first_bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof r->problem, fmt, ap);
    va_end(ap);
}

static bool hex_equal(const char *hex, const unsigned char bytes[32]) {
    char mine[65];
    cn_audit_hex(bytes, 32, mine);
    return hex && strcmp(hex, mine) == 0;
}

/* An `archive` event: the archive it names must be the one read for that range. */
static void check_archive_event(walker *w, const cn_archive_event *ev) {
    cJSON *o = cJSON_ParseWithLength((const char *)ev->payload, ev->payload_len);
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(o, "first"), *last = cJSON_GetObjectItemCaseSensitive(o, "last");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "sha256"));
    const char *last_hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "last_hash"));
    archive_row *row = NULL;
    for (size_t i = 0; cJSON_IsNumber(first) && i < w->n_rows; i++)
        if (w->rows[i].first == (int64_t)first->valuedouble) row = &w->rows[i];
    if (!row) {
        report_bad(w->r, ev->seq, "this archive event records events from %lld (%s), which no archive holds: archive removed",
                   cJSON_IsNumber(first) ? (long long)first->valuedouble : -1LL,
                   cJSON_IsString(file) ? file->valuestring : "?");
    } else if (!cJSON_IsNumber(last) || (int64_t)last->valuedouble != row->last || !cJSON_IsString(file) ||
               strcmp(file->valuestring, row->file) != 0) {
        report_bad(w->r, ev->seq, "this archive event records a different range or file than archive %s", row->file);
    } else if (!row->read || !hex_equal(sha, row->file_sha256)) {
        report_bad(w->r, row->first, "archive %s differs from the SHA-256 the chain recorded at event %lld: replaced archive",
                   row->file, (long long)ev->seq);
    } else if (!hex_equal(last_hash, w->hashes[row->last - 1])) {
        report_bad(w->r, row->last, "archive %s ends in a different event than the chain recorded at event %lld",
                   row->file, (long long)ev->seq);
    } else {
        row->in_chain = true;
    }
    cJSON_Delete(o);
}

/* One link of the chain: consecutive seq, prev_hash, recomputed hash. */
static bool walk_event(void *ctx, const cn_archive_event *ev) {
    walker *w = ctx;
    cn_journal_verify_report *r = w->r;
    if (!r->ok) return false;
    r->events++;
    if (ev->seq != w->expect) {
        if (ev->seq > w->expect)
            report_bad(r, w->expect, "event missing: the chain jumps to event %lld (deleted row)", (long long)ev->seq);
        else
            report_bad(r, ev->seq, "event %lld appears again after event %lld (reordered or duplicated)",
                       (long long)ev->seq, (long long)w->expect - 1);
        return false;
    }
    if (ev->prev_hash_len != 32 || memcmp(ev->prev_hash, w->prev, 32) != 0) {
        report_bad(r, ev->seq, "prev_hash does not match the previous event's hash");
        return false;
    }
    unsigned char h[32];
    cn_audit_event_hash(w->prev, ev->seq, ev->run_id, ev->kind, ev->payload, ev->payload_len, h);
    if (ev->hash_len != 32 || memcmp(ev->hash, h, 32) != 0) {
        report_bad(r, ev->seq, "content does not match its hash (kind \"%s\"): altered event", ev->kind);
        return false;
    }
    if ((size_t)ev->seq > w->hashes_cap) {
        size_t cap = w->hashes_cap ? w->hashes_cap * 2 : 4096;
        void *grown = realloc(w->hashes, cap * 32);
        if (!grown) {
            w->oom = true;
            return false;
        }
        w->hashes = grown;
        w->hashes_cap = cap;
    }
    memcpy(w->hashes[ev->seq - 1], h, 32);
    memcpy(w->prev, h, 32);
    w->expect++;
    if (!strcmp(ev->kind, "archive")) check_archive_event(w, ev);
    return r->ok;
}

/* A checkpoint (archived or live): its signature now, its head against the chain at the end. */
static void add_checkpoint(walker *w, int64_t seq, const unsigned char *head, size_t head_len, const unsigned char *sig,
                           size_t sig_len) {
    w->r->checkpoints++;
    if (head_len != 32 || sig_len != crypto_sign_BYTES) {
        report_bad(w->r, seq, "checkpoint at this event is malformed");
        return;
    }
    unsigned char msg[32];
    cn_audit_checkpoint_message(w->run_id, seq, head, msg);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, w->pk) != 0) {
        report_bad(w->r, seq, "checkpoint signature is invalid");
        return;
    }
    if (w->n_cps == w->cps_cap) {
        size_t cap = w->cps_cap ? w->cps_cap * 2 : 256;
        void *grown = realloc(w->cps, cap * sizeof *w->cps);
        if (!grown) {
            w->oom = true;
            return;
        }
        w->cps = grown;
        w->cps_cap = cap;
    }
    w->cps[w->n_cps].seq = seq;
    memcpy(w->cps[w->n_cps].head, head, 32);
    w->n_cps++;
}

static bool walk_checkpoint(void *ctx, const cn_archive_checkpoint *cp) {
    walker *w = ctx;
    add_checkpoint(w, cp->seq, cp->head, cp->head_len, cp->signature, cp->signature_len);
    return !w->oom;
}

static cn_status load_archive_rows(sqlite3 *db, walker *w, cn_error *err) {
    sqlite3_stmt *st;
    /* Journals from before archiving have no archives table: no archives. */
    if (sqlite3_prepare_v2(db, "SELECT first, last, file, sha256 FROM archives ORDER BY first", -1, &st, NULL) != SQLITE_OK)
        return CN_OK;
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (w->n_rows == cap) {
            cap = cap ? cap * 2 : 16;
            void *grown = realloc(w->rows, cap * sizeof *w->rows);
            if (!grown) {
                sqlite3_finalize(st);
                return cn_fail(err, CN_ERR_NOMEM, "verify: out of memory");
            }
            w->rows = grown;
        }
        archive_row *row = &w->rows[w->n_rows++];
        memset(row, 0, sizeof *row);
        row->first = sqlite3_column_int64(st, 0);
        row->last = sqlite3_column_int64(st, 1);
        const char *file = (const char *)sqlite3_column_text(st, 2);
        snprintf(row->file, sizeof row->file, "%s", file ? file : "");
        if (sqlite3_column_bytes(st, 3) == 32) memcpy(row->sha256, sqlite3_column_blob(st, 3), 32);
    }
    sqlite3_finalize(st);
    return CN_OK;
}

/* One archive file, in chain order. */
static cn_status walk_archive(walker *w, const char *run_dir, archive_row *row, cn_error *err) {
    cn_journal_verify_report *r = w->r;
    if (row->first > w->expect) {
        report_bad(r, w->expect, "events %lld-%lld are missing: the next archive, %s, starts at event %lld",
                   (long long)w->expect, (long long)row->first - 1, row->file, (long long)row->first);
        return CN_OK;
    }
    if (row->first < w->expect) {
        report_bad(r, row->first, "archive %s starts at event %lld, which an earlier archive holds", row->file,
                   (long long)row->first);
        return CN_OK;
    }
    if (strchr(row->file, '/') || !row->file[0]) {
        report_bad(r, row->first, "the archives table names a file outside the archive directory: \"%s\"", row->file);
        return CN_OK;
    }
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/" CN_ARCHIVE_DIR "/%s", run_dir, row->file);
    cn_archive_visitor v = {.ctx = w, .event = walk_event, .checkpoint = walk_checkpoint};
    cn_archive_file_info info;
    cn_error e = {0};
    int64_t before = r->events;
    cn_status s = cn_archive_read_file(path, &v, &info, &e);
    r->archives++;
    r->archived_events += r->events - before;
    if (w->oom) return cn_fail(err, CN_ERR_NOMEM, "verify: out of memory");
    if (s == CN_ERR_MISSING) {
        report_bad(r, row->first, "archive %s (events %lld-%lld) is missing", row->file, (long long)row->first,
                   (long long)row->last);
        return CN_OK;
    }
    if (s == CN_ERR_FORMAT) {
        /* The first event not verified (a cut checkpoint line belongs to the event before). */
        report_bad(r, w->expect <= row->last ? w->expect : row->last, "%s", e.msg);
        return CN_OK;
    }
    if (s != CN_OK) {
        *err = e;
        return s;
    }
    if (!r->ok) return CN_OK;
    if (strcmp(info.run_id, w->run_id) != 0 || info.first != row->first || info.last != row->last) {
        report_bad(r, row->first, "archive %s has the header of another archive (run %s, events %lld-%lld)", row->file,
                   info.run_id, (long long)info.first, (long long)info.last);
    } else if (w->expect != row->last + 1) {
        report_bad(r, w->expect, "archive %s ends at event %lld, before its last event %lld: truncated archive", row->file,
                   (long long)w->expect - 1, (long long)row->last);
    } else if (memcmp(info.sha256, row->sha256, 32) != 0) {
        report_bad(r, row->first, "archive %s: its SHA-256 differs from the recorded one: altered archive file",
                   row->file);
    }
    memcpy(row->file_sha256, info.sha256, 32);
    row->read = true;
    return CN_OK;
}

static cn_status walk_live(sqlite3 *db, walker *w, cn_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT " CN_ARCHIVE_EVENT_COLUMNS " FROM events ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK)
        return cn_fail(err, CN_ERR_FORMAT, "verify: no events table: %s", sqlite3_errmsg(db));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cn_archive_event ev;
        cn_archive_event_from_row(st, &ev);
        if (!walk_event(w, &ev)) break;
    }
    sqlite3_finalize(st);
    if (w->oom) return cn_fail(err, CN_ERR_NOMEM, "verify: out of memory");
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return cn_fail(err, CN_ERR_IO, "verify: %s", sqlite3_errmsg(db));
    if (sqlite3_prepare_v2(db, "SELECT seq, head, signature FROM checkpoints ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return cn_fail(err, CN_ERR_FORMAT, "verify: no checkpoints table: %s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW)
        add_checkpoint(w, sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                       sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    sqlite3_finalize(st);
    return w->oom ? cn_fail(err, CN_ERR_NOMEM, "verify: out of memory") : CN_OK;
}

/* Files in the archive directory that no archives row names. */
static int64_t count_unrecorded(const char *run_dir, const walker *w) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/" CN_ARCHIVE_DIR, run_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "events-", 7) != 0 && strncmp(e->d_name, ".events-", 8) != 0) continue;
        bool known = false;
        for (size_t i = 0; i < w->n_rows && !known; i++) known = !strcmp(w->rows[i].file, e->d_name);
        n += !known;
    }
    closedir(d);
    return n;
}

cn_status cn_journal_verify(sqlite3 *db, const char *run_dir, const char *run_id,
                            const unsigned char pk[crypto_sign_PUBLICKEYBYTES], bool run_finished,
                            cn_journal_verify_report *r, cn_error *err) {
    memset(r, 0, sizeof *r);
    r->ok = true;
    walker w = {.r = r, .run_id = run_id, .pk = pk, .expect = 1};
    /* One read transaction: the archives table, the live rows and the head are one snapshot. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    cn_status s = load_archive_rows(db, &w, err);
    for (size_t i = 0; s == CN_OK && r->ok && i < w.n_rows; i++) s = walk_archive(&w, run_dir, &w.rows[i], err);
    if (s == CN_OK && r->ok) s = walk_live(db, &w, err);
    int64_t last_seq = w.expect - 1;
    if (s != CN_OK) goto done;

    /* Every checkpoint's head must be the hash of the event it names; one past the end means
     * the tail was cut off. */
    int64_t last_checkpoint = 0;
    for (size_t i = 0; i < w.n_cps; i++) {
        int64_t seq = w.cps[i].seq;
        if (seq > last_checkpoint) last_checkpoint = seq;
        if (seq < 1) {
            report_bad(r, 1, "a checkpoint names event %lld, which cannot exist", (long long)seq);
        } else if (seq > last_seq) {
            if (r->ok) {
                report_bad(r, last_seq + 1, "truncated: a signed checkpoint covers a later event but the journal ends at"
                                            " event %lld", (long long)last_seq);
                r->first_bad_seq = last_seq + 1 < seq ? last_seq + 1 : seq;
            }
        } else if (memcmp(w.hashes[seq - 1], w.cps[i].head, 32) != 0) {
            report_bad(r, seq, "event hash differs from the signed checkpoint");
        }
    }
    /* The head recorded in the same transaction as the last event. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM journal_head WHERE id = 1", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            int64_t head_seq = sqlite3_column_int64(st, 0);
            if (head_seq > last_seq) {
                report_bad(r, last_seq + 1, "truncated: the journal ends at event %lld (recorded head: %lld)",
                           (long long)last_seq, (long long)head_seq);
            } else if (head_seq < last_seq || sqlite3_column_bytes(st, 1) != 32 ||
                       memcmp(sqlite3_column_blob(st, 1), w.prev, 32) != 0) {
                report_bad(r, head_seq + 1 <= last_seq ? head_seq + 1 : last_seq,
                           "the recorded chain head does not match the last event");
            }
        } else if (last_seq > 0) {
            report_bad(r, 1, "the recorded chain head is missing");
        }
        sqlite3_finalize(st);
    }
    for (size_t i = 0; i < w.n_rows; i++)
        if (!w.rows[i].in_chain)
            report_bad(r, w.rows[i].first, "archive %s is not recorded by an archive event in the chain", w.rows[i].file);
    if (run_finished && r->ok && last_checkpoint != last_seq)
        report_bad(r, last_seq, "the run ended but no signed checkpoint covers its last event %lld", (long long)last_seq);
    r->unrecorded_files = count_unrecorded(run_dir, &w);
done:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    free(w.hashes);
    free(w.cps);
    free(w.rows);
    return s;
}
