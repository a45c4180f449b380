#include "model/block.h"

#include <stdlib.h>

#include "base/alloc.h"
#include "model/mhc.h"
#include "tensor/vec.h"

cn_status cn_block_forward(const cn_block_ctx *ctx, const cn_block_weights *w, const cn_attention_seq *seqs, int n_seqs,
                           float *X, const int32_t *tokens, const int64_t *pos, int64_t T, cn_error *err) {
    const cn_model_config *c = ctx->cfg;
    const int64_t n = c->hc_mult, D = c->hidden_size;
    float *a = cn_scratch_alloc((size_t)(T * D) * sizeof(float));
    float *y = cn_scratch_alloc((size_t)(T * D) * sizeof(float));
    float *post = cn_scratch_alloc((size_t)(T * n) * sizeof(float));
    float *comb = cn_scratch_alloc((size_t)(T * n * n) * sizeof(float));

    cn_hc_pre(ctx->pool, c, &w->hc_attn, X, T, a, post, comb);
    for (int64_t t = 0; t < T; t++) cn_vec_rms_norm(a + t * D, a + t * D, w->attn_norm, D, c->rms_norm_eps);
    cn_attention_ctx actx = {ctx->pool, c, ctx->rope, ctx->layer, ctx->observer.on_indexer, ctx->observer.ctx};
    cn_status s = cn_attention_forward(&actx, &w->attn, seqs, n_seqs, a, pos, T, y, err);
    if (s == CN_OK) {
        cn_hc_post(c, y, X, T, post, comb);
        cn_hc_pre(ctx->pool, c, &w->hc_ffn, X, T, a, post, comb);
        for (int64_t t = 0; t < T; t++) cn_vec_rms_norm(a + t * D, a + t * D, w->ffn_norm, D, c->rms_norm_eps);
        cn_moe_ctx mctx = {ctx->pool, c, ctx->layer, c->hash_moe[ctx->layer], ctx->observer.on_experts, ctx->observer.ctx};
        cn_moe_forward(&mctx, &w->moe, a, tokens, pos, T, y);
        cn_hc_post(c, y, X, T, post, comb);
    }
    free(a);
    free(y);
    free(post);
    free(comb);
    return s;
}
