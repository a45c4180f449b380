#include "model/mhc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

/* mix[S][rows] = fn · (x / rms(x)) over the flattened streams; transformers normalises the
 * input before the projection, and so do we. */
static float *hc_mixes(cn_threadpool *pool, const cn_model_config *cfg, const cn_matrix *fn, const float *X, int64_t S) {
    const int64_t nD = cfg->hc_mult * cfg->hidden_size;
    float *normed = cn_scratch_alloc((size_t)(S * nD) * sizeof(float));
    float *mix = cn_scratch_alloc((size_t)(S * fn->rows) * sizeof(float));
    for (int64_t s = 0; s < S; s++) cn_vec_rms_norm(normed + s * nD, X + s * nD, NULL, nD, cfg->rms_norm_eps);
    cn_matmul(pool, fn, normed, nD, S, mix, fn->rows);
    free(normed);
    return mix;
}

/* Row softmax then alternate column/row normalisation, eps placed exactly as the reference. */
static void sinkhorn(float *M, int64_t n, int iters, float eps) {
    for (int64_t j = 0; j < n; j++) {
        float *row = M + j * n, mx = row[0], sum = 0.0f;
        for (int64_t k = 1; k < n; k++) mx = row[k] > mx ? row[k] : mx;
        for (int64_t k = 0; k < n; k++) sum += (row[k] = expf(row[k] - mx));
        for (int64_t k = 0; k < n; k++) row[k] = row[k] / sum + eps;
    }
    for (int it = 0; it < iters; it++) {
        if (it > 0)
            for (int64_t j = 0; j < n; j++) {
                float sum = 0.0f;
                for (int64_t k = 0; k < n; k++) sum += M[j * n + k];
                for (int64_t k = 0; k < n; k++) M[j * n + k] /= sum + eps;
            }
        for (int64_t k = 0; k < n; k++) {
            float sum = 0.0f;
            for (int64_t j = 0; j < n; j++) sum += M[j * n + k];
            for (int64_t j = 0; j < n; j++) M[j * n + k] /= sum + eps;
        }
    }
}

void cn_hc_pre(cn_threadpool *pool, const cn_model_config *cfg, const cn_hc_weights *w, const float *X, int64_t S,
               float *a, float *post, float *comb) {
    const int64_t n = cfg->hc_mult, D = cfg->hidden_size, rows = (2 + n) * n;
    float *mix = hc_mixes(pool, cfg, &w->fn, X, S);
    for (int64_t s = 0; s < S; s++) {
        const float *m = mix + s * rows;
        const float *x = X + s * n * D;
        float pre[16];
        for (int64_t k = 0; k < n; k++) {
            pre[k] = cn_sigmoid(m[k] * w->scale[0] + w->base[k]) + cfg->hc_eps;
            post[s * n + k] = 2.0f * cn_sigmoid(m[n + k] * w->scale[1] + w->base[n + k]);
        }
        float *M = comb + s * n * n;
        for (int64_t i = 0; i < n * n; i++) M[i] = m[2 * n + i] * w->scale[2] + w->base[2 * n + i];
        sinkhorn(M, n, cfg->hc_sinkhorn_iters, cfg->hc_eps);
        float *out = a + s * D;
        for (int64_t j = 0; j < D; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < n; k++) acc += pre[k] * x[k * D + j];
            out[j] = acc;
        }
    }
    free(mix);
}

void cn_hc_post(const cn_model_config *cfg, const float *o, float *X, int64_t S, const float *post, const float *comb) {
    const int64_t n = cfg->hc_mult, D = cfg->hidden_size;
    float *old = cn_scratch_alloc((size_t)(n * D) * sizeof(float));
    for (int64_t s = 0; s < S; s++) {
        float *x = X + s * n * D;
        const float *M = comb + s * n * n;
        memcpy(old, x, (size_t)(n * D) * sizeof(float));
        for (int64_t k = 0; k < n; k++) {
            const float p = post[s * n + k];
            for (int64_t j = 0; j < D; j++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < n; i++) acc += M[i * n + k] * old[i * D + j];
                x[k * D + j] = p * o[s * D + j] + acc;
            }
        }
    }
    free(old);
}

void cn_hc_head(cn_threadpool *pool, const cn_model_config *cfg, const cn_hc_head_weights *w, const float *X, int64_t S,
                float *h) {
    const int64_t n = cfg->hc_mult, D = cfg->hidden_size;
    float *mix = hc_mixes(pool, cfg, &w->fn, X, S);
    for (int64_t s = 0; s < S; s++) {
        float pre[16];
        for (int64_t k = 0; k < n; k++) pre[k] = cn_sigmoid(mix[s * n + k] * w->scale[0] + w->base[k]) + cfg->hc_eps;
        const float *x = X + s * n * D;
        for (int64_t j = 0; j < D; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < n; k++) acc += pre[k] * x[k * D + j];
            h[s * D + j] = acc;
        }
    }
    free(mix);
}
