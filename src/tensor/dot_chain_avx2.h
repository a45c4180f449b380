/* The pieces of the fixed AVX2+FMA dot chain (row_dot_avx2.h) shared by every fused kernel file,
 * so that the plain formats (row_dot_avx2.c) and the ggml block formats (row_dot_kquants_avx2.c)
 * run literally the same chain: 32 weights decoded to f32 in element order, one FMA into each of
 * four 8-lane accumulators per token, and one fixed reduction. Internal to src/tensor; include
 * only under `defined(__x86_64__) && defined(__GNUC__)`. */
#ifndef CN_TENSOR_DOT_CHAIN_AVX2_H
#define CN_TENSOR_DOT_CHAIN_AVX2_H

#include <immintrin.h>

#define KERNEL __attribute__((target("avx2,fma,f16c")))
#define KERNEL_INLINE static inline __attribute__((target("avx2,fma,f16c"), always_inline))

typedef struct {
    __m256 v[4];
} weights32; /* 32 decoded weights, element order */

KERNEL_INLINE float sum_accumulators(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* TWO is a literal at every call, so the second token's code disappears for one token; the
 * accumulators are named variables (not arrays) so that they stay in registers. A token's chain
 * is the same with or without a partner. */
#define FMA_32(acc0, acc1, acc2, acc3, w, xt, i)                               \
    do {                                                                       \
        acc0 = _mm256_fmadd_ps((w).v[0], _mm256_loadu_ps((xt) + (i)), acc0);      \
        acc1 = _mm256_fmadd_ps((w).v[1], _mm256_loadu_ps((xt) + (i) + 8), acc1);  \
        acc2 = _mm256_fmadd_ps((w).v[2], _mm256_loadu_ps((xt) + (i) + 16), acc2); \
        acc3 = _mm256_fmadd_ps((w).v[3], _mm256_loadu_ps((xt) + (i) + 24), acc3); \
    } while (0)

#endif
