/* Pieces shared by the AVX2 integer dots of q8_activations.h: q8_dot_avx2.c (one token) and
 * q8_dot_many_avx2.c (several tokens per weight row). Internal to src/tensor; include only under
 * `defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)`. */
#ifndef CN_TENSOR_Q8_AVX2_PARTS_H
#define CN_TENSOR_Q8_AVX2_PARTS_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define Q8_AVX2_KERNEL __attribute__((target("avx2,fma,f16c")))

Q8_AVX2_KERNEL static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* The eight 6-bit scales (bytes 0..7 of *scales) and mins (*mins) of a Q4_K block from its 12
 * scale bytes, four at a time (cn_k4_scale_min's layout: u0 = bytes 0..3, u1 = 4..7, u2 = 8..11;
 * groups 0..3 are the low 6 bits of u0 (scales) and u1 (mins); groups 4..7 take their low 4 bits
 * from u2's low (scales) or high (mins) nibbles and their top 2 bits from the top of u0 / u1). */
Q8_AVX2_KERNEL static inline void k4_scales_mins(const uint8_t *s, uint64_t *scales, uint64_t *mins) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    const uint32_t sc_low = u0 & 0x3f3f3f3fu, m_low = u1 & 0x3f3f3f3fu;
    const uint32_t sc_high = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
    const uint32_t m_high = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
    *scales = (uint64_t)sc_low | (uint64_t)sc_high << 32;
    *mins = (uint64_t)m_low | (uint64_t)m_high << 32;
}

/* int16 lanes all equal to scale g of the eight int16 scales in both halves of `s16`. */
#define SCALE_OF(s16, g) _mm256_shuffle_epi8((s16), _mm256_set1_epi16((short)(0x0100 + 0x0202 * (g))))

/* Q8_0: a block's 32 signed weights against 32 signed activations as maddubs(|w|, x·sign(w))
 * (|w| ≤ 128 unsigned; pairs at most 2·128·127 < 2^15), widened by madd: eight int32 partial
 * sums whose total is the block's exact sumi. */
Q8_AVX2_KERNEL static inline __m256i q8_0_partials(const uint8_t *w, const int8_t *x) {
    const __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)w);
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)), _mm256_set1_epi16(1));
}

/* Lane k = the sum of the eight lanes of s[k]. */
Q8_AVX2_KERNEL static inline __m256i sum_each8(const __m256i s[8]) {
    const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

#endif
