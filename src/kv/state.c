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
    memset(st, 0, sizeof *st);
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
        ly->window_ring = calloc((size_t)(sh->window * sh->head_dim), sizeof(float));
        ly->compressed.width = sh->head_dim;
        ly->indexer_keys.width = sh->indexer_head_dim;
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

void cn_kv_state_reset(cn_kv_state *st) {
    st->n_tokens = 0;
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        memset(ly->window_ring, 0, (size_t)(ly->window * ly->head_dim) * sizeof(float));
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

cn_status cn_kv_rows_append(cn_kv_rows *rows, const float *row, cn_error *err) {
    if (rows->count == rows->capacity) {
        int64_t cap = rows->capacity ? 2 * rows->capacity : 64;
        float *grown = realloc(rows->data, (size_t)(cap * rows->width) * sizeof(float));
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory growing the compressed KV rows");
        rows->data = grown;
        rows->capacity = cap;
    }
    memcpy(rows->data + rows->count * rows->width, row, (size_t)rows->width * sizeof(float));
    rows->count++;
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
        if ((s = copy_floats(&b->window_ring, a->window_ring, a->window * a->head_dim, err)) ||
            (s = copy_floats(&b->compressor.kv, a->compressor.kv, cn, err)) ||
            (s = copy_floats(&b->compressor.score, a->compressor.score, cn, err)) ||
            (s = copy_floats(&b->indexer_compressor.kv, a->indexer_compressor.kv, in, err)) ||
            (s = copy_floats(&b->indexer_compressor.score, a->indexer_compressor.score, in, err)) ||
            (s = copy_floats(&b->compressed.data, a->compressed.data, a->compressed.count * a->compressed.width, err)) ||
            (s = copy_floats(&b->indexer_keys.data, a->indexer_keys.data, a->indexer_keys.count * a->indexer_keys.width, err))) {
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
        n += (size_t)(ly->window * ly->head_dim) + 2 * (size_t)(ly->compressor.rows * ly->compressor.width) +
             2 * (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width) +
             (size_t)(ly->compressed.count * ly->compressed.width) + (size_t)(ly->indexer_keys.count * ly->indexer_keys.width);
    }
    return n * sizeof(float);
}

/* ---- serialisation ---------------------------------------------------------------------- */

static const char kv_magic[8] = {'C', 'N', 'K', 'V', 'S', 'T', '0', '1'};

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

/* The fields that fix a layer's shape, written and checked in this order. */
static void layer_header(const cn_kv_layer *ly, int64_t out[10]) {
    out[0] = ly->ratio;
    out[1] = ly->has_indexer;
    out[2] = ly->window;
    out[3] = ly->head_dim;
    out[4] = ly->compressor.rows;
    out[5] = ly->compressor.width;
    out[6] = ly->indexer_compressor.rows;
    out[7] = ly->indexer_compressor.width;
    out[8] = ly->compressed.count;
    out[9] = ly->indexer_keys.count;
}

cn_status cn_kv_state_serialize(const cn_kv_state *st, uint8_t **out, size_t *size, cn_error *err) {
    writer w = {0};
    put(&w, kv_magic, sizeof kv_magic);
    put_i64(&w, st->n_layers);
    put_i64(&w, st->n_tokens);
    for (int l = 0; l < st->n_layers; l++) {
        int64_t h[10];
        layer_header(&st->layers[l], h);
        put(&w, h, sizeof h);
    }
    for (int l = 0; l < st->n_layers; l++) {
        const cn_kv_layer *ly = &st->layers[l];
        size_t cn = (size_t)(ly->compressor.rows * ly->compressor.width) * sizeof(float);
        size_t in = (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width) * sizeof(float);
        put(&w, ly->window_ring, (size_t)(ly->window * ly->head_dim) * sizeof(float));
        if (cn) put(&w, ly->compressor.kv, cn), put(&w, ly->compressor.score, cn);
        if (in) put(&w, ly->indexer_compressor.kv, in), put(&w, ly->indexer_compressor.score, in);
        if (ly->compressed.count) put(&w, ly->compressed.data, (size_t)(ly->compressed.count * ly->compressed.width) * sizeof(float));
        if (ly->indexer_keys.count) put(&w, ly->indexer_keys.data, (size_t)(ly->indexer_keys.count * ly->indexer_keys.width) * sizeof(float));
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

static cn_status read_rows(reader *r, cn_kv_rows *rows, int64_t count, cn_error *err) {
    rows->count = 0;
    for (int64_t i = 0; i < count; i++) {
        if (r->left < (size_t)rows->width * sizeof(float))
            return cn_fail(err, CN_ERR_FORMAT, "KV snapshot is truncated");
        cn_status s = cn_kv_rows_append(rows, (const float *)(const void *)r->p, err);
        if (s) return s;
        r->p += (size_t)rows->width * sizeof(float);
        r->left -= (size_t)rows->width * sizeof(float);
    }
    return CN_OK;
}

cn_status cn_kv_state_deserialize(cn_kv_state *st, const uint8_t *data, size_t size, cn_error *err) {
    if (size < sizeof kv_magic + 3 * sizeof(int64_t) || memcmp(data, kv_magic, sizeof kv_magic) != 0)
        return cn_fail(err, CN_ERR_FORMAT, "not a ClawNet KV snapshot");
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
    int64_t counts[CN_KV_MAX_SNAPSHOT_LAYERS][2];
    for (int l = 0; l < st->n_layers; l++) {
        int64_t h[10], want[10];
        if (!take(&r, h, sizeof h)) return cn_fail(err, CN_ERR_FORMAT, "KV snapshot is truncated");
        layer_header(&st->layers[l], want);
        for (int k = 0; k < 8; k++)
            if (h[k] != want[k]) return cn_fail(err, CN_ERR_SHAPE, "KV snapshot layer %d does not match this model", l);
        if (h[8] < 0 || h[9] < 0 || h[8] > n_tokens || h[9] > n_tokens || l >= CN_KV_MAX_SNAPSHOT_LAYERS)
            return cn_fail(err, CN_ERR_FORMAT, "KV snapshot layer %d has invalid row counts", l);
        counts[l][0] = h[8];
        counts[l][1] = h[9];
    }
    for (int l = 0; l < st->n_layers; l++) {
        cn_kv_layer *ly = &st->layers[l];
        size_t cn = (size_t)(ly->compressor.rows * ly->compressor.width) * sizeof(float);
        size_t in = (size_t)(ly->indexer_compressor.rows * ly->indexer_compressor.width) * sizeof(float);
        bool ok = take(&r, ly->window_ring, (size_t)(ly->window * ly->head_dim) * sizeof(float));
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
