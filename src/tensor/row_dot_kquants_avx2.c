#include "tensor/row_dot_kquants_avx2.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <string.h>

#include "tensor/dot_chain_avx2.h"
#include "tensor/element.h"
#include "tensor/kquant_block_scales.h"
#include "tensor/kquants.h"

/* The scalar scale products here must round as kquants.c's do (no FMA contraction; the
 * intrinsics are separate operations in any case). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Every value below is the scalar reference's (kquants.c) operation for operation: the block's
 * f16 scales widen exactly (F16C), the per-group scale products are the same f32 products, a
 * small integer converts exactly, and the last multiply (and, for the formats with a min, the
 * separate subtract) is the same IEEE operation on eight lanes. Layouts: kquants.c. */

KERNEL_INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

KERNEL_INLINE __m256i load32(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* Bytes shifted right by `count` bits (16-bit shift; callers mask off what crossed a byte). */
KERNEL_INLINE __m256i bytes_srl(__m256i v, int count) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(count)); }

/* 32 signed (or unsigned) bytes in element order, as four groups of eight int32 -> f32. */
KERNEL_INLINE __m256 i8_to_f32(__m128i eight) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight)); }
KERNEL_INLINE __m256 u8_to_f32(__m128i eight) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(eight)); }

/* v[0..1] (elements 0..15) times s0, v[2..3] times s1; with a min, minus m0 / m1 afterwards. */
KERNEL_INLINE weights32 signed_times(__m256i q, float s0, float s1) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m256 a = _mm256_set1_ps(s0), b = _mm256_set1_ps(s1);
    const weights32 w = {{_mm256_mul_ps(i8_to_f32(lo), a), _mm256_mul_ps(i8_to_f32(_mm_srli_si128(lo, 8)), a),
                          _mm256_mul_ps(i8_to_f32(hi), b), _mm256_mul_ps(i8_to_f32(_mm_srli_si128(hi, 8)), b)}};
    return w;
}
KERNEL_INLINE weights32 unsigned_times_minus(__m256i q, float s0, float m0, float s1, float m1) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m256 a = _mm256_set1_ps(s0), b = _mm256_set1_ps(s1), ma = _mm256_set1_ps(m0), mb = _mm256_set1_ps(m1);
    const weights32 w = {{_mm256_sub_ps(_mm256_mul_ps(a, u8_to_f32(lo)), ma),
                          _mm256_sub_ps(_mm256_mul_ps(a, u8_to_f32(_mm_srli_si128(lo, 8))), ma),
                          _mm256_sub_ps(_mm256_mul_ps(b, u8_to_f32(hi)), mb),
                          _mm256_sub_ps(_mm256_mul_ps(b, u8_to_f32(_mm_srli_si128(hi, 8))), mb)}};
    return w;
}

/* ---- Q4_K / Q5_K: one 6-bit scale and min per group of 32 (kquant_block_scales.h) ---- */
KERNEL_INLINE void k4_prepare(const uint8_t *b, k4_block *s) { k4_block_scales(b, f16_at(b), f16_at(b + 2), s); }
#define q4_k_prepare k4_prepare
#define q5_k_prepare k4_prepare

/* Nibbles of bytes 16 + 32·(g/2): low for even g, high for odd. */
KERNEL_INLINE weights32 q4_k_group(const uint8_t *b, const k4_block *s, int g) {
    const __m256i q = _mm256_and_si256(bytes_srl(load32(b + 16 + 32 * (g / 2)), 4 * (g & 1)), _mm256_set1_epi8(0x0f));
    return unsigned_times_minus(q, s->d[g], s->m[g], s->d[g], s->m[g]);
}

/* As Q4_K (nibbles at 48 + 32·(g/2)), plus bit g of qh[l] (bytes 16..47) as the fifth bit. */
KERNEL_INLINE weights32 q5_k_group(const uint8_t *b, const k4_block *s, int g) {
    const __m256i mask1 = _mm256_set1_epi8(1), mask4 = _mm256_set1_epi8(0x0f);
    const __m256i low = _mm256_and_si256(bytes_srl(load32(b + 48 + 32 * (g / 2)), 4 * (g & 1)), mask4);
    const __m256i high = _mm256_and_si256(bytes_srl(load32(b + 16), g), mask1);
    const __m256i q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
    return unsigned_times_minus(q, s->d[g], s->m[g], s->d[g], s->m[g]);
}

/* ---- Q6_K: 16 int8 scales (one per 16 elements) times the f16 d at 208 ---- */
KERNEL_INLINE void q6_k_prepare(const uint8_t *b, q6_k_block *s) { q6_k_block_scales(b, f16_at(b + 208), s); }

/* Half h = g/4 of the block, k = g%4: low (k < 2) or high nibble of ql[64h + 32(k&1) + l],
 * bits 2k, 2k+1 of qh[32h + l] above them, minus 32. */
KERNEL_INLINE weights32 q6_k_group(const uint8_t *b, const q6_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const __m256i low = _mm256_and_si256(bytes_srl(load32(b + 64 * h + 32 * (k & 1)), k >= 2 ? 4 : 0), _mm256_set1_epi8(0x0f));
    const __m256i high = _mm256_and_si256(bytes_srl(load32(b + 128 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
    return signed_times(q, s->ds[2 * g], s->ds[2 * g + 1]);
}

/* ---- Q3_K: sixteen 6-bit scales biased by 32, times the f16 d at 108 ---- */
KERNEL_INLINE void q3_k_prepare(const uint8_t *b, q3_k_block *s) { q3_k_block_scales(b, f16_at(b + 108), s); }

/* g = 4h + k: bits 2k, 2k+1 of qs[32h + l] (bytes 32..95); a clear bit g of hmask[l] (bytes
 * 0..31) subtracts 4, i.e. the value is q2 + 4·bit − 4. */
KERNEL_INLINE weights32 q3_k_group(const uint8_t *b, const q3_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const __m256i q2 = _mm256_and_si256(bytes_srl(load32(b + 32 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    const __m256i bit = _mm256_and_si256(bytes_srl(load32(b), g), _mm256_set1_epi8(1));
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(q2, _mm256_slli_epi16(bit, 2)), _mm256_set1_epi8(4));
    return signed_times(q, s->dl[2 * g], s->dl[2 * g + 1]);
}

/* ---- Q2_K: per 16 elements a 4-bit scale (low nibble) and min (high nibble) ---- */
KERNEL_INLINE void q2_k_prepare(const uint8_t *b, q2_k_block *s) { q2_k_block_scales(b, f16_at(b + 80), f16_at(b + 82), s); }

/* g = 4h + k: bits 2k, 2k+1 of qs[32h + l] (bytes 16..79). */
KERNEL_INLINE weights32 q2_k_group(const uint8_t *b, const q2_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const __m256i q = _mm256_and_si256(bytes_srl(load32(b + 16 + 32 * h), 2 * k), _mm256_set1_epi8(3));
    return unsigned_times_minus(q, s->dl[2 * g], s->ml[2 * g], s->dl[2 * g + 1], s->ml[2 * g + 1]);
}

/* ---- IQ2_XXS: f16 d, then per group four grid indices and a u32 of four 7-bit sign indices
 * and a 4-bit scale. Element e of the group is magnitude field e%8 of grid row q[e/8] (2 bits
 * each, {8, 25, 43}), negated by bit e%8 of sign byte e/8, times ((d·(0.5 + s))·0.25). ---- */
KERNEL_INLINE void iq2_xxs_prepare(const uint8_t *b, iq2_xxs_block *s) { s->d = f16_at(b); }

KERNEL_INLINE weights32 iq2_xxs_group(const uint8_t *b, const iq2_xxs_block *s, int g) {
    const uint8_t *q = b + 2 + 8 * g;
    uint32_t aux1;
    memcpy(&aux1, q + 4, 4);
    const float db = s->d * (0.5f + (float)(aux1 >> 28)) * 0.25f;
    /* The four grid rows as 32 two-bit fields: field e is element e (row e/8, position e%8). */
    const uint64_t fields = (uint64_t)cn_iq2xxs_grid[q[0]] | (uint64_t)cn_iq2xxs_grid[q[1]] << 16 |
                            (uint64_t)cn_iq2xxs_grid[q[2]] << 32 | (uint64_t)cn_iq2xxs_grid[q[3]] << 48;
    /* The eight sign bits of each row: seven stored (bits 7l..7l+6), the eighth their parity (an
     * even count of minus signs). Each seven moves to its own byte; folding every byte onto its
     * bit 0 (shifts that pull in the next byte only touch bits already done with) leaves the
     * byte's parity there. */
    const uint32_t sevens = (aux1 & 0x7fu) | ((aux1 << 1) & 0x7f00u) | ((aux1 << 2) & 0x7f0000u) | ((aux1 << 3) & 0x7f000000u);
    uint32_t fold = sevens ^ (sevens >> 4);
    fold ^= fold >> 2;
    fold ^= fold >> 1;
    const uint32_t signs = sevens | (fold & 0x01010101u) << 7;
    /* Byte e takes byte e/4 of `fields` (which holds fields 4(e/4) .. +3); elements with e%4 >= 2
     * use it shifted down a nibble; masking with 0x03 (even e) or 0x0c (odd e) leaves the field
     * at bit 0 or bit 2, and one byte shuffle maps both placements to the magnitude. */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)fields),
                                               _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
                                                                6, 6, 6, 6, 7, 7, 7, 7));
    const __m256i high_pair = _mm256_setr_epi8(0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1,
                                               0, 0, -1, -1, 0, 0, -1, -1);
    const __m256i placed = _mm256_blendv_epi8(spread, _mm256_srli_epi16(spread, 4), high_pair);
    const __m256i field = _mm256_and_si256(placed, _mm256_set1_epi16(0x0c03));
    const __m256i magnitude = _mm256_shuffle_epi8(
        _mm256_setr_epi8(8, 25, 43, 0, 25, 0, 0, 0, 43, 0, 0, 0, 0, 0, 0, 0, 8, 25, 43, 0, 25, 0, 0, 0, 43, 0, 0, 0, 0, 0, 0, 0), field);
    /* Byte e takes sign byte e/8 and tests bit e%8. */
    const __m256i sign_bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)signs),
                                                   _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                                                    3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    const __m256i negative = _mm256_cmpeq_epi8(_mm256_and_si256(sign_bytes, bit), bit);
    /* −(db·m) = db·(−m) exactly: the scalar negates the product, here the integer. */
    const __m256i value = _mm256_sub_epi8(_mm256_xor_si256(magnitude, negative), negative);
    return signed_times(value, db, db);
}

/* ---- ggml's MXFP4: 17-byte blocks of 32, E8M0 scale byte then E2M1 pairs (element l low
 * nibble of byte l, element l + 16 high nibble); doubled code values times half the scale ---- */
KERNEL_INLINE weights32 mxfp4_ggml_32(const uint8_t *b) {
    const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)(b + 1));
    const __m128i low_mask = _mm_set1_epi8(0x0f);
    const __m128i first = _mm_shuffle_epi8(lut, _mm_and_si128(bytes, low_mask));                      /* 0..15 */
    const __m128i second = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask)); /* 16..31 */
    const uint32_t e = b[0];
    const float half = cn_f32_from_bits(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    return signed_times(_mm256_set_m128i(second, first), half, half);
}

/* ---- the chain (row_dot_avx2.h): per 32 elements one FMA into each of four accumulators ---- */
#define SUPER_CHAIN(TWO, BLOCK_BYTES, prepare, group, state_t, row, n, x, out)               \
    do {                                                                                   \
        const float *x0 = (x)[0], *x1 = (x)[TWO ? 1 : 0];                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0; \
        for (int64_t i = 0; i < (n); i += 256) {                                           \
            const uint8_t *blk = (row) + (size_t)(i / 256) * (BLOCK_BYTES);                 \
            state_t st;                                                                    \
            prepare(blk, &st);                                                             \
            for (int g = 0; g < 8; g++) {                                                  \
                const weights32 w = group(blk, &st, g);                                    \
                FMA_32(a0, a1, a2, a3, w, x0, i + 32 * g);                                 \
                if (TWO) FMA_32(b0, b1, b2, b3, w, x1, i + 32 * g);                        \
            }                                                                              \
        }                                                                                  \
        (out)[0] = sum_accumulators(a0, a1, a2, a3);                                       \
        if (TWO) (out)[1] = sum_accumulators(b0, b1, b2, b3);                              \
    } while (0)

#define DEFINE_SUPER(name, BLOCK_BYTES)                                                               \
    static KERNEL void name##_dot(const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) { \
        if (n_tokens == 2) SUPER_CHAIN(1, BLOCK_BYTES, name##_prepare, name##_group, name##_block, row, n, x, out); \
        else SUPER_CHAIN(0, BLOCK_BYTES, name##_prepare, name##_group, name##_block, row, n, x, out);               \
    }                                                                                                 \
    static KERNEL void name##_decode(const uint8_t *row, int64_t n, float *out) {                     \
        for (int64_t i = 0; i < n; i += 256) {                                                        \
            const uint8_t *blk = row + (size_t)(i / 256) * (BLOCK_BYTES);                              \
            name##_block st;                                                                          \
            name##_prepare(blk, &st);                                                                 \
            for (int g = 0; g < 8; g++) {                                                             \
                const weights32 w = name##_group(blk, &st, g);                                        \
                for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + i + 32 * g + 8 * k, w.v[k]);       \
            }                                                                                         \
        }                                                                                             \
    }

DEFINE_SUPER(q4_k, 144)
DEFINE_SUPER(q5_k, 176)
DEFINE_SUPER(q6_k, 210)
DEFINE_SUPER(q3_k, 110)
DEFINE_SUPER(q2_k, 84)
DEFINE_SUPER(iq2_xxs, 66)

static KERNEL void mxfp4_ggml_dot(const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
    const float *x0 = x[0], *x1 = x[n_tokens == 2 ? 1 : 0];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t i = 0; i < n; i += 32) {
        const weights32 w = mxfp4_ggml_32(row + (size_t)(i / 32) * 17);
        FMA_32(a0, a1, a2, a3, w, x0, i);
        if (n_tokens == 2) FMA_32(b0, b1, b2, b3, w, x1, i);
    }
    out[0] = sum_accumulators(a0, a1, a2, a3);
    if (n_tokens == 2) out[1] = sum_accumulators(b0, b1, b2, b3);
}

static KERNEL void mxfp4_ggml_decode(const uint8_t *row, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i += 32) {
        const weights32 w = mxfp4_ggml_32(row + (size_t)(i / 32) * 17);
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + i + 8 * k, w.v[k]);
    }
}

void cn_kquant_row_dot_avx2(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
    switch (t) {
    case CN_DTYPE_Q4_K: q4_k_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_Q5_K: q5_k_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_Q6_K: q6_k_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_Q3_K: q3_k_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_Q2_K: q2_k_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_IQ2_XXS: iq2_xxs_dot(row, n, x, n_tokens, out); break;
    case CN_DTYPE_MXFP4_GGML: mxfp4_ggml_dot(row, n, x, n_tokens, out); break;
    default:
        for (int k = 0; k < n_tokens; k++) out[k] = 0.0f;
        break;
    }
}

void cn_kquant_row_decode_avx2(cn_dtype t, const uint8_t *row, int64_t n, float *out) {
    switch (t) {
    case CN_DTYPE_Q4_K: q4_k_decode(row, n, out); break;
    case CN_DTYPE_Q5_K: q5_k_decode(row, n, out); break;
    case CN_DTYPE_Q6_K: q6_k_decode(row, n, out); break;
    case CN_DTYPE_Q3_K: q3_k_decode(row, n, out); break;
    case CN_DTYPE_Q2_K: q2_k_decode(row, n, out); break;
    case CN_DTYPE_IQ2_XXS: iq2_xxs_decode(row, n, out); break;
    case CN_DTYPE_MXFP4_GGML: mxfp4_ggml_decode(row, n, out); break;
    default: memset(out, 0, (size_t)n * sizeof *out); break;
    }
}

#else

void cn_kquant_row_dot_avx2(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
    (void)t, (void)row, (void)n, (void)x, (void)n_tokens, (void)out;
}
void cn_kquant_row_decode_avx2(cn_dtype t, const uint8_t *row, int64_t n, float *out) { (void)t, (void)row, (void)n, (void)out; }

#endif
