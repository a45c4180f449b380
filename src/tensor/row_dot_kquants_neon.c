/* NEON forms of row_dot_kquants_avx2.c's group decoders (layouts: kquants.c). Every value is the
 * scalar reference's operation for operation: the block's f16 scales widen exactly, the
 * per-group scale products are the same f32 products (computed once per super-block), a small
 * integer converts exactly, and the last multiply (and, with a min, the separate subtraction,
 * not contracted: ISO C mode) is the same IEEE operation on four lanes. */
#include "tensor/row_dot_kquants_neon.h"

#if defined(__aarch64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <string.h>

#include "tensor/dot_chain_neon.h"
#include "tensor/element.h"
#include "tensor/kquant_block_scales.h"
#include "tensor/kquants.h"

/* 32 bytes as two halves (elements 0..15, 16..31), shifted right by `count` bits per byte. */
typedef struct {
    uint8x16_t lo, hi;
} bytes32;

NEON_INLINE bytes32 load32_srl(const uint8_t *p, int count, uint8_t mask) {
    const int8x16_t shift = vdupq_n_s8((int8_t)-count);
    const uint8x16_t m = vdupq_n_u8(mask);
    const bytes32 v = {vandq_u8(vshlq_u8(vld1q_u8(p), shift), m), vandq_u8(vshlq_u8(vld1q_u8(p + 16), shift), m)};
    return v;
}

/* Elements 0..15 times s0 and 16..31 times s1; with a min, minus m0 / m1 afterwards. */
NEON_INLINE weights32 signed_times(int8x16_t lo, int8x16_t hi, float s0, float s1) {
    weights32 w;
    s8x16_times(lo, vdupq_n_f32(s0), w.v);
    s8x16_times(hi, vdupq_n_f32(s1), w.v + 4);
    return w;
}
NEON_INLINE weights32 unsigned_times_minus(bytes32 q, float s0, float m0, float s1, float m1) {
    weights32 w;
    u8x16_times_minus(q.lo, vdupq_n_f32(s0), vdupq_n_f32(m0), w.v);
    u8x16_times_minus(q.hi, vdupq_n_f32(s1), vdupq_n_f32(m1), w.v + 4);
    return w;
}

/* ---- Q4_K / Q5_K: one 6-bit scale and min per group of 32 (kquant_block_scales.h) ---- */
NEON_INLINE void k4_prepare(const uint8_t *b, k4_block *s) { k4_block_scales(b, f16_at(b), f16_at(b + 2), s); }
#define q4_k_prepare k4_prepare
#define q5_k_prepare k4_prepare

/* Nibbles of bytes 16 + 32·(g/2): low for even g, high for odd. */
NEON_INLINE weights32 q4_k_group(const uint8_t *b, const k4_block *s, int g) {
    const bytes32 q = load32_srl(b + 16 + 32 * (g / 2), 4 * (g & 1), 0x0f);
    return unsigned_times_minus(q, s->d[g], s->m[g], s->d[g], s->m[g]);
}

/* As Q4_K (nibbles at 48 + 32·(g/2)), plus bit g of qh[l] (bytes 16..47) as the fifth bit. */
NEON_INLINE weights32 q5_k_group(const uint8_t *b, const k4_block *s, int g) {
    const bytes32 low = load32_srl(b + 48 + 32 * (g / 2), 4 * (g & 1), 0x0f);
    const bytes32 high = load32_srl(b + 16, g, 1);
    const bytes32 q = {vorrq_u8(low.lo, vshlq_n_u8(high.lo, 4)), vorrq_u8(low.hi, vshlq_n_u8(high.hi, 4))};
    return unsigned_times_minus(q, s->d[g], s->m[g], s->d[g], s->m[g]);
}

/* ---- Q6_K: 16 int8 scales (one per 16 elements) times the f16 d at 208 ---- */
NEON_INLINE void q6_k_prepare(const uint8_t *b, q6_k_block *s) { q6_k_block_scales(b, f16_at(b + 208), s); }

/* Half h = g/4 of the block, k = g%4: low (k < 2) or high nibble of ql[64h + 32(k&1) + l],
 * bits 2k, 2k+1 of qh[32h + l] above them, minus 32. */
NEON_INLINE weights32 q6_k_group(const uint8_t *b, const q6_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const bytes32 low = load32_srl(b + 64 * h + 32 * (k & 1), k >= 2 ? 4 : 0, 0x0f);
    const bytes32 high = load32_srl(b + 128 + 32 * h, 2 * k, 3);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low.lo, vshlq_n_u8(high.lo, 4))), vdupq_n_s8(32));
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low.hi, vshlq_n_u8(high.hi, 4))), vdupq_n_s8(32));
    return signed_times(lo, hi, s->ds[2 * g], s->ds[2 * g + 1]);
}

/* ---- Q3_K: sixteen 6-bit scales biased by 32, times the f16 d at 108 ---- */
NEON_INLINE void q3_k_prepare(const uint8_t *b, q3_k_block *s) { q3_k_block_scales(b, f16_at(b + 108), s); }

/* g = 4h + k: bits 2k, 2k+1 of qs[32h + l] (bytes 32..95); a clear bit g of hmask[l] (bytes
 * 0..31) subtracts 4, i.e. the value is q2 + 4·bit − 4. */
NEON_INLINE weights32 q3_k_group(const uint8_t *b, const q3_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const bytes32 q2 = load32_srl(b + 32 + 32 * h, 2 * k, 3);
    const bytes32 bit = load32_srl(b, g, 1);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(q2.lo, vshlq_n_u8(bit.lo, 2))), vdupq_n_s8(4));
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(q2.hi, vshlq_n_u8(bit.hi, 2))), vdupq_n_s8(4));
    return signed_times(lo, hi, s->dl[2 * g], s->dl[2 * g + 1]);
}

/* ---- Q2_K: per 16 elements a 4-bit scale (low nibble) and min (high nibble) ---- */
NEON_INLINE void q2_k_prepare(const uint8_t *b, q2_k_block *s) { q2_k_block_scales(b, f16_at(b + 80), f16_at(b + 82), s); }

/* g = 4h + k: bits 2k, 2k+1 of qs[32h + l] (bytes 16..79). */
NEON_INLINE weights32 q2_k_group(const uint8_t *b, const q2_k_block *s, int g) {
    const int h = g / 4, k = g % 4;
    const bytes32 q = load32_srl(b + 16 + 32 * h, 2 * k, 3);
    return unsigned_times_minus(q, s->dl[2 * g], s->ml[2 * g], s->dl[2 * g + 1], s->ml[2 * g + 1]);
}

/* ---- IQ2_XXS: f16 d, then per group four grid indices and a u32 of four 7-bit sign indices
 * and a 4-bit scale. Element e of the group is magnitude field e%8 of grid row q[e/8] (2 bits
 * each, {8, 25, 43}), negated by bit e%8 of sign byte e/8, times ((d·(0.5 + s))·0.25). ---- */
NEON_INLINE void iq2_xxs_prepare(const uint8_t *b, iq2_xxs_block *s) { s->d = f16_at(b); }

/* Eight signed values of grid row `grid` with sign byte `signs`: the row's eight 2-bit fields
 * (shifted into each lane), looked up as magnitudes, negated where the sign bit is set
 * (−(db·m) = db·(−m) exactly, so negating the integer matches the scalar's negated product). */
NEON_INLINE int8x8_t iq2_xxs_eight(uint16_t grid, uint8_t signs) {
    static const int16_t field_shift[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    static const uint8_t magnitude[8] = {8, 25, 43, 0, 0, 0, 0, 0};
    static const uint8_t bit[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const uint16x8_t fields = vandq_u16(vshlq_u16(vdupq_n_u16(grid), vld1q_s16(field_shift)), vdupq_n_u16(3));
    const int8x8_t value = vreinterpret_s8_u8(vtbl1_u8(vld1_u8(magnitude), vmovn_u16(fields)));
    const int8x8_t negative = vreinterpret_s8_u8(vtst_u8(vdup_n_u8(signs), vld1_u8(bit)));
    return vsub_s8(veor_s8(value, negative), negative);
}

NEON_INLINE weights32 iq2_xxs_group(const uint8_t *b, const iq2_xxs_block *s, int g) {
    const uint8_t *q = b + 2 + 8 * g;
    uint32_t aux1;
    memcpy(&aux1, q + 4, 4);
    const float db = s->d * (0.5f + (float)(aux1 >> 28)) * 0.25f;
    int8x8_t rows[4];
    for (int l = 0; l < 4; l++) {
        /* seven stored sign bits, the eighth their parity (an even count of minus signs) */
        const uint32_t seven = (aux1 >> (7 * l)) & 127u;
        rows[l] = iq2_xxs_eight(cn_iq2xxs_grid[q[l]], (uint8_t)(seven | (uint32_t)__builtin_parity(seven) << 7));
    }
    return signed_times(vcombine_s8(rows[0], rows[1]), vcombine_s8(rows[2], rows[3]), db, db);
}

/* ---- ggml's MXFP4: 17-byte blocks of 32, E8M0 scale byte then E2M1 pairs (element l low
 * nibble of byte l, element l + 16 high nibble); doubled code values times half the scale ---- */
NEON_INLINE weights32 mxfp4_ggml_32(const uint8_t *b) {
    static const int8_t doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t lut = vld1q_s8(doubled);
    const uint8x16_t bytes = vld1q_u8(b + 1);
    const int8x16_t first = vqtbl1q_s8(lut, vandq_u8(bytes, vdupq_n_u8(0x0f))); /* 0..15 */
    const int8x16_t second = vqtbl1q_s8(lut, vshrq_n_u8(bytes, 4));              /* 16..31 */
    const uint32_t e = b[0];
    const float half = cn_f32_from_bits(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    return signed_times(first, second, half, half);
}

/* ---- the chain (dot_chain_neon.h): per 32 elements one FMA into each of eight accumulators ---- */
#define SUPER_CHAIN(TWO, BLOCK_BYTES, prepare, group, state_t, row, n, x, out)  \
    do {                                                                      \
        const float *x0 = (x)[0], *x1 = (x)[TWO ? 1 : 0];                     \
        DECLARE_ACCUMULATORS(a);                                              \
        DECLARE_ACCUMULATORS(b);                                              \
        for (int64_t i = 0; i < (n); i += 256) {                              \
            const uint8_t *blk = (row) + (size_t)(i / 256) * (BLOCK_BYTES);    \
            state_t st;                                                       \
            prepare(blk, &st);                                                \
            for (int g = 0; g < 8; g++) {                                     \
                const weights32 w = group(blk, &st, g);                       \
                FMA_32(a, w, x0, i + 32 * g);                                 \
                if (TWO) FMA_32(b, w, x1, i + 32 * g);                        \
            }                                                                 \
        }                                                                     \
        (out)[0] = SUM_ACCUMULATORS(a);                                       \
        if (TWO) (out)[1] = SUM_ACCUMULATORS(b);                              \
    } while (0)

#define DEFINE_SUPER(name, BLOCK_BYTES)                                                               \
    static void name##_dot(const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) { \
        if (n_tokens == 2) SUPER_CHAIN(1, BLOCK_BYTES, name##_prepare, name##_group, name##_block, row, n, x, out); \
        else SUPER_CHAIN(0, BLOCK_BYTES, name##_prepare, name##_group, name##_block, row, n, x, out);               \
    }                                                                                                 \
    static void name##_decode(const uint8_t *row, int64_t n, float *out) {                            \
        for (int64_t i = 0; i < n; i += 256) {                                                        \
            const uint8_t *blk = row + (size_t)(i / 256) * (BLOCK_BYTES);                              \
            name##_block st;                                                                          \
            name##_prepare(blk, &st);                                                                 \
            for (int g = 0; g < 8; g++) {                                                             \
                const weights32 w = name##_group(blk, &st, g);                                        \
                for (int k = 0; k < 8; k++) vst1q_f32(out + i + 32 * g + 4 * k, w.v[k]);              \
            }                                                                                         \
        }                                                                                             \
    }

DEFINE_SUPER(q4_k, 144)
DEFINE_SUPER(q5_k, 176)
DEFINE_SUPER(q6_k, 210)
DEFINE_SUPER(q3_k, 110)
DEFINE_SUPER(q2_k, 84)
DEFINE_SUPER(iq2_xxs, 66)

static void mxfp4_ggml_dot(const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
    const float *x0 = x[0], *x1 = x[n_tokens == 2 ? 1 : 0];
    DECLARE_ACCUMULATORS(a);
    DECLARE_ACCUMULATORS(b);
    for (int64_t i = 0; i < n; i += 32) {
        const weights32 w = mxfp4_ggml_32(row + (size_t)(i / 32) * 17);
        FMA_32(a, w, x0, i);
        if (n_tokens == 2) FMA_32(b, w, x1, i);
    }
    out[0] = SUM_ACCUMULATORS(a);
    if (n_tokens == 2) out[1] = SUM_ACCUMULATORS(b);
}

static void mxfp4_ggml_decode(const uint8_t *row, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i += 32) {
        const weights32 w = mxfp4_ggml_32(row + (size_t)(i / 32) * 17);
        for (int k = 0; k < 8; k++) vst1q_f32(out + i + 4 * k, w.v[k]);
    }
}

void cn_kquant_row_dot_neon(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
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

void cn_kquant_row_decode_neon(cn_dtype t, const uint8_t *row, int64_t n, float *out) {
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

void cn_kquant_row_dot_neon(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out) {
    (void)t, (void)row, (void)n, (void)x, (void)n_tokens, (void)out;
}
void cn_kquant_row_decode_neon(cn_dtype t, const uint8_t *row, int64_t n, float *out) { (void)t, (void)row, (void)n, (void)out; }

#endif
