/* libFuzzer target for the kv store's parsers (kv/store_format.h): chunk and checkpoint files and
 * the journal. Checksums would stop random bytes at the first check, so the first input byte picks
 * how the rest is used:
 *   0: raw bytes as a chunk, a checkpoint and a journal (the size, magic and checksum checks);
 *   1: fields | body sealed into a valid container (checksums right), then loaded as a chunk and
 *      parsed and applied as a checkpoint (the field and section validation behind the checksums);
 *   2: a journal whose records carry the input's types and payloads with valid sums (the record
 *      decoding behind the checksums);
 *   3: a valid chunk or checkpoint of n positions made by the encoders, then bytes of its header
 *      fields and body changed at input-chosen offsets and resealed (mutations of real files).
 * Any input must be refused with an error or accepted consistently, never crash or read out of
 * bounds (ASan/UBSan). Run: fuzz_kv_store -max_total_time=300 (see docs/kv-store.md). */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/store_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPAN 128

/* A small layout with every layer kind: sliding only, CSA (ratio 4, indexer), HCA (ratio 8). */
static cn_kv_state make_like(void) {
    const cn_kv_layer_shape shapes[3] = {
        {.ratio = 0, .window = 8, .head_dim = 32, .rope_dim = 8},
        {.ratio = 4, .has_indexer = true, .window = 8, .head_dim = 32, .compressor_rows = 8, .compressor_width = 64,
         .indexer_head_dim = 16, .indexer_compressor_rows = 8, .indexer_compressor_width = 32, .rope_dim = 8},
        {.ratio = 8, .window = 8, .head_dim = 32, .compressor_rows = 8, .compressor_width = 32, .rope_dim = 8},
    };
    cn_kv_state st;
    cn_error err;
    if (cn_kv_state_init(&st, 3, shapes, &err) != CN_OK) abort();
    return st;
}

static bool count_record(void *ctx, const cn_kv_record *rec) {
    size_t *n = ctx;
    /* what the store reads of a record: its chunk refs */
    volatile uint8_t sink = 0;
    for (int64_t c = 0; c < rec->n_chunks; c++) sink ^= rec->chunks[c * (CN_KV_HASH_BYTES + 8)];
    (void)sink;
    ++*n;
    return true;
}

static void try_chunk(const uint8_t *image, size_t size, const cn_kv_hash *fp, cn_kv_state *st) {
    cn_error err;
    cn_kv_hash key, parent;
    memset(&key, 0, sizeof key);
    memset(&parent, 0, sizeof parent);
    /* take key and parent from where the header keeps them, so a match is reachable */
    if (size >= CN_KV_CONTAINER_FIXED + 2 * CN_KV_HASH_BYTES) {
        memcpy(key.b, image + CN_KV_CONTAINER_FIXED, CN_KV_HASH_BYTES);
        memcpy(parent.b, image + CN_KV_CONTAINER_FIXED + CN_KV_HASH_BYTES, CN_KV_HASH_BYTES);
    }
    cn_kv_state_reset(st);
    if (cn_kv_chunk_load(image, size, fp, &key, &parent, 0, SPAN, st, &err) == CN_OK) {
        if (st->layers[1].compressed.count != SPAN / 4 || st->layers[2].compressed.count != SPAN / 8) abort();
    }
}

static void try_checkpoint(const uint8_t *image, size_t size, const cn_kv_hash *fp, cn_kv_state *st) {
    cn_error err;
    cn_kv_checkpoint_view v;
    if (cn_kv_checkpoint_parse(image, size, fp, SPAN, st, &v, &err) != CN_OK) return;
    if (v.n_tokens <= 0 || v.n_chunks != v.n_tokens / SPAN) abort();
    /* stand-in chunks: the rows the chunks would have loaded */
    cn_kv_state_reset(st);
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        const int64_t per = ly->ratio ? SPAN / ly->ratio : 0, keys = ly->has_indexer ? per : 0;
        if (cn_kv_rows_reserve(&ly->compressed, v.n_chunks * per, &err) ||
            cn_kv_rows_reserve(&ly->indexer_keys, v.n_chunks * keys, &err))
            return;
        ly->compressed.count = v.n_chunks * per;
        ly->indexer_keys.count = v.n_chunks * keys;
    }
    if (cn_kv_checkpoint_apply(&v, SPAN, st, &err) == CN_OK && st->n_tokens != v.n_tokens) abort();
}

static void try_journal(const uint8_t *image, size_t size, const cn_kv_hash *fp) {
    size_t n = 0;
    cn_kv_journal_scan scan;
    cn_kv_journal_parse(image, size, fp, count_record, &n, &scan);
    if (scan.valid_bytes > size || n != scan.records || (!scan.header_ok && scan.records)) abort();
}

/* Mode 2: [type u8][len u16][payload] pieces, sealed as journal records. */
static void sealed_journal(const uint8_t *p, size_t n, const cn_kv_hash *fp) {
    uint8_t *image = malloc(CN_KV_JOURNAL_HEADER_BYTES + n + (n / 3 + 1) * CN_KV_RECORD_OVERHEAD); /* >= 3 bytes a record */
    if (!image) return;
    cn_kv_journal_header(fp, image);
    size_t at = CN_KV_JOURNAL_HEADER_BYTES;
    while (n >= 3) {
        const uint32_t type = p[0], magic = 0x524a4e43u;
        uint32_t len = (uint32_t)p[1] | (uint32_t)p[2] << 8;
        p += 3, n -= 3;
        if (len > n) len = (uint32_t)n;
        memcpy(image + at, &magic, 4);
        memcpy(image + at + 4, &type, 4);
        memcpy(image + at + 8, &len, 4);
        memcpy(image + at + 12, p, len);
        crypto_generichash(image + at + 12 + len, CN_KV_SUM_BYTES, image + at + 4, 8 + len, fp->b, CN_KV_SUM_BYTES);
        at += CN_KV_RECORD_OVERHEAD + len;
        p += len, n -= len;
    }
    try_journal(image, at, fp);
    free(image);
}

/* Gives st the rows of n positions (zeros), as the model would have appended them. */
static bool fill_rows(cn_kv_state *st, int64_t n) {
    cn_error err;
    cn_kv_state_reset(st);
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        const int64_t rows = ly->ratio ? n / ly->ratio : 0, keys = ly->has_indexer ? rows : 0;
        if (cn_kv_rows_reserve(&ly->compressed, rows, &err) || cn_kv_rows_reserve(&ly->indexer_keys, keys, &err)) return false;
        if (rows) memset(ly->compressed.data, 0, (size_t)rows * ly->compressed.codec.row_bytes);
        if (keys) memset(ly->indexer_keys.data, 0, (size_t)keys * ly->indexer_keys.codec.row_bytes);
        ly->compressed.count = rows;
        ly->indexer_keys.count = keys;
    }
    st->n_tokens = n;
    return true;
}

/* Mode 3: [kind u8][n u16][(offset u16, xor u8)...] */
static void mutated_real(const uint8_t *p, size_t n, const cn_kv_hash *fp, cn_kv_state *st) {
    if (n < 3) return;
    const bool checkpoint = p[0] & 1;
    const int64_t len = checkpoint ? 1 + (int64_t)(((uint32_t)p[1] | (uint32_t)p[2] << 8) % 1024) : SPAN;
    p += 3, n -= 3;
    if (!fill_rows(st, len)) return;
    int32_t *ids = calloc((size_t)len, sizeof *ids);
    cn_kv_hash *keys = calloc((size_t)(len / SPAN + 1), sizeof *keys), zero;
    memset(&zero, 0, sizeof zero);
    uint8_t *image = NULL;
    size_t size = 0;
    cn_error err;
    cn_status rc = !ids || !keys ? CN_ERR_NOMEM
                   : checkpoint ? cn_kv_checkpoint_encode(fp, &zero, ids, SPAN, keys, st, &image, &size, &err)
                                : cn_kv_chunk_encode(fp, &zero, &zero, 0, SPAN, st, &image, &size, &err);
    free(ids);
    free(keys);
    if (rc) abort(); /* the encoders accept every consistent state */
    cn_kv_container c;
    if (cn_kv_container_open(image, size, checkpoint ? cn_kv_checkpoint_magic : cn_kv_chunk_magic, fp, &c, &err)) abort();
    /* fields and body, changed, resealed */
    const size_t fb = c.fields_bytes, total = fb + c.body_bytes;
    uint8_t *raw = malloc(total ? total : 1);
    if (!raw) {
        free(image);
        return;
    }
    memcpy(raw, c.fields, fb);
    memcpy(raw + fb, c.body, c.body_bytes);
    for (; n >= 3 && total; p += 3, n -= 3) raw[((size_t)p[0] | (size_t)p[1] << 8) % total] ^= p[2];
    free(image);
    image = NULL;
    if (cn_kv_container_build(checkpoint ? cn_kv_checkpoint_magic : cn_kv_chunk_magic, fp, raw, fb, raw + fb,
                              total - fb, &image, &size, &err) == CN_OK) {
        if (checkpoint) try_checkpoint(image, size, fp, st);
        else try_chunk(image, size, fp, st);
        free(image);
    }
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    static cn_kv_state like;
    static cn_kv_hash fp;
    if (!ready) {
        if (sodium_init() < 0) abort();
        like = make_like();
        fp = cn_kv_store_fingerprint("fuzz", &like, SPAN);
        ready = 1;
    }
    if (size < 1) return 0;
    const uint8_t mode = data[0] % 4;
    data++, size--;
    if (mode == 0) {
        try_chunk(data, size, &fp, &like);
        try_checkpoint(data, size, &fp, &like);
        try_journal(data, size, &fp);
    } else if (mode == 1 && size >= 2) {
        /* [magic selector u8][fields length u8][fields][body] */
        const char *magic = data[0] & 1 ? cn_kv_checkpoint_magic : cn_kv_chunk_magic;
        size_t fields = data[1] * 2u;
        data += 2, size -= 2;
        if (fields > size) fields = size;
        uint8_t *image = NULL;
        size_t image_size = 0;
        cn_error err;
        if (cn_kv_container_build(magic, &fp, data, fields, data + fields, size - fields, &image, &image_size, &err) == CN_OK) {
            try_chunk(image, image_size, &fp, &like);
            try_checkpoint(image, image_size, &fp, &like);
            free(image);
        }
    } else if (mode == 2) {
        sealed_journal(data, size, &fp);
    } else {
        mutated_real(data, size, &fp, &like);
    }
    cn_kv_state_reset(&like);
    return 0;
}
