/* The loop and drift guard over journal tables (loop_guard.h). */
#include "agent/loop_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"

#define RECENT_KEEP 64  /* call signatures kept since the last progress (cycles need at most 6 * R) */
#define SEEN_KEEP 4096  /* (call, result) pairs remembered for "observed state change" */
#define CYCLE_MAX 6     /* longest cycle looked for */

static const char guard_schema[] =
    "CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, hash BLOB);"
    "CREATE TABLE IF NOT EXISTS guard(key TEXT PRIMARY KEY, count INTEGER);"
    "CREATE TABLE IF NOT EXISTS guard_recent(ord INTEGER PRIMARY KEY, sig TEXT NOT NULL, tool TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS guard_seen(digest TEXT PRIMARY KEY, ord INTEGER NOT NULL);";

cn_status cn_loop_guard_schema(cn_journal *j, cn_error *err) { return cn_journal_exec(j, guard_schema, err); }

/* First 32 hex digits of SHA-256(a "\0" b): enough to tell calls apart, short in the keys. */
static void digest2(const char *a, const char *b, char out[33]) {
    crypto_hash_sha256_state st;
    unsigned char h[CN_AUDIT_HASH_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)a, strlen(a) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)b, strlen(b));
    crypto_hash_sha256_final(&st, h);
    cn_audit_hex(h, 16, out);
}

static cn_status bump(cn_journal *j, const char *kind, const char *tool, const char *digest, cn_error *err) {
    char key[200];
    snprintf(key, sizeof key, "%s:%s:%s", kind, tool, digest);
    return cn_journal_exec_text(j, "INSERT INTO guard(key, count) VALUES(?, 1) ON CONFLICT(key) DO UPDATE SET count = count + 1", key,
                 NULL, err);
}

/* Bumps kind:tool:digest at most once per model step: several parallel calls of one step that
 * fail, or read files that happen to be equal (empty files), are one observation, not several.
 * The last step counted is kept in a companion row "kind@:tool:digest". */
static cn_status bump_per_step(cn_journal *j, const char *kind, const char *tool, const char *digest, int64_t step,
                               cn_error *err) {
    char key[200];
    snprintf(key, sizeof key, "%s@:%s:%s", kind, tool, digest);
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "SELECT count FROM guard WHERE key = ?", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    bool counted = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == step;
    sqlite3_finalize(st);
    if (counted) return CN_OK;
    if ((s = cn_journal_prepare(j, "INSERT OR REPLACE INTO guard(key, count) VALUES(?, ?)", &st, err)) != CN_OK) return s;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, step);
    if ((s = cn_journal_step_done(j, st, err)) != CN_OK) return s;
    return bump(j, kind, tool, digest, err);
}

static bool exists(cn_journal *j, const char *sql, const char *a) {
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(j, sql, &st, &e) != CN_OK) return false;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* A file whose content hash differs from the last one recorded (or a new file). */
static cn_status file_progress(cn_journal *j, const cn_tool_result *r, bool *progress, cn_error *err) {
    if (!r || !r->changed) return CN_OK;
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "SELECT hash FROM files WHERE path = ?", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_text(st, 1, r->changed_path, -1, SQLITE_STATIC);
    bool same = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CN_AUDIT_HASH_BYTES &&
                !memcmp(sqlite3_column_blob(st, 0), r->changed_hash, CN_AUDIT_HASH_BYTES);
    sqlite3_finalize(st);
    if (same) return CN_OK;
    *progress = true;
    if ((s = cn_journal_prepare(j, "INSERT OR REPLACE INTO files(path, hash) VALUES(?, ?)", &st, err)) != CN_OK) return s;
    sqlite3_bind_text(st, 1, r->changed_path, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r->changed_hash, CN_AUDIT_HASH_BYTES, SQLITE_STATIC);
    return cn_journal_step_done(j, st, err);
}

/* An observed state change: this exact call was made before and now returns a result it never
 * returned. Remembers the call and the (call, result) pair either way (newest SEEN_KEEP). */
static cn_status observed_change(cn_journal *j, const char *sig, const char *content, bool *progress, cn_error *err) {
    char call_key[40], pair[33];
    snprintf(call_key, sizeof call_key, "c:%s", sig);
    digest2(sig, content, pair);
    bool called_before = exists(j, "SELECT 1 FROM guard_seen WHERE digest = ?", call_key);
    bool new_result = !exists(j, "SELECT 1 FROM guard_seen WHERE digest = ?", pair);
    if (called_before && new_result) *progress = true;
    static const char upsert[] =
        "INSERT INTO guard_seen(digest, ord) VALUES(?, (SELECT COALESCE(MAX(ord), 0) + 1 FROM guard_seen))"
        " ON CONFLICT(digest) DO UPDATE SET ord = excluded.ord";
    cn_status s = cn_journal_exec_text(j, upsert, call_key, NULL, err);
    if (s == CN_OK) s = cn_journal_exec_text(j, upsert, pair, NULL, err);
    char trim[128];
    snprintf(trim, sizeof trim, "DELETE FROM guard_seen WHERE ord <= (SELECT MAX(ord) FROM guard_seen) - %d", SEEN_KEEP);
    if (s == CN_OK) s = cn_journal_exec(j, trim, err);
    return s;
}

cn_status cn_loop_guard_record(cn_journal *j, const cn_guard_observation *o, bool *progress, cn_error *err) {
    *progress = o->plan_progress;
    char sig[33];
    digest2(o->tool, o->arguments ? o->arguments : "", sig);
    const char *content = o->content ? o->content : "";
    cn_status s = file_progress(j, o->result, progress, err);
    /* Error texts never count as a state change: one carrying a time would always be new. */
    if (s == CN_OK && !o->is_error) s = observed_change(j, sig, content, progress, err);
    if (s != CN_OK) return s;
    if (*progress) {
        s = cn_journal_exec(j, "DELETE FROM guard", err);
        if (s == CN_OK) s = cn_journal_exec(j, "DELETE FROM guard_recent", err);
        return s;
    }
    char result_digest[33];
    digest2(o->tool, content, result_digest);
    s = bump(j, "repeat", o->tool, sig, err);
    if (s == CN_OK) s = bump_per_step(j, "result", o->tool, result_digest, o->step, err);
    if (s == CN_OK && o->is_error) s = bump(j, "error", o->tool, result_digest, err);
    if (s == CN_OK && o->is_error) s = bump_per_step(j, "errors", "any", "", o->step, err);
    if (s == CN_OK) s = bump(j, "idle", "any", "", err);
    if (s == CN_OK) s = cn_journal_exec_text(j, "INSERT INTO guard_recent(sig, tool) VALUES(?, ?)", sig, o->tool, err);
    char trim[128];
    snprintf(trim, sizeof trim, "DELETE FROM guard_recent WHERE ord <= (SELECT MAX(ord) FROM guard_recent) - %d",
             RECENT_KEEP);
    if (s == CN_OK) s = cn_journal_exec(j, trim, err);
    return s;
}

/* The largest counter whose key starts with prefix, and its key. */
static int64_t max_count(cn_journal *j, const char *prefix, char *key, size_t key_size) {
    sqlite3_stmt *st;
    cn_error e = {0};
    key[0] = 0;
    if (cn_journal_prepare(j, "SELECT key, count FROM guard WHERE substr(key, 1, length(?1)) = ?1"
                              " ORDER BY count DESC, key LIMIT 1",
                           &st, &e) != CN_OK)
        return 0;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    int64_t n = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(key, key_size, "%s", (const char *)sqlite3_column_text(st, 0));
        n = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return n;
}

/* The tool name inside a "kind:tool:digest" key. */
static const char *key_tool(char *key) {
    char *a = strchr(key, ':');
    if (!a) return key;
    char *b = strchr(a + 1, ':');
    if (b) *b = 0;
    return a + 1;
}

/* Short cycles in the recent signatures (oldest first): the last p*reps entries are reps copies
 * of one p-long cycle holding at least two different calls (one call alone is a repeat). */
static bool find_cycle(cn_journal *j, int reps, char *reason, size_t size) {
    char sigs[RECENT_KEEP][33], tools[RECENT_KEEP][65];
    int n = 0;
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(j, "SELECT sig, tool FROM (SELECT ord, sig, tool FROM guard_recent ORDER BY ord DESC LIMIT ?)"
                              " ORDER BY ord",
                           &st, &e) != CN_OK)
        return false;
    sqlite3_bind_int(st, 1, RECENT_KEEP);
    while (n < RECENT_KEEP && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(sigs[n], sizeof sigs[n], "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(tools[n], sizeof tools[n], "%s", (const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    for (int p = 2; p <= CYCLE_MAX; p++) {
        int span = p * reps;
        if (span > n) break;
        bool periodic = true, distinct = false;
        for (int i = n - span; i < n - p && periodic; i++) periodic = !strcmp(sigs[i], sigs[i + p]);
        for (int i = n - p + 1; i < n; i++) distinct |= strcmp(sigs[i], sigs[n - p]) != 0;
        if (!periodic || !distinct) continue;
        int at = snprintf(reason, size, "short cycle: the same %d calls (", p);
        for (int i = n - p; i < n && at < (int)size; i++)
            at += snprintf(reason + at, size - (size_t)at, "%s%s", i > n - p ? " " : "", tools[i]);
        if (at < (int)size) snprintf(reason + at, size - (size_t)at, ") repeated %d times without progress", reps);
        return true;
    }
    return false;
}

bool cn_loop_guard_tripped(cn_journal *j, int limit, int drift_limit, char *reason, size_t size) {
    if (limit <= 0 && drift_limit <= 0) return false;
    char key[200];
    int64_t n;
    if (limit > 0) {
        if ((n = max_count(j, "repeat:", key, sizeof key)) >= limit) {
            snprintf(reason, size, "identical repeats: %s called %lld times with the same arguments without progress",
                     key_tool(key), (long long)n);
            return true;
        }
        if ((n = max_count(j, "error:", key, sizeof key)) >= limit) {
            snprintf(reason, size, "repeated errors: %s failed %lld times with the same error without progress",
                     key_tool(key), (long long)n);
            return true;
        }
        if ((n = max_count(j, "errors:", key, sizeof key)) >= 2 * (int64_t)limit) {
            snprintf(reason, size, "repeated errors: failed calls in %lld steps without progress", (long long)n);
            return true;
        }
        if ((n = max_count(j, "result:", key, sizeof key)) >= limit) {
            snprintf(reason, size, "same result: %s returned the same result in %lld steps under varying arguments"
                                   " without progress",
                     key_tool(key), (long long)n);
            return true;
        }
        if (find_cycle(j, limit < 4 ? 2 : (limit + 1) / 2, reason, size)) return true;
    }
    if (drift_limit > 0 && (n = max_count(j, "idle:", key, sizeof key)) >= drift_limit) {
        snprintf(reason, size, "drift: %lld tool calls without progress", (long long)n);
        return true;
    }
    return false;
}
