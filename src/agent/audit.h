/* The journal's audit trail: each event's hash is SHA-256 over a domain tag, the previous hash,
 * its sequence number, run id, kind and exact stored payload bytes, so changing, removing or
 * reordering any event breaks every later link; the chain head is signed with Ed25519 every N
 * events and at run end (libsodium crypto_sign), with a key kept in the run directory (0600).
 * Redaction mode replaces sensitive payload fields with their hashes (docs/agent.md, "Audit"). */
#ifndef CN_AGENT_AUDIT_H
#define CN_AGENT_AUDIT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "base/error.h"

#define CN_AUDIT_HASH_BYTES crypto_hash_sha256_BYTES

void cn_audit_event_hash(const unsigned char prev[CN_AUDIT_HASH_BYTES], int64_t seq, const char *run_id,
                         const char *kind, const void *payload, size_t payload_len,
                         unsigned char out[CN_AUDIT_HASH_BYTES]);

/* The bytes a checkpoint signs: tag, run id, seq and chain head. */
void cn_audit_checkpoint_message(const char *run_id, int64_t seq, const unsigned char head[CN_AUDIT_HASH_BYTES],
                                 unsigned char out[CN_AUDIT_HASH_BYTES]);

/* Creates dir/audit.key (secret, mode 0600) and dir/audit.pub, or loads them if present. */
cn_status cn_audit_key_load_or_create(const char *run_dir, unsigned char sk[crypto_sign_SECRETKEYBYTES],
                                      unsigned char pk[crypto_sign_PUBLICKEYBYTES], cn_error *err);
cn_status cn_audit_public_key_load(const char *run_dir, unsigned char pk[crypto_sign_PUBLICKEYBYTES],
                                   cn_error *err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void cn_audit_hex(const unsigned char *bytes, size_t n, char *out);

/* Redaction: replaces the string value of each named member of obj (top level) with
 * "sha256:<hex of its bytes>"; non-string members are serialised first. */
void cn_audit_redact_fields(cJSON *obj, const char *const *fields, size_t n_fields);

#endif
