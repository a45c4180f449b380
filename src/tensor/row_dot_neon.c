/* NEON forms of the decoders and the chain of row_dot_avx2.c (see row_dot_neon.h). Each decoder
 * is an exact conversion, as there, so a weight has one f32 value whichever path produced it;
 * the f32 arithmetic (scale products, the subtraction of a min) is the scalar reference's,
 * operation for operation, and is not contracted into FMAs (ISO C mode: -std=c17). */
#include "tensor/row_dot_neon.h"

#if defined(__aarch64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <string.h>

#include "tensor/dot_chain_neon.h"
#include "tensor/element.h"
#include "tensor/row_dot_kquants_neon.h"

bool cn_cpu_has_neon(void) { return true; }

/* One stored row: its bytes and, for the block formats, its scale entries. */
typedef struct {
    const uint8_t *p;
    const uint8_t *scales; /* E4M3: the row's 128x128 block-scale row; MXFP4: the row's scales */
} stored_row;

/* Loads go through bytes: a stored row may sit at any byte address of a mapped file. */
NEON_INLINE uint16x8_t load_u16x8(const uint8_t *p) { return vreinterpretq_u16_u8(vld1q_u8(p)); }

/* ---- F32 ---- */
NEON_INLINE weights8 f32_eight(const stored_row *r, int64_t i) {
    const uint8_t *p = r->p + 4 * i;
    const weights8 w = {{vreinterpretq_f32_u8(vld1q_u8(p)), vreinterpretq_f32_u8(vld1q_u8(p + 16))}};
    return w;
}
NEON_INLINE void f32_tail(const stored_row *r, int64_t i, int64_t len, float *out) { memcpy(out, r->p + 4 * i, (size_t)len * 4); }

/* ---- F16 (widening is exact) ---- */
NEON_INLINE weights8 f16_eight(const stored_row *r, int64_t i) {
    const uint16x8_t h = load_u16x8(r->p + 2 * i);
    const weights8 w = {{vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), vcvt_high_f32_f16(vreinterpretq_f16_u16(h))}};
    return w;
}
NEON_INLINE void f16_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) out[k] = f16_at(r->p + 2 * (i + k));
}

/* ---- BF16 ---- */
NEON_INLINE weights8 bf16_eight(const stored_row *r, int64_t i) {
    const uint16x8_t h = load_u16x8(r->p + 2 * i);
    const weights8 w = {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(h, 16))}};
    return w;
}
NEON_INLINE void bf16_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) {
        uint16_t h;
        memcpy(&h, r->p + 2 * (i + k), 2);
        out[k] = cn_bf16_to_f32(h);
    }
}

/* ---- F8 E4M3, one E8M0 scale per 128 columns ----
 * As in row_dot_avx2.c. The general decoder (any code, any scale): the code's sign and 7
 * exponent/mantissa bits at f32 bit positions 31 and 20..26 read as an f32 2^120 too small,
 * normal and subnormal codes alike, so one exact multiply decodes; 0x7f / 0xff are NaN as in
 * element.h. e4m3_32 takes it only for the groups its fast decoder cannot do. */
NEON_INLINE float32x4_t e4m3_four(uint16x4_t v16, float32x4_t scale) {
    const uint32x4_t v = vmovl_u16(v16);
    const uint32x4_t em = vandq_u32(v, vdupq_n_u32(0x7f));
    const uint32x4_t sign = vshlq_n_u32(vandq_u32(v, vdupq_n_u32(0x80)), 24);
    float32x4_t value = vmulq_f32(vreinterpretq_f32_u32(vorrq_u32(sign, vshlq_n_u32(em, 20))), vdupq_n_f32(0x1p120f));
    value = vbslq_f32(vceqq_u32(em, vdupq_n_u32(0x7f)), vdupq_n_f32(__builtin_nanf("")), value);
    return vmulq_f32(value, scale);
}
NEON_INLINE weights8 e4m3_eight_scaled(const uint8_t *src, float32x4_t scale) {
    const uint16x8_t v = vmovl_u8(vld1_u8(src));
    const weights8 w = {{e4m3_four(vget_low_u16(v), scale), e4m3_four(vget_high_u16(v), scale)}};
    return w;
}
NEON_INLINE weights8 e4m3_eight(const stored_row *r, int64_t i) {
    return e4m3_eight_scaled(r->p + i, vdupq_n_f32(cn_e8m0_to_f32(r->scales[i / 128])));
}
static __attribute__((noinline, cold)) weights32 e4m3_32_general(const uint8_t *src, uint8_t scale_code) {
    const float32x4_t scale = vdupq_n_f32(cn_e8m0_to_f32(scale_code));
    weights32 w;
    for (int k = 0; k < 4; k++) {
        const weights8 e = e4m3_eight_scaled(src + 8 * k, scale);
        w.v[2 * k] = e.v[0], w.v[2 * k + 1] = e.v[1];
    }
    return w;
}
/* The fast decoder (row_dot_avx2.c gives the argument): for a group of 32 without NaN codes under
 * a scale 2^(e-127) with e <= 246, (code & 0x80) << 8 | (code & 0x7f) << 7 is the IEEE half
 * 2^-8 times the code's value, widened exactly by FCVTL, and 2^(e-119) (bits (e + 8) << 23) is
 * the scale with the 2^8 folded in, a normal f32: one rounding of the exact product, the scalar
 * decoder's bits. Here the half comes from code << 7 (sign at bit 14), to which its own bit 14
 * is added: the carry moves the sign to bit 15 and leaves bit 14 clear. */
NEON_INLINE void e4m3_sixteen_halves(uint8x16_t codes, float32x4_t scale, float32x4_t *out) {
    const uint16x8_t sign_at_14 = vdupq_n_u16(0x4000);
    const uint16x8_t low = vshll_n_u8(vget_low_u8(codes), 7), high = vshll_high_n_u8(codes, 7);
    const uint16x8_t h_low = vaddq_u16(low, vandq_u16(low, sign_at_14)), h_high = vaddq_u16(high, vandq_u16(high, sign_at_14));
    out[0] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h_low))), scale);
    out[1] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(h_low)), scale);
    out[2] = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h_high))), scale);
    out[3] = vmulq_f32(vcvt_high_f32_f16(vreinterpretq_f16_u16(h_high)), scale);
}
NEON_INLINE weights32 e4m3_32(const stored_row *r, int64_t i) {
    /* 32 divides 128: one scale for the whole group */
    const uint8_t scale_code = r->scales[i / 128];
    const uint8x16_t first = vld1q_u8(r->p + i), second = vld1q_u8(r->p + i + 16);
    const uint8x16_t top = vdupq_n_u8(0x80), all = vdupq_n_u8(0xff);
    const uint8x16_t nan = vorrq_u8(vceqq_u8(vorrq_u8(first, top), all), vceqq_u8(vorrq_u8(second, top), all));
    if (__builtin_expect(scale_code > 246 || vmaxvq_u8(nan) != 0, 0)) return e4m3_32_general(r->p + i, scale_code);
    const float32x4_t scale = vreinterpretq_f32_u32(vdupq_n_u32((uint32_t)(scale_code + 8) << 23));
    weights32 w;
    e4m3_sixteen_halves(first, scale, w.v);
    e4m3_sixteen_halves(second, scale, w.v + 4);
    return w;
}
NEON_INLINE void e4m3_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) out[k] = cn_e4m3_to_f32(r->p[i + k]) * cn_e8m0_to_f32(r->scales[(i + k) / 128]);
}

/* ---- MXFP4: E2M1 pairs (low nibble first), one E8M0 scale per 32 ----
 * As in row_dot_avx2.c: every E2M1 value is exact in bfloat16, so two table lookups give each
 * code's bf16 bytes (code 8 is -0, as in the scalar decoder), a zip pairs them and a widening
 * shift by 16 makes the f32; the one multiply by the scale is the scalar decoder's. */
NEON_INLINE void mxfp4_sixteen(uint8x16_t codes, float32x4_t scale, float32x4_t *out) {
    static const uint8_t bf16_low[16] = {0, 0, 0x80, 0xc0, 0, 0x40, 0x80, 0xc0, 0, 0, 0x80, 0xc0, 0, 0x40, 0x80, 0xc0};
    static const uint8_t bf16_high[16] = {0, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, 0x80, 0xbf, 0xbf, 0xbf, 0xc0, 0xc0, 0xc0, 0xc0};
    const uint8x16_t low = vqtbl1q_u8(vld1q_u8(bf16_low), codes), high = vqtbl1q_u8(vld1q_u8(bf16_high), codes);
    const uint16x8_t first = vreinterpretq_u16_u8(vzip1q_u8(low, high)), second = vreinterpretq_u16_u8(vzip2q_u8(low, high));
    out[0] = vmulq_f32(vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(first), 16)), scale);
    out[1] = vmulq_f32(vreinterpretq_f32_u32(vshll_high_n_u16(first, 16)), scale);
    out[2] = vmulq_f32(vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(second), 16)), scale);
    out[3] = vmulq_f32(vreinterpretq_f32_u32(vshll_high_n_u16(second, 16)), scale);
}
NEON_INLINE weights32 mxfp4_32(const stored_row *r, int64_t i) {
    const uint8x16_t bytes = vld1q_u8(r->p + i / 2);
    const uint8x16_t lo = vandq_u8(bytes, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(bytes, 4);
    const float32x4_t scale = vdupq_n_f32(cn_e8m0_to_f32(r->scales[i / 32]));
    weights32 w;
    mxfp4_sixteen(vzip1q_u8(lo, hi), scale, w.v);     /* elements 0..15 */
    mxfp4_sixteen(vzip2q_u8(lo, hi), scale, w.v + 4); /* elements 16..31 */
    return w;
}

/* ---- Q8_0: f16 scale + 32 int8 per 34-byte block (d · q is exact: 11 x 8 significant bits) ---- */
NEON_INLINE weights32 q8_0_32(const stored_row *r, int64_t i) {
    const uint8_t *block = r->p + (i / 32) * 34;
    const float32x4_t d = vdupq_n_f32(f16_at(block));
    weights32 w;
    s8x16_times(vld1q_s8((const int8_t *)(const void *)(block + 2)), d, w.v);
    s8x16_times(vld1q_s8((const int8_t *)(const void *)(block + 18)), d, w.v + 4);
    return w;
}

/* Block formats have no eights or tails (whole blocks only): the chain's 8-step takes a quarter
 * of the block's 32. */
NEON_INLINE weights8 quarter(weights32 w, int64_t i) {
    const int k = (int)((i % 32) / 8);
    const weights8 e = {{w.v[2 * k], w.v[2 * k + 1]}};
    return e;
}
NEON_INLINE weights8 mxfp4_eight(const stored_row *r, int64_t i) { return quarter(mxfp4_32(r, i - i % 32), i); }
NEON_INLINE weights8 q8_0_eight(const stored_row *r, int64_t i) { return quarter(q8_0_32(r, i - i % 32), i); }
NEON_INLINE void no_tail(const stored_row *r, int64_t i, int64_t len, float *out) { (void)r, (void)i, (void)len, (void)out; }

/* Formats without a wider decoder take their 32 as four eights. */
#define EIGHTS_AS_32(name, eight)                                        \
    NEON_INLINE weights32 name(const stored_row *r, int64_t i) {         \
        weights32 w;                                                     \
        for (int k = 0; k < 4; k++) {                                    \
            const weights8 e = eight(r, i + 8 * k);                      \
            w.v[2 * k] = e.v[0], w.v[2 * k + 1] = e.v[1];                \
        }                                                                \
        return w;                                                        \
    }
EIGHTS_AS_32(f32_32, f32_eight)
EIGHTS_AS_32(f16_32, f16_eight)
EIGHTS_AS_32(bf16_32, bf16_eight)

/* ---- the fixed chain (row_dot_avx2.h, dot_chain_neon.h) ---- */
NEON_INLINE weights8 tail_vector(const float *x, int64_t len) {
    float padded[8] = {0};
    memcpy(padded, x, (size_t)len * sizeof(float));
    const weights8 v = {{vld1q_f32(padded), vld1q_f32(padded + 4)}};
    return v;
}

#define DOT_CHAIN(TWO, r, n, x, out, decode_32, decode_eight, decode_tail)                         \
    do {                                                                                          \
        const float *x0 = (x)[0], *x1 = (x)[TWO ? 1 : 0];                                         \
        DECLARE_ACCUMULATORS(a);                                                                  \
        DECLARE_ACCUMULATORS(b);                                                                  \
        int64_t i = 0;                                                                            \
        for (; i + 32 <= (n); i += 32) {                                                          \
            const weights32 w = decode_32((r), i);                                                \
            FMA_32(a, w, x0, i);                                                                  \
            if (TWO) FMA_32(b, w, x1, i);                                                         \
        }                                                                                         \
        for (; i + 8 <= (n); i += 8) {                                                            \
            const weights8 w = decode_eight((r), i);                                              \
            a0 = vfmaq_f32(a0, w.v[0], vld1q_f32(x0 + i)), a1 = vfmaq_f32(a1, w.v[1], vld1q_f32(x0 + i + 4)); \
            if (TWO) b0 = vfmaq_f32(b0, w.v[0], vld1q_f32(x1 + i)), b1 = vfmaq_f32(b1, w.v[1], vld1q_f32(x1 + i + 4)); \
        }                                                                                         \
        if (i < (n)) {                                                                            \
            float w_tail[8] = {0};                                                                \
            decode_tail((r), i, (n) - i, w_tail);                                                 \
            const float32x4_t w_low = vld1q_f32(w_tail), w_high = vld1q_f32(w_tail + 4);          \
            const weights8 xa = tail_vector(x0 + i, (n) - i);                                     \
            a0 = vfmaq_f32(a0, w_low, xa.v[0]), a1 = vfmaq_f32(a1, w_high, xa.v[1]);              \
            if (TWO) {                                                                            \
                const weights8 xb = tail_vector(x1 + i, (n) - i);                                 \
                b0 = vfmaq_f32(b0, w_low, xb.v[0]), b1 = vfmaq_f32(b1, w_high, xb.v[1]);          \
            }                                                                                     \
        }                                                                                         \
        (out)[0] = SUM_ACCUMULATORS(a);                                                           \
        if (TWO) (out)[1] = SUM_ACCUMULATORS(b);                                                  \
    } while (0)

#define DEFINE_ROW_DOT(name, decode_32, decode_eight, decode_tail)                                     \
    static void name(const stored_row *r, int64_t n, const float *const *x, int n_tokens, float *out) {  \
        if (n_tokens == 2) DOT_CHAIN(1, r, n, x, out, decode_32, decode_eight, decode_tail);          \
        else DOT_CHAIN(0, r, n, x, out, decode_32, decode_eight, decode_tail);                        \
    }                                                                                                 \
    static void name##_decode(const stored_row *r, int64_t n, float *out) {                           \
        int64_t i = 0;                                                                                \
        for (; i + 32 <= n; i += 32) {                                                                \
            const weights32 w = decode_32(r, i);                                                      \
            for (int k = 0; k < 8; k++) vst1q_f32(out + i + 4 * k, w.v[k]);                           \
        }                                                                                             \
        for (; i + 8 <= n; i += 8) {                                                                  \
            const weights8 w = decode_eight(r, i);                                                    \
            vst1q_f32(out + i, w.v[0]), vst1q_f32(out + i + 4, w.v[1]);                               \
        }                                                                                             \
        if (i < n) decode_tail(r, i, n - i, out + i);                                                 \
    }

DEFINE_ROW_DOT(f32_dot, f32_32, f32_eight, f32_tail)
DEFINE_ROW_DOT(f16_dot, f16_32, f16_eight, f16_tail)
DEFINE_ROW_DOT(bf16_dot, bf16_32, bf16_eight, bf16_tail)
DEFINE_ROW_DOT(e4m3_dot, e4m3_32, e4m3_eight, e4m3_tail)
DEFINE_ROW_DOT(mxfp4_dot, mxfp4_32, mxfp4_eight, no_tail)
DEFINE_ROW_DOT(q8_0_dot, q8_0_32, q8_0_eight, no_tail)

static stored_row stored_row_of(const cn_matrix *m, int64_t row) {
    stored_row r = {m->data + (size_t)row * m->row_bytes, NULL};
    if (m->dtype == CN_DTYPE_F8_E4M3)
        r.scales = m->scales + (size_t)((m->scale_row0 + row) / 128) * (size_t)m->scale_cols;
    else if (m->dtype == CN_DTYPE_MXFP4)
        r.scales = m->scales + (size_t)row * (size_t)m->scale_cols;
    return r;
}

void cn_row_dot_neon(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out) {
    const stored_row r = stored_row_of(m, row);
    const int64_t n = m->cols;
    switch (m->dtype) {
    case CN_DTYPE_F32: f32_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_F16: f16_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_BF16: bf16_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_F8_E4M3: e4m3_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_MXFP4: mxfp4_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_Q8_0: q8_0_dot(&r, n, x, n_tokens, out); break;
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_IQ2_XXS:
    case CN_DTYPE_MXFP4_GGML: cn_kquant_row_dot_neon(m->dtype, r.p, n, x, n_tokens, out); break;
    default:
        for (int t = 0; t < n_tokens; t++) out[t] = 0.0f; /* as cn_matrix_row_to_f32: zero rows */
        break;
    }
}

void cn_row_decode_neon(const cn_matrix *m, int64_t row, float *out) {
    const stored_row r = stored_row_of(m, row);
    const int64_t n = m->cols;
    switch (m->dtype) {
    case CN_DTYPE_F32: f32_dot_decode(&r, n, out); break;
    case CN_DTYPE_F16: f16_dot_decode(&r, n, out); break;
    case CN_DTYPE_BF16: bf16_dot_decode(&r, n, out); break;
    case CN_DTYPE_F8_E4M3: e4m3_dot_decode(&r, n, out); break;
    case CN_DTYPE_MXFP4: mxfp4_dot_decode(&r, n, out); break;
    case CN_DTYPE_Q8_0: q8_0_dot_decode(&r, n, out); break;
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_IQ2_XXS:
    case CN_DTYPE_MXFP4_GGML: cn_kquant_row_decode_neon(m->dtype, r.p, n, out); break;
    default: memset(out, 0, (size_t)n * sizeof *out); break;
    }
}

#else

bool cn_cpu_has_neon(void) { return false; }
void cn_row_dot_neon(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out) {
    (void)m, (void)row, (void)x, (void)n_tokens, (void)out;
}
void cn_row_decode_neon(const cn_matrix *m, int64_t row, float *out) { (void)m, (void)row, (void)out; }

#endif
