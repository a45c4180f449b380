#include "tensor/rows_avx2.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>

bool cn_cpu_has_avx2(void) { return __builtin_cpu_supports("avx2"); }

__attribute__((target("avx2"))) void cn_bf16_row_avx2(const uint8_t *src, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(w));
    }
}

/* The scalar rule (element.h) on eight lanes: normal codes rebias the exponent, subnormals are
 * man * 2^-9, 0x7f / 0xff are NaN. */
__attribute__((target("avx2"))) void cn_e4m3_row_avx2(const uint8_t *src, int64_t n, float scale, float *out) {
    const __m256i m80 = _mm256_set1_epi32(0x80), m7f = _mm256_set1_epi32(0x7f), m7 = _mm256_set1_epi32(7);
    const __m256i bias = _mm256_set1_epi32(120 << 23), nan = _mm256_set1_epi32(0x7fc00000), zero = _mm256_setzero_si256();
    const __m256 sub_scale = _mm256_set1_ps(0x1p-9f), s = _mm256_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 8) {
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(src + i)));
        __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, m80), 24);
        __m256i em = _mm256_and_si256(v, m7f);
        __m256i normal = _mm256_or_si256(sign, _mm256_add_epi32(_mm256_slli_epi32(em, 20), bias));
        __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, m7)), sub_scale);
        __m256i subnormal = _mm256_or_si256(sign, _mm256_castps_si256(sub));
        __m256i is_sub = _mm256_cmpeq_epi32(_mm256_srli_epi32(em, 3), zero);
        __m256i value = _mm256_blendv_epi8(normal, subnormal, is_sub);
        value = _mm256_blendv_epi8(value, nan, _mm256_cmpeq_epi32(em, m7f));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_castsi256_ps(value), s));
    }
}

/* E2M1 magnitudes are half of small integers ({0,1,2,3,4,6,8,12}), looked up 16 at a time with
 * a byte shuffle; the 1/2 joins the power-of-two scale (exact). The sign bit is ORed into the
 * value before the multiply, as the scalar decoder multiplies a signed value: code 8 stays -0,
 * and under the NaN scale (E8M0 255) every weight is the scale's NaN, whatever the code's sign. */
__attribute__((target("avx2"))) static void mxfp4_eight(__m128i codes, __m256 scale, float *out) {
    const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12);
    __m256i wide = _mm256_cvtepu8_epi32(codes);
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(8)), 28);
    __m256 mag = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(lut, codes)));
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_or_ps(mag, _mm256_castsi256_ps(sign)), scale));
}

__attribute__((target("avx2"))) void cn_mxfp4_block_avx2(const uint8_t *src, float scale, float *out) {
    const __m128i low_mask = _mm_set1_epi8(0x0f);
    __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)src);
    __m128i lo = _mm_and_si128(bytes, low_mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask);
    __m128i first = _mm_unpacklo_epi8(lo, hi), second = _mm_unpackhi_epi8(lo, hi); /* element order */
    const __m256 s = _mm256_set1_ps(scale * 0.5f);
    mxfp4_eight(first, s, out);
    mxfp4_eight(_mm_srli_si128(first, 8), s, out + 8);
    mxfp4_eight(second, s, out + 16);
    mxfp4_eight(_mm_srli_si128(second, 8), s, out + 24);
}

#else

bool cn_cpu_has_avx2(void) { return false; }
void cn_bf16_row_avx2(const uint8_t *src, int64_t n, float *out) { (void)src, (void)n, (void)out; }
void cn_e4m3_row_avx2(const uint8_t *src, int64_t n, float scale, float *out) { (void)src, (void)n, (void)scale, (void)out; }
void cn_mxfp4_block_avx2(const uint8_t *src, float scale, float *out) { (void)src, (void)scale, (void)out; }

#endif
