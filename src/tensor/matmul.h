/* y[t][o] = Σ_i W[o][i] · x[t][i] for n_tokens input rows: the one linear-layer operation.
 * Threads split the output rows. On CPUs with AVX2+FMA the fused kernels of row_dot_avx2.h read
 * the stored rows directly; elsewhere each weight row is dequantised once to f32 and dotted with
 * every token (cn_vec_dot). The two paths round differently (FMA), but within either the result
 * for a token never depends on how many other tokens share the call, so prefill, chunked
 * prefill and decode agree bitwise.
 *
 * A matrix with act_q8 set and a format with an integer dot (q8_activations.h: Q4_K, Q5_K,
 * Q6_K, Q8_0, MXFP4, ggml's MXFP4) is multiplied with 8-bit activations instead: each token quantised once per call,
 * every output one cn_q8_dot (the same bits on every path and split). */
#ifndef CN_TENSOR_MATMUL_H
#define CN_TENSOR_MATMUL_H

#include <stdint.h>

#include "base/threadpool.h"
#include "tensor/matrix.h"

void cn_matmul(cn_threadpool *pool, const cn_matrix *w, const float *x, int64_t x_stride,
               int64_t n_tokens, float *y, int64_t y_stride);

#endif
