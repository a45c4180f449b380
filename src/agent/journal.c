/* SQLite journal with a hash-chained event table; see journal.h and docs/agent.md. */
#include "agent/journal.h"

#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"

struct cn_journal {
    sqlite3 *db;
    char run_id[64];
    bool can_sign;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    int checkpoint_every;
    int64_t commits;
    cn_journal_commit_hook hook;
    void *hook_ctx;
};

static const char journal_schema[] =
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " payload BLOB NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints(seq INTEGER PRIMARY KEY, head BLOB NOT NULL, signature BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS journal_head(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT NULL,"
    " hash BLOB NOT NULL);";

static cn_status db_fail(cn_journal *j, cn_error *err, const char *what) {
    return cn_fail(err, CN_ERR_IO, "journal: %s: %s", what, sqlite3_errmsg(j->db));
}

cn_status cn_journal_exec(cn_journal *j, const char *sql, cn_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cn_status s = cn_fail(err, CN_ERR_IO, "journal: %s", msg ? msg : sqlite3_errmsg(j->db));
        sqlite3_free(msg);
        return s;
    }
    return CN_OK;
}

cn_status cn_journal_prepare(cn_journal *j, const char *sql, sqlite3_stmt **out, cn_error *err) {
    if (sqlite3_prepare_v2(j->db, sql, -1, out, NULL) != SQLITE_OK) return db_fail(j, err, "prepare");
    return CN_OK;
}

cn_status cn_journal_step_done(cn_journal *j, sqlite3_stmt *st, cn_error *err) {
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(j, err, "write");
    return CN_OK;
}

cn_status cn_journal_exec_text(cn_journal *j, const char *sql, const char *a, const char *b, cn_error *err) {
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, sql, &st, err);
    if (s != CN_OK) return s;
    if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    return cn_journal_step_done(j, st, err);
}

cn_status cn_journal_open(const char *path, const char *run_id,
                          const unsigned char secret_key[crypto_sign_SECRETKEYBYTES], int checkpoint_every,
                          cn_journal **out, cn_error *err) {
    *out = NULL;
    if (strlen(run_id) >= sizeof((cn_journal *)0)->run_id) return cn_fail(err, CN_ERR_ARG, "journal: run id too long");
    cn_journal *j = calloc(1, sizeof *j);
    if (!j) return cn_fail(err, CN_ERR_NOMEM, "journal: out of memory");
    strcpy(j->run_id, run_id);
    j->checkpoint_every = checkpoint_every;
    if (secret_key) {
        memcpy(j->sk, secret_key, sizeof j->sk);
        j->can_sign = true;
    }
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        cn_status s = cn_fail(err, CN_ERR_IO, "journal: cannot open %s: %s", path,
                              j->db ? sqlite3_errmsg(j->db) : "out of memory");
        cn_journal_close(j);
        return s;
    }
    /* WAL so readers (status, log) never block the runner; synchronous=FULL so a COMMIT that
     * returned is on disk before the side effect it precedes (docs/agent.md, crash semantics). */
    sqlite3_busy_timeout(j->db, 10000);
    /* auto_vacuum first: it can only be chosen before the first table exists (a no-op on an existing
     * journal; journal_archive.c converts old ones with one VACUUM), so archiving can shrink the
     * file instead of leaving the archived events' pages free inside it. */
    cn_status s = cn_journal_exec(j, "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
    if (s == CN_OK) s = cn_journal_exec(j, journal_schema, err);
    if (s != CN_OK) {
        cn_error_prefix(err, "%s", path);
        cn_journal_close(j);
        return s;
    }
    *out = j;
    return CN_OK;
}

void cn_journal_close(cn_journal *j) {
    if (!j) return;
    sqlite3_close(j->db);
    sodium_memzero(j->sk, sizeof j->sk);
    free(j);
}

sqlite3 *cn_journal_db(cn_journal *j) { return j->db; }
const char *cn_journal_run_id(const cn_journal *j) { return j->run_id; }

void cn_journal_set_commit_hook(cn_journal *j, cn_journal_commit_hook hook, void *ctx) {
    j->hook = hook;
    j->hook_ctx = ctx;
}

cn_status cn_journal_begin(cn_journal *j, cn_error *err) { return cn_journal_exec(j, "BEGIN IMMEDIATE", err); }

void cn_journal_boundary(cn_journal *j, const char *point) {
    j->commits++;
    if (j->hook) j->hook(j->hook_ctx, j->commits, point);
}

cn_status cn_journal_commit_point(cn_journal *j, const char *point, cn_error *err) {
    cn_status s = cn_journal_exec(j, "COMMIT", err);
    if (s != CN_OK) {
        cn_journal_rollback(j);
        return s;
    }
    cn_journal_boundary(j, point);
    return CN_OK;
}

cn_status cn_journal_commit(cn_journal *j, cn_error *err) { return cn_journal_commit_point(j, "commit", err); }

void cn_journal_rollback(cn_journal *j) {
    if (!sqlite3_get_autocommit(j->db)) sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The head as recorded in this transaction: (0, zeros) before the first event. */
cn_status cn_journal_head(cn_journal *j, int64_t *seq, unsigned char hash[CN_AUDIT_HASH_BYTES], cn_error *err) {
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "SELECT seq, hash FROM journal_head WHERE id = 1", &st, err);
    if (s != CN_OK) return s;
    *seq = 0;
    memset(hash, 0, CN_AUDIT_HASH_BYTES);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        if (sqlite3_column_bytes(st, 1) != CN_AUDIT_HASH_BYTES) {
            sqlite3_finalize(st);
            return cn_fail(err, CN_ERR_FORMAT, "journal: the recorded chain head is damaged (run agent verify)");
        }
        memcpy(hash, sqlite3_column_blob(st, 1), CN_AUDIT_HASH_BYTES);
    } else if (rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return db_fail(j, err, "read head");
    }
    sqlite3_finalize(st);
    return CN_OK;
}

static cn_status sign_head(cn_journal *j, int64_t seq, const unsigned char head[CN_AUDIT_HASH_BYTES], cn_error *err) {
    if (!j->can_sign) return cn_fail(err, CN_ERR_ARG, "journal: opened without the signing key");
    unsigned char msg[CN_AUDIT_HASH_BYTES], sig[crypto_sign_BYTES];
    cn_audit_checkpoint_message(j->run_id, seq, head, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, j->sk);
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "INSERT OR REPLACE INTO checkpoints(seq, head, signature) VALUES(?, ?, ?)", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_blob(st, 2, head, CN_AUDIT_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, sig, sizeof sig, SQLITE_TRANSIENT);
    return cn_journal_step_done(j, st, err);
}

cn_status cn_journal_append(cn_journal *j, const char *kind, const void *payload, size_t payload_len,
                            int64_t *seq_out, cn_error *err) {
    if (!j->can_sign) return cn_fail(err, CN_ERR_ARG, "journal: opened read-only (no signing key)");
    int64_t head_seq;
    unsigned char prev[CN_AUDIT_HASH_BYTES], hash[CN_AUDIT_HASH_BYTES];
    cn_status s = cn_journal_head(j, &head_seq, prev, err);
    if (s != CN_OK) return s;
    int64_t seq = head_seq + 1;
    cn_audit_event_hash(prev, seq, j->run_id, kind, payload, payload_len, hash);
    sqlite3_stmt *st;
    s = cn_journal_prepare(j, "INSERT INTO events(seq, run_id, kind, payload, prev_hash, hash) VALUES(?,?,?,?,?,?)", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, j->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, payload_len ? payload : "", (int)payload_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, prev, sizeof prev, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, hash, sizeof hash, SQLITE_STATIC);
    if ((s = cn_journal_step_done(j, st, err)) != CN_OK) return s;
    s = cn_journal_prepare(j, "INSERT OR REPLACE INTO journal_head(id, seq, hash) VALUES(1, ?, ?)", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_STATIC);
    if ((s = cn_journal_step_done(j, st, err)) != CN_OK) return s;
    if (j->checkpoint_every > 0 && seq % j->checkpoint_every == 0 && (s = sign_head(j, seq, hash, err)) != CN_OK)
        return s;
    if (seq_out) *seq_out = seq;
    return CN_OK;
}

cn_status cn_journal_checkpoint(cn_journal *j, cn_error *err) {
    int64_t seq;
    unsigned char head[CN_AUDIT_HASH_BYTES];
    cn_status s = cn_journal_head(j, &seq, head, err);
    if (s != CN_OK) return s;
    if (seq == 0) return CN_OK;
    return sign_head(j, seq, head, err);
}
