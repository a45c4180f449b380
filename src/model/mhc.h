/* Manifold-constrained hyper-connections (specs/deepseek-v4.md 3 and 8): the n residual
 * streams are collapsed into one block input (pre), the block output is expanded back (post)
 * and the streams are mixed by a Sinkhorn-projected, nearly doubly-stochastic matrix (comb). */
#ifndef CN_MODEL_MHC_H
#define CN_MODEL_MHC_H

#include <stdint.h>

#include "base/threadpool.h"
#include "format/model_config.h"
#include "model/weights.h"

/* For S tokens with streams X [S][n][D]: block inputs a [S][D], post [S][n], comb [S][n][n]. */
void cn_hc_pre(cn_threadpool *pool, const cn_model_config *cfg, const cn_hc_weights *w, const float *X, int64_t S,
               float *a, float *post, float *comb);

/* X [S][n][D] <- post ⊗ o + combᵀ · X. */
void cn_hc_post(const cn_model_config *cfg, const float *o, float *X, int64_t S, const float *post, const float *comb);

/* Final collapse before the norm and head: h [S][D]. */
void cn_hc_head(cn_threadpool *pool, const cn_model_config *cfg, const cn_hc_head_weights *w, const float *X, int64_t S,
                float *h);

#endif
