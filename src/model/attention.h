/* V4 attention for all three layer types (specs/deepseek-v4.md 5): shared-KV MQA over the
 * sliding window plus, on compressed layers, the compressed rows (all of them for HCA, the
 * indexer's top-k for CSA), one sink softmax over the union, inverse RoPE and the grouped
 * low-rank output projection. */
#ifndef CN_MODEL_ATTENTION_H
#define CN_MODEL_ATTENTION_H

#include <stdint.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "format/model_config.h"
#include "kv/state.h"
#include "model/rope.h"
#include "model/weights.h"

/* Observes the indexer's choice for each query (tests compare it with the oracle's). */
typedef void (*cn_indexer_observer)(void *ctx, int layer, int64_t pos, const int32_t *entries, int32_t n);

typedef struct {
    cn_threadpool *pool;
    const cn_model_config *cfg;
    const cn_rope *rope;     /* this layer's table: plain for sliding layers, YaRN for compressed */
    int layer;               /* index into the config's per-layer schedule */
    cn_indexer_observer on_indexer;
    void *observer_ctx;
} cn_attention_ctx;

/* One sequence's part of a call: rows [row0, row0 + n) of the call's T rows, at positions
 * p0.., reading and updating this layer's state `kv`. Sequences of one call have distinct
 * states. `item`: the caller's batch item, named in errors as "batch item N" (-1: none). */
typedef struct {
    cn_kv_layer *kv;
    int64_t row0, n, p0;
    int item;
} cn_attention_seq;

/* a [T][D] (attn_norm output) -> out [T][D] for the rows of `seqs` (they cover 0..T-1, in
 * order); pos [T] is each row's position. The projections that do not read the state (queries,
 * window rows, grouped output) run once over all T rows; compressors, indexer, attention over
 * each sequence's keys and the ring update run per sequence. Updates each sequence's state. */
cn_status cn_attention_forward(const cn_attention_ctx *ctx, const cn_attention_weights *w, const cn_attention_seq *seqs,
                               int n_seqs, const float *a, const int64_t *pos, int64_t T, float *out, cn_error *err);

#endif
