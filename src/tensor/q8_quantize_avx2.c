/* AVX2 forms of the activation quantisers of q8_activations.h, bit for bit the scalar ones: the
 * block maximum of |x| is exact in any order, the scale and its inverse are the same scalar
 * divisions, x·inverse is the same f32 product, and _mm256_cvtps_epi32 rounds to nearest even
 * under the default MXCSR as lrintf does under the default rounding mode; the clamp to ±127 and
 * the per-16 sums are the same integers (tests/test_q8_activations.c compares every byte). */
#include "tensor/q8_activations.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define KERNEL_INLINE static inline __attribute__((target("avx2,fma,f16c"), always_inline))
#define KERNEL __attribute__((target("avx2,fma,f16c")))

/* max |x| over len elements (a multiple of 8); false if any is not finite. */
KERNEL_INLINE bool run_amax(const float *x, int len, float *amax) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), inf = _mm256_set1_ps(INFINITY);
    __m256 m = _mm256_setzero_ps(), finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int i = 0; i < len; i += 8) {
        const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
        finite = _mm256_and_ps(finite, _mm256_cmp_ps(a, inf, _CMP_LT_OQ)); /* false for NaN and ±inf */
        m = _mm256_max_ps(m, a);
    }
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    *amax = _mm_cvtss_f32(q);
    return _mm256_movemask_ps(finite) == 0xff;
}

/* 32 values times inverse, rounded, clamped to ±127, as 32 int8 in element order. */
KERNEL_INLINE void quantize_32(const float *x, __m256 inverse, int8_t *q) {
    const __m256i hi = _mm256_set1_epi32(127), lo = _mm256_set1_epi32(-127);
    __m256i v[4];
    for (int k = 0; k < 4; k++) {
        const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), inverse));
        v[k] = _mm256_max_epi32(_mm256_min_epi32(r, hi), lo);
    }
    /* packs work per 128-bit lane: the 4-byte groups come out as v0[0..3] v1[0..3] v2[0..3]
     * v3[0..3] v0[4..7] v1[4..7] v2[4..7] v3[4..7]; the permutation restores element order */
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    _mm256_storeu_si256((__m256i *)(void *)q, _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/* One run of len elements (32 or 256), the scalar quantize_run's contract. */
KERNEL_INLINE float quantize_run(const float *x, int len, int8_t *q) {
    float amax;
    const bool finite = run_amax(x, len, &amax);
    if (!finite || amax == 0.0f) {
        memset(q, 0, (size_t)len);
        return finite ? 0.0f : NAN;
    }
    const __m256 inverse = _mm256_set1_ps(127.0f / amax);
    for (int i = 0; i < len; i += 32) quantize_32(x + i, inverse, q + i);
    return amax / 127.0f;
}

KERNEL void cn_q8_quantize_row_avx2(const float *x, int64_t n, cn_q8_block *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        cn_q8_block *o = out + b;
        o->d = quantize_run(x + 256 * b, 256, o->q);
        for (int j = 0; j < 16; j++) { /* pairs summed by maddubs, then madd: four per int32 */
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(o->q + 16 * j));
            __m128i s = _mm_madd_epi16(_mm_maddubs_epi16(_mm_set1_epi8(1), v), _mm_set1_epi16(1));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
            o->sum16[j] = (int16_t)_mm_cvtsi128_si32(s);
        }
    }
}

KERNEL void cn_q8_quantize_row_32_avx2(const float *x, int64_t n, cn_q8_32x8 *out) {
    const int64_t blocks = n / 32;
    for (int64_t r = 0; r < (blocks + 7) / 8; r++) {
        cn_q8_32x8 *o = out + r;
        const int used = blocks - 8 * r < 8 ? (int)(blocks - 8 * r) : 8;
        if (used < 8) memset(o, 0, sizeof *o);
        for (int k = 0; k < used; k++) o->d[k] = quantize_run(x + 256 * r + 32 * k, 32, o->q + 32 * k);
        cn_q8_32x8_fill_sums(o);
    }
}

#else

void cn_q8_quantize_row_avx2(const float *x, int64_t n, cn_q8_block *out) { cn_q8_quantize_row(x, n, out); }
void cn_q8_quantize_row_32_avx2(const float *x, int64_t n, cn_q8_32x8 *out) { cn_q8_quantize_row_32(x, n, out); }

#endif
