/* AVX2 forms of the integer dots of q8_activations.h (Q4_K, Q5_K, Q6_K, Q8_0, both MXFP4s). Q4_K (Q5_K alike): per super-block, the nibbles of two groups
 * come from one 32-byte load; _mm256_maddubs_epi16 multiplies them (unsigned, at most 15) by the
 * activations (signed, at most 127 in magnitude) and adds pairs into int16 without saturating
 * (2·15·127 = 3810); _mm256_madd_epi16 with the group's 6-bit scale widens to int32. The integer
 * sums are exact in any order, and the f32 steps are the reference's, so the result is its bits. */
#include "tensor/q8_activations.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/q8_avx2_parts.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define KERNEL __attribute__((target("avx2,fma,f16c")))

/* Q4_K, and Q5_K when fifth_bit: its block (176 bytes) holds 32 bytes qh at 16 and the nibbles at
 * 48, and bit g of qh[l] is ORed into each code of group g as 16 (codes 0..31; maddubs pairs at
 * most 2·31·127). Always inlined with fifth_bit a constant, so each kernel below is its own loop. */
KERNEL __attribute__((always_inline)) static inline float k4_q8_dot(const uint8_t *row, const cn_q8_block *x,
                                                                    int64_t n, bool fifth_bit) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const int64_t block_bytes = fifth_bit ? 176 : 144;
    const int codes_at = fifth_bit ? 48 : 16;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + block_bytes * b;
        const cn_q8_block *xb = x + b;
        uint64_t sc8, m8;
        k4_scales_mins(blk + 4, &sc8, &m8);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        const __m256i qh = fifth_bit ? _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16)) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        /* bit g of qh[l] moved to bit 4 of each byte (a byte holds only bit 0 before the shift) */
#define FIFTH(g) _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, (g)), one), 4)
#define PAIR(j)                                                                                                  \
    do {                                                                                                         \
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(blk + codes_at + 32 * (j)));         \
        __m256i lo = _mm256_and_si256(q, low_mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);   \
        if (fifth_bit) {                                                                                         \
            lo = _mm256_or_si256(lo, FIFTH(2 * (j)));                                                            \
            hi = _mm256_or_si256(hi, FIFTH(2 * (j) + 1));                                                        \
        }                                                                                                        \
        const __m256i x_lo = _mm256_loadu_si256((const __m256i *)(const void *)(xb->q + 64 * (j)));             \
        const __m256i x_hi = _mm256_loadu_si256((const __m256i *)(const void *)(xb->q + 64 * (j) + 32));        \
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), SCALE_OF(sc16, 2 * (j)));       \
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), SCALE_OF(sc16, 2 * (j) + 1));   \
        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));                                           \
    } while (0)
        PAIR(0);
        PAIR(1);
        PAIR(2);
        PAIR(3);
#undef PAIR
#undef FIFTH
        acc = acc + k4_block_value(blk, xb, m8, sumi);
    }
    return acc;
}

KERNEL float cn_q4_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return k4_q8_dot(row, x, n, false);
}

KERNEL float cn_q5_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return k4_q8_dot(row, x, n, true);
}

/* Q6_K: the unsigned 6-bit codes (0..63) against int8 activations in maddubs (2·63·127 < 2^15),
 * madd with the 16-element runs' int8 scales (lower 128-bit lane: run 2g, upper: run 2g+1), and
 * the offset of 32 as Σ_j sc_j·32·sum16_j once per block. */
KERNEL float cn_q6_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask2 = _mm256_set1_epi8(3);
    __m256i run_mask[4];
    q6_k_run_masks(run_mask);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        const cn_q8_block *xb = x + b;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)(blk + 192));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);                           /* runs 0..15 */
        const __m256i sc_lo = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16)); /* runs 0..7 */
        const __m256i sc_hi = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1)); /* 8..15 */
        __m256i sumi = _mm256_setzero_si256();
        /* group g = 4h + k uses runs 2g (lower lane) and 2g + 1 (upper lane) of sc_lo (h = 0) or
         * sc_hi (h = 1): int16 lanes 2k and 2k + 1 of that lane's eight scales */
#define GROUP(k, codes, x_at, scales)                                                                            \
    sumi = _mm256_add_epi32(                                                                                     \
        sumi, _mm256_madd_epi16(_mm256_maddubs_epi16((codes), _mm256_loadu_si256((const __m256i *)(const void *)(x_at))), \
                                _mm256_shuffle_epi8((scales), run_mask[k])))
#define HALF(h, scales)                                                                                          \
    do {                                                                                                         \
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * (h)));                  \
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * (h) + 32));             \
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 + 32 * (h)));             \
        const int8_t *xh = xb->q + 128 * (h);                                                                    \
        GROUP(0, _mm256_or_si256(_mm256_and_si256(ql0, mask4), _mm256_slli_epi16(_mm256_and_si256(qh, mask2), 4)), xh, scales); \
        GROUP(1, _mm256_or_si256(_mm256_and_si256(ql1, mask4),                                                   \
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), mask2), 4)),       \
              xh + 32, scales);                                                                                  \
        GROUP(2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask4),                             \
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), mask2), 4)),       \
              xh + 64, scales);                                                                                  \
        GROUP(3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask4),                             \
                                 _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), mask2), 4)),       \
              xh + 96, scales);                                                                                  \
    } while (0)
        HALF(0, sc_lo);
        HALF(1, sc_hi);
#undef HALF
#undef GROUP
        const __m256i sums16 = _mm256_loadu_si256((const __m256i *)(const void *)xb->sum16);
        const int32_t offset = hsum_i32(_mm256_madd_epi16(sc16, sums16));
        uint16_t d_bits;
        memcpy(&d_bits, blk + 208, 2);
        const float dd = xb->d * _cvtsh_ss(d_bits);
        const float t = dd * (float)(hsum_i32(sumi) - 32 * offset);
        acc = acc + t;
    }
    return acc;
}


/* Q8_0 (q8_0_partials): eight blocks' partials are reduced together (sum_each8) to one vector
 * holding each block's exact sumi in lane k, then lane k takes (dw·dx)·sumi as the reference's
 * lane[b mod 8]. */
/* (dw·dx)·sumi for the first `count` of eight blocks starting at blk (the rest zero). */
KERNEL static __m256 q8_0_eight_blocks(const uint8_t *blk, const cn_q8_32x8 *xr, int count) {
    __m256i s[8];
    for (int k = 0; k < 8; k++) s[k] = k < count ? q8_0_partials(blk + 34 * k + 2, xr->q + 32 * k) : _mm256_setzero_si256();
    /* the eight f16 scales gathered as 32-bit words (inside their blocks) and packed, not stored
     * to a small array and reloaded wider (which stalls store forwarding) */
    const __m256i at = _mm256_setr_epi32(0, 34, 68, 102, 136, 170, 204, 238);
    const __m256i used = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i words = _mm256_and_si256(_mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(const void *)blk, at, used, 1),
                                           _mm256_set1_epi32(0xffff));
    const __m256 dw = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)));
    const __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(xr->d));
    return _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sum_each8(s)));
}

KERNEL float cn_q8_0_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    __m256 lanes = _mm256_setzero_ps();
    int64_t r = 0;
    for (; 8 * r + 8 <= blocks; r++) lanes = _mm256_add_ps(lanes, q8_0_eight_blocks(row + 34 * 8 * r, x + r, 8));
    if (8 * r < blocks) {
        const int count = (int)(blocks - 8 * r);
        lanes = add_last_record(lanes, q8_0_eight_blocks(row + 34 * 8 * r, x + r, count), count);
    }
    return total_of_lanes(lanes);
}

/* MXFP4 (both layouts): q8_avx2_parts.h's step with byte-shuffle lookups and maddubs. */
KERNEL __attribute__((always_inline)) static inline __m256 mxfp4_eight_blocks(const uint8_t *p, const uint8_t *scales,
                                                                               const cn_q8_32x8 *xr, int count, bool ggml) {
    MXFP4_EIGHT_BLOCKS_BODY(mxfp4_pairs_codes2, mxfp4_ggml_codes2, mxfp4_offset_products, mxfp4_offset_record_sums4);
}

KERNEL float cn_mxfp4_q8_dot_avx2(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    __m256 lanes = _mm256_setzero_ps();
    int64_t r = 0;
    for (; 8 * r + 8 <= blocks; r++) lanes = _mm256_add_ps(lanes, mxfp4_eight_blocks(row + 16 * 8 * r, row_scales + 8 * r, x + r, 8, false));
    if (8 * r < blocks) {
        const int count = (int)(blocks - 8 * r);
        lanes = add_last_record(lanes, mxfp4_eight_blocks(row + 16 * 8 * r, row_scales + 8 * r, x + r, count, false), count);
    }
    return total_of_lanes(lanes);
}

KERNEL float cn_mxfp4_ggml_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    __m256 lanes = _mm256_setzero_ps();
    int64_t r = 0;
    for (; 8 * r + 8 <= blocks; r++) lanes = _mm256_add_ps(lanes, mxfp4_eight_blocks(row + 17 * 8 * r, NULL, x + r, 8, true));
    if (8 * r < blocks) {
        const int count = (int)(blocks - 8 * r);
        lanes = add_last_record(lanes, mxfp4_eight_blocks(row + 17 * 8 * r, NULL, x + r, count, true), count);
    }
    return total_of_lanes(lanes);
}

#else

float cn_q4_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return cn_q4_k_q8_dot_ref(row, x, n);
}
float cn_q5_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return cn_q5_k_q8_dot_ref(row, x, n);
}
float cn_q6_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return cn_q6_k_q8_dot_ref(row, x, n);
}
float cn_q8_0_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    return cn_q8_0_q8_dot_ref(row, x, n);
}
float cn_mxfp4_q8_dot_avx2(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return cn_mxfp4_q8_dot_ref(row, row_scales, x, n);
}
float cn_mxfp4_ggml_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    return cn_mxfp4_ggml_q8_dot_ref(row, x, n);
}

#endif
