#include "model/moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

/* sqrt(softplus(z)), softplus with torch's threshold of 20 (4.5). */
static float sqrt_softplus(float z) { return sqrtf(z > 20.0f ? z : log1pf(expf(z))); }

/* Learned selection: the K largest of score + bias; ties go to the lower expert id. */
static void top_k(const float *score, const float *bias, int64_t E, int64_t K, int32_t *out) {
    for (int64_t k = 0; k < K; k++) {
        int32_t best = -1;
        float best_value = -INFINITY;
        for (int64_t e = 0; e < E; e++) {
            bool taken = false;
            for (int64_t j = 0; j < k && !taken; j++) taken = out[j] == e;
            float v = score[e] + bias[e];
            if (!taken && (best < 0 || v > best_value)) best = (int32_t)e, best_value = v;
        }
        out[k] = best;
    }
}

/* Runs one SwiGLU expert on n gathered rows x [n][D] -> y [n][D] (4.4). */
static void run_expert(cn_threadpool *pool, const cn_model_config *cfg, const cn_expert_weights *w, const float *x,
                       int64_t n, float *y) {
    const int64_t D = cfg->hidden_size, I = cfg->moe_intermediate_size;
    const float limit = cfg->swiglu_limit;
    float *g = cn_scratch_alloc((size_t)(n * I) * sizeof(float));
    float *u = cn_scratch_alloc((size_t)(n * I) * sizeof(float));
    cn_matmul(pool, &w->w1, x, D, n, g, I);
    cn_matmul(pool, &w->w3, x, D, n, u, I);
    for (int64_t i = 0; i < n * I; i++) {
        float gate = g[i], up = u[i];
        if (limit > 0.0f) { /* the gate has no lower clamp */
            gate = gate > limit ? limit : gate;
            up = up > limit ? limit : up < -limit ? -limit : up;
        }
        g[i] = cn_silu(gate) * up;
    }
    cn_matmul(pool, &w->w2, g, I, n, y, D);
    free(g);
    free(u);
}

void cn_moe_forward(const cn_moe_ctx *ctx, const cn_moe_weights *w, const float *f, const int32_t *tokens,
                    const int64_t *pos, int64_t S, float *out) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t D = cfg->hidden_size, E = cfg->n_routed_experts, K = cfg->n_experts_per_tok;
    float *score = cn_scratch_alloc((size_t)(S * E) * sizeof(float));
    int32_t *chosen = cn_scratch_alloc((size_t)(S * K) * sizeof(int32_t));
    float *weight = cn_scratch_alloc((size_t)(S * K) * sizeof(float));
    cn_matmul(ctx->pool, &w->gate, f, D, S, score, E);
    for (int64_t s = 0; s < S; s++) {
        float *sc = score + s * E;
        for (int64_t e = 0; e < E; e++) sc[e] = sqrt_softplus(sc[e]);
        int32_t *idx = chosen + s * K;
        if (ctx->hash) memcpy(idx, w->tid2eid + (int64_t)tokens[s] * K, (size_t)K * sizeof(int32_t));
        else top_k(sc, w->bias, E, K, idx);
        float sum = 0.0f;
        for (int64_t k = 0; k < K; k++) sum += (weight[s * K + k] = sc[idx[k]]);
        for (int64_t k = 0; k < K; k++) {
            if (cfg->norm_topk_prob) weight[s * K + k] /= sum + 1e-20f;
            weight[s * K + k] *= cfg->routed_scaling_factor;
        }
        if (ctx->on_experts) ctx->on_experts(ctx->observer_ctx, ctx->layer, pos[s], idx, (int32_t)K);
    }

    /* Group the tokens per expert, run each expert once on its rows, add weighted outputs in
     * expert order (the reference's accumulation order), then the shared expert. */
    memset(out, 0, (size_t)(S * D) * sizeof(float));
    float *x = cn_scratch_alloc((size_t)(S * D) * sizeof(float));
    float *y = cn_scratch_alloc((size_t)(S * D) * sizeof(float));
    int64_t *rows = cn_scratch_alloc((size_t)(S * K) * sizeof(int64_t));
    for (int64_t e = 0; e < E; e++) {
        int64_t n = 0;
        for (int64_t i = 0; i < S * K; i++)
            if (chosen[i] == e) rows[n++] = i;
        /* Batches of at most S rows: a degenerate hash table may pick one expert twice. */
        for (int64_t b = 0; b < n; b += S) {
            int64_t m = n - b < S ? n - b : S;
            for (int64_t r = 0; r < m; r++) memcpy(x + r * D, f + (rows[b + r] / K) * D, (size_t)D * sizeof(float));
            run_expert(ctx->pool, cfg, &w->experts[e], x, m, y);
            for (int64_t r = 0; r < m; r++) {
                float *dst = out + (rows[b + r] / K) * D;
                const float wt = weight[rows[b + r]];
                for (int64_t j = 0; j < D; j++) dst[j] += y[r * D + j] * wt;
            }
        }
    }
    if (w->has_shared) {
        run_expert(ctx->pool, cfg, &w->shared, f, S, y);
        for (int64_t i = 0; i < S * D; i++) out[i] += y[i];
    }
    free(score);
    free(chosen);
    free(weight);
    free(x);
    free(y);
    free(rows);
}
