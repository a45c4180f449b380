/* AVX2 forms of the low-bit integer dots of q8_activations.h: Q2_K, Q3_K and IQ2_XXS against
 * cn_q8_block activations. As in q8_dot_avx2.c, _mm256_maddubs_epi16 multiplies unsigned weight
 * codes by the signed activations (|q| ≤ 127) and adds pairs into int16 without saturating
 * (Q2_K 2·3·127, Q3_K 2·7·127, IQ2_XXS 2·43·127, all < 2^15), and _mm256_madd_epi16 with the
 * run's or group's scale widens to int32. The integer sums are exact in any order and the f32
 * steps after them are the reference's, so every result is the reference's bits
 * (tests/test_q8_activations.c). */
#include "tensor/q8_activations.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>
#include <string.h>

#include "tensor/kquants.h"
#include "tensor/q8_avx2_parts.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define KERNEL __attribute__((target("avx2,fma,f16c")))

KERNEL static inline float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

KERNEL static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* sumi plus the 32-element group k (0..3, a constant) of a 128-element half: its unsigned codes
 * times the activations at x (maddubs), each 16 times its run's int16 scale (madd). The half's
 * eight runs have their scales in both 128-bit lanes of `scales`; the group's first 16 elements
 * (the lower lane) are in run 2k, the others in run 2k + 1. Always inlined with k a constant, so
 * the shuffle control is a constant too. */
KERNEL __attribute__((always_inline)) static inline __m256i run_sum(__m256i sumi, __m256i codes, const int8_t *x, __m256i scales,
                                                                    int k) {
    const short lo = (short)(0x0100 + 0x0404 * k), hi = (short)(0x0302 + 0x0404 * k);
    const __m256i run_scale =
        _mm256_shuffle_epi8(scales, _mm256_setr_epi16(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi, hi, hi, hi));
    return _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(codes, load32(x)), run_scale));
}

/* Q2_K: half h of the block (elements 128h..) takes its codes from bytes 16 + 32h .. + 31, group k
 * of it bits 2k, 2k + 1 (16-bit shifts: the bits pulled in from the next byte are masked off).
 * Runs 8h + 2k and 8h + 2k + 1 are the two 128-bit lanes of that group. */
KERNEL float cn_q2_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const __m256i mask2 = _mm256_set1_epi8(3);
    const __m128i mask4 = _mm_set1_epi8(0x0f);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 84 * b;
        const cn_q8_block *xb = x + b;
        const __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)blk);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, mask4));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), mask4));
        const __m256i sc_lo = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16));      /* runs 0..7 */
        const __m256i sc_hi = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1)); /* runs 8..15 */
        const __m256i q0 = load32(blk + 16), q1 = load32(blk + 48);
        __m256i sumi = _mm256_setzero_si256();
#define GROUP(h, k)                                                                                                \
    sumi = run_sum(sumi, _mm256_and_si256(_mm256_srli_epi16(q##h, 2 * (k)), mask2), xb->q + 128 * (h) + 32 * (k), \
                   (h) ? sc_hi : sc_lo, (k))
        GROUP(0, 0), GROUP(0, 1), GROUP(0, 2), GROUP(0, 3);
        GROUP(1, 0), GROUP(1, 1), GROUP(1, 2), GROUP(1, 3);
#undef GROUP
        const int32_t summ = hsum_i32(_mm256_madd_epi16(m16, load32(xb->sum16)));
        const float dd = xb->d * f16_at(blk + 80), dm = xb->d * f16_at(blk + 82);
        const float t = dd * (float)hsum_i32(sumi) - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

/* Q3_K: the sixteen biased 6-bit scales four at a time from the three u32 of the packed bytes
 * (cn_q3_k_scale: scales 0..3 low nibbles of bytes 0..3, 4..7 of bytes 4..7, 8..11 and 12..15
 * their high nibbles; the top two bits from bytes 8..11 shifted by 0, 2, 4, 6), minus 32. The
 * codes u = q2 | hbit << 2 are unsigned (0..7); the offset of 4 is Σ_j sc_j·4·sum16_j. */
KERNEL float cn_q3_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const __m256i mask2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 110 * b;
        const cn_q8_block *xb = x + b;
        uint32_t a0, a1, a2;
        memcpy(&a0, blk + 96, 4);
        memcpy(&a1, blk + 100, 4);
        memcpy(&a2, blk + 104, 4);
        const uint32_t low4 = 0x0f0f0f0fu, top2 = 0x03030303u;
        const __m128i biased = _mm_setr_epi32((int)((a0 & low4) | (a2 & top2) << 4), (int)((a1 & low4) | ((a2 >> 2) & top2) << 4),
                                              (int)(((a0 >> 4) & low4) | ((a2 >> 4) & top2) << 4),
                                              (int)(((a1 >> 4) & low4) | ((a2 >> 6) & top2) << 4));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_sub_epi8(biased, _mm_set1_epi8(32)));
        const __m256i sc_lo = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16));      /* runs 0..7 */
        const __m256i sc_hi = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1)); /* runs 8..15 */
        const __m256i hmask = load32(blk), q0 = load32(blk + 32), q1 = load32(blk + 64);
        __m256i sumi = _mm256_setzero_si256();
        /* u = field k of the codes | bit 4h + k of hmask, moved to bit 2 */
#define GROUP(h, k)                                                                                                          \
    sumi = run_sum(sumi,                                                                                                     \
                   _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q##h, 2 * (k)), mask2),                               \
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hmask, 4 * (h) + (k)), one), 2)), \
                   xb->q + 128 * (h) + 32 * (k), (h) ? sc_hi : sc_lo, (k))
        GROUP(0, 0), GROUP(0, 1), GROUP(0, 2), GROUP(0, 3);
        GROUP(1, 0), GROUP(1, 1), GROUP(1, 2), GROUP(1, 3);
#undef GROUP
        const int32_t offset = hsum_i32(_mm256_madd_epi16(sc16, load32(xb->sum16)));
        const float dd = xb->d * f16_at(blk + 108);
        const float t = dd * (float)(hsum_i32(sumi) - 4 * offset);
        acc = acc + t;
    }
    return acc;
}

/* IQ2_XXS: per group the four grid rows' magnitudes as bytes (cn_iq2xxs_grid_bytes, unsigned) and
 * the four sign indices' ±1 bytes (cn_iq2xxs_sign_bytes) applied to the activations with
 * _mm256_sign_epi8 (|q| ≤ 127, so negating is exact), then maddubs and madd by 2s + 1. */
KERNEL float cn_iq2_xxs_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 66 * b;
        const cn_q8_block *xb = x + b;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            const uint8_t *q = blk + 2 + 8 * g;
            uint32_t aux1;
            memcpy(&aux1, q + 4, 4);
            const __m256i magnitudes = _mm256_setr_epi64x((long long)cn_iq2xxs_grid_bytes[q[0]], (long long)cn_iq2xxs_grid_bytes[q[1]],
                                                          (long long)cn_iq2xxs_grid_bytes[q[2]], (long long)cn_iq2xxs_grid_bytes[q[3]]);
            const __m256i signs = _mm256_setr_epi64x(
                (long long)cn_iq2xxs_sign_bytes[aux1 & 127u], (long long)cn_iq2xxs_sign_bytes[(aux1 >> 7) & 127u],
                (long long)cn_iq2xxs_sign_bytes[(aux1 >> 14) & 127u], (long long)cn_iq2xxs_sign_bytes[(aux1 >> 21) & 127u]);
            const __m256i p = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(load32(xb->q + 32 * g), signs));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16((short)(2 * (aux1 >> 28) + 1))));
        }
        const float dd = xb->d * (f16_at(blk) * 0.125f);
        const float t = dd * (float)hsum_i32(sumi);
        acc = acc + t;
    }
    return acc;
}

#else

float cn_q2_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q2_k_q8_dot_ref(row, x, n); }
float cn_q3_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q3_k_q8_dot_ref(row, x, n); }
float cn_iq2_xxs_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_iq2_xxs_q8_dot_ref(row, x, n); }

#endif
