#include "tensor/row_dot_avx2.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <string.h>

#include "base/cpu_features.h"
#include "tensor/dot_chain_avx2.h"
#include "tensor/element.h"
#include "tensor/row_dot_kquants_avx2.h"


bool cn_cpu_has_avx2_fma(void) { return cn_cpu_features_get()->avx2_fma_f16c; }

/* One stored row: its bytes and, for the block formats, its scale entries. */
typedef struct {
    const uint8_t *p;
    const uint8_t *scales; /* E4M3: the row's 128x128 block-scale row; MXFP4: the row's scales */
} stored_row;

/* Every decoder below is an exact conversion (a power-of-two scale times a value of at most 19
 * significant bits), so a weight has one f32 value whichever decoder or path produced it. */

/* ---- F32 ---- */
KERNEL_INLINE __m256 f32_eight(const stored_row *r, int64_t i) { return _mm256_loadu_ps((const float *)(const void *)(r->p + 4 * i)); }
KERNEL_INLINE void f32_tail(const stored_row *r, int64_t i, int64_t len, float *out) { memcpy(out, r->p + 4 * i, (size_t)len * 4); }

/* ---- F16 (F16C widening is exact) ---- */
KERNEL_INLINE __m256 f16_eight(const stored_row *r, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(r->p + 2 * i)));
}
KERNEL_INLINE void f16_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) {
        uint16_t h;
        memcpy(&h, r->p + 2 * (i + k), 2);
        out[k] = _cvtsh_ss(h);
    }
}

/* ---- BF16 ---- */
KERNEL_INLINE __m256 bf16_eight(const stored_row *r, int64_t i) {
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(r->p + 2 * i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
KERNEL_INLINE void bf16_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) {
        uint16_t h;
        memcpy(&h, r->p + 2 * (i + k), 2);
        out[k] = cn_bf16_to_f32(h);
    }
}

/* ---- F8 E4M3, one E8M0 scale per 128 columns ----
 * General decoder (any code, any scale): the code's sign and 7 exponent/mantissa bits placed at
 * f32 bit positions 31 and 20..26 read as an f32 2^120 times too small, for normal and subnormal
 * codes alike (exponent 0 becomes an f32 subnormal with the same mantissa), so one exact multiply
 * replaces the scalar decoder's branch; 0x7f / 0xff are NaN as in element.h. About ten vector
 * operations per 8 weights: e4m3_32 below takes it only for the groups it cannot do itself. */
KERNEL_INLINE __m256 e4m3_eight_scaled(const uint8_t *src, __m256 scale) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)src));
    const __m256i em = _mm256_and_si256(v, _mm256_set1_epi32(0x7f));
    const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
    __m256 value = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_or_si256(sign, _mm256_slli_epi32(em, 20))), _mm256_set1_ps(0x1p120f));
    const __m256 is_nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(em, _mm256_set1_epi32(0x7f)));
    value = _mm256_blendv_ps(value, _mm256_set1_ps(__builtin_nanf("")), is_nan);
    return _mm256_mul_ps(value, scale);
}
KERNEL_INLINE __m256 e4m3_eight(const stored_row *r, int64_t i) {
    return e4m3_eight_scaled(r->p + i, _mm256_set1_ps(cn_e8m0_to_f32(r->scales[i / 128])));
}
static KERNEL __attribute__((noinline, cold)) weights32 e4m3_32_general(const uint8_t *src, uint8_t scale_code) {
    const __m256 scale = _mm256_set1_ps(cn_e8m0_to_f32(scale_code));
    const weights32 w = {{e4m3_eight_scaled(src, scale), e4m3_eight_scaled(src + 8, scale),
                          e4m3_eight_scaled(src + 16, scale), e4m3_eight_scaled(src + 24, scale)}};
    return w;
}
/* The fast decoder, for a group of 32 without NaN codes under a scale 2^(e-127) with e <= 246:
 * in a 16-bit lane, (code & 0x80) << 8 | (code & 0x7f) << 7 is the IEEE half with the same sign,
 * exponent field and mantissa, 2^-8 times the E4M3 value for normal and subnormal codes alike
 * (bias 15 against 7; a half subnormal's mantissa m << 7 weighs m · 2^-17 = 2^-8 · m · 2^-9).
 * F16C widens halves to f32 exactly, and the 2^8 joins the scale: 2^(e-119) is a normal f32
 * (bits (e + 8) << 23, e = 0 included, where the E8M0 scale itself is the subnormal 2^-127)
 * exactly when e <= 246. So each weight is the exact product value · 2^(e-127) rounded once,
 * the scalar decoder's bits. The lane is built from the code in the high byte of a zero-filled
 * unpack (code << 8): an arithmetic shift right by one leaves the sign at bit 15, the 7 bits at
 * 7..13 and a copy of the sign at 14, which the AND clears. Six integer operations, two lane
 * extracts and four conversions per 32 weights, against about forty for the general decoder. */
KERNEL_INLINE __m256 e4m3_halves_scaled(__m128i halves, __m256 scale) { return _mm256_mul_ps(_mm256_cvtph_ps(halves), scale); }
KERNEL_INLINE weights32 e4m3_32(const stored_row *r, int64_t i) {
    /* 32 divides 128: one scale for the whole group */
    const uint8_t scale_code = r->scales[i / 128];
    const __m256i codes = _mm256_loadu_si256((const __m256i *)(const void *)(r->p + i));
    const __m256i nan = _mm256_cmpeq_epi8(_mm256_or_si256(codes, _mm256_set1_epi8((char)0x80)), _mm256_set1_epi8(-1));
    if (__builtin_expect(scale_code > 246 || _mm256_movemask_epi8(nan) != 0, 0)) return e4m3_32_general(r->p + i, scale_code);
    const __m256i zero = _mm256_setzero_si256(), drop_sign_copy = _mm256_set1_epi16((short)0xbfff);
    /* 16-bit lanes, elements 0..7 | 16..23 and 8..15 | 24..31 */
    const __m256i first = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpacklo_epi8(zero, codes), 1), drop_sign_copy);
    const __m256i second = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpackhi_epi8(zero, codes), 1), drop_sign_copy);
    const __m256 scale = _mm256_castsi256_ps(_mm256_set1_epi32((int)((uint32_t)(scale_code + 8) << 23)));
    const weights32 w = {{e4m3_halves_scaled(_mm256_castsi256_si128(first), scale), e4m3_halves_scaled(_mm256_castsi256_si128(second), scale),
                          e4m3_halves_scaled(_mm256_extracti128_si256(first, 1), scale),
                          e4m3_halves_scaled(_mm256_extracti128_si256(second, 1), scale)}};
    return w;
}
KERNEL_INLINE void e4m3_tail(const stored_row *r, int64_t i, int64_t len, float *out) {
    for (int64_t k = 0; k < len; k++) out[k] = cn_e4m3_to_f32(r->p[i + k]) * cn_e8m0_to_f32(r->scales[(i + k) / 128]);
}

/* ---- MXFP4: E2M1 pairs (low nibble first), one E8M0 scale per 32 ----
 * Every E2M1 value is exact in bfloat16, so two byte shuffles look each code up as the low and
 * high byte of its bf16 bits (code 8 is -0, as in the scalar decoder), and an unpack with zero
 * below makes those the upper half of an f32: no integer-to-float conversion. The one multiply by
 * the scale is the scalar decoder's (value · scale, rounded once; NaN for e = 255 as there).
 * The 16 bytes go to both 128-bit lanes and a byte shuffle puts bytes {0,1,4,5,8,9,12,13} in
 * the first lane and {2,3,6,7,10,11,14,15} in the second, so that after the nibble interleave and
 * the in-lane unpacks each of the four 8-lane vectors holds 8 consecutive elements. 17 vector
 * operations per 32 weights (was 22 with int8 doubled values, sign extension and conversion). */
KERNEL_INLINE weights32 mxfp4_32(const stored_row *r, int64_t i) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    const __m256i bf16_low = _mm256_setr_epi8(0, 0, (char)0x80, (char)0xc0, 0, 0x40, (char)0x80, (char)0xc0, 0, 0, (char)0x80,
                                              (char)0xc0, 0, 0x40, (char)0x80, (char)0xc0, 0, 0, (char)0x80, (char)0xc0, 0, 0x40,
                                              (char)0x80, (char)0xc0, 0, 0, (char)0x80, (char)0xc0, 0, 0x40, (char)0x80, (char)0xc0);
    const __m256i bf16_high = _mm256_setr_epi8(0, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, (char)0x80, (char)0xbf, (char)0xbf,
                                               (char)0xbf, (char)0xc0, (char)0xc0, (char)0xc0, (char)0xc0, 0, 0x3f, 0x3f, 0x3f, 0x40,
                                               0x40, 0x40, 0x40, (char)0x80, (char)0xbf, (char)0xbf, (char)0xbf, (char)0xc0,
                                               (char)0xc0, (char)0xc0, (char)0xc0);
    const __m256i spread = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7, 10, 11, 14, 15,
                                            -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(r->p + i / 2))), spread);
    /* elements 0..3, 8..11, 16..19, 24..27 | 4..7, 12..15, 20..23, 28..31; one mask for both nibbles */
    const __m256i codes = _mm256_and_si256(_mm256_unpacklo_epi8(bytes, _mm256_srli_epi16(bytes, 4)), low_mask);
    const __m256i low = _mm256_shuffle_epi8(bf16_low, codes), high = _mm256_shuffle_epi8(bf16_high, codes);
    const __m256i first = _mm256_unpacklo_epi8(low, high), second = _mm256_unpackhi_epi8(low, high); /* bf16 */
    const __m256 scale = _mm256_set1_ps(cn_e8m0_to_f32(r->scales[i / 32]));
    const weights32 w = {{_mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, first)), scale),
                          _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, first)), scale),
                          _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, second)), scale),
                          _mm256_mul_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, second)), scale)}};
    return w;
}
KERNEL_INLINE __m256 mxfp4_eight(const stored_row *r, int64_t i) { return mxfp4_32(r, i - i % 32).v[(i % 32) / 8]; }
KERNEL_INLINE void no_tail(const stored_row *r, int64_t i, int64_t len, float *out) { (void)r, (void)i, (void)len, (void)out; }

/* ---- Q8_0: f16 scale + 32 int8 per 34-byte block (d · q is exact: 11 x 8 significant bits) ---- */
KERNEL_INLINE __m256 q8_0_eight_scaled(const uint8_t *q, __m256 d) {
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q))), d);
}
KERNEL_INLINE weights32 q8_0_32(const stored_row *r, int64_t i) {
    const uint8_t *block = r->p + (i / 32) * 34;
    uint16_t d_bits;
    memcpy(&d_bits, block, 2);
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(d_bits));
    const weights32 w = {{q8_0_eight_scaled(block + 2, d), q8_0_eight_scaled(block + 10, d),
                          q8_0_eight_scaled(block + 18, d), q8_0_eight_scaled(block + 26, d)}};
    return w;
}
KERNEL_INLINE __m256 q8_0_eight(const stored_row *r, int64_t i) { return q8_0_32(r, i - i % 32).v[(i % 32) / 8]; }

/* ---- the fixed chain (header comment) ---- */
typedef __m256 (*decode_eight_fn)(const stored_row *, int64_t);
typedef void (*decode_tail_fn)(const stored_row *, int64_t, int64_t, float *);

KERNEL_INLINE __m256 tail_vector(const float *x, int64_t len) {
    float padded[8] = {0};
    memcpy(padded, x, (size_t)len * sizeof(float));
    return _mm256_loadu_ps(padded);
}

#define DOT_CHAIN(TWO, r, n, x, out, decode_32, decode_eight, decode_tail)                          \
    do {                                                                                           \
        const float *x0 = (x)[0], *x1 = (x)[TWO ? 1 : 0];                                          \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0; \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= (n); i += 32) {                                                           \
            const weights32 w = decode_32((r), i);                                                 \
            FMA_32(a0, a1, a2, a3, w, x0, i);                                                      \
            if (TWO) FMA_32(b0, b1, b2, b3, w, x1, i);                                             \
        }                                                                                          \
        for (; i + 8 <= (n); i += 8) {                                                             \
            const __m256 w = decode_eight((r), i);                                                 \
            a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x0 + i), a0);                                  \
            if (TWO) b0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x1 + i), b0);                         \
        }                                                                                          \
        if (i < (n)) {                                                                             \
            float w_tail[8] = {0};                                                                 \
            decode_tail((r), i, (n) - i, w_tail);                                                  \
            const __m256 w = _mm256_loadu_ps(w_tail);                                              \
            a0 = _mm256_fmadd_ps(w, tail_vector(x0 + i, (n) - i), a0);                             \
            if (TWO) b0 = _mm256_fmadd_ps(w, tail_vector(x1 + i, (n) - i), b0);                    \
        }                                                                                          \
        (out)[0] = sum_accumulators(a0, a1, a2, a3);                                               \
        if (TWO) (out)[1] = sum_accumulators(b0, b1, b2, b3);                                      \
    } while (0)

/* Formats without a wider decoder take their 32 as four eights. */
#define EIGHTS_AS_32(name, eight)                                                   \
    KERNEL_INLINE weights32 name(const stored_row *r, int64_t i) {                  \
        const weights32 w = {{eight(r, i), eight(r, i + 8), eight(r, i + 16), eight(r, i + 24)}}; \
        return w;                                                                   \
    }
EIGHTS_AS_32(f32_32, f32_eight)
EIGHTS_AS_32(f16_32, f16_eight)
EIGHTS_AS_32(bf16_32, bf16_eight)

#define DEFINE_ROW_DOT(name, decode_32, decode_eight, decode_tail)                                     \
    static KERNEL void name(const stored_row *r, int64_t n, const float *const *x, int n_tokens, float *out) { \
        if (n_tokens == 2) DOT_CHAIN(1, r, n, x, out, decode_32, decode_eight, decode_tail);          \
        else DOT_CHAIN(0, r, n, x, out, decode_32, decode_eight, decode_tail);                        \
    }                                                                                                 \
    static KERNEL void name##_decode(const stored_row *r, int64_t n, float *out) {                    \
        int64_t i = 0;                                                                                \
        for (; i + 32 <= n; i += 32) {                                                                \
            const weights32 w = decode_32(r, i);                                                      \
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + i + 8 * k, w.v[k]);                    \
        }                                                                                             \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, decode_eight(r, i));                     \
        if (i < n) decode_tail(r, i, n - i, out + i);                                                 \
    }                                                                                                 \
    static KERNEL void name##_decode_line(const stored_row *r, int64_t n, float *line, int lines, float *tail) { \
        const int64_t groups = n / 32, k_stride = groups * 8 * lines;                                 \
        int64_t i = 0;                                                                                \
        for (; i + 32 <= n; i += 32, line += 8 * lines) {                                             \
            const weights32 w = decode_32(r, i);                                                      \
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(line + k * k_stride, w.v[k]);               \
        }                                                                                             \
        memset(tail, 0, 32 * sizeof *tail);                                                           \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(tail + i - 32 * groups, decode_eight(r, i));      \
        if (i < n) decode_tail(r, i, n - i, tail + i - 32 * groups);                                  \
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

void cn_row_dot_avx2(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out) {
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
    case CN_DTYPE_MXFP4_GGML: cn_kquant_row_dot_avx2(m->dtype, r.p, n, x, n_tokens, out); break;
    default:
        for (int t = 0; t < n_tokens; t++) out[t] = 0.0f; /* as cn_matrix_row_to_f32: zero rows */
        break;
    }
}

bool cn_row_decode_avx2_line(const cn_matrix *m, int64_t row, float *record, int line, int lines) {
    const stored_row r = stored_row_of(m, row);
    const int64_t n = m->cols;
    float *first = record + 8 * line, *tail = record + (int64_t)lines * (n - n % 32) + 32 * line;
    switch (m->dtype) {
    case CN_DTYPE_F32: f32_dot_decode_line(&r, n, first, lines, tail); return true;
    case CN_DTYPE_F16: f16_dot_decode_line(&r, n, first, lines, tail); return true;
    case CN_DTYPE_BF16: bf16_dot_decode_line(&r, n, first, lines, tail); return true;
    case CN_DTYPE_F8_E4M3: e4m3_dot_decode_line(&r, n, first, lines, tail); return true;
    case CN_DTYPE_MXFP4: mxfp4_dot_decode_line(&r, n, first, lines, tail); return true;
    case CN_DTYPE_Q8_0: q8_0_dot_decode_line(&r, n, first, lines, tail); return true;
    default: return false;
    }
}

void cn_row_decode_avx2(const cn_matrix *m, int64_t row, float *out) {
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
    case CN_DTYPE_MXFP4_GGML: cn_kquant_row_decode_avx2(m->dtype, r.p, n, out); break;
    default: memset(out, 0, (size_t)n * sizeof *out); break;
    }
}

#else

bool cn_cpu_has_avx2_fma(void) { return false; }
void cn_row_dot_avx2(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out) {
    (void)m, (void)row, (void)x, (void)n_tokens, (void)out;
}
void cn_row_decode_avx2(const cn_matrix *m, int64_t row, float *out) { (void)m, (void)row, (void)out; }
bool cn_row_decode_avx2_line(const cn_matrix *m, int64_t row, float *record, int line, int lines) {
    (void)m, (void)row, (void)record, (void)line, (void)lines;
    return false;
}

#endif
