#include "kv/store_format.h"

#include "base/crc32c.h"

#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

const char cn_kv_chunk_magic[8] = {'C', 'N', 'K', 'V', 'C', 'H', 'K', '1'};
const char cn_kv_checkpoint_magic[8] = {'C', 'N', 'K', 'V', 'C', 'K', 'P', '1'};
static const char journal_magic[8] = {'C', 'N', 'K', 'V', 'J', 'R', 'N', '1'};
static const uint32_t record_magic = 0x524a4e43u; /* "CNJR" */

/* Positions beyond this are refused when read (2^40 tokens: far past any context). */
#define MAX_TOKENS ((int64_t)1 << 40)

/* ---- hashing -------------------------------------------------------------------------------- */

static void upd(crypto_generichash_state *h, const void *p, size_t n) { crypto_generichash_update(h, p, n); }
static void upd_i64(crypto_generichash_state *h, int64_t v) { upd(h, &v, sizeof v); }

static void upd_codec(crypto_generichash_state *h, const cn_kv_codec *c) {
    upd_i64(h, c->type);
    upd_i64(h, c->width);
    upd_i64(h, c->rope_dim);
    upd_i64(h, c->block);
    upd_i64(h, (int64_t)c->row_bytes);
}

cn_kv_hash cn_kv_store_fingerprint(const char *model_identity, const cn_kv_state *like, int64_t chunk_tokens) {
    static const char tag[] = "clawnet kv store fingerprint";
    const uint32_t order = 0x01020304u; /* byte-order marker: files are host-endian */
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, CN_KV_HASH_BYTES);
    upd(&h, tag, sizeof tag);
    upd_i64(&h, CN_KV_STORE_VERSION);
    upd(&h, &order, sizeof order);
    const size_t id_len = model_identity ? strlen(model_identity) : 0;
    upd_i64(&h, (int64_t)id_len);
    if (id_len) upd(&h, model_identity, id_len);
    upd_i64(&h, chunk_tokens);
    upd_i64(&h, like->n_layers);
    for (int l = 0; l < like->n_layers; l++) {
        const cn_kv_layer *ly = &like->layers[l];
        upd_i64(&h, ly->ratio);
        upd_i64(&h, ly->has_indexer);
        upd_i64(&h, ly->window);
        upd_i64(&h, ly->head_dim);
        upd_i64(&h, ly->compressor.rows);
        upd_i64(&h, ly->compressor.width);
        upd_i64(&h, ly->indexer_compressor.rows);
        upd_i64(&h, ly->indexer_compressor.width);
        upd_codec(&h, &ly->window_codec);
        upd_codec(&h, &ly->compressed.codec);
        upd_codec(&h, &ly->indexer_keys.codec);
        upd_i64(&h, ly->compressed.width);
        upd_i64(&h, ly->indexer_keys.width);
    }
    cn_kv_hash out;
    crypto_generichash_final(&h, out.b, sizeof out.b);
    return out;
}

cn_kv_hash cn_kv_chunk_key(const cn_kv_hash *fingerprint, const cn_kv_hash *parent, const int32_t *ids, int64_t span) {
    static const char tag[] = "chunk";
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, CN_KV_HASH_BYTES);
    upd(&h, tag, sizeof tag);
    upd(&h, fingerprint->b, sizeof fingerprint->b);
    upd(&h, parent->b, sizeof parent->b);
    upd_i64(&h, span);
    upd(&h, ids, (size_t)span * sizeof *ids);
    cn_kv_hash out;
    crypto_generichash_final(&h, out.b, sizeof out.b);
    return out;
}

/* BLAKE2b's state can be copied: one pass over the ids, finalising a copy at each length. */
void cn_kv_prefix_hashes(const cn_kv_hash *fingerprint, const int32_t *ids, int64_t n_ids, const int64_t *lengths,
                         size_t n_lengths, cn_kv_hash *out) {
    static const char tag[] = "prefix";
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, CN_KV_HASH_BYTES);
    upd(&h, tag, sizeof tag);
    upd(&h, fingerprint->b, sizeof fingerprint->b);
    int64_t done = 0;
    for (size_t i = 0; i < n_lengths; i++) {
        int64_t len = lengths[i] < n_ids ? lengths[i] : n_ids;
        if (len > done) {
            upd(&h, ids + done, (size_t)(len - done) * sizeof *ids);
            done = len;
        }
        crypto_generichash_state copy = h;
        crypto_generichash_final(&copy, out[i].b, sizeof out[i].b);
    }
}

/* ---- little writers and readers ---------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t at, cap;
} writer;

static void put(writer *w, const void *src, size_t n) {
    if (n) memcpy(w->p + w->at, src, n);
    w->at += n;
}
static void put_u32(writer *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, sizeof v); }

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static bool take(reader *r, void *dst, size_t n) {
    if (n > r->left) return false;
    if (n) memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}
static bool skip(reader *r, const uint8_t **at, size_t n) {
    if (n > r->left) return false;
    *at = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

/* ---- container ------------------------------------------------------------------------------ */

/* CRC-32C of (header sum, u64 page index, page bytes): the header sum ties the page to its file,
 * the index to its place in it. The CRC of the 24-byte prefix is computed once per file. */
static uint32_t page_sum_seed(const uint8_t header_sum[CN_KV_SUM_BYTES]) { return cn_crc32c(0, header_sum, CN_KV_SUM_BYTES); }

static void page_sum(uint32_t seed, uint64_t index, const uint8_t *page, size_t n, uint8_t out[CN_KV_PAGE_SUM_BYTES]) {
    const uint32_t crc = cn_crc32c(cn_crc32c(seed, &index, sizeof index), page, n);
    memcpy(out, &crc, sizeof crc);
}

static size_t page_count(size_t body_bytes) { return (body_bytes + CN_KV_PAGE_BYTES - 1) / CN_KV_PAGE_BYTES; }

cn_status cn_kv_container_build(const char magic[8], const cn_kv_hash *fingerprint, const uint8_t *fields,
                                size_t fields_bytes, const uint8_t *body, size_t body_bytes, uint8_t **out,
                                size_t *size, cn_error *err) {
    const size_t header_bytes = CN_KV_CONTAINER_FIXED + fields_bytes + CN_KV_SUM_BYTES;
    const size_t pages = page_count(body_bytes);
    const size_t total = header_bytes + body_bytes + pages * CN_KV_PAGE_SUM_BYTES;
    if (header_bytes > UINT32_MAX) return cn_fail(err, CN_ERR_ARG, "kv store file header too large");
    writer w = {malloc(total), 0, total};
    if (!w.p) return cn_fail(err, CN_ERR_NOMEM, "out of memory building a kv store file (%zu bytes)", total);
    put(&w, magic, 8);
    put_u32(&w, CN_KV_STORE_VERSION);
    put_u32(&w, (uint32_t)header_bytes);
    put_u64(&w, body_bytes);
    put(&w, fingerprint->b, sizeof fingerprint->b);
    put(&w, fields, fields_bytes);
    uint8_t hsum[CN_KV_SUM_BYTES];
    crypto_generichash(hsum, sizeof hsum, w.p, w.at, NULL, 0);
    put(&w, hsum, sizeof hsum);
    put(&w, body, body_bytes);
    const uint32_t seed = page_sum_seed(hsum);
    for (size_t i = 0; i < pages; i++) {
        const size_t off = i * CN_KV_PAGE_BYTES, n = body_bytes - off < CN_KV_PAGE_BYTES ? body_bytes - off : CN_KV_PAGE_BYTES;
        uint8_t s[CN_KV_PAGE_SUM_BYTES];
        page_sum(seed, i, body + off, n, s);
        put(&w, s, sizeof s);
    }
    *out = w.p;
    *size = total;
    return CN_OK;
}

cn_status cn_kv_container_open(const uint8_t *data, size_t size, const char magic[8], const cn_kv_hash *fingerprint,
                               cn_kv_container *out, cn_error *err) {
    if (size < CN_KV_CONTAINER_FIXED + CN_KV_SUM_BYTES) return cn_fail(err, CN_ERR_FORMAT, "file is truncated (%zu bytes)", size);
    if (memcmp(data, magic, 8) != 0) return cn_fail(err, CN_ERR_FORMAT, "not a kv store file of this kind (bad magic)");
    uint32_t version, header_bytes;
    uint64_t body_bytes;
    memcpy(&version, data + 8, 4);
    memcpy(&header_bytes, data + 12, 4);
    memcpy(&body_bytes, data + 16, 8);
    if (version != CN_KV_STORE_VERSION) return cn_fail(err, CN_ERR_FORMAT, "kv store format version %u, expected %u", version, CN_KV_STORE_VERSION);
    if (header_bytes < CN_KV_CONTAINER_FIXED + CN_KV_SUM_BYTES || header_bytes > size || body_bytes > size)
        return cn_fail(err, CN_ERR_FORMAT, "header size out of range (truncated or corrupt)");
    const size_t pages = page_count((size_t)body_bytes);
    if ((size_t)header_bytes + body_bytes + pages * CN_KV_PAGE_SUM_BYTES != size)
        return cn_fail(err, CN_ERR_FORMAT, "file is %zu bytes, its header says %zu (truncated or corrupt)", size,
                       (size_t)header_bytes + (size_t)body_bytes + pages * CN_KV_PAGE_SUM_BYTES);
    uint8_t hsum[CN_KV_SUM_BYTES];
    crypto_generichash(hsum, sizeof hsum, data, header_bytes - CN_KV_SUM_BYTES, NULL, 0);
    if (sodium_memcmp(hsum, data + header_bytes - CN_KV_SUM_BYTES, sizeof hsum) != 0)
        return cn_fail(err, CN_ERR_FORMAT, "header checksum mismatch");
    if (memcmp(data + 24, fingerprint->b, CN_KV_HASH_BYTES) != 0)
        return cn_fail(err, CN_ERR_FORMAT, "file belongs to another model or layout (fingerprint mismatch)");
    const uint8_t *body = data + header_bytes, *sums = body + body_bytes;
    const uint32_t seed = page_sum_seed(hsum);
    for (size_t i = 0; i < pages; i++) {
        const size_t off = i * CN_KV_PAGE_BYTES;
        const size_t n = body_bytes - off < CN_KV_PAGE_BYTES ? (size_t)body_bytes - off : CN_KV_PAGE_BYTES;
        uint8_t s[CN_KV_PAGE_SUM_BYTES];
        page_sum(seed, i, body + off, n, s);
        if (memcmp(s, sums + i * CN_KV_PAGE_SUM_BYTES, sizeof s) != 0)
            return cn_fail(err, CN_ERR_FORMAT, "checksum mismatch in page %zu of %zu", i, pages);
    }
    out->fields = data + CN_KV_CONTAINER_FIXED;
    out->fields_bytes = header_bytes - CN_KV_CONTAINER_FIXED - CN_KV_SUM_BYTES;
    out->body = body;
    out->body_bytes = (size_t)body_bytes;
    return CN_OK;
}

/* ---- chunks --------------------------------------------------------------------------------- */

/* Entries of a layer's rows and keys per chunk of `span` positions. */
static int64_t rows_per_span(const cn_kv_layer *ly, int64_t span) { return ly->ratio > 0 ? span / ly->ratio : 0; }
static int64_t keys_per_span(const cn_kv_layer *ly, int64_t span) {
    return ly->ratio > 0 && ly->has_indexer ? span / ly->ratio : 0;
}

#define CHUNK_FIELDS_FIXED (2 * CN_KV_HASH_BYTES + 8 + 8 + 4)

size_t cn_kv_chunk_file_bytes(const cn_kv_state *like, int64_t span) {
    size_t body = 0;
    for (int l = 0; l < like->n_layers; l++) {
        const cn_kv_layer *ly = &like->layers[l];
        body += (size_t)rows_per_span(ly, span) * ly->compressed.codec.row_bytes +
                (size_t)keys_per_span(ly, span) * ly->indexer_keys.codec.row_bytes;
    }
    return CN_KV_CONTAINER_FIXED + CHUNK_FIELDS_FIXED + (size_t)like->n_layers * 16 + CN_KV_SUM_BYTES + body +
           page_count(body) * CN_KV_PAGE_SUM_BYTES;
}

cn_status cn_kv_chunk_encode(const cn_kv_hash *fingerprint, const cn_kv_hash *key, const cn_kv_hash *parent,
                             int64_t index, int64_t span, const cn_kv_state *st, uint8_t **out, size_t *size,
                             cn_error *err) {
    const size_t fields_bytes = CHUNK_FIELDS_FIXED + (size_t)st->n_layers * 16;
    size_t body_bytes = 0;
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        const int64_t nr = rows_per_span(ly, span), nk = keys_per_span(ly, span);
        if (ly->compressed.count < (index + 1) * nr || ly->indexer_keys.count < (index + 1) * nk)
            return cn_fail(err, CN_ERR_ARG, "layer %d holds %lld compressed rows, chunk %lld needs %lld", l,
                           (long long)ly->compressed.count, (long long)index, (long long)((index + 1) * nr));
        body_bytes += (size_t)nr * ly->compressed.codec.row_bytes + (size_t)nk * ly->indexer_keys.codec.row_bytes;
    }
    uint8_t *fields = malloc(fields_bytes), *body = malloc(body_bytes ? body_bytes : 1);
    if (!fields || !body) {
        free(fields);
        free(body);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory encoding a kv chunk");
    }
    writer f = {fields, 0, fields_bytes}, b = {body, 0, body_bytes};
    put(&f, key->b, sizeof key->b);
    put(&f, parent->b, sizeof parent->b);
    put_u64(&f, (uint64_t)index);
    put_u64(&f, (uint64_t)span);
    put_u32(&f, (uint32_t)st->n_layers);
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        const int64_t nr = rows_per_span(ly, span), nk = keys_per_span(ly, span);
        put_u32(&f, (uint32_t)nr);
        put_u32(&f, (uint32_t)ly->compressed.codec.row_bytes);
        put_u32(&f, (uint32_t)nk);
        put_u32(&f, (uint32_t)ly->indexer_keys.codec.row_bytes);
        if (nr) put(&b, cn_kv_rows_bytes(&ly->compressed, index * nr), (size_t)nr * ly->compressed.codec.row_bytes);
        if (nk) put(&b, cn_kv_rows_bytes(&ly->indexer_keys, index * nk), (size_t)nk * ly->indexer_keys.codec.row_bytes);
    }
    cn_status s = cn_kv_container_build(cn_kv_chunk_magic, fingerprint, fields, fields_bytes, body, body_bytes, out, size, err);
    free(fields);
    free(body);
    return s;
}

cn_status cn_kv_chunk_load(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint, const cn_kv_hash *key,
                           const cn_kv_hash *parent, int64_t index, int64_t span, cn_kv_state *st, cn_error *err) {
    cn_kv_container c;
    cn_status s = cn_kv_container_open(data, size, cn_kv_chunk_magic, fingerprint, &c, err);
    if (s) return s;
    if (c.fields_bytes != CHUNK_FIELDS_FIXED + (size_t)st->n_layers * 16)
        return cn_fail(err, CN_ERR_FORMAT, "chunk header has %zu bytes of fields, expected %zu", c.fields_bytes,
                       CHUNK_FIELDS_FIXED + (size_t)st->n_layers * 16);
    reader r = {c.fields, c.fields_bytes};
    cn_kv_hash got_key, got_parent;
    uint64_t got_index = 0, got_span = 0;
    uint32_t n_layers = 0;
    take(&r, got_key.b, sizeof got_key.b);
    take(&r, got_parent.b, sizeof got_parent.b);
    take(&r, &got_index, 8);
    take(&r, &got_span, 8);
    take(&r, &n_layers, 4);
    if (memcmp(got_key.b, key->b, sizeof key->b) != 0) return cn_fail(err, CN_ERR_FORMAT, "chunk holds another key (swapped file)");
    if (memcmp(got_parent.b, parent->b, sizeof parent->b) != 0) return cn_fail(err, CN_ERR_FORMAT, "chunk has another parent");
    if (got_index != (uint64_t)index || got_span != (uint64_t)span || n_layers != (uint32_t)st->n_layers)
        return cn_fail(err, CN_ERR_FORMAT, "chunk index, span or layer count does not match");
    size_t want_body = 0;
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        const int64_t nr = rows_per_span(ly, span), nk = keys_per_span(ly, span);
        uint32_t h[4] = {0, 0, 0, 0};
        take(&r, h, sizeof h);
        if (h[0] != (uint32_t)nr || h[1] != (uint32_t)ly->compressed.codec.row_bytes || h[2] != (uint32_t)nk ||
            h[3] != (uint32_t)ly->indexer_keys.codec.row_bytes)
            return cn_fail(err, CN_ERR_FORMAT, "chunk layer %d has another shape", l);
        if (ly->compressed.count != index * nr || ly->indexer_keys.count != index * nk)
            return cn_fail(err, CN_ERR_ARG, "chunks must be loaded in order (layer %d)", l);
        want_body += (size_t)nr * ly->compressed.codec.row_bytes + (size_t)nk * ly->indexer_keys.codec.row_bytes;
    }
    if (want_body != c.body_bytes) return cn_fail(err, CN_ERR_FORMAT, "chunk body is %zu bytes, expected %zu", c.body_bytes, want_body);
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        const int64_t nr = rows_per_span(ly, span), nk = keys_per_span(ly, span);
        if ((s = cn_kv_rows_reserve(&ly->compressed, (index + 1) * nr, err)) ||
            (s = cn_kv_rows_reserve(&ly->indexer_keys, (index + 1) * nk, err)))
            return s;
    }
    reader b = {c.body, c.body_bytes};
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        const int64_t nr = rows_per_span(ly, span), nk = keys_per_span(ly, span);
        if (nr) take(&b, ly->compressed.data + (size_t)(index * nr) * ly->compressed.codec.row_bytes,
                     (size_t)nr * ly->compressed.codec.row_bytes);
        if (nk) take(&b, ly->indexer_keys.data + (size_t)(index * nk) * ly->indexer_keys.codec.row_bytes,
                     (size_t)nk * ly->indexer_keys.codec.row_bytes);
        ly->compressed.count = (index + 1) * nr;
        ly->indexer_keys.count = (index + 1) * nk;
    }
    return CN_OK;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

#define CKPT_FIELDS_FIXED (CN_KV_HASH_BYTES + 8 + 8 + 8 + 4)

static size_t window_bytes(const cn_kv_layer *ly) { return (size_t)ly->window * ly->window_codec.row_bytes; }
static size_t compressor_bytes(const cn_kv_compressor *c) { return (size_t)(c->rows * c->width) * sizeof(float); }

/* Bytes of one layer's mutable part with these tail counts. */
static size_t layer_state_bytes(const cn_kv_layer *ly, int64_t tail_rows, int64_t tail_keys) {
    return window_bytes(ly) + 2 * compressor_bytes(&ly->compressor) + 2 * compressor_bytes(&ly->indexer_compressor) +
           (size_t)tail_rows * ly->compressed.codec.row_bytes + (size_t)tail_keys * ly->indexer_keys.codec.row_bytes;
}

cn_status cn_kv_checkpoint_encode(const cn_kv_hash *fingerprint, const cn_kv_hash *prefix_hash, const int32_t *ids,
                                  int64_t span, const cn_kv_hash *chunk_keys, const cn_kv_state *st, uint8_t **out,
                                  size_t *size, cn_error *err) {
    const int64_t n = st->n_tokens, n_chunks = n / span, n_tail = n - n_chunks * span;
    const size_t fields_bytes = CKPT_FIELDS_FIXED + (size_t)st->n_layers * 8;
    size_t body_bytes = (size_t)n_chunks * CN_KV_HASH_BYTES + (size_t)n_tail * sizeof(int32_t);
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        const int64_t tr = ly->compressed.count - n_chunks * rows_per_span(ly, span);
        const int64_t tk = ly->indexer_keys.count - n_chunks * keys_per_span(ly, span);
        /* what a reader will demand (spec 5.4: n/ratio entries), so nothing unreadable is written */
        const int64_t want_rows = ly->ratio > 0 ? n / ly->ratio : 0;
        const int64_t want_keys = ly->ratio > 0 && ly->has_indexer ? n / ly->ratio : 0;
        if (ly->compressed.count != want_rows || ly->indexer_keys.count != want_keys)
            return cn_fail(err, CN_ERR_ARG, "layer %d holds %lld compressed rows and %lld indexer keys at position %lld, expected %lld and %lld",
                           l, (long long)ly->compressed.count, (long long)ly->indexer_keys.count, (long long)n,
                           (long long)want_rows, (long long)want_keys);
        body_bytes += layer_state_bytes(ly, tr, tk);
    }
    uint8_t *fields = malloc(fields_bytes), *body = malloc(body_bytes ? body_bytes : 1);
    if (!fields || !body) {
        free(fields);
        free(body);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory encoding a kv checkpoint");
    }
    writer f = {fields, 0, fields_bytes}, b = {body, 0, body_bytes};
    put(&f, prefix_hash->b, sizeof prefix_hash->b);
    put_u64(&f, (uint64_t)n);
    put_u64(&f, (uint64_t)n_chunks);
    put_u64(&f, (uint64_t)span);
    put_u32(&f, (uint32_t)st->n_layers);
    for (int64_t c = 0; c < n_chunks; c++) put(&b, chunk_keys[c].b, CN_KV_HASH_BYTES);
    put(&b, ids + n_chunks * span, (size_t)n_tail * sizeof(int32_t));
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        const int64_t r0 = n_chunks * rows_per_span(ly, span), k0 = n_chunks * keys_per_span(ly, span);
        const int64_t tr = ly->compressed.count - r0, tk = ly->indexer_keys.count - k0;
        put_u32(&f, (uint32_t)tr);
        put_u32(&f, (uint32_t)tk);
        put(&b, ly->window_ring, window_bytes(ly));
        put(&b, ly->compressor.kv, compressor_bytes(&ly->compressor));
        put(&b, ly->compressor.score, compressor_bytes(&ly->compressor));
        put(&b, ly->indexer_compressor.kv, compressor_bytes(&ly->indexer_compressor));
        put(&b, ly->indexer_compressor.score, compressor_bytes(&ly->indexer_compressor));
        if (tr) put(&b, cn_kv_rows_bytes(&ly->compressed, r0), (size_t)tr * ly->compressed.codec.row_bytes);
        if (tk) put(&b, cn_kv_rows_bytes(&ly->indexer_keys, k0), (size_t)tk * ly->indexer_keys.codec.row_bytes);
    }
    cn_status s = cn_kv_container_build(cn_kv_checkpoint_magic, fingerprint, fields, fields_bytes, body, body_bytes,
                                        out, size, err);
    free(fields);
    free(body);
    return s;
}

cn_status cn_kv_checkpoint_parse(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint, int64_t span,
                                 const cn_kv_state *like, cn_kv_checkpoint_view *out, cn_error *err) {
    cn_kv_container c;
    cn_status s = cn_kv_container_open(data, size, cn_kv_checkpoint_magic, fingerprint, &c, err);
    if (s) return s;
    if (c.fields_bytes != CKPT_FIELDS_FIXED + (size_t)like->n_layers * 8)
        return cn_fail(err, CN_ERR_FORMAT, "checkpoint header has %zu bytes of fields, expected %zu", c.fields_bytes,
                       CKPT_FIELDS_FIXED + (size_t)like->n_layers * 8);
    reader r = {c.fields, c.fields_bytes};
    uint64_t n_tokens = 0, n_chunks = 0, got_span = 0;
    uint32_t n_layers = 0;
    take(&r, out->prefix_hash.b, CN_KV_HASH_BYTES);
    take(&r, &n_tokens, 8);
    take(&r, &n_chunks, 8);
    take(&r, &got_span, 8);
    take(&r, &n_layers, 4);
    if (got_span != (uint64_t)span || n_layers != (uint32_t)like->n_layers)
        return cn_fail(err, CN_ERR_FORMAT, "checkpoint span or layer count does not match");
    if (n_tokens == 0 || n_tokens > (uint64_t)MAX_TOKENS || n_chunks != n_tokens / (uint64_t)span)
        return cn_fail(err, CN_ERR_FORMAT, "checkpoint position %llu with %llu chunks is inconsistent",
                       (unsigned long long)n_tokens, (unsigned long long)n_chunks);
    const int64_t n = (int64_t)n_tokens, nc = (int64_t)n_chunks;
    size_t want = (size_t)nc * CN_KV_HASH_BYTES + (size_t)(n - nc * span) * sizeof(int32_t);
    for (int l = 0; l < like->n_layers; l++) {
        const cn_kv_layer *ly = &like->layers[l];
        uint32_t tail[2] = {0, 0};
        take(&r, tail, sizeof tail);
        /* Entry i is emitted once positions [i*ratio, (i+1)*ratio) are in (spec 5.4): n/ratio in all. */
        const int64_t total_rows = ly->ratio > 0 ? n / ly->ratio : 0;
        const int64_t total_keys = ly->ratio > 0 && ly->has_indexer ? n / ly->ratio : 0;
        if ((int64_t)tail[0] != total_rows - nc * rows_per_span(ly, span) ||
            (int64_t)tail[1] != total_keys - nc * keys_per_span(ly, span))
            return cn_fail(err, CN_ERR_FORMAT, "checkpoint layer %d row counts do not match its position", l);
        want += layer_state_bytes(ly, tail[0], tail[1]);
    }
    if (want != c.body_bytes) return cn_fail(err, CN_ERR_FORMAT, "checkpoint body is %zu bytes, expected %zu", c.body_bytes, want);
    out->n_tokens = n;
    out->n_chunks = nc;
    out->chunk_keys = c.body;
    out->tail_ids = c.body + (size_t)nc * CN_KV_HASH_BYTES;
    out->state = out->tail_ids + (size_t)(n - nc * span) * sizeof(int32_t);
    out->state_bytes = c.body_bytes - (size_t)(out->state - c.body);
    return CN_OK;
}

cn_status cn_kv_checkpoint_apply(const cn_kv_checkpoint_view *v, int64_t span, cn_kv_state *st, cn_error *err) {
    const int64_t n = v->n_tokens, nc = v->n_chunks;
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        if (ly->compressed.count != nc * rows_per_span(ly, span) || ly->indexer_keys.count != nc * keys_per_span(ly, span))
            return cn_fail(err, CN_ERR_ARG, "checkpoint applied before its chunks (layer %d)", l);
    }
    reader b = {v->state, v->state_bytes};
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        const int64_t rows = ly->ratio > 0 ? n / ly->ratio : 0, keys = ly->ratio > 0 && ly->has_indexer ? n / ly->ratio : 0;
        cn_status s;
        if ((s = cn_kv_rows_reserve(&ly->compressed, rows, err)) || (s = cn_kv_rows_reserve(&ly->indexer_keys, keys, err)))
            return s;
        const size_t tr = (size_t)(rows - ly->compressed.count), tk = (size_t)(keys - ly->indexer_keys.count);
        bool ok = take(&b, ly->window_ring, window_bytes(ly)) &&
                  take(&b, ly->compressor.kv, compressor_bytes(&ly->compressor)) &&
                  take(&b, ly->compressor.score, compressor_bytes(&ly->compressor)) &&
                  take(&b, ly->indexer_compressor.kv, compressor_bytes(&ly->indexer_compressor)) &&
                  take(&b, ly->indexer_compressor.score, compressor_bytes(&ly->indexer_compressor));
        if (ok && tr) ok = take(&b, ly->compressed.data + (size_t)ly->compressed.count * ly->compressed.codec.row_bytes,
                                tr * ly->compressed.codec.row_bytes);
        if (ok && tk) ok = take(&b, ly->indexer_keys.data + (size_t)ly->indexer_keys.count * ly->indexer_keys.codec.row_bytes,
                                tk * ly->indexer_keys.codec.row_bytes);
        if (!ok) return cn_fail(err, CN_ERR_FORMAT, "checkpoint state section is short (layer %d)", l);
        ly->compressed.count = rows;
        ly->indexer_keys.count = keys;
    }
    st->n_tokens = n;
    return CN_OK;
}

/* ---- journal ------------------------------------------------------------------------------------ */

void cn_kv_journal_header(const cn_kv_hash *fingerprint, uint8_t out[CN_KV_JOURNAL_HEADER_BYTES]) {
    memcpy(out, journal_magic, 8);
    memcpy(out + 8, fingerprint->b, CN_KV_HASH_BYTES);
    crypto_generichash(out + 8 + CN_KV_HASH_BYTES, CN_KV_SUM_BYTES, out, 8 + CN_KV_HASH_BYTES, NULL, 0);
}

static void record_sum(const cn_kv_hash *fingerprint, const uint8_t *typed, size_t n, uint8_t out[CN_KV_SUM_BYTES]) {
    crypto_generichash(out, CN_KV_SUM_BYTES, typed, n, fingerprint->b, CN_KV_SUM_BYTES);
}

#define CHUNK_REF_BYTES (CN_KV_HASH_BYTES + 8)

static size_t payload_bytes(const cn_kv_record *rec) {
    switch (rec->type) {
    case CN_KV_REC_COMMIT: return CN_KV_HASH_BYTES + 4 * 8 + (size_t)rec->n_chunks * CHUNK_REF_BYTES;
    case CN_KV_REC_TOUCH: return CN_KV_HASH_BYTES + 2 * 8;
    case CN_KV_REC_DROP: return CN_KV_HASH_BYTES + 8;
    }
    return 0;
}

cn_status cn_kv_record_encode(const cn_kv_hash *fingerprint, const cn_kv_record *rec, uint8_t **out, size_t *size,
                              cn_error *err) {
    const size_t pl = payload_bytes(rec), total = CN_KV_RECORD_OVERHEAD + pl;
    if (pl == 0 || pl > CN_KV_RECORD_MAX_PAYLOAD) return cn_fail(err, CN_ERR_ARG, "journal record of unknown type or too large");
    writer w = {malloc(total), 0, total};
    if (!w.p) return cn_fail(err, CN_ERR_NOMEM, "out of memory for a journal record");
    put_u32(&w, record_magic);
    put_u32(&w, (uint32_t)rec->type);
    put_u32(&w, (uint32_t)pl);
    put(&w, rec->prefix_hash.b, CN_KV_HASH_BYTES);
    put_u64(&w, (uint64_t)rec->n_tokens);
    if (rec->type != CN_KV_REC_DROP) put_u64(&w, rec->clock);
    if (rec->type == CN_KV_REC_COMMIT) {
        put_u64(&w, rec->checkpoint_bytes);
        put_u64(&w, (uint64_t)rec->n_chunks);
        put(&w, rec->chunks, (size_t)rec->n_chunks * CHUNK_REF_BYTES);
    }
    uint8_t s[CN_KV_SUM_BYTES];
    record_sum(fingerprint, w.p + 4, w.at - 4, s);
    put(&w, s, sizeof s);
    *out = w.p;
    *size = total;
    return CN_OK;
}

/* Decodes one record's payload; false if its fields are inconsistent. */
static bool decode_payload(uint32_t type, const uint8_t *p, size_t n, cn_kv_record *rec) {
    reader r = {p, n};
    memset(rec, 0, sizeof *rec);
    uint64_t u;
    rec->type = (cn_kv_record_type)type;
    if (type < CN_KV_REC_COMMIT || type > CN_KV_REC_DROP) return false;
    if (!take(&r, rec->prefix_hash.b, CN_KV_HASH_BYTES) || !take(&r, &u, 8)) return false;
    if (u == 0 || u > (uint64_t)MAX_TOKENS) return false;
    rec->n_tokens = (int64_t)u;
    if (type != CN_KV_REC_DROP && !take(&r, &rec->clock, 8)) return false;
    if (type == CN_KV_REC_COMMIT) {
        if (!take(&r, &rec->checkpoint_bytes, 8) || !take(&r, &u, 8)) return false;
        if (u > (uint64_t)rec->n_tokens || u > r.left / CHUNK_REF_BYTES) return false;
        rec->n_chunks = (int64_t)u;
        if (!skip(&r, &rec->chunks, (size_t)u * CHUNK_REF_BYTES)) return false;
    }
    return r.left == 0;
}

void cn_kv_journal_parse(const uint8_t *data, size_t size, const cn_kv_hash *fingerprint,
                         bool (*on_record)(void *ctx, const cn_kv_record *rec), void *ctx, cn_kv_journal_scan *out) {
    memset(out, 0, sizeof *out);
    uint8_t want[CN_KV_JOURNAL_HEADER_BYTES];
    cn_kv_journal_header(fingerprint, want);
    if (size < sizeof want || memcmp(data, want, sizeof want) != 0) return;
    out->header_ok = true;
    size_t at = sizeof want;
    out->valid_bytes = at;
    while (size - at >= CN_KV_RECORD_OVERHEAD) {
        uint32_t magic, type, pl;
        memcpy(&magic, data + at, 4);
        memcpy(&type, data + at + 4, 4);
        memcpy(&pl, data + at + 8, 4);
        if (magic != record_magic || pl > CN_KV_RECORD_MAX_PAYLOAD || pl > size - at - CN_KV_RECORD_OVERHEAD) break;
        uint8_t s[CN_KV_SUM_BYTES];
        record_sum(fingerprint, data + at + 4, 8 + (size_t)pl, s);
        if (sodium_memcmp(s, data + at + 12 + pl, CN_KV_SUM_BYTES) != 0) break;
        cn_kv_record rec;
        if (!decode_payload(type, data + at + 12, pl, &rec)) break;
        at += CN_KV_RECORD_OVERHEAD + pl;
        out->valid_bytes = at;
        out->records++;
        if (on_record && !on_record(ctx, &rec)) break;
    }
}
