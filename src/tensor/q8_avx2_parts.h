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

/* The 8 x 8 matrix of 32-bit lanes transposed in place: afterwards r[m] lane k = the old r[k]
 * lane m (the GEMM tiles' rearrangement, q8_0_tiles.h and q4_k_tiles.h: lane k holds block or
 * group k). Unrolled (as the callers' loops over r must be): GCC at -O2 keeps the loops and r, t,
 * u on the stack otherwise. */
Q8_AVX2_KERNEL static inline void transpose_8x8_epi32(__m256i r[8]) {
    __m256i t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) { /* rows 4h .. 4h + 3: u[4h + c] holds columns c and c + 4 */
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

/* Lane k = the sum of the eight lanes of s[k]. */
Q8_AVX2_KERNEL static inline __m256i sum_each8(const __m256i s[8]) {
    const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

/* MXFP4 (both layouts), two blocks of a record at a time (blocks 2j and 2j + 1: A and B). The
 * codes are looked up by one byte shuffle as their doubled values plus 12 (mxfp4_offset_lut)
 * into two vectors that hold both blocks, lo = [A 0..15 | B 0..15] and hi = [A 16..31 |
 * B 16..31] (128-bit halves), and the activations are loaded in the same arrangement, so one
 * product vector holds A's partial sums in its lower half and B's in its upper: the reduction to
 * eight per-block sums (mxfp4_offset_record_sums) costs half of what one vector per block would.
 * Unpacking per pair: DeepSeek's bytes of pairs, and, shift, and, two shuffles, two unpacks;
 * ggml's blocks, a 128-bit insert, and, shift, and, two shuffles. The halved E8M0 scales are built
 * from their bytes with integer operations (the reference's values, bit for bit). */
/* The codes offset to be unsigned: u = w2 + 12 (0..24; w2 = 2·E2M1, code 8 is -0), so that the
 * products need no sign transfer (abs and sign: four operations per pair of blocks). Σ u·x = Σ w2·x + 12·Σ x, and the
 * activations carry Σ x per block (cn_q8_32x8.sum): mxfp4_take_offset gives back the exact sumi. */
#define MXFP4_CODE_OFFSET 12
Q8_AVX2_KERNEL static inline __m256i mxfp4_offset_lut(void) {
    return _mm256_broadcastsi128_si256(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}
Q8_AVX2_KERNEL static inline __m256i mxfp4_take_offset(__m256i sums, const cn_q8_32x8 *xr) {
    const __m256i x_sums = _mm256_loadu_si256((const __m256i *)(const void *)xr->sum);
    return _mm256_sub_epi32(sums, _mm256_mullo_epi32(x_sums, _mm256_set1_epi32(MXFP4_CODE_OFFSET)));
}

/* Two blocks' 64 values (codes or activations) as [A 0..15 | B 0..15] and [A 16..31 | B 16..31]. */
typedef struct {
    __m256i lo, hi;
} mxfp4_pair;

/* DeepSeek's pairs of A (16 bytes at p) and B (the next 16; not read, its codes 0, unless both):
 * element 2i is the low nibble of byte i, 2i + 1 the high one. The low nibbles looked up give
 * [A's even elements | B's], the high ones the odd elements; unpacking bytes 0..7 of both per
 * 128-bit half interleaves elements 0..15, bytes 8..15 elements 16..31. */
Q8_AVX2_KERNEL static inline mxfp4_pair mxfp4_pairs_codes2(const uint8_t *p, bool both, __m256i lut) {
    const __m256i q = both ? _mm256_loadu_si256((const __m256i *)(const void *)p)
                           : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i even = _mm256_shuffle_epi8(lut, _mm256_and_si256(q, mask));
    const __m256i odd = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(q, 4), mask));
    return (mxfp4_pair){_mm256_unpacklo_epi8(even, odd), _mm256_unpackhi_epi8(even, odd)};
}

/* ggml's blocks A (16 code bytes at a) and B (at a + 17; not read, its codes 0, unless both): low
 * nibbles are elements 0..15, high nibbles 16..31. */
Q8_AVX2_KERNEL static inline mxfp4_pair mxfp4_ggml_codes2(const uint8_t *a, bool both, __m256i lut) {
    const __m128i qa = _mm_loadu_si128((const __m128i *)(const void *)a);
    const __m256i q = both ? _mm256_inserti128_si256(_mm256_castsi128_si256(qa), _mm_loadu_si128((const __m128i *)(const void *)(a + 17)), 1)
                           : _mm256_zextsi128_si256(qa);
    const __m256i mask = _mm256_set1_epi8(0x0f);
    return (mxfp4_pair){_mm256_shuffle_epi8(lut, _mm256_and_si256(q, mask)),
                        _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(q, 4), mask))};
}

/* The activations of blocks A (32 at xa) and B (the next 32) arranged as the codes. */
Q8_AVX2_KERNEL static inline mxfp4_pair mxfp4_x_pair(const int8_t *xa) {
    return (mxfp4_pair){_mm256_loadu2_m128i((const __m128i *)(const void *)(xa + 32), (const __m128i *)(const void *)xa),
                        _mm256_loadu2_m128i((const __m128i *)(const void *)(xa + 48), (const __m128i *)(const void *)(xa + 16))};
}

/* maddubs(u, x) of the offset codes (mxfp4_offset_lut) on both halves, added: int16 lanes 0..7
 * are sums of four of A's products, 8..15 of B's (each at most 4·24·127 = 12192). */
Q8_AVX2_KERNEL static inline __m256i mxfp4_offset_products(mxfp4_pair u, mxfp4_pair x) {
    return _mm256_add_epi16(_mm256_maddubs_epi16(u.lo, x.lo), _mm256_maddubs_epi16(u.hi, x.hi));
}

/* Two pairs' int16 products (mxfp4_offset_products, blocks 4m..4m + 3) folded by one int16
 * horizontal add: per 128-bit half four sums per block (at most 24384), lower half blocks 4m and
 * 4m + 2, upper 4m + 1 and 4m + 3. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_fold_pairs(__m256i s0, __m256i s1) { return _mm256_hadd_epi16(s0, s1); }

/* Lane k = block k's sumi plus its offset from the two folds of a record (blocks 0..3 and 4..7):
 * a fold's int16 lane holds eight products, at most 8·24·127 = 24384 (sixteen would overflow), so
 * each fold is widened by madd with ones, one 32-bit horizontal add leaves per 128-bit half one
 * sum per block, lower half blocks 0, 2, 4, 6 and upper 1, 3, 5, 7, and one permutation puts
 * block k in lane k (mxfp4_take_offset then gives the exact sumi). */
Q8_AVX2_KERNEL static inline __m256i mxfp4_offset_record_sums(__m256i f0123, __m256i f4567) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i even_odd = _mm256_hadd_epi32(_mm256_madd_epi16(f0123, ones), _mm256_madd_epi16(f4567, ones));
    return _mm256_permutevar8x32_epi32(even_odd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* A record's four pairs' products (blocks 0..7) -> lane k = block k's sumi plus its offset. */
Q8_AVX2_KERNEL static inline __m256i mxfp4_offset_record_sums4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    return mxfp4_offset_record_sums(mxfp4_fold_pairs(s0, s1), mxfp4_fold_pairs(s2, s3));
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

/* The E8M0 bytes of eight blocks (the first count; 0 for the others), byte k block k's. DeepSeek's
 * are consecutive; ggml's are 17 bytes apart, assembled in a general register (byte loads, shifts
 * and ORs, which the vector pipes do not see). Bytes are not stored to a small array and reloaded
 * wider, which stalls store forwarding. */
Q8_AVX2_KERNEL static inline uint64_t mxfp4_scale_bytes(const uint8_t *p, const uint8_t *scales, int count, bool ggml) {
    uint64_t e = 0;
    if (ggml) {
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            if (k < count) e |= (uint64_t)p[17 * k] << (8 * k);
    } else if (count == 8) {
        memcpy(&e, scales, 8);
    } else {
        for (int k = 0; k < count; k++) e |= (uint64_t)scales[k] << (8 * k);
    }
    return e;
}

/* The halved scales of a record's eight blocks (mxfp4_scale_bytes, byte k block k's). Nearly every
 * code has the normal half (e - 1) << 23, two vector operations after the widening; the codes
 * that have not (0 and 1: subnormal halves; 255 in DeepSeek's layout: NaN) are found in the
 * general register (bytes below 2: (e - 0x02..02) & ~e & 0x80..80 is nonzero exactly when one
 * is; bytes 255: the same test for zero on ~e) and take e8m0_halves, branching once per record. */
Q8_AVX2_KERNEL static inline __m256 mxfp4_record_halves(uint64_t e8, bool ggml) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t special = (e8 - 2 * ones) & (e8 ^ highs) & highs; /* not ~e8: an and-not would be a mask-register op under AVX-512 */
    if (!ggml) special |= ((e8 ^ ~0ull) - ones) & e8 & highs;
    const __m256i e = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)e8));
    if (__builtin_expect(special != 0, 0)) return e8m0_halves(e, !ggml);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23));
}

/* The one-token step of both x86 kinds: (half·dx)·sumi for the first `count` of eight blocks of
 * record xr (the rest zero), DeepSeek's pairs at p with their scale bytes at scales, or ggml's
 * blocks at p (scales NULL). The kinds differ in how codes are looked up (PAIRS_CODES,
 * GGML_CODES: byte shuffles or VBMI's vpermb), multiplied (PRODUCTS: maddubs or dpbusd) and
 * reduced (RECORD_SUMS); inlined with count 8 in the main loop, so the four steps unroll and
 * stay in registers. */
#define MXFP4_EIGHT_BLOCKS_BODY(PAIRS_CODES, GGML_CODES, PRODUCTS, RECORD_SUMS)                                        \
    do {                                                                                                              \
        const __m256i lut = mxfp4_offset_lut();                                                                       \
        __m256i s[4];                                                                                                 \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {                                                         \
            if (2 * j < count) {                                                                                      \
                const bool both = 2 * j + 1 < count;                                                                  \
                const mxfp4_pair u = ggml ? GGML_CODES(p + 34 * j + 1, both, lut) : PAIRS_CODES(p + 32 * j, both, lut); \
                s[j] = PRODUCTS(u, mxfp4_x_pair(xr->q + 64 * j));                                                     \
            } else {                                                                                                  \
                s[j] = _mm256_setzero_si256();                                                                        \
            }                                                                                                         \
        }                                                                                                             \
        const __m256 half = mxfp4_record_halves(mxfp4_scale_bytes(p, scales, count, ggml), ggml);                     \
        const __m256i sumi = mxfp4_take_offset(RECORD_SUMS(s[0], s[1], s[2], s[3]), xr);                              \
        return _mm256_mul_ps(_mm256_mul_ps(half, _mm256_loadu_ps(xr->d)), _mm256_cvtepi32_ps(sumi));                  \
    } while (0)

#endif
