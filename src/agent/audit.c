/* Hash chain, signed checkpoints, redaction and verification of the agent journal (audit.h). */
#include "agent/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char event_tag[] = "clawnet-agent-event-v1";
static const char checkpoint_tag[] = "clawnet-agent-checkpoint-v1";

static void put_u64_be(unsigned char out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (unsigned char)v;
}

void cn_audit_event_hash(const unsigned char prev[CN_AUDIT_HASH_BYTES], int64_t seq, const char *run_id,
                         const char *kind, const void *payload, size_t payload_len,
                         unsigned char out[CN_AUDIT_HASH_BYTES]) {
    crypto_hash_sha256_state st;
    unsigned char seq_be[8];
    put_u64_be(seq_be, (uint64_t)seq);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)event_tag, sizeof event_tag); /* with its NUL */
    crypto_hash_sha256_update(&st, prev, CN_AUDIT_HASH_BYTES);
    crypto_hash_sha256_update(&st, seq_be, sizeof seq_be);
    crypto_hash_sha256_update(&st, (const unsigned char *)run_id, strlen(run_id) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)kind, strlen(kind) + 1);
    crypto_hash_sha256_update(&st, payload, payload_len);
    crypto_hash_sha256_final(&st, out);
}

void cn_audit_checkpoint_message(const char *run_id, int64_t seq, const unsigned char head[CN_AUDIT_HASH_BYTES],
                                 unsigned char out[CN_AUDIT_HASH_BYTES]) {
    crypto_hash_sha256_state st;
    unsigned char seq_be[8];
    put_u64_be(seq_be, (uint64_t)seq);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)checkpoint_tag, sizeof checkpoint_tag);
    crypto_hash_sha256_update(&st, (const unsigned char *)run_id, strlen(run_id) + 1);
    crypto_hash_sha256_update(&st, seq_be, sizeof seq_be);
    crypto_hash_sha256_update(&st, head, CN_AUDIT_HASH_BYTES);
    crypto_hash_sha256_final(&st, out);
}

void cn_audit_hex(const unsigned char *bytes, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

static cn_status read_exact_file(const char *path, unsigned char *buf, size_t n, cn_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    ssize_t got = read(fd, buf, n);
    unsigned char extra;
    ssize_t more = read(fd, &extra, 1);
    close(fd);
    if (got != (ssize_t)n || more != 0) return cn_fail(err, CN_ERR_FORMAT, "%s: expected exactly %zu bytes", path, n);
    return CN_OK;
}

static cn_status write_new_file(const char *path, const unsigned char *buf, size_t n, mode_t mode, cn_error *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    bool ok = write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok) return cn_fail(err, CN_ERR_IO, "cannot write %s", path);
    return CN_OK;
}

cn_status cn_audit_public_key_load(const char *run_dir, unsigned char pk[crypto_sign_PUBLICKEYBYTES], cn_error *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/audit.pub", run_dir);
    return read_exact_file(path, pk, crypto_sign_PUBLICKEYBYTES, err);
}

cn_status cn_audit_key_load_or_create(const char *run_dir, unsigned char sk[crypto_sign_SECRETKEYBYTES],
                                      unsigned char pk[crypto_sign_PUBLICKEYBYTES], cn_error *err) {
    char key_path[PATH_MAX], pub_path[PATH_MAX];
    snprintf(key_path, sizeof key_path, "%s/audit.key", run_dir);
    snprintf(pub_path, sizeof pub_path, "%s/audit.pub", run_dir);
    if (access(key_path, F_OK) == 0) {
        cn_status s = read_exact_file(key_path, sk, crypto_sign_SECRETKEYBYTES, err);
        if (s == CN_OK) s = read_exact_file(pub_path, pk, crypto_sign_PUBLICKEYBYTES, err);
        return s;
    }
    if (sodium_init() < 0) return cn_fail(err, CN_ERR_IO, "libsodium failed to initialise");
    crypto_sign_keypair(pk, sk);
    /* The secret key is created 0600 and never leaves the run directory. */
    cn_status s = write_new_file(key_path, sk, crypto_sign_SECRETKEYBYTES, 0600, err);
    if (s == CN_OK) s = write_new_file(pub_path, pk, crypto_sign_PUBLICKEYBYTES, 0644, err);
    return s;
}

void cn_audit_redact_fields(cJSON *obj, const char *const *fields, size_t n_fields) {
    for (size_t i = 0; i < n_fields; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i]);
        if (!v || cJSON_IsNull(v)) continue;
        char *owned = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
        const char *text = owned ? owned : v->valuestring;
        if (!text) continue;
        unsigned char h[CN_AUDIT_HASH_BYTES];
        crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
        char repl[7 + 2 * CN_AUDIT_HASH_BYTES + 1] = "sha256:";
        cn_audit_hex(h, sizeof h, repl + 7);
        cJSON_ReplaceItemInObjectCaseSensitive(obj, fields[i], cJSON_CreateString(repl));
        free(owned);
    }
}

static void report_bad(cn_audit_report *r, int64_t seq, const char *fmt, const char *detail) {
    if (!r->ok) return;
    r->ok = false;
    r->first_bad_seq = seq;
    snprintf(r->problem, sizeof r->problem, fmt, detail ? detail : "");
}

/* The chain: consecutive seqs from 1, each prev_hash the previous hash, each hash recomputed. */
static cn_status verify_chain(sqlite3 *db, cn_audit_report *r, int64_t *last_seq, unsigned char last[CN_AUDIT_HASH_BYTES],
                              cn_error *err) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, run_id, kind, payload, prev_hash, hash FROM events ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK)
        return cn_fail(err, CN_ERR_FORMAT, "verify: no events table: %s", sqlite3_errmsg(db));
    unsigned char prev[CN_AUDIT_HASH_BYTES] = {0};
    int64_t expect = 1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *run_id = (const char *)sqlite3_column_text(st, 1);
        const char *kind = (const char *)sqlite3_column_text(st, 2);
        const void *payload = sqlite3_column_blob(st, 3);
        size_t payload_len = (size_t)sqlite3_column_bytes(st, 3);
        const void *prev_hash = sqlite3_column_blob(st, 4);
        int prev_len = sqlite3_column_bytes(st, 4);
        const void *hash = sqlite3_column_blob(st, 5);
        int hash_len = sqlite3_column_bytes(st, 5);
        r->events++;
        if (seq != expect) {
            char d[64];
            snprintf(d, sizeof d, "%lld", (long long)seq);
            report_bad(r, expect, "event missing: the chain jumps to event %s (deleted row)", d);
            r->first_bad_seq = expect;
            break;
        }
        if (prev_len != CN_AUDIT_HASH_BYTES || memcmp(prev_hash, prev, CN_AUDIT_HASH_BYTES) != 0) {
            report_bad(r, seq, "prev_hash does not match the previous event's hash%s", NULL);
            break;
        }
        unsigned char h[CN_AUDIT_HASH_BYTES];
        cn_audit_event_hash(prev, seq, run_id ? run_id : "", kind ? kind : "", payload, payload_len, h);
        if (hash_len != CN_AUDIT_HASH_BYTES || memcmp(hash, h, CN_AUDIT_HASH_BYTES) != 0) {
            report_bad(r, seq, "content does not match its hash (kind \"%s\"): altered event", kind);
            break;
        }
        memcpy(prev, h, sizeof prev);
        expect++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return cn_fail(err, CN_ERR_IO, "verify: %s", sqlite3_errmsg(db));
    *last_seq = expect - 1;
    memcpy(last, prev, CN_AUDIT_HASH_BYTES);
    return CN_OK;
}

static bool event_hash_at(sqlite3 *db, int64_t seq, unsigned char out[CN_AUDIT_HASH_BYTES]) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE seq = ?", -1, &st, NULL) != SQLITE_OK) return false;
    sqlite3_bind_int64(st, 1, seq);
    bool found = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CN_AUDIT_HASH_BYTES;
    if (found) memcpy(out, sqlite3_column_blob(st, 0), CN_AUDIT_HASH_BYTES);
    sqlite3_finalize(st);
    return found;
}

cn_status cn_audit_verify(sqlite3 *db, const char *run_id, const unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                          bool run_finished, cn_audit_report *r, cn_error *err) {
    memset(r, 0, sizeof *r);
    r->ok = true;
    int64_t last_seq = 0;
    unsigned char last[CN_AUDIT_HASH_BYTES] = {0};
    cn_status s = verify_chain(db, r, &last_seq, last, err);
    if (s != CN_OK) return s;
    char d[160];

    /* Every checkpoint: a valid signature over a head that is the hash of the event it names. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, head, signature FROM checkpoints ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return cn_fail(err, CN_ERR_FORMAT, "verify: no checkpoints table: %s", sqlite3_errmsg(db));
    int64_t last_checkpoint = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        r->checkpoints++;
        last_checkpoint = seq;
        if (sqlite3_column_bytes(st, 1) != CN_AUDIT_HASH_BYTES || sqlite3_column_bytes(st, 2) != crypto_sign_BYTES) {
            report_bad(r, seq, "checkpoint at this event is malformed%s", NULL);
            continue;
        }
        unsigned char msg[CN_AUDIT_HASH_BYTES], head[CN_AUDIT_HASH_BYTES], at[CN_AUDIT_HASH_BYTES];
        memcpy(head, sqlite3_column_blob(st, 1), sizeof head);
        cn_audit_checkpoint_message(run_id, seq, head, msg);
        if (crypto_sign_verify_detached(sqlite3_column_blob(st, 2), msg, sizeof msg, pk) != 0) {
            report_bad(r, seq, "checkpoint signature is invalid%s", NULL);
        } else if (!event_hash_at(db, seq, at)) {
            snprintf(d, sizeof d, "%lld", (long long)last_seq);
            report_bad(r, last_seq + 1,
                       "truncated: a signed checkpoint covers a later event but the journal ends at event %s", d);
            r->first_bad_seq = last_seq + 1 < seq ? last_seq + 1 : seq;
        } else if (memcmp(at, head, sizeof head) != 0) {
            report_bad(r, seq, "event hash differs from the signed checkpoint%s", NULL);
        }
    }
    sqlite3_finalize(st);

    /* The head recorded in the same transaction as the last event. */
    if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM journal_head WHERE id = 1", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            int64_t head_seq = sqlite3_column_int64(st, 0);
            if (head_seq > last_seq) {
                snprintf(d, sizeof d, "%lld (recorded head: %lld)", (long long)last_seq, (long long)head_seq);
                report_bad(r, last_seq + 1, "truncated: the journal ends at event %s", d);
            } else if (head_seq < last_seq || sqlite3_column_bytes(st, 1) != CN_AUDIT_HASH_BYTES ||
                       memcmp(sqlite3_column_blob(st, 1), last, CN_AUDIT_HASH_BYTES) != 0) {
                report_bad(r, head_seq + 1 <= last_seq ? head_seq + 1 : last_seq,
                           "the recorded chain head does not match the last event%s", NULL);
            }
        } else if (last_seq > 0) {
            report_bad(r, 1, "the recorded chain head is missing%s", NULL);
        }
        sqlite3_finalize(st);
    }
    if (run_finished && r->ok && last_checkpoint != last_seq) {
        snprintf(d, sizeof d, "%lld", (long long)last_seq);
        report_bad(r, last_seq, "the run ended but no signed checkpoint covers its last event %s", d);
    }
    return CN_OK;
}
