/* Moving sealed ranges of journal events into archive files (journal_archive.h). */
#include "agent/journal_archive.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/audit.h"
#include "text/output_parser_utf8.h"

static const char archive_schema[] =
    "CREATE TABLE IF NOT EXISTS archives(first INTEGER PRIMARY KEY, last INTEGER NOT NULL, file TEXT NOT NULL,"
    " sha256 BLOB NOT NULL, bytes INTEGER NOT NULL, last_hash BLOB NOT NULL);";

cn_status cn_archive_schema(cn_journal *j, cn_error *err) { return cn_journal_exec(j, archive_schema, err); }

/* ---- names ---------------------------------------------------------------------------------- */

static void archive_name(int64_t first, int64_t last, char *out, size_t size) {
    snprintf(out, size, "events-%012lld-%012lld.jsonl", (long long)first, (long long)last);
}

/* "events-F-L.jsonl" (final) or ".events-F-L.jsonl.tmp" (temporary); false for anything else. */
static bool parse_archive_name(const char *name, int64_t *first, int64_t *last, bool *temporary) {
    *temporary = name[0] == '.';
    const char *p = name + (*temporary ? 1 : 0);
    long long f, l;
    int n = 0;
    if (sscanf(p, "events-%12lld-%12lld.jsonl%n", &f, &l, &n) != 2 || n == 0) return false;
    const char *rest = p + n;
    if (*temporary ? strcmp(rest, ".tmp") != 0 : *rest != 0) return false;
    *first = f;
    *last = l;
    return true;
}

/* ---- hex ------------------------------------------------------------------------------------ */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Lowercase hex to bytes (malloc'd, *n set); NULL if not hex. */
static unsigned char *hex_decode(const char *text, size_t *n) {
    size_t len = strlen(text);
    if (len % 2) return NULL;
    unsigned char *out = malloc(len / 2 + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return out;
}

static bool add_hex(cJSON *obj, const char *key, const void *bytes, size_t n) {
    char *hex = malloc(2 * n + 1);
    if (!hex) return false;
    cn_audit_hex(bytes, n, hex);
    bool ok = cJSON_AddStringToObject(obj, key, hex) != NULL;
    free(hex);
    return ok;
}

/* ---- writing -------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    crypto_hash_sha256_state sha;
    int64_t bytes;
    bool failed;
} archive_writer;

static void write_line(archive_writer *w, cJSON *obj) {
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!text) {
        w->failed = true;
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL; the length below excludes nothing else */
    if (fwrite(text, 1, n + 1, w->f) != n + 1) w->failed = true;
    crypto_hash_sha256_update(&w->sha, (const unsigned char *)text, n + 1);
    w->bytes += (int64_t)n + 1;
    free(text);
}

static cJSON *event_line(sqlite3_stmt *st, const char *run_id) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "seq", (double)sqlite3_column_int64(st, 0));
    const char *ev_run = (const char *)sqlite3_column_text(st, 1);
    if (ev_run && strcmp(ev_run, run_id) != 0) cJSON_AddStringToObject(o, "run_id", ev_run);
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    cJSON_AddStringToObject(o, "kind", kind ? kind : "");
    add_hex(o, "prev_hash", sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4));
    add_hex(o, "hash", sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5));
    const char *payload = sqlite3_column_blob(st, 3);
    size_t n = (size_t)sqlite3_column_bytes(st, 3);
    /* Text payloads (every payload the runtime writes: compact JSON) stay readable; any other
     * bytes go as hex so that the archive always holds the exact bytes the hash covers. */
    if (!payload || (memchr(payload, 0, n) == NULL && cn_output_utf8_valid(payload, n))) {
        char *copy = malloc(n + 1);
        if (!copy) {
            cJSON_Delete(o);
            return NULL;
        }
        if (n) memcpy(copy, payload, n);
        copy[n] = 0;
        cJSON_AddStringToObject(o, "payload", copy);
        free(copy);
    } else {
        add_hex(o, "payload_hex", payload, n);
    }
    return o;
}

static cJSON *checkpoint_line(sqlite3_stmt *st) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "checkpoint", (double)sqlite3_column_int64(st, 0));
    add_hex(o, "head", sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    add_hex(o, "signature", sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    return o;
}

static cn_status fsync_dir(const char *dir, cn_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "archive: cannot open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return cn_fail(err, CN_ERR_IO, "archive: cannot fsync %s: %s", dir, strerror(errno));
    return CN_OK;
}

typedef struct {
    int64_t first, last, events, checkpoints, bytes;
    unsigned char sha256[32], first_prev[32], last_hash[32];
} archive_result;

/* Step 1: the range's events and checkpoints into tmp_path, fsync'd. The chain is checked on
 * the way (a damaged range is never sealed into an archive). Runs inside a read transaction. */
static cn_status write_archive(cn_journal *j, const char *tmp_path, archive_result *r, cn_error *err) {
    const char *run_id = cn_journal_run_id(j);
    archive_writer w = {0};
    crypto_hash_sha256_init(&w.sha);
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "archive: cannot create %s: %s", tmp_path, strerror(errno));
    if (!(w.f = fdopen(fd, "wb"))) {
        close(fd);
        return cn_fail(err, CN_ERR_IO, "archive: cannot write %s", tmp_path);
    }
    cJSON *head = cJSON_CreateObject();
    if (head) {
        cJSON_AddStringToObject(head, "format", CN_ARCHIVE_FORMAT);
        cJSON_AddStringToObject(head, "run_id", run_id);
        cJSON_AddNumberToObject(head, "first", (double)r->first);
        cJSON_AddNumberToObject(head, "last", (double)r->last);
    }
    write_line(&w, head);
    sqlite3_stmt *ev = NULL, *cp = NULL;
    cn_status s = cn_journal_prepare(j, "SELECT " CN_ARCHIVE_EVENT_COLUMNS " FROM events"
                                        " WHERE seq BETWEEN ? AND ? ORDER BY seq", &ev, err);
    if (s == CN_OK)
        s = cn_journal_prepare(j, "SELECT seq, head, signature FROM checkpoints WHERE seq BETWEEN ? AND ? ORDER BY seq",
                               &cp, err);
    if (s == CN_OK) {
        sqlite3_bind_int64(ev, 1, r->first);
        sqlite3_bind_int64(ev, 2, r->last);
        sqlite3_bind_int64(cp, 1, r->first);
        sqlite3_bind_int64(cp, 2, r->last);
        int cp_rc = sqlite3_step(cp);
        int64_t expect = r->first;
        unsigned char prev[32];
        while (s == CN_OK && !w.failed && sqlite3_step(ev) == SQLITE_ROW) {
            int64_t seq = sqlite3_column_int64(ev, 0);
            const char *kind = (const char *)sqlite3_column_text(ev, 2);
            unsigned char h[32];
            bool linked = sqlite3_column_bytes(ev, 4) == 32 && sqlite3_column_bytes(ev, 5) == 32 &&
                          (seq == r->first || memcmp(sqlite3_column_blob(ev, 4), prev, 32) == 0);
            if (linked) {
                const char *ev_run = (const char *)sqlite3_column_text(ev, 1);
                cn_audit_event_hash(sqlite3_column_blob(ev, 4), seq, ev_run ? ev_run : "", kind ? kind : "",
                                    sqlite3_column_blob(ev, 3), (size_t)sqlite3_column_bytes(ev, 3), h);
                linked = memcmp(h, sqlite3_column_blob(ev, 5), 32) == 0;
            }
            if (seq != expect || !linked) {
                s = cn_fail(err, CN_ERR_FORMAT,
                            "archive: the journal's event %lld does not continue the hash chain; not archiving"
                            " (run agent verify)", (long long)expect);
                break;
            }
            if (seq == r->first) memcpy(r->first_prev, sqlite3_column_blob(ev, 4), 32);
            memcpy(prev, h, 32);
            write_line(&w, event_line(ev, run_id));
            r->events++;
            while (cp_rc == SQLITE_ROW && sqlite3_column_int64(cp, 0) <= seq) {
                write_line(&w, checkpoint_line(cp));
                r->checkpoints++;
                cp_rc = sqlite3_step(cp);
            }
            expect++;
        }
        if (s == CN_OK && expect != r->last + 1)
            s = cn_fail(err, CN_ERR_FORMAT, "archive: event %lld is missing from the journal; not archiving",
                        (long long)expect);
        if (s == CN_OK) memcpy(r->last_hash, prev, 32);
    }
    sqlite3_finalize(ev);
    sqlite3_finalize(cp);
    if (s == CN_OK && (w.failed || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0))
        s = cn_fail(err, CN_ERR_IO, "archive: cannot write %s: %s", tmp_path, strerror(errno));
    if (fclose(w.f) != 0 && s == CN_OK) s = cn_fail(err, CN_ERR_IO, "archive: cannot close %s", tmp_path);
    crypto_hash_sha256_final(&w.sha, r->sha256);
    r->bytes = w.bytes;
    if (s != CN_OK) unlink(tmp_path);
    return s;
}

/* Step 3: the archive event, the rows gone, the archives row and a signed checkpoint, in one
 * transaction. The range is re-checked under the write lock: nothing else deletes events, but
 * a second runner is impossible only while runner.lock is held, so be sure. */
static cn_status commit_archive(cn_journal *j, const char *name, const archive_result *r, cn_error *err) {
    cn_status s = cn_journal_begin(j, err);
    if (s != CN_OK) return s;
    sqlite3_stmt *st;
    int64_t still = 0;
    if ((s = cn_journal_prepare(j, "SELECT COUNT(*) FROM events WHERE seq BETWEEN ? AND ?", &st, err)) == CN_OK) {
        sqlite3_bind_int64(st, 1, r->first);
        sqlite3_bind_int64(st, 2, r->last);
        if (sqlite3_step(st) == SQLITE_ROW) still = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (still != r->last - r->first + 1)
            s = cn_fail(err, CN_ERR_FORMAT, "archive: events %lld-%lld changed while archiving", (long long)r->first,
                        (long long)r->last);
    }
    cJSON *ev = s == CN_OK ? cJSON_CreateObject() : NULL;
    if (ev) {
        cJSON_AddStringToObject(ev, "file", name);
        cJSON_AddNumberToObject(ev, "first", (double)r->first);
        cJSON_AddNumberToObject(ev, "last", (double)r->last);
        cJSON_AddNumberToObject(ev, "events", (double)r->events);
        cJSON_AddNumberToObject(ev, "checkpoints", (double)r->checkpoints);
        cJSON_AddNumberToObject(ev, "bytes", (double)r->bytes);
        add_hex(ev, "sha256", r->sha256, 32);
        add_hex(ev, "first_prev_hash", r->first_prev, 32);
        add_hex(ev, "last_hash", r->last_hash, 32);
        char *text = cJSON_PrintUnformatted(ev);
        cJSON_Delete(ev);
        s = text ? cn_journal_append(j, "archive", text, strlen(text), NULL, err)
                 : cn_fail(err, CN_ERR_NOMEM, "out of memory");
        free(text);
    } else if (s == CN_OK) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    static const char *const deletes[] = {"DELETE FROM events WHERE seq BETWEEN ? AND ?",
                                          "DELETE FROM checkpoints WHERE seq BETWEEN ? AND ?"};
    for (size_t i = 0; i < 2 && s == CN_OK; i++) {
        if ((s = cn_journal_prepare(j, deletes[i], &st, err)) != CN_OK) break;
        sqlite3_bind_int64(st, 1, r->first);
        sqlite3_bind_int64(st, 2, r->last);
        s = cn_journal_step_done(j, st, err);
    }
    if (s == CN_OK &&
        (s = cn_journal_prepare(j, "INSERT INTO archives(first, last, file, sha256, bytes, last_hash) VALUES(?,?,?,?,?,?)",
                                &st, err)) == CN_OK) {
        sqlite3_bind_int64(st, 1, r->first);
        sqlite3_bind_int64(st, 2, r->last);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 4, r->sha256, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, r->bytes);
        sqlite3_bind_blob(st, 6, r->last_hash, 32, SQLITE_TRANSIENT);
        s = cn_journal_step_done(j, st, err);
    }
    if (s == CN_OK) s = cn_journal_checkpoint(j, err);
    if (s == CN_OK) return cn_journal_commit_point(j, "archive_commit", err);
    cn_journal_rollback(j);
    return s;
}

static int64_t query_int(cn_journal *j, const char *sql, int64_t fallback) {
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(j, sql, &st, &e) != CN_OK) return fallback;
    int64_t v = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? sqlite3_column_int64(st, 0)
                                                                                             : fallback;
    sqlite3_finalize(st);
    return v;
}

cn_status cn_archive_clean(cn_journal *j, const char *run_dir, int64_t *removed, cn_error *err) {
    *removed = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/" CN_ARCHIVE_DIR, run_dir);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? CN_OK : cn_fail(err, CN_ERR_IO, "archive: cannot list %s: %s", dir, strerror(errno));
    int64_t live_first = query_int(j, "SELECT MIN(seq) FROM events", INT64_MAX);
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "SELECT COUNT(*) FROM archives WHERE file = ?", &st, err);
    struct dirent *e;
    while (s == CN_OK && (e = readdir(d)) != NULL) {
        int64_t first, last;
        bool temporary;
        if (!parse_archive_name(e->d_name, &first, &last, &temporary)) continue;
        bool orphan = temporary;
        if (!temporary) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, e->d_name, -1, SQLITE_TRANSIENT);
            bool recorded = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
            /* Unrecorded while its first event is still live: its commit never happened. */
            orphan = !recorded && first >= live_first;
        }
        if (orphan) {
            char path[PATH_MAX * 2];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0) s = cn_fail(err, CN_ERR_IO, "archive: cannot remove %s: %s", path, strerror(errno));
            else (*removed)++;
        }
    }
    sqlite3_finalize(st);
    closedir(d);
    if (s == CN_OK && *removed) s = fsync_dir(dir, err);
    return s;
}

/* Journals made before archiving existed have auto_vacuum off: one VACUUM converts them. */
static cn_status ensure_incremental_vacuum(cn_journal *j, cn_error *err) {
    if (query_int(j, "PRAGMA auto_vacuum", 0) == 2) return CN_OK;
    return cn_journal_exec(j, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;", err);
}

cn_status cn_archive_maybe(cn_journal *j, const char *run_dir, int64_t threshold, int64_t *archived, cn_error *err) {
    *archived = 0;
    if (threshold <= 0) return CN_OK;
    int64_t live_first = query_int(j, "SELECT MIN(seq) FROM events", 0);
    int64_t head = query_int(j, "SELECT seq FROM journal_head WHERE id = 1", 0);
    if (live_first <= 0 || head - live_first + 1 <= threshold) return CN_OK;
    archive_result r = {.first = live_first, .last = head - threshold / 2};
    if (r.last < r.first) return CN_OK;
    char dir[PATH_MAX], name[96], tmp[PATH_MAX + 128], final_path[PATH_MAX + 128];
    snprintf(dir, sizeof dir, "%s/" CN_ARCHIVE_DIR, run_dir);
    if (mkdir(dir, 0700) == 0) {
        cn_status s = fsync_dir(run_dir, err);
        if (s != CN_OK) return s;
    } else if (errno != EEXIST) {
        return cn_fail(err, CN_ERR_IO, "archive: cannot create %s: %s", dir, strerror(errno));
    }
    int64_t removed;
    cn_status s = cn_archive_clean(j, run_dir, &removed, err);
    if (s == CN_OK) s = ensure_incremental_vacuum(j, err);
    if (s != CN_OK) return s;
    archive_name(r.first, r.last, name, sizeof name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(final_path, sizeof final_path, "%s/%s", dir, name);
    /* A read transaction: the rows read are one snapshot. */
    if ((s = cn_journal_exec(j, "BEGIN", err)) != CN_OK) return s;
    s = write_archive(j, tmp, &r, err);
    cn_journal_rollback(j);
    if (s != CN_OK) return s;
    cn_journal_boundary(j, "archive_written");
    if (rename(tmp, final_path) != 0) {
        s = cn_fail(err, CN_ERR_IO, "archive: cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return s;
    }
    if ((s = fsync_dir(dir, err)) != CN_OK) return s;
    cn_journal_boundary(j, "archive_renamed");
    if ((s = commit_archive(j, name, &r, err)) != CN_OK) {
        unlink(final_path); /* the rows are still live: the file would be an orphan */
        return s;
    }
    /* Hand the freed pages back: incremental_vacuum moves them to the end and truncates (in WAL
     * mode at the checkpoint, which TRUNCATE also empties the WAL with). */
    if ((s = cn_journal_exec(j, "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);", err)) != CN_OK) return s;
    cn_journal_boundary(j, "archive_vacuumed");
    *archived = r.events;
    return CN_OK;
}

/* ---- reading -------------------------------------------------------------------------------- */

static const char *string_member(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool int_member(const cJSON *o, const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

cn_status cn_archive_read_file(const char *path, const cn_archive_visitor *v, cn_archive_file_info *info, cn_error *err) {
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return cn_fail(err, CN_ERR_MISSING, "archive %s is missing", path);
        return cn_fail(err, CN_ERR_IO, "cannot open archive %s: %s", path, strerror(errno));
    }
    crypto_hash_sha256_state sha;
    crypto_hash_sha256_init(&sha);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t lineno = 0;
    cn_status s = CN_OK;
    while (s == CN_OK && !info->stopped && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        crypto_hash_sha256_update(&sha, (const unsigned char *)line, (size_t)n);
        info->bytes += n;
        cJSON *o = line[n - 1] == '\n' ? cJSON_ParseWithLength(line, (size_t)n - 1) : NULL;
        const char *bad = o ? NULL : line[n - 1] != '\n' ? "cut off (no final newline)" : "not JSON";
        if (!bad && lineno == 1) {
            const char *fmt = string_member(o, "format"), *run = string_member(o, "run_id");
            if (!fmt || strcmp(fmt, CN_ARCHIVE_FORMAT) != 0 || !run || strlen(run) >= sizeof info->run_id ||
                !int_member(o, "first", &info->first) || !int_member(o, "last", &info->last))
                bad = "not a " CN_ARCHIVE_FORMAT " header";
            else snprintf(info->run_id, sizeof info->run_id, "%s", run);
        } else if (!bad && cJSON_GetObjectItemCaseSensitive(o, "checkpoint")) {
            cn_archive_checkpoint cp = {0};
            const char *head = string_member(o, "head"), *sig = string_member(o, "signature");
            unsigned char *hb = NULL, *sb = NULL;
            if (!int_member(o, "checkpoint", &cp.seq) || !head || !sig || !(hb = hex_decode(head, &cp.head_len)) ||
                !(sb = hex_decode(sig, &cp.signature_len))) {
                bad = "a malformed checkpoint line";
            } else if (v->checkpoint) {
                cp.head = hb;
                cp.signature = sb;
                info->stopped = !v->checkpoint(v->ctx, &cp);
            }
            free(hb);
            free(sb);
        } else if (!bad) {
            cn_archive_event ev = {0};
            const char *kind = string_member(o, "kind"), *prev = string_member(o, "prev_hash"),
                       *hash = string_member(o, "hash"), *payload = string_member(o, "payload"),
                       *payload_hex = string_member(o, "payload_hex"), *run = string_member(o, "run_id");
            unsigned char *pb = NULL, *hb = NULL, *xb = NULL;
            if (!int_member(o, "seq", &ev.seq) || !kind || !prev || !hash || (!payload == !payload_hex) ||
                !(pb = hex_decode(prev, &ev.prev_hash_len)) || !(hb = hex_decode(hash, &ev.hash_len)) ||
                (payload_hex && !(xb = hex_decode(payload_hex, &ev.payload_len)))) {
                bad = "a malformed event line";
            } else {
                ev.run_id = run ? run : info->run_id;
                ev.kind = kind;
                ev.prev_hash = pb;
                ev.hash = hb;
                ev.payload = payload ? (const unsigned char *)payload : xb;
                if (payload) ev.payload_len = strlen(payload);
                info->stopped = !v->event(v->ctx, &ev);
            }
            free(pb);
            free(hb);
            free(xb);
        }
        cJSON_Delete(o);
        if (bad) s = cn_fail(err, CN_ERR_FORMAT, "archive %s line %lld: %s", path, (long long)lineno, bad);
    }
    if (s == CN_OK && lineno == 0) s = cn_fail(err, CN_ERR_FORMAT, "archive %s is empty", path);
    if (s == CN_OK && ferror(f)) s = cn_fail(err, CN_ERR_IO, "cannot read archive %s", path);
    free(line);
    fclose(f);
    crypto_hash_sha256_final(&sha, info->sha256);
    return s;
}

typedef struct {
    const cn_archive_visitor *outer;
    int64_t after;
} after_filter;

static bool filter_event(void *ctx, const cn_archive_event *ev) {
    after_filter *a = ctx;
    return ev->seq <= a->after || a->outer->event(a->outer->ctx, ev);
}

void cn_archive_event_from_row(sqlite3_stmt *st, cn_archive_event *ev) {
    *ev = (cn_archive_event){.seq = sqlite3_column_int64(st, 0),
                             .run_id = (const char *)sqlite3_column_text(st, 1),
                             .kind = (const char *)sqlite3_column_text(st, 2),
                             .payload = sqlite3_column_blob(st, 3),
                             .payload_len = (size_t)sqlite3_column_bytes(st, 3),
                             .prev_hash = sqlite3_column_blob(st, 4),
                             .prev_hash_len = (size_t)sqlite3_column_bytes(st, 4),
                             .hash = sqlite3_column_blob(st, 5),
                             .hash_len = (size_t)sqlite3_column_bytes(st, 5)};
    if (!ev->run_id) ev->run_id = "";
    if (!ev->kind) ev->kind = "";
}

cn_status cn_archive_foreach_event(sqlite3 *db, const char *run_dir, int64_t after, const cn_archive_visitor *v,
                                   cn_error *err) {
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return cn_fail(err, CN_ERR_IO, "journal: %s", sqlite3_errmsg(db));
    cn_status s = CN_OK;
    sqlite3_stmt *st;
    bool go_on = true;
    /* The archives table is absent in journals from before archiving: no archives then. */
    if (sqlite3_prepare_v2(db, "SELECT file FROM archives WHERE last > ? ORDER BY first", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, after);
        after_filter a = {.outer = v, .after = after};
        cn_archive_visitor inner = {.ctx = &a, .event = filter_event};
        while (s == CN_OK && go_on && sqlite3_step(st) == SQLITE_ROW) {
            const char *file = (const char *)sqlite3_column_text(st, 0);
            char path[PATH_MAX * 2];
            snprintf(path, sizeof path, "%s/" CN_ARCHIVE_DIR "/%s", run_dir, file ? file : "");
            cn_archive_file_info info;
            s = cn_archive_read_file(path, &inner, &info, err);
            go_on = !info.stopped;
        }
        sqlite3_finalize(st);
    }
    if (s == CN_OK && go_on) {
        if (sqlite3_prepare_v2(db, "SELECT " CN_ARCHIVE_EVENT_COLUMNS " FROM events WHERE seq > ? ORDER BY seq",
                               -1, &st, NULL) != SQLITE_OK) {
            s = cn_fail(err, CN_ERR_FORMAT, "journal: no events table: %s", sqlite3_errmsg(db));
        } else {
            sqlite3_bind_int64(st, 1, after);
            while (sqlite3_step(st) == SQLITE_ROW) {
                cn_archive_event ev;
                cn_archive_event_from_row(st, &ev);
                if (!v->event(v->ctx, &ev)) break;
            }
            sqlite3_finalize(st);
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return s;
}
