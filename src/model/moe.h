/* DeepSeekMoE (specs/deepseek-v4.md 7): sqrt-softplus router, hash or learned top-k
 * selection (bias for selection only), renormalised and scaled weights, clamped SwiGLU
 * experts plus the shared expert. */
#ifndef CN_MODEL_MOE_H
#define CN_MODEL_MOE_H

#include <stdint.h>

#include "base/threadpool.h"
#include "format/model_config.h"
#include "model/weights.h"

typedef void (*cn_expert_observer)(void *ctx, int layer, int64_t pos, const int32_t *experts, int32_t k);

typedef struct {
    cn_threadpool *pool;
    const cn_model_config *cfg;
    int layer;
    bool hash;
    cn_expert_observer on_experts;
    void *observer_ctx;
} cn_moe_ctx;

/* f [S][D] (ffn_norm output) for tokens `tokens` at positions pos [S] -> out [S][D]. The rows
 * may come from several sequences (the MoE reads no state): each expert runs once on all the
 * rows that chose it, so its weights are read once per call. */
void cn_moe_forward(const cn_moe_ctx *ctx, const cn_moe_weights *w, const float *f, const int32_t *tokens,
                    const int64_t *pos, int64_t S, float *out);

#endif
