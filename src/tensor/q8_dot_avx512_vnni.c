/* AVX-512 VNNI forms of the integer dots of q8_activations.h (issue 4: "AVX-512/VNNI paths where
 * practical"), for the default quantisation policy's formats, Q8_0 (dense) and Q4_K (experts),
 * and the native checkpoints' expert format, MXFP4 (both layouts).
 * 256-bit EVEX instructions only (avx512vl): on Zen 4 a 512-bit operation is two 256-bit ones,
 * and the blocks are 32 codes wide, so ZMM registers would only add shuffles.
 *
 * VPDPBUSD (_mm256_dpbusd_epi32) adds four unsigned-by-signed int8 products into each int32 lane
 * and never saturates; VPDPWSSD (_mm256_dpwssd_epi32) adds two int16 products likewise. Both are
 * exact integer arithmetic, so the sums equal the AVX2 kernels' (maddubs + madd + add, whose pairs
 * never reach int16 saturation: q8_dot_avx2.c) and the reference's, in any order; the f32 steps are
 * the reference's, operation for operation and not contracted, so every result is
 * cn_q*_q8_dot_ref's bits (tests/test_q8_activations.c, test_q8_many_tokens.c).
 *
 * The other formats have no kernel here yet: under CN_Q8_AVX512_VNNI they take the AVX2 kernels
 * (cn_q8_dot), and so do the quantisers and the many-token kernels but MXFP4's (q8_dot_many.c). A CPU without
 * AVX-512 VNNI never runs these (cn_q8_kernel_available), and the tests say they skipped them. */
#include "tensor/q8_activations.h"
#include "tensor/q8_dot_many.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>
#include <string.h>

#include "base/cpu_features.h"
#include "tensor/q8_avx2_parts.h"
#include "tensor/row_dot_avx2.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define KERNEL __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* AVX-512 F/BW/VL/VNNI with the ZMM state saved (base/cpu_features.h), besides the AVX2+FMA+F16C
 * the quantisers and the other formats take. */
bool cn_q8_has_avx512_vnni(void) { return cn_cpu_features_get()->avx512vnni; }

/* AVX-512 VBMI as well (Ice Lake, Zen 4 and later; not Skylake-X or Cascade Lake), which the
 * MXFP4 kernels below use besides VNNI. */
static bool has_avx512_vbmi(void) { return cn_cpu_features_get()->avx512vbmi; }

/* Q4_K. Per pair j of groups (2j: the low nibbles of 32 code bytes, 2j + 1: the high ones),
 * dpbusd gives eight int32 lanes of four products each, |·| ≤ 4·15·127 = 7620, so packs_epi32
 * moves both groups' lanes into one int16 vector without saturating (per 128-bit lane: four of
 * group 2j, then four of 2j + 1), and one dpwssd multiplies them by their groups' 6-bit scales
 * and adds the pairs into the block's int32 sum. That is 2 dpbusd + packs + shuffle + dpwssd per
 * pair of groups, against AVX2's 2 maddubs + 2 madd + 2 shuffles + 2 adds. */
KERNEL float cn_q4_k_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    /* int16 lanes 0..3 and 8..11: scale 2j; 4..7 and 12..15: scale 2j + 1 (from sc16's lanes) */
    const __m256i pair_mask[4] = {
        _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3),
        _mm256_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7),
        _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11,
                         10, 11),
        _mm256_setr_epi8(12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15,
                         14, 15, 14, 15, 14, 15)};
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 144 * b;
        const cn_q8_block *xb = x + b;
        uint64_t sc8, m8;
        k4_scales_mins(blk + 4, &sc8, &m8);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16 + 32 * j));
            const __m256i lo = _mm256_and_si256(q, low_mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
            const __m256i x_lo = _mm256_loadu_si256((const __m256i *)(const void *)(xb->q + 64 * j));
            const __m256i x_hi = _mm256_loadu_si256((const __m256i *)(const void *)(xb->q + 64 * j + 32));
            const __m256i both = _mm256_packs_epi32(_mm256_dpbusd_epi32(zero, lo, x_lo), _mm256_dpbusd_epi32(zero, hi, x_hi));
            sumi = _mm256_dpwssd_epi32(sumi, both, _mm256_shuffle_epi8(sc16, pair_mask[j]));
        }
        acc = acc + k4_block_value(blk, xb, m8, sumi);
    }
    return acc;
}

/* Q8_0: a block's exact sumi as eight int32 partials, dpbusd(|w|, x·sign(w)) (|w| ≤ 128 as an
 * unsigned byte, x·sign(w) within ±127), replacing q8_0_partials' maddubs + madd. */
KERNEL static inline __m256i q8_0_partials_vnni(const uint8_t *w, const int8_t *x) {
    const __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)w);
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)x);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
}

/* The f16 scale of block k (34 bytes apart from blk) in int16 lane k, for k < count (0 past it).
 * Inserted one by one: eight 2-byte stores read back as one 16-byte load (AVX2's q8_0_eight_blocks)
 * cannot be forwarded from the store buffer and stall the load. */
KERNEL __attribute__((always_inline)) static inline __m128i q8_0_scales(const uint8_t *blk, int count) {
    __m128i d = _mm_setzero_si128();
    uint16_t h;
#define SCALE(k)                                                                                                 \
    if ((k) < count) memcpy(&h, blk + 34 * (k), 2), d = _mm_insert_epi16(d, h, (k))
    SCALE(0);
    SCALE(1);
    SCALE(2);
    SCALE(3);
    SCALE(4);
    SCALE(5);
    SCALE(6);
    SCALE(7);
#undef SCALE
    return d;
}

/* (dw·dx)·sumi for the first `count` of eight blocks starting at blk (the rest zero), as
 * q8_dot_avx2.c's q8_0_eight_blocks; inlined with count 8 in the main loop. */
KERNEL __attribute__((always_inline)) static inline __m256 q8_0_eight_blocks(const uint8_t *blk, const cn_q8_32x8 *xr, int count) {
    __m256i s[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) s[k] = k < count ? q8_0_partials_vnni(blk + 34 * k + 2, xr->q + 32 * k) : _mm256_setzero_si256();
    const __m256 dw = _mm256_cvtph_ps(q8_0_scales(blk, count));
    const __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(xr->d));
    return _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sum_each8(s)));
}

KERNEL float cn_q8_0_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    __m256 lanes = _mm256_setzero_ps();
    int64_t r = 0;
    for (; 8 * r + 8 <= blocks; r++) lanes = _mm256_add_ps(lanes, q8_0_eight_blocks(row + 34 * 8 * r, x + r, 8));
    if (8 * r < blocks) { /* the last blocks go to lanes 0..count-1 only: the others are not added to */
        const int count = (int)(blocks - 8 * r);
        const __m256 t = q8_0_eight_blocks(row + 34 * 8 * r, x + r, count);
        lanes = _mm256_mask_add_ps(lanes, (__mmask8)((1u << count) - 1u), lanes, t);
    }
    return total_of_lanes(lanes);
}

/* MXFP4, both layouts, where the CPU also has AVX-512 VBMI (elsewhere the entry points below run
 * the AVX2 kernels, the same bits): MXFP4_KERNEL, so VBMI instructions appear in these functions
 * only. The codes are looked up by vpermb, which indexes a 32-byte table with the low 5 bits of
 * each byte: the 16 values twice (mxfp4_offset_lut) make bit 4 (the other nibble's lowest bit) not
 * matter, so no AND is needed (DeepSeek's pairs: the bytes, then the bytes shifted right by 4 as
 * 16-bit lanes, whose bits 4..7 come from the next byte; ggml's blocks the same), two fewer
 * operations per pair than mxfp4_pairs_codes2 / mxfp4_ggml_codes2 (measured 16.7 -> 17.4 GB/s,
 * ggml 16.5 -> 17.7). Then q8_avx2_parts.h's pairs of blocks (both blocks in one vector, the
 * activations loaded to match), each half's products
 * dpbusd(u, x) of the offset codes (mxfp4_offset_lut, u = w2 + 12, unsigned: no abs or sign)
 * chained into one int32 vector (lanes 0..3: A's sums of four products, 4..7: B's), replacing
 * the AVX2 kernel's 2 maddubs + add and its widening madd; mxfp4_take_offset removes 12·Σx.
 * Three 32-bit horizontal adds leave blocks 0, 2, 4, 6 in the lower half and 1, 3, 5, 7 in the
 * upper, and one permutation puts block k in lane k; the halved scales and the f32 steps are the
 * AVX2 kernel's. */
#define MXFP4_KERNEL __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

/* DeepSeek's pairs of A (16 bytes at p) and B (the next 16; not read, its codes 0, unless both),
 * as mxfp4_pairs_codes2. */
MXFP4_KERNEL static inline mxfp4_pair mxfp4_pairs_codes_vbmi(const uint8_t *p, bool both, __m256i lut) {
    const __m256i q = both ? _mm256_loadu_si256((const __m256i *)(const void *)p)
                           : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256i even = _mm256_permutexvar_epi8(q, lut), odd = _mm256_permutexvar_epi8(_mm256_srli_epi16(q, 4), lut);
    return (mxfp4_pair){_mm256_unpacklo_epi8(even, odd), _mm256_unpackhi_epi8(even, odd)};
}

/* ggml's blocks A (16 code bytes at a) and B (at a + 17; not read, its codes 0, unless both), as
 * mxfp4_ggml_codes2. */
MXFP4_KERNEL static inline mxfp4_pair mxfp4_ggml_codes_vbmi(const uint8_t *a, bool both, __m256i lut) {
    const __m128i qa = _mm_loadu_si128((const __m128i *)(const void *)a);
    const __m256i q = both ? _mm256_inserti128_si256(_mm256_castsi128_si256(qa), _mm_loadu_si128((const __m128i *)(const void *)(a + 17)), 1)
                           : _mm256_zextsi128_si256(qa);
    return (mxfp4_pair){_mm256_permutexvar_epi8(q, lut), _mm256_permutexvar_epi8(_mm256_srli_epi16(q, 4), lut)};
}

/* dpbusd(u, x) of the offset codes (mxfp4_offset_lut) on both halves, chained: int32 lanes 0..3
 * are sums of eight of A's products, 4..7 of B's. */
MXFP4_KERNEL static inline __m256i mxfp4_offset_dots(mxfp4_pair u, mxfp4_pair x) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u.lo, x.lo), u.hi, x.hi);
}

MXFP4_KERNEL static inline __m256i mxfp4_record_sums_vnni(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* q8_avx2_parts.h's step with vpermb lookups and dpbusd. */
MXFP4_KERNEL __attribute__((always_inline)) static inline __m256 mxfp4_eight_blocks_vnni(const uint8_t *p, const uint8_t *scales,
                                                                                    const cn_q8_32x8 *xr, int count, bool ggml) {
    MXFP4_EIGHT_BLOCKS_BODY(mxfp4_pairs_codes_vbmi, mxfp4_ggml_codes_vbmi, mxfp4_offset_dots, mxfp4_record_sums_vnni);
}

MXFP4_KERNEL __attribute__((always_inline)) static inline float mxfp4_dot_vnni(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x,
                                                                         int64_t n, bool ggml) {
    const int64_t blocks = n / 32, record_bytes = ggml ? 17 * 8 : 16 * 8;
    __m256 lanes = _mm256_setzero_ps();
    int64_t r = 0;
    for (; 8 * r + 8 <= blocks; r++)
        lanes = _mm256_add_ps(lanes, mxfp4_eight_blocks_vnni(row + record_bytes * r, ggml ? NULL : row_scales + 8 * r, x + r, 8, ggml));
    if (8 * r < blocks) { /* the last blocks go to lanes 0..count-1 only: the others are not added to */
        const int count = (int)(blocks - 8 * r);
        const __m256 t = mxfp4_eight_blocks_vnni(row + record_bytes * r, ggml ? NULL : row_scales + 8 * r, x + r, count, ggml);
        lanes = _mm256_mask_add_ps(lanes, (__mmask8)((1u << count) - 1u), lanes, t);
    }
    return total_of_lanes(lanes);
}

MXFP4_KERNEL static float mxfp4_q8_dot_vbmi(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return mxfp4_dot_vnni(row, row_scales, x, n, false);
}

MXFP4_KERNEL static float mxfp4_ggml_q8_dot_vbmi(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    return mxfp4_dot_vnni(row, NULL, x, n, true);
}

float cn_mxfp4_q8_dot_avx512_vnni(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return has_avx512_vbmi() ? mxfp4_q8_dot_vbmi(row, row_scales, x, n) : cn_mxfp4_q8_dot_avx2(row, row_scales, x, n);
}

float cn_mxfp4_ggml_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    return has_avx512_vbmi() ? mxfp4_ggml_q8_dot_vbmi(row, x, n) : cn_mxfp4_ggml_q8_dot_avx2(row, x, n);
}

/* Several tokens (q8_dot_many.h): per record each pair's codes are looked up offset once, then
 * every token's activations meet them as in the one-token kernel (mxfp4_offset_dots), pairs
 * 0, 1 and 2, 3 folded by a 32-bit horizontal add as they come (the EVEX encoding's 32 vector
 * registers hold them); the halved scales are built once per record, and lane k of token i takes
 * (half·dx)·sumi, lanes summed as the reference does, so each token gets cn_q8_dot's bits. */
MXFP4_KERNEL __attribute__((always_inline)) static inline void mxfp4_many_vnni(const uint8_t *row, const uint8_t *row_scales, const void *xq,
                                                                          size_t stride, int count, int64_t n, bool ggml, float *out) {
    const int64_t blocks = n / 32;
    const cn_q8_32x8 *x[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) x[i] = CN_Q8_TOKEN_AT(cn_q8_32x8, xq, stride, i, count);
    __m256 lanes[CN_Q8_MANY_MAX];
    for (int i = 0; i < CN_Q8_MANY_MAX; i++) lanes[i] = _mm256_setzero_ps();
    const __m256i lut = mxfp4_offset_lut();
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int used = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        const uint8_t *rec = row + (ggml ? 17 : 16) * 8 * r;
        __m256i prev[CN_Q8_MANY_MAX], fold[CN_Q8_MANY_MAX][2]; /* token i: pair 2m's sums; pairs 2m, 2m + 1 folded */
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            mxfp4_pair u = {_mm256_setzero_si256(), _mm256_setzero_si256()}; /* blocks past the end: zero sums */
            if (2 * j < used) {
                const bool both = 2 * j + 1 < used;
                u = ggml ? mxfp4_ggml_codes_vbmi(rec + 34 * j + 1, both, lut) : mxfp4_pairs_codes_vbmi(rec + 32 * j, both, lut);
            }
#pragma GCC unroll 4
            for (int i = 0; i < count; i++) {
                const __m256i s = mxfp4_offset_dots(u, mxfp4_x_pair(x[i][r].q + 64 * j));
                if (j % 2 == 0) prev[i] = s;
                else fold[i][j / 2] = _mm256_hadd_epi32(prev[i], s);
            }
        }
        const __m256 half = mxfp4_record_halves(mxfp4_scale_bytes(rec, ggml ? NULL : row_scales + 8 * r, used, ggml), ggml);
#pragma GCC unroll 4
        for (int i = 0; i < count; i++) {
            const __m256i h = _mm256_hadd_epi32(fold[i][0], fold[i][1]);
            const __m256i sumi = mxfp4_take_offset(_mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)), &x[i][r]);
            const __m256 scale = _mm256_mul_ps(half, _mm256_loadu_ps(x[i][r].d));
            const __m256 t = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sumi));
            lanes[i] = used == 8 ? _mm256_add_ps(lanes[i], t) : _mm256_mask_add_ps(lanes[i], (__mmask8)((1u << used) - 1u), lanes[i], t);
        }
    }
    for (int i = 0; i < count; i++) out[i] = total_of_lanes(lanes[i]);
}

MXFP4_KERNEL static void mxfp4_many_vbmi(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                                          int64_t n, bool ggml, float *out) {
#define CALL_GGML(c) mxfp4_many_vnni(row, NULL, xq, xq_stride, (c), n, true, out)
#define CALL_PAIRS(c) mxfp4_many_vnni(row, row_scales, xq, xq_stride, (c), n, false, out)
    if (ggml) {
        CN_Q8_MANY_BY_COUNT(CALL_GGML)
    } else {
        CN_Q8_MANY_BY_COUNT(CALL_PAIRS)
    }
#undef CALL_GGML
#undef CALL_PAIRS
}

void cn_mxfp4_q8_dot_many_avx512_vnni(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                                      int64_t n, float *out) {
    if (has_avx512_vbmi()) mxfp4_many_vbmi(row, row_scales, xq, xq_stride, n_tokens, n, false, out);
    else cn_mxfp4_q8_dot_many_avx2(row, row_scales, xq, xq_stride, n_tokens, n, out);
}

void cn_mxfp4_ggml_q8_dot_many_avx512_vnni(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
    if (has_avx512_vbmi()) mxfp4_many_vbmi(row, NULL, xq, xq_stride, n_tokens, n, true, out);
    else cn_mxfp4_ggml_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out);
}

#else

bool cn_q8_has_avx512_vnni(void) { return false; }
float cn_q4_k_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q4_k_q8_dot_ref(row, x, n); }
float cn_q8_0_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_q8_0_q8_dot_ref(row, x, n); }
float cn_mxfp4_q8_dot_avx512_vnni(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return cn_mxfp4_q8_dot_ref(row, row_scales, x, n);
}
float cn_mxfp4_ggml_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_mxfp4_ggml_q8_dot_ref(row, x, n); }
CN_Q8_MANY_AS_LOOP(cn_mxfp4_ggml_q8_dot_many_avx512_vnni, cn_mxfp4_ggml_q8_dot_ref, cn_q8_32x8)
CN_Q8_MXFP4_MANY_AS_LOOP(cn_mxfp4_q8_dot_many_avx512_vnni)

#endif
