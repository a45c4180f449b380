/* The byte formats of the persistent prefix store (specs/kv-store.md 7.2): the model fingerprint,
 * the chained chunk keys and prefix hashes, the page-checksummed container that chunk and
 * checkpoint files share, and the journal's records. Pure functions over byte buffers: no files,
 * so every parser here can be fuzzed (tests/fuzz/fuzz_kv_store.c) and every validation is done
 * before a single byte reaches a cn_kv_state.
 *
 * Hashes are BLAKE2b (libsodium's crypto_generichash): 32 bytes for identities (fingerprint,
 * chunk keys, prefix hashes), 16 bytes for header and journal record checksums; the 4 KiB pages of
 * file bodies carry CRC-32C (base/crc32c.h), which spec 7.2 allows and which the CPU computes
 * about twenty times faster than BLAKE2b (format version 2; version 1 had BLAKE2b-128 pages). Integers and floats are stored in host
 * byte order; the fingerprint hashes a byte-order marker, so a file written on a host of the other
 * order is foreign and never read. */
#ifndef CN_KV_STORE_FORMAT_H
#define CN_KV_STORE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/state.h"

#define CN_KV_STORE_VERSION 2u
#define CN_KV_HASH_BYTES 32
#define CN_KV_SUM_BYTES 16
#define CN_KV_PAGE_BYTES 4096
#define CN_KV_PAGE_SUM_BYTES 4

typedef struct {
    uint8_t b[CN_KV_HASH_BYTES];
} cn_kv_hash;

/* The fingerprint of a store directory: format version, model identity, chunk span and every
 * field that fixes the shape and encoding of a state's bytes (layer kinds, widths, windows,
 * compressor sizes, row codecs). Two stores share files only if their fingerprints are equal. */
cn_kv_hash cn_kv_store_fingerprint(const char *model_identity, const cn_kv_state *like, int64_t chunk_tokens);

/* Key of chunk c (tokens [c*span, (c+1)*span)): H(fingerprint, parent key, the span's ids); the
 * parent of chunk 0 is all zeros. Equal prefixes give equal chains. */
cn_kv_hash cn_kv_chunk_key(const cn_kv_hash *fingerprint, const cn_kv_hash *parent, const int32_t *ids, int64_t span);

/* Hashes of the token prefixes of one prompt at increasing lengths, computed in one pass:
 * prefix_hash(n) = H(fingerprint, ids[0..n)). lengths must be ascending and <= n_ids. */
void cn_kv_prefix_hashes(const cn_kv_hash *fingerprint, const int32_t *ids, int64_t n_ids, const int64_t *lengths,
                         size_t n_lengths, cn_kv_hash *out);

/* ---- the file container ---------------------------------------------------------------------
 * magic[8] | u32 version | u32 header_bytes | u64 body_bytes | fingerprint[32] | type fields |
 * header sum[16] (BLAKE2b-128 over everything before it) | body | page sums: one per 4 KiB page of
 * the body, CRC-32C of (header sum, u64 page index, page bytes), so a page moved within the file
 * or spliced in from another file fails. File size = header_bytes + body_bytes + 4 x pages. */

#define CN_KV_CONTAINER_FIXED (8 + 4 + 4 + 8 + CN_KV_HASH_BYTES)

/* Builds a file image: fields (the type-specific header part) and body are copied. *out malloc'd. */
cn_status cn_kv_container_build(const char magic[8], const cn_kv_hash *fingerprint, const uint8_t *fields,
                                size_t fields_bytes, const uint8_t *body, size_t body_bytes, uint8_t **out,
                                size_t *size, cn_error *err);

typedef struct {
    const uint8_t *fields; /* the type-specific header part */
    size_t fields_bytes;
    const uint8_t *body;
    size_t body_bytes;
} cn_kv_container;

/* Validates an image completely (size, magic, version, fingerprint, header sum, every page sum)
 * and points into it. CN_ERR_FORMAT with a message for anything wrong. */
cn_status cn_kv_container_open(const uint8_t *data, size_t size, const char magic[8], const cn_kv_hash *fingerprint,
                               cn_kv_container *out, cn_error *err);

extern const char cn_kv_chunk_magic[8];
extern const char cn_kv_checkpoint_magic[8];

/* ---- chunk files ------------------------------------------------------------------------------
 * fields: key[32] | parent[32] | u64 index | u64 span | u32 n_layers | per layer (u32 rows,
 * u32 row_bytes, u32 keys, u32 key_bytes). body: per layer its compressed rows then its indexer
 * keys for positions [index*span, (index+1)*span): span/ratio of each (0 on sliding-only layers). */

/* The size of every chunk file of this layout. */
size_t cn_kv_chunk_file_bytes(const cn_kv_state *like, int64_t span);

/* Encodes chunk `index` of st (which must hold at least (index+1)*span positions). */
cn_status cn_kv_chunk_encode(const cn_kv_hash *fingerprint, const cn_kv_hash *key, const cn_kv_hash *parent,
                             int64_t index, int64_t span, const cn_kv_state *st, uint8_t **out, size_t *size,
                             cn_error *err);

/* Validates a chunk image for this key, parent, index and the layout of st, then copies its rows
 * into st at entries [index*span/ratio, ...) (each layer must hold exactly that many rows
 * before: chunks are loaded in order). st is unchanged when validation fails. */
cn_status cn_kv_chunk_load(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint, const cn_kv_hash *key,
                           const cn_kv_hash *parent, int64_t index, int64_t span, cn_kv_state *st, cn_error *err);

/* ---- checkpoint files -------------------------------------------------------------------------
 * The mutable state at a saved position. fields: prefix_hash[32] | u64 n_tokens | u64 n_chunks |
 * u64 span | u32 n_layers | per layer (u32 tail rows, u32 tail keys). body: chunk keys
 * [n_chunks][32] | tail ids [n_tokens - n_chunks*span] int32 | per layer: window ring, compressor
 * kv and score, indexer compressor kv and score, the compressed rows and indexer keys after the
 * last chunk. */

cn_status cn_kv_checkpoint_encode(const cn_kv_hash *fingerprint, const cn_kv_hash *prefix_hash, const int32_t *ids,
                                  int64_t span, const cn_kv_hash *chunk_keys, const cn_kv_state *st, uint8_t **out,
                                  size_t *size, cn_error *err);

/* What a checkpoint image holds, after full validation against the layout of `like` (rows counts
 * consistent with n_tokens, every section in bounds). Points into the image. */
typedef struct {
    cn_kv_hash prefix_hash;
    int64_t n_tokens, n_chunks;
    const uint8_t *chunk_keys; /* n_chunks x 32 */
    const uint8_t *tail_ids;   /* n_tokens - n_chunks*span int32 */
    const uint8_t *state;      /* the per-layer part of the body */
    size_t state_bytes;
} cn_kv_checkpoint_view;

cn_status cn_kv_checkpoint_parse(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint, int64_t span,
                                 const cn_kv_state *like, cn_kv_checkpoint_view *out, cn_error *err);

/* Copies the mutable parts into st, whose rows must already hold the n_chunks chunks; appends the
 * tail rows and sets n_tokens. */
cn_status cn_kv_checkpoint_apply(const cn_kv_checkpoint_view *v, int64_t span, cn_kv_state *st, cn_error *err);

/* ---- the journal ------------------------------------------------------------------------------
 * header: magic "CNKVJRN1" | fingerprint[32] | sum[16]. Then records, appended:
 * u32 magic 'CNJR' | u32 type | u32 payload_bytes | payload | sum[16] (BLAKE2b-128 keyed with the
 * fingerprint's first 16 bytes, over type, length and payload). The first record that is short or
 * fails its sum ends the valid journal: everything after it is ignored (specs/kv-store.md 6.4). */

#define CN_KV_JOURNAL_HEADER_BYTES (8 + CN_KV_HASH_BYTES + CN_KV_SUM_BYTES)
#define CN_KV_RECORD_OVERHEAD (12 + CN_KV_SUM_BYTES)
#define CN_KV_RECORD_MAX_PAYLOAD (64u << 20)

typedef enum {
    CN_KV_REC_COMMIT = 1, /* an entry is live: prefix hash, n_tokens, clock, checkpoint bytes, chunks */
    CN_KV_REC_TOUCH = 2,  /* an entry was used at `clock` (LRU order) */
    CN_KV_REC_DROP = 3,   /* an entry is gone (evicted or found damaged) */
} cn_kv_record_type;

typedef struct {
    cn_kv_record_type type;
    cn_kv_hash prefix_hash;
    int64_t n_tokens;
    uint64_t clock, checkpoint_bytes;
    int64_t n_chunks;
    const uint8_t *chunks; /* COMMIT: n_chunks x (key[32], u64 bytes) */
} cn_kv_record;

void cn_kv_journal_header(const cn_kv_hash *fingerprint, uint8_t out[CN_KV_JOURNAL_HEADER_BYTES]);

/* Encodes one record; *out malloc'd. For COMMIT, `chunks` holds n_chunks x (key, u64 bytes). */
cn_status cn_kv_record_encode(const cn_kv_hash *fingerprint, const cn_kv_record *rec, uint8_t **out, size_t *size,
                              cn_error *err);

typedef struct {
    bool header_ok;        /* false: foreign, garbage or empty; no record was read */
    size_t valid_bytes;    /* the journal's valid prefix (header + whole good records) */
    size_t records;
} cn_kv_journal_scan;

/* Reads the journal image and calls on_record for each valid record in order (rec points into
 * data); stops at the first bad one, or when on_record returns false. */
void cn_kv_journal_parse(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint,
                         bool (*on_record)(void *ctx, const cn_kv_record *rec), void *ctx, cn_kv_journal_scan *out);

#endif
