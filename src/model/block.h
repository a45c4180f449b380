/* One transformer block (specs/deepseek-v4.md 2): mHC around attention, mHC around MoE. */
#ifndef CN_MODEL_BLOCK_H
#define CN_MODEL_BLOCK_H

#include <stdint.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "format/model_config.h"
#include "kv/state.h"
#include "model/attention.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/weights.h"

/* Optional hooks that see routing decisions as they are made (tests, diagnostics). */
typedef struct {
    cn_expert_observer on_experts;
    cn_indexer_observer on_indexer;
    void *ctx;
} cn_routing_observer;

typedef struct {
    cn_threadpool *pool;
    const cn_model_config *cfg;
    int layer;            /* schedule index: 0..L-1, or L for the MTP block */
    const cn_rope *rope;
    cn_routing_observer observer;
} cn_block_ctx;

/* X [S][n][D] residual streams, updated in place. */
cn_status cn_block_forward(const cn_block_ctx *ctx, const cn_block_weights *w, cn_kv_layer *kv, float *X,
                           const int32_t *tokens, int64_t S, int64_t p0, cn_error *err);

#endif
