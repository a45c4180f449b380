/* The per-sequence DeepSeek-V4 state (specs/deepseek-v4.md 6.1, specs/kv-store.md 4.1):
 * for every layer the sliding-window ring, the compressor buffers, the compressed rows and,
 * on CSA layers, the indexer keys and the indexer compressor's buffers. The model writes it;
 * this module only stores, grows, copies and serialises it, and knows no model math.
 * Window rows, compressed rows and indexer keys are stored in a chosen encoding (kv/row_codec.h:
 * F32, the oracle precision and the default; BF16; FP8 with bf16 RoPE dims), each row encoded
 * once when written; readers decode. The compressor buffers stay f32. */
#ifndef CN_KV_STATE_H
#define CN_KV_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/row_codec.h"

#define CN_KV_MAX_SNAPSHOT_LAYERS 512

/* Rolling input of one compressor (5.4): `rows` slots of `width` floats for the projected
 * values (kv) and gate scores (score). CSA keeps 2m rows (previous window, current window),
 * HCA m rows. */
typedef struct {
    int64_t rows, width;
    float *kv, *score;
} cn_kv_compressor;

/* An append-only list of fixed-width rows, stored encoded (codec.row_bytes each). */
typedef struct {
    int64_t width, count, capacity;
    cn_kv_codec codec;
    uint8_t *data;
} cn_kv_rows;

typedef struct {
    int ratio;               /* 0: sliding only */
    bool has_indexer;
    int64_t window, head_dim;
    cn_kv_codec window_codec; /* same encoding as `compressed` */
    uint8_t *window_ring;    /* [window] encoded rows of head_dim, position p lives in slot p % window */
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
    int64_t rope_dim;        /* trailing dims of head_dim kept bf16 under FP8 */
} cn_kv_layer_shape;

/* Storage encodings: `rows` for the window ring and the compressed rows (FP8: blocks of 64 with
 * the RoPE dims in bf16), `index` for the indexer keys (FP8: one scale per key). Zero = F32. */
typedef struct {
    cn_kv_type rows, index;
} cn_kv_options;

typedef struct {
    int n_layers;
    int64_t n_tokens;        /* positions 0..n_tokens-1 have been processed */
    cn_kv_layer *layers;
} cn_kv_state;

/* All rows F32. */
cn_status cn_kv_state_init(cn_kv_state *st, int n_layers, const cn_kv_layer_shape *shapes, cn_error *err);
cn_status cn_kv_state_init_opts(cn_kv_state *st, int n_layers, const cn_kv_layer_shape *shapes,
                                const cn_kv_options *opts, cn_error *err);
/* The encodings a state was made with (of its first layer; all layers share them). */
cn_kv_options cn_kv_state_options(const cn_kv_state *st);
void cn_kv_state_free(cn_kv_state *st);
/* Back to an empty sequence (position 0), keeping allocations. */
void cn_kv_state_reset(cn_kv_state *st);

/* Deep copy: `dst` is initialised here (any previous content must have been freed). */
cn_status cn_kv_state_copy(cn_kv_state *dst, const cn_kv_state *src, cn_error *err);

/* Room for `count` rows in total (existing rows kept). */
cn_status cn_kv_rows_reserve(cn_kv_rows *rows, int64_t count, cn_error *err);
/* Encodes `row` (width floats) and appends it. */
cn_status cn_kv_rows_append(cn_kv_rows *rows, const float *row, cn_error *err);
static inline const uint8_t *cn_kv_rows_bytes(const cn_kv_rows *rows, int64_t i) {
    return rows->data + (size_t)i * rows->codec.row_bytes;
}
/* Row i as floats: F32 rows in place, others decoded into `scratch` (width floats). */
static inline const float *cn_kv_rows_get(const cn_kv_rows *rows, int64_t i, float *scratch) {
    if (rows->codec.type == CN_KV_F32) return (const float *)(const void *)cn_kv_rows_bytes(rows, i);
    cn_kv_row_decode(&rows->codec, cn_kv_rows_bytes(rows, i), scratch);
    return scratch;
}
/* Window slot `slot` as floats, like cn_kv_rows_get. */
static inline const float *cn_kv_window_get(const cn_kv_layer *ly, int64_t slot, float *scratch) {
    const uint8_t *p = ly->window_ring + (size_t)slot * ly->window_codec.row_bytes;
    if (ly->window_codec.type == CN_KV_F32) return (const float *)(const void *)p;
    cn_kv_row_decode(&ly->window_codec, p, scratch);
    return scratch;
}

/* Serialised snapshot: a self-describing byte image (magic, shapes, contents, checksum) that
 * cn_kv_state_deserialize validates fully before use. *out is malloc'd. */
cn_status cn_kv_state_serialize(const cn_kv_state *st, uint8_t **out, size_t *size, cn_error *err);
/* `st` must already be initialised with the same shapes; mismatches are errors. */
cn_status cn_kv_state_deserialize(cn_kv_state *st, const uint8_t *data, size_t size, cn_error *err);

/* Bytes held: window rings, compressor buffers, stored rows (at their encoded size). */
size_t cn_kv_state_bytes(const cn_kv_state *st);

#endif
