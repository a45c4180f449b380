/* Pieces shared by the AVX2 integer dots of q8_activations.h: q8_dot_avx2.c (one token) and
 * q8_dot_many_avx2.c (several tokens per weight row). Internal to src/tensor; include only under
 * `defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)`. */
#ifndef CN_TENSOR_Q8_AVX2_PARTS_H
#define CN_TENSOR_Q8_AVX2_PARTS_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tensor/q8_activations.h"

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

/* A Q4_K / Q5_K block's value for one token, the reference's f32 step (cn_q4_k_q8_dot_ref):
 * sumi's lanes hold Σ_g sc_g·Σ_l q·qx, m8 the eight 6-bit mins; summ = Σ_g m_g·(sum16_2g +
 * sum16_2g+1), each min widened twice and sixteen int16 products added in pairs, then
 * (dx·d)·sumi − (dx·dmin)·summ with d, dmin the block's f16 fields at 0 and 2. */
Q8_AVX2_KERNEL static inline float k4_block_value(const uint8_t *blk, const cn_q8_block *xb, uint64_t m8, __m256i sumi) {
    const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
    const __m256i mins_twice = _mm256_set_m128i(_mm_unpackhi_epi16(mins16, mins16), _mm_unpacklo_epi16(mins16, mins16));
    const __m256i sums16 = _mm256_loadu_si256((const __m256i *)(const void *)xb->sum16);
    const int32_t summ = hsum_i32(_mm256_madd_epi16(mins_twice, sums16));
    uint16_t d_bits, dmin_bits;
    memcpy(&d_bits, blk, 2);
    memcpy(&dmin_bits, blk + 2, 2);
    const float dd = xb->d * _cvtsh_ss(d_bits), dm = xb->d * _cvtsh_ss(dmin_bits);
    return dd * (float)hsum_i32(sumi) - dm * (float)summ;
}

/* Q6_K: m[j] is the byte shuffle that spreads int16 lane 2j of a run-scale vector over the lower
 * 128 bits and lane 2j + 1 over the upper (runs 2g and 2g + 1 of a 32-code step). */
Q8_AVX2_KERNEL static inline void q6_k_run_masks(__m256i m[4]) {
    const __m256i masks[4] = {
        _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3),
        _mm256_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7),
        _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11),
        _mm256_setr_epi8(12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
                         14, 15, 14, 15)};
    for (int j = 0; j < 4; j++) m[j] = masks[j];
}

/* Q8_0 and MXFP4 accumulate a record of eight blocks in eight f32 lanes (q8_activations.h).
 * lanes += t in lanes 0..count-1 only, for a last record of count < 8 blocks (adding 0 to the
 * other lanes could turn a -0 into +0). */
Q8_AVX2_KERNEL static inline __m256 add_last_record(__m256 lanes, __m256 t, int count) {
    const __m256 used = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    return _mm256_blendv_ps(lanes, _mm256_add_ps(lanes, t), used);
}

/* The reference's total of the eight lanes: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
Q8_AVX2_KERNEL static inline float total_of_lanes(__m256 lanes) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(lanes), _mm256_extractf128_ps(lanes, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
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

/* MXFP4 (both layouts): one byte shuffle looks 32 codes up as their signed doubled values
 * (|w2| ≤ 12, mxfp4_lut), which then go through Q8_0's maddubs(|w|, x·sign(w)) (pairs at most
 * 2·12·127); eight blocks' exact sums land in lanes 0..7 as for Q8_0, and the halved E8M0 scales
 * are built from their bytes with integer operations (the reference's values, bit for bit). */
Q8_AVX2_KERNEL static inline __m256i mxfp4_lut(void) {
    return _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12));
}

/* Block k's 16 int16 pair sums of |w|·(x·sign(w)) for its signed codes w. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_partials(__m256i w, const int8_t *x) {
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)x);
    return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w));
}

/* Lane k = block k's sumi from the int16 pair sums s[k] (each at most 2·12·127 = 3048): three
 * levels of int16 horizontal adds leave, in each 128-bit half, one sum of 8 pairs per block (at
 * most 24384: no overflow), and the two halves are added widened to int32. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_sum_each8(const __m256i s[8]) {
    const __m256i h0123 = _mm256_hadd_epi16(_mm256_hadd_epi16(s[0], s[1]), _mm256_hadd_epi16(s[2], s[3]));
    const __m256i h4567 = _mm256_hadd_epi16(_mm256_hadd_epi16(s[4], s[5]), _mm256_hadd_epi16(s[6], s[7]));
    const __m256i h = _mm256_hadd_epi16(h0123, h4567);
    return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(h)), _mm256_cvtepi16_epi32(_mm256_extracti128_si256(h, 1)));
}

/* DeepSeek's 16 bytes of pairs: element 2i is the low nibble of byte i, 2i + 1 the high one.
 * Byte i zero-extended to 16 bits, ORed with itself shifted left by 4 and masked with 0x0f0f,
 * holds the low nibble in its low byte and the high nibble in its high byte: elements in order. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_pairs_codes(const uint8_t *p, __m256i lut) {
    const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256i idx = _mm256_and_si256(_mm256_or_si256(v, _mm256_slli_epi16(v, 4)), _mm256_set1_epi8(0x0f));
    return _mm256_shuffle_epi8(lut, idx);
}

/* ggml's 16 bytes: low nibbles are elements 0..15 (lower lane), high nibbles 16..31 (upper). */
Q8_AVX2_KERNEL static inline __m256i mxfp4_ggml_codes(const uint8_t *p, __m256i lut) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256i idx = _mm256_and_si256(_mm256_blend_epi32(v, _mm256_srli_epi16(v, 4), 0xf0), _mm256_set1_epi8(0x0f));
    return _mm256_shuffle_epi8(lut, idx);
}

/* Eight E8M0 codes e (int32 lanes) to half their scale as f32: 2^(e-128), i.e. (e - 1) << 23 for
 * e ≥ 2 and the subnormal 0x00200000 << e for e < 2; e = 255 NaN when nan_255
 * (cn_e8m0_to_f32(e)·0.5f), else 2^127 (ggml). */
Q8_AVX2_KERNEL static inline __m256 e8m0_halves(__m256i e, bool nan_255) {
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i subnormal = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    __m256i bits = _mm256_blendv_epi8(normal, subnormal, _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e));
    if (nan_255) bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x7fc00000), _mm256_cmpeq_epi32(e, _mm256_set1_epi32(255)));
    return _mm256_castsi256_ps(bits);
}

/* The E8M0 codes of eight blocks (the first count; 0 for the others) as int32 lanes. DeepSeek's
 * bytes are consecutive; ggml's are 17 bytes apart, gathered as 32-bit words (the other three
 * bytes are the block's first codes, masked off; the word lies inside the block). Bytes are not
 * stored to a small array and reloaded wider, which stalls store forwarding. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_scale_codes(const uint8_t *p, const uint8_t *scales, int count, bool ggml) {
    if (ggml) {
        const __m256i at = _mm256_setr_epi32(0, 17, 34, 51, 68, 85, 102, 119);
        const __m256i used = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i words = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(const void *)p, at, used, 1);
        return _mm256_and_si256(words, _mm256_set1_epi32(0xff));
    }
    if (count == 8) return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)scales));
    uint8_t e8[8] = {0};
    memcpy(e8, scales, (size_t)count);
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)e8));
}

#endif
