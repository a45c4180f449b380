#include "kv/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cn_status compressor_init(cn_kv_compressor *c, int64_t rows, int64_t width, cn_error *err) {
    c->rows = rows;
    c->width = width;
    if (rows == 0) return CN_OK;
    c->kv = malloc((size_t)(rows * width) * sizeof(float));
    c->score = malloc((size_t)(rows * width) * sizeof(float));
    if (!c->kv || !c->score) return cn_fail(err, CN_ERR_NOMEM, "out of memory for compressor state");
    return CN_OK;
}

/* Empty compressor slots hold value 0 and score -inf, so they get softmax weight 0 (5.3). */
static void compressor_clear(cn_kv_compressor *c) {
    for (int64_t i = 0; i < c->rows * c->width; i++) {
        c->kv[i] = 0.0f;
        c->score[i] = -INFINITY;
    }
}

cn_status cn_kv_state_init(cn_kv_state *st, int n_layers, const cn_kv_layer_shape *shapes, cn_error *err) {
    const cn_kv_options f32 = {CN_KV_F32, CN_KV_F32};
    return cn_kv_state_init_opts(st, n_layers, shapes, &f32, err);
}

static bool valid_type(cn_kv_type t) { return t >= CN_KV_F32 && t <= CN_KV_TYPE_LAST; }

cn_status cn_kv_state_init_opts(cn_kv_state *st, int n_layers, const cn_kv_layer_shape *shapes,
                                const cn_kv_options *opts, cn_error *err) {
    memset(st, 0, sizeof *st);
    if (!valid_type(opts->rows) || !valid_type(opts->index))
        return cn_fail(err, CN_ERR_ARG, "unknown KV storage type");
    /* FP4 is the official storage of indexer keys only (specs/kv-store.md 4.1); FP4 attention rows
     * are the lossy "cold" variant, a non-goal for now (7.6). */
    if (opts->rows == CN_KV_FP4)
        return cn_fail(err, CN_ERR_ARG, "fp4 storage is for indexer keys only; window and compressed rows take f32, bf16 or fp8");
    st->layers = calloc((size_t)n_layers, sizeof *st->layers);
    if (!st->layers) return cn_fail(err, CN_ERR_NOMEM, "out of memory for KV state");
    st->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++) {
        const cn_kv_layer_shape *sh = &shapes[l];
        cn_kv_layer *ly = &st->layers[l];
        ly->ratio = sh->ratio;
        ly->has_indexer = sh->has_indexer;
        ly->window = sh->window;
        ly->head_dim = sh->head_dim;
        ly->window_codec = cn_kv_codec_make(opts->rows, sh->head_dim, sh->rope_dim, CN_KV_FP8_BLOCK);
        ly->window_ring = calloc((size_t)sh->window, ly->window_codec.row_bytes);
        ly->compressed.width = sh->head_dim;
        ly->compressed.codec = ly->window_codec;
        ly->indexer_keys.width = sh->indexer_head_dim;
        ly->indexer_keys.codec = cn_kv_codec_make(opts->index, sh->indexer_head_dim, 0, 0);
        cn_status s;
        if (!ly->window_ring) s = cn_fail(err, CN_ERR_NOMEM, "out of memory for the window ring");
        else if ((s = compressor_init(&ly->compressor, sh->compressor_rows, sh->compressor_width, err))) {}
        else s = compressor_init(&ly->indexer_compressor, sh->indexer_compressor_rows, sh->indexer_compressor_width, err);
        if (s) {
            cn_kv_state_free(st);
            return s;
        }
    }
    cn_kv_state_reset(st);
    return CN_OK;
}

cn_kv_options cn_kv_state_options(const cn_kv_state *st) {
    cn_kv_options o = {CN_KV_F32, CN_KV_F32};
    if (st->n_layers > 0) {
        o.rows = st->layers[0].window_codec.type;
        o.index = st->layers[0].indexer_keys.codec.type;
    }
    return o;
}

static size_t window_bytes(const cn_kv_layer *ly) { return (size_t)ly->window * ly->window_codec.row_bytes; }

static size_t rows_bytes(const cn_kv_rows *r, int64_t count) { return (size_t)count * r->codec.row_bytes; }

void cn_kv_state_reset(cn_kv_state *st) {
    st->n_tokens = 0;
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        memset(ly->window_ring, 0, window_bytes(ly));
        compressor_clear(&ly->compressor);
        compressor_clear(&ly->indexer_compressor);
        ly->compressed.count = 0;
        ly->indexer_keys.count = 0;
    }
}

void cn_kv_state_free(cn_kv_state *st) {
    for (int l = 0; l < st->n_layers && st->layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        free(ly->window_ring);
        free(ly->compressor.kv);
        free(ly->compressor.score);
        free(ly->indexer_compressor.kv);
        free(ly->indexer_compressor.score);
        free(ly->compressed.data);
        free(ly->indexer_keys.data);
    }
    free(st->layers);
    memset(st, 0, sizeof *st);
}

cn_status cn_kv_rows_reserve(cn_kv_rows *rows, int64_t count, cn_error *err) {
    if (count <= rows->capacity) return CN_OK;
    /* geometric growth: reserving chunk after chunk stays linear */
    const int64_t cap = count > 2 * rows->capacity ? count : 2 * rows->capacity;
    uint8_t *grown = realloc(rows->data, rows_bytes(rows, cap));
    if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory growing the compressed KV rows");
    rows->data = grown;
    rows->capacity = cap;
    return CN_OK;
}

cn_status cn_kv_rows_append(cn_kv_rows *rows, const float *row, cn_error *err) {
    if (rows->count == rows->capacity) {
        int64_t cap = rows->capacity ? 2 * rows->capacity : 64;
        uint8_t *grown = realloc(rows->data, rows_bytes(rows, cap));
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory growing the compressed KV rows");
        rows->data = grown;
        rows->capacity = cap;
    }
    cn_kv_row_encode(&rows->codec, row, rows->data + rows_bytes(rows, rows->count));
    rows->count++;
    return CN_OK;
}

static cn_status copy_bytes(uint8_t **dst, const uint8_t *src, size_t n, cn_error *err) {
    *dst = NULL;
    if (n == 0 || !src) return CN_OK;
    *dst = malloc(n);
    if (!*dst) return cn_fail(err, CN_ERR_NOMEM, "out of memory copying KV state");
    memcpy(*dst, src, n);
    return CN_OK;
}

static cn_status copy_floats(float **dst, const float *src, int64_t n, cn_error *err) {
    *dst = NULL;
    if (n == 0 || !src) return CN_OK;
    *dst = malloc((size_t)n * sizeof(float));
    if (!*dst) return cn_fail(err, CN_ERR_NOMEM, "out of memory copying KV state");
    memcpy(*dst, src, (size_t)n * sizeof(float));
    return CN_OK;
}

cn_status cn_kv_state_copy(cn_kv_state *dst, const cn_kv_state *src, cn_error *err) {
    memset(dst, 0, sizeof *dst);
    dst->layers = calloc((size_t)src->n_layers, sizeof *dst->layers);
    if (!dst->layers) return cn_fail(err, CN_ERR_NOMEM, "out of memory copying KV state");
    dst->n_layers = src->n_layers;
    dst->n_tokens = src->n_tokens;
    for (int l = 0; l < src->n_layers; l++) {
        const cn_kv_layer *a = &src->layers[l];
        cn_kv_layer *b = &dst->layers[l];
        *b = *a;
        b->window_ring = NULL;
        b->compressor.kv = b->compressor.score = NULL;
        b->indexer_compressor.kv = b->indexer_compressor.score = NULL;
        b->compressed.data = b->indexer_keys.data = NULL;
        b->compressed.capacity = a->compressed.count;
        b->indexer_keys.capacity = a->indexer_keys.count;
        int64_t cn = a->compressor.rows * a->compressor.width;
        int64_t in = a->indexer_compressor.rows * a->indexer_compressor.width;
        cn_status s;
        if ((s = copy_bytes(&b->window_ring, a->window_ring, window_bytes(a), err)) ||
            (s = copy_floats(&b->compressor.kv, a->compressor.kv, cn, err)) ||
            (s = copy_floats(&b->compressor.score, a->compressor.score, cn, err)) ||
            (s = copy_floats(&b->indexer_compressor.kv, a->indexer_compressor.kv, in, err)) ||
            (s = copy_floats(&b->indexer_compressor.score, a->indexer_compressor.score, in, err)) ||
            (s = copy_bytes(&b->compressed.data, a->compressed.data, rows_bytes(&a->compressed, a->compressed.count), err)) ||
            (s = copy_bytes(&b->indexer_keys.data, a->indexer_keys.data, rows_bytes(&a->indexer_keys, a->indexer_keys.count), err))) {
            cn_kv_state_free(dst);
            return s;
        }
    }
    return CN_OK;
}

size_t cn_kv_state_bytes(const cn_kv_state *st) {
    size_t n = 0;
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        n += window_bytes(ly) +
             sizeof(float) * (2 * (size_t)(ly->compressor.rows * ly->compressor.width) +
                              2 * (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width)) +
             rows_bytes(&ly->compressed, ly->compressed.count) + rows_bytes(&ly->indexer_keys, ly->indexer_keys.count);
    }
    return n;
}

/* ---- serialisation ---------------------------------------------------------------------- */

/* Version 3 (FP4 indexer keys) adds each codec's block and row size to the layer header, so a
 * later change of an encoding's layout is refused by name rather than misread. Version 2 files
 * (F32 / BF16 / FP8, whose layouts are unchanged) still load; an older binary refuses a version 3
 * file as "not a ClawNet KV snapshot". */
static const char kv_magic[8] = {'C', 'N', 'K', 'V', 'S', 'T', '0', '3'};
static const char kv_magic_v2[8] = {'C', 'N', 'K', 'V', 'S', 'T', '0', '2'};

typedef struct {
    uint8_t *buf;
    size_t size, cap;
    int failed;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->failed) return;
    if (w->size + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->size + n) cap *= 2;
        uint8_t *grown = realloc(w->buf, cap);
        if (!grown) {
            w->failed = 1;
            return;
        }
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->size, p, n);
    w->size += n;
}

static void put_i64(writer *w, int64_t v) { put(w, &v, sizeof v); }

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The fields that fix a layer's shape, written and checked in this order; the row counts last.
 * Version 2 had fields 0..10 and the two counts (13 in all). */
#define LAYER_FIELDS 19
#define LAYER_FIELDS_V2 13
#define FIELD_TYPES 8      /* 8..10: the three codecs' types */
#define FIELD_CODECS 11    /* 11..16: block and row bytes of each codec (version 3) */
#define FIELD_COUNTS (LAYER_FIELDS - 2)
static void layer_header(const cn_kv_layer *ly, int64_t out[LAYER_FIELDS]) {
    out[0] = ly->ratio;
    out[1] = ly->has_indexer;
    out[2] = ly->window;
    out[3] = ly->head_dim;
    out[4] = ly->compressor.rows;
    out[5] = ly->compressor.width;
    out[6] = ly->indexer_compressor.rows;
    out[7] = ly->indexer_compressor.width;
    out[8] = ly->window_codec.type;
    out[9] = ly->compressed.codec.type;
    out[10] = ly->indexer_keys.codec.type;
    const cn_kv_codec *codecs[3] = {&ly->window_codec, &ly->compressed.codec, &ly->indexer_keys.codec};
    for (int k = 0; k < 3; k++) {
        out[FIELD_CODECS + 2 * k] = codecs[k]->block;
        out[FIELD_CODECS + 2 * k + 1] = (int64_t)codecs[k]->row_bytes;
    }
    out[FIELD_COUNTS] = ly->compressed.count;
    out[FIELD_COUNTS + 1] = ly->indexer_keys.count;
}

cn_status cn_kv_state_serialize(const cn_kv_state *st, uint8_t **out, size_t *size, cn_error *err) {
    writer w = {0};
    put(&w, kv_magic, sizeof kv_magic);
    put_i64(&w, st->n_layers);
    put_i64(&w, st->n_tokens);
    for (int l = 0; l < st->n_layers; l++) {
        int64_t h[LAYER_FIELDS];
        layer_header(&st->layers[l], h);
        put(&w, h, sizeof h);
    }
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        size_t cn = (size_t)(ly->compressor.rows * ly->compressor.width) * sizeof(float);
        size_t in = (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width) * sizeof(float);
        put(&w, ly->window_ring, window_bytes(ly));
        if (cn) put(&w, ly->compressor.kv, cn), put(&w, ly->compressor.score, cn);
        if (in) put(&w, ly->indexer_compressor.kv, in), put(&w, ly->indexer_compressor.score, in);
        if (ly->compressed.count) put(&w, ly->compressed.data, rows_bytes(&ly->compressed, ly->compressed.count));
        if (ly->indexer_keys.count) put(&w, ly->indexer_keys.data, rows_bytes(&ly->indexer_keys, ly->indexer_keys.count));
    }
    uint64_t sum = w.failed ? 0 : fnv1a64(w.buf, w.size);
    put(&w, &sum, sizeof sum);
    if (w.failed) {
        free(w.buf);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory serialising KV state");
    }
    *out = w.buf;
    *size = w.size;
    return CN_OK;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static bool take(reader *r, void *dst, size_t n) {
    if (n > r->left) return false;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

/* Rows are copied as stored: already encoded in this state's codec (the header checked it). */
static cn_status read_rows(reader *r, cn_kv_rows *rows, int64_t count, cn_error *err) {
    rows->count = 0;
    const size_t n = rows_bytes(rows, count);
    if (r->left < n) return cn_fail(err, CN_ERR_FORMAT, "KV snapshot is truncated");
    if (count > rows->capacity) {
        uint8_t *grown = realloc(rows->data, n);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory reading the KV rows");
        rows->data = grown;
        rows->capacity = count;
    }
    if (n) memcpy(rows->data, r->p, n);
    rows->count = count;
    r->p += n;
    r->left -= n;
    return CN_OK;
}

cn_status cn_kv_state_deserialize(cn_kv_state *st, const uint8_t *data, size_t size, cn_error *err) {
    if (size < sizeof kv_magic + 3 * sizeof(int64_t))
        return cn_fail(err, CN_ERR_FORMAT, "not a ClawNet KV snapshot");
    const bool v2 = memcmp(data, kv_magic_v2, sizeof kv_magic_v2) == 0;
    if (!v2 && memcmp(data, kv_magic, sizeof kv_magic) != 0) {
        if (memcmp(data, kv_magic, 6) == 0)
            return cn_fail(err, CN_ERR_FORMAT, "KV snapshot format version %.2s; this build reads versions 02 and 03",
                           (const char *)data + 6);
        return cn_fail(err, CN_ERR_FORMAT, "not a ClawNet KV snapshot");
    }
    uint64_t stored;
    memcpy(&stored, data + size - sizeof stored, sizeof stored);
    if (fnv1a64(data, size - sizeof stored) != stored)
        return cn_fail(err, CN_ERR_FORMAT, "KV snapshot checksum mismatch (corrupt or truncated)");
    reader r = {data + sizeof kv_magic, size - sizeof kv_magic - sizeof stored};
    int64_t n_layers, n_tokens;
    take(&r, &n_layers, sizeof n_layers);
    take(&r, &n_tokens, sizeof n_tokens);
    if (n_layers != st->n_layers || n_tokens < 0)
        return cn_fail(err, CN_ERR_SHAPE, "KV snapshot has %lld layers, the model %d", (long long)n_layers, st->n_layers);
    const int n_fields = v2 ? LAYER_FIELDS_V2 : LAYER_FIELDS;
    int64_t counts[CN_KV_MAX_SNAPSHOT_LAYERS][2];
    for (int l = 0; l < st->n_layers; l++) {
        int64_t h[LAYER_FIELDS], want[LAYER_FIELDS];
        if (!take(&r, h, (size_t)n_fields * sizeof h[0])) return cn_fail(err, CN_ERR_FORMAT, "KV snapshot is truncated");
        if (v2) { /* version 2 had no codec fields: its layouts are today's for its types */
            h[FIELD_COUNTS] = h[LAYER_FIELDS_V2 - 2];
            h[FIELD_COUNTS + 1] = h[LAYER_FIELDS_V2 - 1];
        }
        layer_header(&st->layers[l], want);
        for (int k = 0; k < FIELD_TYPES; k++)
            if (h[k] != want[k]) return cn_fail(err, CN_ERR_SHAPE, "KV snapshot layer %d does not match this model", l);
        for (int k = FIELD_TYPES; k < FIELD_CODECS; k++)
            if (h[k] != want[k]) {
                static const char *const what[3] = {"window", "compressed", "indexer-key"};
                const char *got = h[k] >= 0 && h[k] <= CN_KV_TYPE_LAST ? cn_kv_type_name((cn_kv_type)h[k]) : "unknown";
                return cn_fail(err, CN_ERR_SHAPE, "KV snapshot layer %d stores %s %s rows, this state %s", l, got,
                               what[k - FIELD_TYPES], cn_kv_type_name((cn_kv_type)want[k]));
            }
        if (v2 && (h[FIELD_TYPES] > CN_KV_FP8 || h[FIELD_TYPES + 1] > CN_KV_FP8 || h[FIELD_TYPES + 2] > CN_KV_FP8))
            return cn_fail(err, CN_ERR_FORMAT, "KV snapshot layer %d: version 02 has no fp4 rows", l);
        if (!v2)
            for (int k = FIELD_CODECS; k < FIELD_COUNTS; k++)
                if (h[k] != want[k])
                    return cn_fail(err, CN_ERR_SHAPE,
                                   "KV snapshot layer %d encodes its rows with another block or row size than this build",
                                   l);
        if (h[FIELD_COUNTS] < 0 || h[FIELD_COUNTS + 1] < 0 || h[FIELD_COUNTS] > n_tokens ||
            h[FIELD_COUNTS + 1] > n_tokens || l >= CN_KV_MAX_SNAPSHOT_LAYERS)
            return cn_fail(err, CN_ERR_FORMAT, "KV snapshot layer %d has invalid row counts", l);
        counts[l][0] = h[FIELD_COUNTS];
        counts[l][1] = h[FIELD_COUNTS + 1];
    }
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        size_t cn = (size_t)(ly->compressor.rows * ly->compressor.width) * sizeof(float);
        size_t in = (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width) * sizeof(float);
        bool ok = take(&r, ly->window_ring, window_bytes(ly));
        if (cn) ok = ok && take(&r, ly->compressor.kv, cn) && take(&r, ly->compressor.score, cn);
        if (in) ok = ok && take(&r, ly->indexer_compressor.kv, in) && take(&r, ly->indexer_compressor.score, in);
        if (!ok) return cn_fail(err, CN_ERR_FORMAT, "KV snapshot is truncated");
        cn_status s;
        if ((s = read_rows(&r, &ly->compressed, counts[l][0], err))) return s;
        if ((s = read_rows(&r, &ly->indexer_keys, counts[l][1], err))) return s;
    }
    if (r.left != 0) return cn_fail(err, CN_ERR_FORMAT, "KV snapshot has %zu trailing bytes", r.left);
    st->n_tokens = n_tokens;
    return CN_OK;
}
