/* f32 vector primitives shared by every layer (scalar references; specs/deepseek-v4.md 4). */
#ifndef CN_TENSOR_VEC_H
#define CN_TENSOR_VEC_H

#include <math.h>
#include <stdint.h>

float cn_vec_dot(const float *a, const float *b, int64_t n);
/* y[i] = y[i] + a·x[i] (a product, then a sum: not fused, so every CPU and copy gives the same
 * bits as the plain loop). */
void cn_vec_axpy(float *restrict y, float a, const float *restrict x, int64_t n);

/* 1/sqrt(mean(x^2) + eps), the RMSNorm factor. */
float cn_vec_rms_factor(const float *x, int64_t n, float eps);

/* y = w ⊙ (x · rms_factor); w may be NULL (unweighted). In place allowed. */
void cn_vec_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);

static inline float cn_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float cn_silu(float x) { return x / (1.0f + expf(-x)); }

#endif
