/* AVX2 many-token forms of the integer dots (q8_dot_many.h): one stored weight row against up to
 * CN_Q8_MANY_MAX quantised tokens. Per weight block the codes are unpacked (nibbles, fifth bits,
 * Q6_K's high bits, Q8_0's |w|) and the scales broadcast once, then each token's activations
 * meet them with the one-token kernel's instructions (q8_dot_avx2.c: maddubs, madd with the
 * group's scale). The per-token int32 vectors (integer sums and the min / offset sums) are
 * reduced together by one sum_each8 instead of a horizontal sum each, and the reference's f32
 * steps run with one SSE lane per token: xd·d, xd·dmin, the products with the converted sums,
 * the subtraction and the running sum, in the reference's order and not contracted, so lane i
 * holds exactly what cn_q8_dot gives token i. The kernels are written for a compile-time token
 * count (always inlined into a switch), so the token loops unroll and the accumulators stay in
 * registers. */
#include "tensor/q8_dot_many.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>
#include <string.h>

#include "tensor/q8_avx2_parts.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define KERNEL Q8_AVX2_KERNEL
#define INLINE_KERNEL KERNEL __attribute__((always_inline)) static inline

/* The lanes of acc that belong to tokens. */
INLINE_KERNEL void store_tokens(__m128 acc, int count, float *out) {
    float all[4];
    _mm_storeu_ps(all, acc);
    for (int i = 0; i < count; i++) out[i] = all[i];
}

/* Q4_K, and Q5_K when fifth_bit (layouts and bounds: q8_dot_avx2.c's k4_q8_dot). s[i] collects
 * token i's Σ_g sc_g·Σ q·qx, s[4 + i] its Σ_g m_g·(sum16_2g + sum16_2g+1); after sum_each8 lane
 * i is sumi and lane 4 + i summ, both the reference's integers. */
INLINE_KERNEL void k4_many(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, bool fifth_bit, float *out) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const int64_t block_bytes = fifth_bit ? 176 : 144;
    const int codes_at = fifth_bit ? 48 : 16;
    const cn_q8_block *x[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) x[i] = CN_Q8_TOKEN_AT(cn_q8_block, xq, stride, i, count);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + block_bytes * b;
        uint64_t sc8, m8;
        k4_scales_mins(blk + 4, &sc8, &m8);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        const __m256i qh = fifth_bit ? _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16)) : _mm256_setzero_si256();
        __m256i s[8];
        for (int i = 0; i < 8; i++) s[i] = _mm256_setzero_si256();
#define FIFTH(g) _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, (g)), one), 4)
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(blk + codes_at + 32 * j));
            __m256i lo = _mm256_and_si256(q, low_mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
            if (fifth_bit) {
                lo = _mm256_or_si256(lo, FIFTH(2 * j));
                hi = _mm256_or_si256(hi, FIFTH(2 * j + 1));
            }
            const __m256i s_lo = SCALE_OF(sc16, 2 * j), s_hi = SCALE_OF(sc16, 2 * j + 1);
#pragma GCC unroll 4
            for (int i = 0; i < count; i++) {
                const int8_t *xi = x[i][b].q + 64 * j;
                const __m256i x_lo = _mm256_loadu_si256((const __m256i *)(const void *)xi);
                const __m256i x_hi = _mm256_loadu_si256((const __m256i *)(const void *)(xi + 32));
                const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), s_lo);
                const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), s_hi);
                s[i] = _mm256_add_epi32(s[i], _mm256_add_epi32(p_lo, p_hi));
            }
        }
#undef FIFTH
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
        const __m256i mins_twice = _mm256_set_m128i(_mm_unpackhi_epi16(mins16, mins16), _mm_unpacklo_epi16(mins16, mins16));
#pragma GCC unroll 4
        for (int i = 0; i < count; i++)
            s[4 + i] = _mm256_madd_epi16(mins_twice, _mm256_loadu_si256((const __m256i *)(const void *)x[i][b].sum16));
        const __m256i sums = sum_each8(s);
        uint16_t d_bits, dmin_bits;
        memcpy(&d_bits, blk, 2);
        memcpy(&dmin_bits, blk + 2, 2);
        /* reference: dd = dx·d, dm = dx·dmin, t = dd·sumi − dm·summ, acc = acc + t */
        const __m128 dx = _mm_setr_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d);
        const __m128 dd = _mm_mul_ps(dx, _mm_set1_ps(_cvtsh_ss(d_bits))), dm = _mm_mul_ps(dx, _mm_set1_ps(_cvtsh_ss(dmin_bits)));
        const __m128 sumi = _mm_cvtepi32_ps(_mm256_castsi256_si128(sums)), summ = _mm_cvtepi32_ps(_mm256_extracti128_si256(sums, 1));
        const __m128 t = _mm_sub_ps(_mm_mul_ps(dd, sumi), _mm_mul_ps(dm, summ));
        acc = _mm_add_ps(acc, t);
    }
    store_tokens(acc, count, out);
}

/* Q6_K (layout and bounds: q8_dot_avx2.c's cn_q6_k_q8_dot_avx2): s[i] collects token i's
 * Σ_run sc·Σ u·qx, s[4 + i] its Σ_run sc·sum16; lane i of the reduction minus 32 times lane
 * 4 + i is the reference's sumi. */
INLINE_KERNEL void q6_k_many(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, float *out) {
    const __m256i mask4 = _mm256_set1_epi8(0x0f), mask2 = _mm256_set1_epi8(3);
    __m256i run_mask[4];
    q6_k_run_masks(run_mask);
    const cn_q8_block *x[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) x[i] = CN_Q8_TOKEN_AT(cn_q8_block, xq, stride, i, count);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192))); /* runs 0..15 */
        __m256i s[8];
        for (int i = 0; i < 8; i++) s[i] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            /* runs 0..7 (h = 0) or 8..15 in both 128-bit lanes */
            const __m256i scales = _mm256_broadcastsi128_si256(h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 + 32 * h));
            for (int k = 0; k < 4; k++) {
                /* element 128h + 32k + l: low (k < 2) or high nibble of ql[k & 1], bits 2k, 2k + 1 of qh */
                const __m256i ql = k & 1 ? ql1 : ql0;
                const __m256i low = k < 2 ? _mm256_and_si256(ql, mask4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), mask4);
                const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), mask2), 4);
                const __m256i codes = _mm256_or_si256(low, high);
                const __m256i sc = _mm256_shuffle_epi8(scales, run_mask[k]);
#pragma GCC unroll 4
                for (int i = 0; i < count; i++) {
                    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x[i][b].q + 128 * h + 32 * k));
                    s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(_mm256_maddubs_epi16(codes, xv), sc));
                }
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < count; i++)
            s[4 + i] = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)(const void *)x[i][b].sum16));
        const __m256i sums = sum_each8(s);
        const __m128i total = _mm_sub_epi32(_mm256_castsi256_si128(sums), _mm_slli_epi32(_mm256_extracti128_si256(sums, 1), 5));
        uint16_t d_bits;
        memcpy(&d_bits, blk + 208, 2);
        /* reference: dd = dx·d, t = dd·sumi, acc = acc + t */
        const __m128 dx = _mm_setr_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d);
        const __m128 dd = _mm_mul_ps(dx, _mm_set1_ps(_cvtsh_ss(d_bits)));
        acc = _mm_add_ps(acc, _mm_mul_ps(dd, _mm_cvtepi32_ps(total)));
    }
    store_tokens(acc, count, out);
}

/* Q8_0 (q8_dot_avx2.c's kernel): per record of eight blocks, each block's weights are loaded and
 * made |w| once; token i's partials of blocks 2p, 2p + 1 are folded at once by hadd into
 * half[i][p], and those into sum_each8's arrangement (lane k = block k's exact sumi). Then lane k
 * of token i's eight f32 lanes takes (dw·dx)·sumi, blocks past the row's end adding nothing, and
 * the lanes are summed as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
INLINE_KERNEL void q8_0_many(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, float *out) {
    const int64_t blocks = n / 32;
    const cn_q8_32x8 *x[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) x[i] = CN_Q8_TOKEN_AT(cn_q8_32x8, xq, stride, i, count);
    __m256 lanes[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) lanes[i] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int used = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        const uint8_t *rec = row + 34 * 8 * r;
        __m256i quarter[CN_Q8_MANY_MAX][4]; /* token i, blocks 2p and 2p + 1 */
        uint16_t d_bits[8] = {0};
        for (int p = 0; p < 4; p++) {
            __m256i w[2], aw[2];
            for (int e = 0; e < 2; e++) {
                const int k = 2 * p + e;
                w[e] = aw[e] = _mm256_setzero_si256(); /* blocks past the end: zero partials */
                if (k < used) {
                    w[e] = _mm256_loadu_si256((const __m256i *)(const void *)(rec + 34 * k + 2));
                    aw[e] = _mm256_abs_epi8(w[e]);
                    memcpy(&d_bits[k], rec + 34 * k, 2);
                }
            }
#pragma GCC unroll 4
            for (int i = 0; i < count; i++) {
                __m256i part[2];
                for (int e = 0; e < 2; e++) {
                    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x[i][r].q + 32 * (2 * p + e)));
                    part[e] = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[e], _mm256_sign_epi8(xv, w[e])), ones);
                }
                quarter[i][p] = _mm256_hadd_epi32(part[0], part[1]);
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)d_bits));
#pragma GCC unroll 4
        for (int i = 0; i < count; i++) {
            const __m256i h0123 = _mm256_hadd_epi32(quarter[i][0], quarter[i][1]);
            const __m256i h4567 = _mm256_hadd_epi32(quarter[i][2], quarter[i][3]);
            const __m256i sumi = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(x[i][r].d));
            const __m256 t = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sumi));
            lanes[i] = used == 8 ? _mm256_add_ps(lanes[i], t) : add_last_record(lanes[i], t, used);
        }
    }
    for (int i = 0; i < count; i++) out[i] = total_of_lanes(lanes[i]);
}

/* MXFP4, both layouts (q8_dot_avx2.c's kernel): per record, each pair of blocks' codes is looked
 * up offset (mxfp4_pairs_codes2 / mxfp4_ggml_codes2 with mxfp4_offset_lut) once; token i's int16
 * products of the pair go through the one-token kernel's folds (mxfp4_fold_pairs after every
 * second pair, so a token holds at most two vectors) into mxfp4_offset_record_sums and
 * mxfp4_take_offset (lane k = block k's exact sumi). The
 * eight halved E8M0 scales are built once per record; lane k of token i takes (half·dx)·sumi and
 * the lanes are summed as the reference does. DeepSeek's layout (ggml false) reads its scale
 * bytes from row_scales. */
INLINE_KERNEL void mxfp4_many(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t stride, int count, int64_t n,
                              bool ggml, float *out) {
    const int64_t blocks = n / 32;
    const cn_q8_32x8 *x[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) x[i] = CN_Q8_TOKEN_AT(cn_q8_32x8, xq, stride, i, count);
    __m256 lanes[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) lanes[i] = _mm256_setzero_ps();
    const __m256i lut = mxfp4_offset_lut();
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int used = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        const uint8_t *rec = row + (ggml ? 17 : 16) * 8 * r;
        __m256i prev[CN_Q8_MANY_MAX], fold[CN_Q8_MANY_MAX][2]; /* token i: pair 2m's products, blocks 4m..4m + 3 folded */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            mxfp4_pair u = {_mm256_setzero_si256(), _mm256_setzero_si256()}; /* blocks past the end: zero sums */
            if (2 * j < used) {
                const bool both = 2 * j + 1 < used;
                u = ggml ? mxfp4_ggml_codes2(rec + 34 * j + 1, both, lut) : mxfp4_pairs_codes2(rec + 32 * j, both, lut);
            }
#pragma GCC unroll 4
            for (int i = 0; i < count; i++) {
                const __m256i s = mxfp4_offset_products(u, mxfp4_x_pair(x[i][r].q + 64 * j));
                if (j % 2 == 0) prev[i] = s;
                else fold[i][j / 2] = mxfp4_fold_pairs(prev[i], s);
            }
        }
        const __m256 half = mxfp4_record_halves(mxfp4_scale_bytes(rec, ggml ? NULL : row_scales + 8 * r, used, ggml), ggml);
#pragma GCC unroll 4
        for (int i = 0; i < count; i++) {
            const __m256i sumi = mxfp4_take_offset(mxfp4_offset_record_sums(fold[i][0], fold[i][1]), &x[i][r]);
            const __m256 scale = _mm256_mul_ps(half, _mm256_loadu_ps(x[i][r].d));
            const __m256 t = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sumi));
            lanes[i] = used == 8 ? _mm256_add_ps(lanes[i], t) : add_last_record(lanes[i], t, used);
        }
    }
    for (int i = 0; i < count; i++) out[i] = total_of_lanes(lanes[i]);
}

KERNEL void cn_q4_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) k4_many(row, xq, xq_stride, (c), n, false, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

KERNEL void cn_q5_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) k4_many(row, xq, xq_stride, (c), n, true, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

KERNEL void cn_q6_k_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) q6_k_many(row, xq, xq_stride, (c), n, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

KERNEL void cn_q8_0_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) q8_0_many(row, xq, xq_stride, (c), n, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

KERNEL void cn_mxfp4_q8_dot_many_avx2(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                                      int64_t n, float *out) {
#define CALL(c) mxfp4_many(row, row_scales, xq, xq_stride, (c), n, false, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

KERNEL void cn_mxfp4_ggml_q8_dot_many_avx2(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) mxfp4_many(row, NULL, xq, xq_stride, (c), n, true, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

#else

/* Without the AVX2 build: the references, token by token. */
CN_Q8_MANY_AS_LOOP(cn_q4_k_q8_dot_many_avx2, cn_q4_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q5_k_q8_dot_many_avx2, cn_q5_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q6_k_q8_dot_many_avx2, cn_q6_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q8_0_q8_dot_many_avx2, cn_q8_0_q8_dot_ref, cn_q8_32x8)
CN_Q8_MANY_AS_LOOP(cn_mxfp4_ggml_q8_dot_many_avx2, cn_mxfp4_ggml_q8_dot_ref, cn_q8_32x8)
CN_Q8_MXFP4_MANY_AS_LOOP(cn_mxfp4_q8_dot_many_avx2)

#endif
