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

/* X [T][n][D] residual streams of T rows, updated in place: the rows of one or several
 * sequences (`seqs`, each with its own layer state, rows and positions; continuous batching).
 * tokens [T] and pos [T] give each row's token id and position. Everything but the
 * state-touching part of attention runs once over all T rows; each row's arithmetic is the same
 * whatever else shares the call (docs/engine.md), so a sequence gets the same bits alone or
 * batched. */
cn_status cn_block_forward(const cn_block_ctx *ctx, const cn_block_weights *w, const cn_attention_seq *seqs, int n_seqs,
                           float *X, const int32_t *tokens, const int64_t *pos, int64_t T, cn_error *err);

#endif
