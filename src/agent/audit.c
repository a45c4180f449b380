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
