/* Several quantised tokens against one stored weight row (issue 4, 8-bit activations on the
 * many-token path): out[i] = cn_q8_dot(t, row, NULL, token i, n, kernel) for each token, bit for bit,
 * but each weight block's codes and scales are unpacked once into registers and used for every
 * token of a group, instead of once per (row, token).
 *
 * Why the bits cannot move: every result is defined by its format's scalar reference in
 * q8_activations.c: per weight block exact integer sums (any order gives the same integers),
 * then a fixed sequence of f32 steps per block, blocks in order. A many-token kernel computes
 * each token's integer sums with the same instructions as the one-token kernel, only sharing the
 * unpacked weights, reduces them in another order (exact), and repeats the reference's f32 steps
 * lane by lane (one SSE lane per token: the same IEEE operations on the same operands, in the
 * same order, not contracted). So a token's output does not depend on which other tokens share
 * its group, and every split of a sequence (one token or many, any thread count, prefill,
 * chunked prefill, decode, batches) keeps giving the same bits (docs/engine.md, Precision). */
#ifndef CN_TENSOR_Q8_DOT_MANY_H
#define CN_TENSOR_Q8_DOT_MANY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/q8_activations.h"

/* Tokens per call of a format's many-token kernel (the register budget: one int32 accumulator
 * vector per token and one for its min or offset sum, 8 of AVX2's 16). */
#define CN_Q8_MANY_MAX 4

/* True for the formats with a many-token kernel of that kind (Q4_K, Q5_K, Q6_K, Q8_0 with AVX2,
 * NEON or NEON SDOT; both MXFP4s with AVX2 and AVX-512 VNNI); the others (and the scalar kind) go
 * through cn_q8_dot once per token inside cn_q8_dot_many. */
bool cn_q8_many_has(cn_dtype t, cn_q8_kernel kernel);

/* out[i] = cn_q8_dot(t, row, row_scales, xq + i·xq_stride, n, kernel) for i < n_tokens (any
 * count; groups of CN_Q8_MANY_MAX), bitwise. row_scales: the row's separate scales (MXFP4's:
 * cn_matrix_row_scales), NULL otherwise. */
void cn_q8_dot_many(cn_dtype t, const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride,
                    int n_tokens, int64_t n, cn_q8_kernel kernel, float *out);

/* The AVX2 kernels: 1 ≤ n_tokens ≤ CN_Q8_MANY_MAX tokens, xq_stride bytes apart (cn_q8_block
 * rows for the K-quants, cn_q8_32x8 rows for Q8_0). Only when cn_cpu_has_avx2_fma(); without an
 * AVX2 build each is the loop of the scalar references. */
void cn_q4_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q5_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q6_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q8_0_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
/* MXFP4 (DeepSeek's, with the row's E8M0 scales) and ggml's MXFP4. */
void cn_mxfp4_q8_dot_many_avx2(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                               int64_t n, float *out);
void cn_mxfp4_ggml_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
/* The same with AVX-512 VNNI (q8_dot_avx512_vnni.c; only when cn_q8_has_avx512_vnni(), elsewhere
 * the loops of the scalar references). */
void cn_mxfp4_q8_dot_many_avx512_vnni(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                                      int64_t n, float *out);
void cn_mxfp4_ggml_q8_dot_many_avx512_vnni(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);

/* The NEON kernels (q8_dot_many_neon_kernels.h; both MXFP4s too), the same contract: widening multiplies
 * (armv8.0; only when cn_cpu_has_neon()) and SDOT (only when cn_q8_has_neon_sdot()); elsewhere
 * the loops of the scalar references. */
void cn_q4_k_q8_dot_many_neon(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q5_k_q8_dot_many_neon(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q6_k_q8_dot_many_neon(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q8_0_q8_dot_many_neon(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q4_k_q8_dot_many_neon_sdot(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q5_k_q8_dot_many_neon_sdot(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q6_k_q8_dot_many_neon_sdot(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_q8_0_q8_dot_many_neon_sdot(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_mxfp4_q8_dot_many_neon(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                               int64_t n, float *out);
void cn_mxfp4_ggml_q8_dot_many_neon(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);
void cn_mxfp4_q8_dot_many_neon_sdot(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                                    int64_t n, float *out);
void cn_mxfp4_ggml_q8_dot_many_neon_sdot(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);

/* For the SIMD kernels' files: token i's quantised row (tokens past `count` repeat token 0, so
 * their loads stay inside the buffer; their lanes are computed and dropped). */
#define CN_Q8_TOKEN_AT(type, xq, stride, i, count) ((const type *)(const void *)((const uint8_t *)(xq) + (size_t)((i) < (count) ? (i) : 0) * (stride)))

/* One loop per token count (n_tokens, 1..CN_Q8_MANY_MAX), the count a constant inside it, so the
 * kernels' token loops unroll and their accumulators stay in registers. */
#define CN_Q8_MANY_BY_COUNT(call_with_count)                                                                     \
    switch (n_tokens) {                                                                                          \
    case 1: call_with_count(1); break;                                                                           \
    case 2: call_with_count(2); break;                                                                           \
    case 3: call_with_count(3); break;                                                                           \
    default: call_with_count(4); break;                                                                          \
    }

/* A many-token kernel as the loop of a one-token function (the builds without that kernel's
 * instructions): defines void NAME(row, xq, xq_stride, n_tokens, n, out) calling
 * ONE(row, token, n) per token, token a const TYPE *. */
#define CN_Q8_MANY_AS_LOOP(name, one, type)                                                                      \
    void name(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {      \
        for (int i = 0; i < n_tokens; i++)                                                                       \
            out[i] = one(row, (const type *)(const void *)((const uint8_t *)xq + (size_t)i * xq_stride), n);    \
    }

/* The same for DeepSeek's MXFP4 (its row scales): NAME(row, row_scales, xq, xq_stride, n_tokens,
 * n, out) calling cn_mxfp4_q8_dot_ref per token. */
#define CN_Q8_MXFP4_MANY_AS_LOOP(name)                                                                           \
    void name(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens, int64_t n, \
              float *out) {                                                                                      \
        for (int i = 0; i < n_tokens; i++)                                                                       \
            out[i] = cn_mxfp4_q8_dot_ref(row, row_scales,                                                        \
                                         (const cn_q8_32x8 *)(const void *)((const uint8_t *)xq + (size_t)i * xq_stride), n); \
    }

#endif
