/* FP8 E4M3 rows against prepared tokens (e4m3_rows_x86.h), AVX2 and AVX-512 forms. */
#include "tensor/e4m3_rows_x86.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include "base/alloc.h"
#include "base/cpu_features.h"
#include "tensor/dot_chain_avx2.h"
#include "tensor/element.h"
#include "tensor/prefetch.h"
#include "tensor/row_dot_avx2.h"

#define KERNEL_512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw")))

bool cn_e4m3_has_avx512(void) { return cn_cpu_features_get()->avx512bw; }

bool cn_e4m3_rows_available(cn_e4m3_rows_kind kind) {
    switch (kind) {
    case CN_E4M3_ROWS_AVX2: return cn_cpu_has_avx2_fma();
    case CN_E4M3_ROWS_AVX512: return cn_e4m3_has_avx512();
    default: return false;
    }
}

/* ---- the prepared token ----
 * Group g (32 elements) of token x becomes xp[32g + p] = x[32g + 2p] · s (p < 16) and
 * x[32g + 2(p - 16) + 1] · s (p >= 16), s = 2^(e-119) for the group's E8M0 code e <= 246 (a
 * normal f32, bits (e + 8) << 23). Returns false unless every product is exact: a power-of-two
 * multiple is exact unless it lands among the subnormals or overflows, so |x·s| strictly above
 * 2^-126 (a product rounded up to 2^-126 from below is inexact) and finite, or x = ±0 (gives ±0). */
static KERNEL bool prepare_token(const float *x, const uint8_t *scales, int64_t groups, bool stride4, uint32_t offset, float *xp) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 least_normal = _mm256_set1_ps(0x1p-126f), inf = _mm256_set1_ps(__builtin_inff()), zero = _mm256_setzero_ps();
    __m256 exact = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int64_t g = 0; g < groups; g++) {
        const __m256 s = _mm256_castsi256_ps(_mm256_set1_epi32((int)((scales[g / 4] + offset) << 23)));
        const float *src = x + 32 * g;
        const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8), v2 = _mm256_loadu_ps(src + 16),
                     v3 = _mm256_loadu_ps(src + 24);
        /* shuffle_ps gives 0,2,8,10 | 4,6,12,14; the 64-bit permute (0,2,1,3) puts them in order */
        __m256 part[4] = {
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0x88)), 0xd8)),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v2, v3, 0x88)), 0xd8)),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0xdd)), 0xd8)),
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v2, v3, 0xdd)), 0xd8))};
        if (stride4) {
            /* v0..v3 as eight rows of four (two per vector, one per 128-bit half): a 4x4
             * transpose in each half gives column j as elements j, 8+j, 16+j, 24+j | 4+j, 12+j,
             * 20+j, 28+j, and a permute interleaves the halves into j, 4+j, .., 28+j */
            const __m256 t0 = _mm256_unpacklo_ps(v0, v1), t1 = _mm256_unpacklo_ps(v2, v3);
            const __m256 t2 = _mm256_unpackhi_ps(v0, v1), t3 = _mm256_unpackhi_ps(v2, v3);
            const __m256i interleave = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
            part[0] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t1, 0x44), interleave);
            part[1] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t0, t1, 0xee), interleave);
            part[2] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t2, t3, 0x44), interleave);
            part[3] = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(t2, t3, 0xee), interleave);
        }
        for (int k = 0; k < 4; k++) {
            const __m256 scaled = _mm256_mul_ps(part[k], s), a = _mm256_and_ps(scaled, abs_mask);
            const __m256 ok = _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(a, least_normal, _CMP_GT_OQ), _mm256_cmp_ps(a, inf, _CMP_LT_OQ)),
                                           _mm256_cmp_ps(part[k], zero, _CMP_EQ_OQ));
            exact = _mm256_and_ps(exact, ok);
            _mm256_storeu_ps(xp + 32 * g + 8 * k, scaled);
        }
    }
    return _mm256_movemask_ps(exact) == 0xff;
}

/* ---- one group of 32 codes as halves ----
 * In the 16-bit lane holding codes c (low byte, even element) and d (high byte, odd element), an
 * arithmetic shift right by one leaves d's sign at bit 15, a copy at 14 and d's 7 exponent and
 * mantissa bits at 7..13 (c's bits below): AND 0xbf80 makes the half of d (row_dot_avx2.c, "The
 * fast decoder"). A shift left by 8 first does the same for c. */
#define HALF_MASK 0xbf80

/* Chain lanes back in order: e_lo / e_hi hold lanes 0, 2, .., 14 / 16, .., 30, o_lo / o_hi lanes
 * 1, .., 15 / 17, .., 31; unpacks interleave them per 128-bit half (0..3 | 8..11 and 4..7 |
 * 12..15) and the 128-bit permutes join the halves. */
KERNEL_INLINE void chain_order(__m256 e_lo, __m256 e_hi, __m256 o_lo, __m256 o_hi, __m256 acc[4]) {
    const __m256 lo0 = _mm256_unpacklo_ps(e_lo, o_lo), hi0 = _mm256_unpackhi_ps(e_lo, o_lo);
    const __m256 lo1 = _mm256_unpacklo_ps(e_hi, o_hi), hi1 = _mm256_unpackhi_ps(e_hi, o_hi);
    acc[0] = _mm256_permute2f128_ps(lo0, hi0, 0x20), acc[1] = _mm256_permute2f128_ps(lo0, hi0, 0x31);
    acc[2] = _mm256_permute2f128_ps(lo1, hi1, 0x20), acc[3] = _mm256_permute2f128_ps(lo1, hi1, 0x31);
}

/* The last cols % 32 elements on the chain (row_dot_avx2.h): 8-element steps into lane group 0,
 * then the zero-padded tail, with the scalar decoder's weights and the unprepared token. */
KERNEL_INLINE void chain_rest(const uint8_t *p, const uint8_t *scales, int64_t from, int64_t cols, const float *x, __m256 *acc0) {
    float w[32] = {0}, xr[32] = {0};
    const int64_t len = cols - from;
    for (int64_t i = 0; i < len; i++) w[i] = cn_e4m3_to_f32(p[from + i]) * cn_e8m0_to_f32(scales[(from + i) / 128]);
    memcpy(xr, x + from, (size_t)len * sizeof *xr);
    for (int64_t i = 0; i < len; i += 8) *acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(xr + i), *acc0);
}

KERNEL_INLINE bool has_nan_code(__m256i max_unsigned, __m256i max_signed) {
    const __m256i nan = _mm256_or_si256(_mm256_cmpeq_epi8(max_unsigned, _mm256_set1_epi8(-1)),
                                        _mm256_cmpeq_epi8(max_signed, _mm256_set1_epi8(0x7f)));
    return _mm256_movemask_epi8(nan) != 0;
}

/* ---- AVX2: per group one load, two byte maxima (the NaN watch), five integer operations, two
 * lane extracts, four conversions and four FMAs per token ---- */
#define GROUP_AVX2(TWO)                                                                                       \
    do {                                                                                                      \
        const __m256i codes = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * g));               \
        if (g % 2 == 0) cn_prefetch_ahead(p + 32 * g); /* one per 64-byte line */                               \
        max_u = _mm256_max_epu8(max_u, codes), max_s = _mm256_max_epi8(max_s, codes);                         \
        const __m256i even = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(codes, 8), 1), mask);      \
        const __m256i odd = _mm256_and_si256(_mm256_srai_epi16(codes, 1), mask);                             \
        const __m256 w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(even)), w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(even, 1)); \
        const __m256 w2 = _mm256_cvtph_ps(_mm256_castsi256_si128(odd)), w3 = _mm256_cvtph_ps(_mm256_extracti128_si256(odd, 1)); \
        const float *t0 = xp0 + 32 * g;                                                                       \
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(t0), a0), a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(t0 + 8), a1);  \
        a2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(t0 + 16), a2), a3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(t0 + 24), a3); \
        if (TWO) {                                                                                            \
            const float *t1 = xp1 + 32 * g;                                                                   \
            b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(t1), b0), b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(t1 + 8), b1); \
            b2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(t1 + 16), b2), b3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(t1 + 24), b3); \
        }                                                                                                     \
    } while (0)

/* One row as eight 8-lane accumulators (four per token), for the AVX2 F16C form and the shift
 * form: GROUP decodes and multiplies group g with the weights masked by MASK, ORDER puts a
 * token's four accumulators back in chain order. */
#define ROW_EIGHT_ACCUMULATORS(TWO, GROUP, MASK, ORDER)                                                        \
    do {                                                                                                       \
        const __m256i mask = MASK;                                                                             \
        __m256i max_u = _mm256_setzero_si256(), max_s = _mm256_set1_epi8(-128);                               \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;          \
        _Pragma("GCC unroll 2") for (int64_t g = 0; g < groups; g++) GROUP(TWO);                              \
        if (has_nan_code(max_u, max_s)) return false;                                                          \
        __m256 acc[4];                                                                                          \
        ORDER(a0, a1, a2, a3, acc);                                                                            \
        if (32 * groups < cols) chain_rest(p, scales, 32 * groups, cols, x[0], &acc[0]);                       \
        out[0] = sum_accumulators(acc[0], acc[1], acc[2], acc[3]);                                             \
        if (TWO) {                                                                                             \
            ORDER(b0, b1, b2, b3, acc);                                                                        \
            if (32 * groups < cols) chain_rest(p, scales, 32 * groups, cols, x[1], &acc[0]);                   \
            out[1] = sum_accumulators(acc[0], acc[1], acc[2], acc[3]);                                         \
        }                                                                                                      \
    } while (0)
#define ROW_AVX2(TWO) ROW_EIGHT_ACCUMULATORS(TWO, GROUP_AVX2, _mm256_set1_epi16((short)HALF_MASK), chain_order)

/* One row; false (out untouched) if it holds a NaN code. */
static KERNEL bool row_avx2(const uint8_t *p, const uint8_t *scales, int64_t cols, const float *const *xp, const float *const *x,
                            int n_tokens, float *out) {
    const int64_t groups = cols / 32;
    const float *xp0 = xp[0], *xp1 = xp[n_tokens == 2 ? 1 : 0];
    if (n_tokens == 2) ROW_AVX2(1);
    else ROW_AVX2(0);
    return true;
}

/* ---- AVX-512: the integer work on the 32 codes of a group as before (256-bit), no extracts:
 * each 256-bit vector of 16 halves widens to one 512-bit vector of 16 f32 (chain lanes 0, 2, ..,
 * 30 or 1, .., 31), two conversions and two FMAs per token ---- */
#define GROUP_512(TWO)                                                                                        \
    do {                                                                                                      \
        const __m256i codes = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * g));               \
        if (g % 2 == 0) cn_prefetch_ahead(p + 32 * g); /* one per 64-byte line */                               \
        max_u = _mm256_max_epu8(max_u, codes), max_s = _mm256_max_epi8(max_s, codes);                         \
        const __m512 we = _mm512_cvtph_ps(_mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(codes, 8), 1), mask)); \
        const __m512 wo = _mm512_cvtph_ps(_mm256_and_si256(_mm256_srai_epi16(codes, 1), mask));             \
        ae = _mm512_fmadd_ps(we, _mm512_loadu_ps(xp0 + 32 * g), ae);                                          \
        ao = _mm512_fmadd_ps(wo, _mm512_loadu_ps(xp0 + 32 * g + 16), ao);                                     \
        if (TWO) {                                                                                            \
            be = _mm512_fmadd_ps(we, _mm512_loadu_ps(xp1 + 32 * g), be);                                      \
            bo = _mm512_fmadd_ps(wo, _mm512_loadu_ps(xp1 + 32 * g + 16), bo);                                 \
        }                                                                                                     \
    } while (0)

/* The upper 8 lanes (AVX-512F has the 64x4 extract; the 32x8 one is DQ). */
static inline __attribute__((target("avx2,fma,f16c,avx512f,avx512bw"), always_inline)) __m256 upper_eight(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

#define ROW_512(TWO)                                                                                           \
    do {                                                                                                       \
        const __m256i mask = _mm256_set1_epi16((short)HALF_MASK);                                             \
        __m256i max_u = _mm256_setzero_si256(), max_s = _mm256_set1_epi8(-128);                               \
        __m512 ae = _mm512_setzero_ps(), ao = ae, be = ae, bo = ae;                                            \
        _Pragma("GCC unroll 2") for (int64_t g = 0; g < groups; g++) GROUP_512(TWO);                          \
        if (has_nan_code(max_u, max_s)) return false;                                                          \
        __m256 acc[4];                                                                                          \
        chain_order(_mm512_castps512_ps256(ae), upper_eight(ae), _mm512_castps512_ps256(ao),       \
                    upper_eight(ao), acc);                                                        \
        if (32 * groups < cols) chain_rest(p, scales, 32 * groups, cols, x[0], &acc[0]);                       \
        out[0] = sum_accumulators(acc[0], acc[1], acc[2], acc[3]);                                             \
        if (TWO) {                                                                                             \
            chain_order(_mm512_castps512_ps256(be), upper_eight(be), _mm512_castps512_ps256(bo),   \
                        upper_eight(bo), acc);                                                    \
            if (32 * groups < cols) chain_rest(p, scales, 32 * groups, cols, x[1], &acc[0]);                   \
            out[1] = sum_accumulators(acc[0], acc[1], acc[2], acc[3]);                                         \
        }                                                                                                      \
    } while (0)

static KERNEL_512 bool row_512(const uint8_t *p, const uint8_t *scales, int64_t cols, const float *const *xp, const float *const *x,
                               int n_tokens, float *out) {
    const int64_t groups = cols / 32;
    const float *xp0 = xp[0], *xp1 = xp[n_tokens == 2 ? 1 : 0];
    if (n_tokens == 2) ROW_512(1);
    else ROW_512(0);
    return true;
}

/* ---- the shift form (any x86 kind): no conversion. A code's sign and 7 exponent/mantissa bits at
 * f32 bit positions 31 and 20..26 read as an f32 2^120 times smaller than the code's value, for
 * normal and subnormal codes alike (exponent 0 becomes an f32 subnormal with the same mantissa;
 * row_dot_avx2.c, "General decoder"); the token is prepared with 2^(e-7), a normal f32 for
 * e <= 134, so fma(w', x·2^(e-7)) = fma(w, x) as above. In a 32-bit lane holding four codes,
 * a 16-bit arithmetic shift right by 4 puts codes 1 and 3 (sign-filled) at bits 4..11 and 20..27,
 * so AND 0x87f00000 gives code 3's f32 and a 32-bit shift left by 16 first gives code 1's; a
 * 16-bit shift left by 8 first does the same for codes 0 and 2. The four vectors hold elements
 * j, 4+j, .., 28+j (the prepared token's stride-4 order). Per group: one load, 2 byte max (NaN
 * watch), 5 shifts, 4 ANDs and 4 FMAs per token. The subnormal f32 weights go through FMAs only, which take them
 * at full speed here (the slow path measured in performance.md was a multiply). ---- */
#define GROUP_SHIFT(TWO)                                                                                      \
    do {                                                                                                      \
        const __m256i codes = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * g));               \
        if (g % 2 == 0) cn_prefetch_ahead(p + 32 * g); /* one per 64-byte line */                               \
        max_u = _mm256_max_epu8(max_u, codes), max_s = _mm256_max_epi8(max_s, codes);                         \
        const __m256i odd = _mm256_srai_epi16(codes, 4), even = _mm256_srai_epi16(_mm256_slli_epi16(codes, 8), 4);  \
        const __m256 w3 = _mm256_castsi256_ps(_mm256_and_si256(odd, mask));                                  \
        const __m256 w1 = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(odd, 16), mask));           \
        const __m256 w2 = _mm256_castsi256_ps(_mm256_and_si256(even, mask));                                 \
        const __m256 w0 = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(even, 16), mask));          \
        const float *t0 = xp0 + 32 * g;                                                                       \
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(t0), a0), a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(t0 + 8), a1);  \
        a2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(t0 + 16), a2), a3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(t0 + 24), a3); \
        if (TWO) {                                                                                            \
            const float *t1 = xp1 + 32 * g;                                                                   \
            b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(t1), b0), b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(t1 + 8), b1); \
            b2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(t1 + 16), b2), b3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(t1 + 24), b3); \
        }                                                                                                     \
    } while (0)

/* Stride-4 lanes back in chain order: a_j holds lanes j, 4+j, .., 28+j. In each 128-bit half a
 * 4x4 transpose gives lanes 0..3 | 16..19, 4..7 | 20..23, 8..11 | 24..27, 12..15 | 28..31, and
 * the 128-bit permutes join them. */
KERNEL_INLINE void chain_order_stride4(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 acc[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpacklo_ps(a2, a3);
    const __m256 t2 = _mm256_unpackhi_ps(a0, a1), t3 = _mm256_unpackhi_ps(a2, a3);
    const __m256 u0 = _mm256_shuffle_ps(t0, t1, 0x44), u1 = _mm256_shuffle_ps(t0, t1, 0xee);
    const __m256 u2 = _mm256_shuffle_ps(t2, t3, 0x44), u3 = _mm256_shuffle_ps(t2, t3, 0xee);
    acc[0] = _mm256_permute2f128_ps(u0, u1, 0x20), acc[1] = _mm256_permute2f128_ps(u2, u3, 0x20);
    acc[2] = _mm256_permute2f128_ps(u0, u1, 0x31), acc[3] = _mm256_permute2f128_ps(u2, u3, 0x31);
}

#define ROW_SHIFT(TWO) ROW_EIGHT_ACCUMULATORS(TWO, GROUP_SHIFT, _mm256_set1_epi32((int)0x87f00000), chain_order_stride4)

static KERNEL bool row_shift(const uint8_t *p, const uint8_t *scales, int64_t cols, const float *const *xp, const float *const *x,
                             int n_tokens, float *out) {
    const int64_t groups = cols / 32;
    const float *xp0 = xp[0], *xp1 = xp[n_tokens == 2 ? 1 : 0];
    if (n_tokens == 2) ROW_SHIFT(1);
    else ROW_SHIFT(0);
    return true;
}

/* ---- rows ---- */
#define MIN_PREPARED_ROWS 8

void cn_e4m3_rows_dot(cn_e4m3_rows_kind kind, const cn_matrix *m, int64_t row_begin, int64_t row_end, const float *const *x,
                      int n_tokens, float *const *y) {
    const int64_t groups = m->cols / 32;
    float *xp_store = groups > 0 ? cn_scratch_alloc((size_t)(2 * 32 * groups) * sizeof(float)) : NULL;
    const float *xp[2] = {xp_store, xp_store ? xp_store + 32 * groups : NULL};
    for (int64_t r0 = row_begin; r0 < row_end;) {
        /* the rows of this call that share a scale row */
        const int64_t scale_row = (m->scale_row0 + r0) / 128;
        int64_t r1 = (scale_row + 1) * 128 - m->scale_row0;
        if (r1 > row_end) r1 = row_end;
        const uint8_t *scales = m->scales + (size_t)scale_row * (size_t)m->scale_cols;
        /* preparing costs about as much as decoding three rows, and saves about a third of a row
         * per row: runs of fewer than MIN_PREPARED_ROWS rows take cn_row_dot_avx2 */
        const bool worth = groups > 0 && r1 - r0 >= MIN_PREPARED_ROWS;
        uint8_t max_scale = 0;
        for (int64_t b = 0; worth && b < (groups + 3) / 4; b++) max_scale = scales[b] > max_scale ? scales[b] : max_scale;
        /* the shift form where the scales and the token allow it, else the F16C form of this kind */
        bool shift = worth && max_scale <= 134, prepared;
        for (int t = 0; shift && t < n_tokens; t++) shift = prepare_token(x[t], scales, groups, true, 120, xp_store + t * 32 * groups);
        prepared = shift || (worth && max_scale <= 246);
        for (int t = 0; !shift && prepared && t < n_tokens; t++)
            prepared = prepare_token(x[t], scales, groups, false, 8, xp_store + t * 32 * groups);
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *p = m->data + (size_t)r * m->row_bytes;
            float out[2];
            const bool done = prepared && (shift ? row_shift : kind == CN_E4M3_ROWS_AVX512 ? row_512 : row_avx2)(p, scales, m->cols, xp, x,
                                                                                                        n_tokens, out);
            if (!done) cn_row_dot_avx2(m, r, x, n_tokens, out);
            for (int t = 0; t < n_tokens; t++) y[t][r - row_begin] = out[t];
        }
        r0 = r1;
    }
    free(xp_store);
}

#else

bool cn_e4m3_has_avx512(void) { return false; }
bool cn_e4m3_rows_available(cn_e4m3_rows_kind kind) {
    (void)kind;
    return false;
}
void cn_e4m3_rows_dot(cn_e4m3_rows_kind kind, const cn_matrix *m, int64_t row_begin, int64_t row_end, const float *const *x,
                      int n_tokens, float *const *y) {
    (void)kind, (void)m, (void)row_begin, (void)row_end, (void)x, (void)n_tokens, (void)y;
}

#endif

const char *cn_e4m3_rows_name(cn_e4m3_rows_kind kind) {
    switch (kind) {
    case CN_E4M3_ROWS_AVX2: return "avx2";
    case CN_E4M3_ROWS_AVX512: return "avx512";
    default: return "none";
    }
}

/* The choice, made once per process from the CPU and the environment it started with. */
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static cn_e4m3_rows_kind best_kind;
static void best_read_once(void) {
    const char *forced = getenv("CLAWNET_E4M3_KERNEL");
    static const cn_e4m3_rows_kind kinds[] = {CN_E4M3_ROWS_AVX2, CN_E4M3_ROWS_AVX512};
    for (size_t i = 0; forced && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(forced, cn_e4m3_rows_name(kinds[i])) && cn_e4m3_rows_available(kinds[i])) {
            best_kind = kinds[i];
            return;
        }
    best_kind = cn_e4m3_rows_available(CN_E4M3_ROWS_AVX512) ? CN_E4M3_ROWS_AVX512
                : cn_e4m3_rows_available(CN_E4M3_ROWS_AVX2) ? CN_E4M3_ROWS_AVX2
                                                             : CN_E4M3_ROWS_NONE;
}

cn_e4m3_rows_kind cn_e4m3_rows_best(void) {
    pthread_once(&best_once, best_read_once);
    return best_kind;
}
