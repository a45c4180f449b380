/* The per-sequence DeepSeek-V4 state (specs/deepseek-v4.md 6.1, specs/kv-store.md 4.1):
 * for every layer the sliding-window ring, the compressor buffers, the compressed rows and,
 * on CSA layers, the indexer keys and the indexer compressor's buffers. The model writes it;
 * this module only stores, grows, copies and serialises it, and knows no model math.
 * Rows are f32 (the oracle precision); 8-bit storage comes with the speed work. */
#ifndef CN_KV_STATE_H
#define CN_KV_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define CN_KV_MAX_SNAPSHOT_LAYERS 512

/* Rolling input of one compressor (5.4): `rows` slots of `width` floats for the projected
 * values (kv) and gate scores (score). CSA keeps 2m rows (previous window, current window),
 * HCA m rows. */
typedef struct {
    int64_t rows, width;
    float *kv, *score;
} cn_kv_compressor;

/* An append-only list of fixed-width rows. */
typedef struct {
    int64_t width, count, capacity;
    float *data;
} cn_kv_rows;

typedef struct {
    int ratio;               /* 0: sliding only */
    bool has_indexer;
    int64_t window, head_dim;
    float *window_ring;      /* [window][head_dim], position p lives in slot p % window */
    cn_kv_compressor compressor, indexer_compressor;
    cn_kv_rows compressed;   /* entry i summarises positions [i*ratio, (i+1)*ratio) */
    cn_kv_rows indexer_keys; /* CSA only; entry i pairs with compressed entry i */
} cn_kv_layer;

/* Shape of one layer's state, given by the model. */
typedef struct {
    int ratio;
    bool has_indexer;
    int64_t window, head_dim;
    int64_t compressor_rows, compressor_width;
    int64_t indexer_head_dim, indexer_compressor_rows, indexer_compressor_width;
} cn_kv_layer_shape;

typedef struct {
    int n_layers;
    int64_t n_tokens;        /* positions 0..n_tokens-1 have been processed */
    cn_kv_layer *layers;
} cn_kv_state;

cn_status cn_kv_state_init(cn_kv_state *st, int n_layers, const cn_kv_layer_shape *shapes, cn_error *err);
void cn_kv_state_free(cn_kv_state *st);
/* Back to an empty sequence (position 0), keeping allocations. */
void cn_kv_state_reset(cn_kv_state *st);

/* Deep copy: `dst` is initialised here (any previous content must have been freed). */
cn_status cn_kv_state_copy(cn_kv_state *dst, const cn_kv_state *src, cn_error *err);

cn_status cn_kv_rows_append(cn_kv_rows *rows, const float *row, cn_error *err);
static inline float *cn_kv_rows_at(const cn_kv_rows *rows, int64_t i) { return rows->data + i * rows->width; }

/* Serialised snapshot: a self-describing byte image (magic, shapes, contents, checksum) that
 * cn_kv_state_deserialize validates fully before use. *out is malloc'd. */
cn_status cn_kv_state_serialize(const cn_kv_state *st, uint8_t **out, size_t *size, cn_error *err);
/* `st` must already be initialised with the same shapes; mismatches are errors. */
cn_status cn_kv_state_deserialize(cn_kv_state *st, const uint8_t *data, size_t size, cn_error *err);

size_t cn_kv_state_bytes(const cn_kv_state *st);

#endif
