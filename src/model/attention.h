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

/* a [S][D] (attn_norm output) at positions p0.. -> out [S][D]; updates the layer's state. */
cn_status cn_attention_forward(const cn_attention_ctx *ctx, const cn_attention_weights *w, cn_kv_layer *kv,
                               const float *a, int64_t S, int64_t p0, float *out, cn_error *err);

#endif
