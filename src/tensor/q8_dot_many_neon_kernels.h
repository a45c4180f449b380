/* NEON many-token forms of the integer dots (q8_dot_many.h), written once for both ways of
 * summing 16 int8 products, as q8_dot_neon_kernels.h (which must be included first, with the
 * same Q8_NEON_DOT16) and with Q8_NEON_MANY_FN(fmt) naming format fmt's kernel
 * (cn_q4_k_q8_dot_many_neon, ...). Per weight block the codes are unpacked (nibbles, fifth bits,
 * Q6_K's high bits) and the scales read once, then each of up to CN_Q8_MANY_MAX tokens' activations
 * meet them with the one-token kernel's instructions; each token's integer sums are the
 * reference's (exact), and its f32 steps are the one-token kernel's scalar ones, so every output
 * is cn_q8_dot's bits. Internal to src/tensor; include only under `defined(__aarch64__)`. */
#ifndef CN_TENSOR_Q8_DOT_MANY_NEON_KERNELS_H
#define CN_TENSOR_Q8_DOT_MANY_NEON_KERNELS_H

#include "tensor/q8_dot_many.h"

/* Token i's rows (i < count). */
NEON_INLINE const void *token_at(const void *xq, size_t stride, int i) { return (const uint8_t *)xq + (size_t)i * stride; }

/* Q4_K, and Q5_K when fifth_bit (as Q8_NEON_FN(q4_k) / (q5_k)). */
NEON_INLINE void k4_many_neon(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, bool fifth_bit, float *out) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f), sixteen = vdupq_n_u8(16);
    const int64_t block_bytes = fifth_bit ? 176 : 144;
    const int codes_at = fifth_bit ? 48 : 16;
    const cn_q8_block *x[CN_Q8_MANY_MAX];
    float acc[CN_Q8_MANY_MAX];
    for (int i = 0; i < count; i++) x[i] = token_at(xq, stride, i), acc[i] = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + block_bytes * b;
        int32_t sc[8];
        int16_t mins[8];
        k4_scales_mins(blk + 4, sc, mins);
        const uint8x16_t qh0 = fifth_bit ? vld1q_u8(blk + 16) : vdupq_n_u8(0), qh1 = fifth_bit ? vld1q_u8(blk + 32) : vdupq_n_u8(0);
        int32x4_t sumi[CN_Q8_MANY_MAX];
        for (int i = 0; i < count; i++) sumi[i] = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(blk + codes_at + 32 * j), q1 = vld1q_u8(blk + codes_at + 16 + 32 * j);
            int8x16_t c[4] = {vreinterpretq_s8_u8(vandq_u8(q0, low_mask)), vreinterpretq_s8_u8(vandq_u8(q1, low_mask)),
                              vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vreinterpretq_s8_u8(vshrq_n_u8(q1, 4))};
            if (fifth_bit) { /* vtstq: all ones where the bit is set, so & 16 is the fifth bit's value */
                const uint8x16_t bit_lo = vdupq_n_u8((uint8_t)(1u << (2 * j))), bit_hi = vdupq_n_u8((uint8_t)(2u << (2 * j)));
                c[0] = vorrq_s8(c[0], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bit_lo), sixteen)));
                c[1] = vorrq_s8(c[1], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bit_lo), sixteen)));
                c[2] = vorrq_s8(c[2], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bit_hi), sixteen)));
                c[3] = vorrq_s8(c[3], vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bit_hi), sixteen)));
            }
            for (int i = 0; i < count; i++) {
                const int8_t *xi = x[i][b].q + 64 * j;
                int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
                lo = Q8_NEON_DOT16(lo, c[0], vld1q_s8(xi));
                lo = Q8_NEON_DOT16(lo, c[1], vld1q_s8(xi + 16));
                hi = Q8_NEON_DOT16(hi, c[2], vld1q_s8(xi + 32));
                hi = Q8_NEON_DOT16(hi, c[3], vld1q_s8(xi + 48));
                sumi[i] = vmlaq_n_s32(sumi[i], lo, sc[2 * j]);
                sumi[i] = vmlaq_n_s32(sumi[i], hi, sc[2 * j + 1]);
            }
        }
        for (int i = 0; i < count; i++) {
            const cn_q8_block *xb = x[i] + b;
            const int32_t summ = k4_min_sum(mins, xb->sum16);
            const float dd = xb->d * f16_at(blk), dm = xb->d * f16_at(blk + 2);
            const float t = dd * (float)vaddvq_s32(sumi[i]) - dm * (float)summ;
            acc[i] = acc[i] + t;
        }
    }
    for (int i = 0; i < count; i++) out[i] = acc[i];
}

/* Q6_K (as Q8_NEON_FN(q6_k)). */
NEON_INLINE void q6_k_many_neon(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, float *out) {
    const uint8x16_t mask4 = vdupq_n_u8(0x0f), mask2 = vdupq_n_u8(3);
    const cn_q8_block *x[CN_Q8_MANY_MAX];
    float acc[CN_Q8_MANY_MAX];
    for (int i = 0; i < count; i++) x[i] = token_at(xq, stride, i), acc[i] = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        int32x4_t sumi[CN_Q8_MANY_MAX];
        for (int i = 0; i < count; i++) sumi[i] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const int8_t *sc = (const int8_t *)blk + 192 + 8 * h;
            for (int half = 0; half < 2; half++) {
                const uint8x16_t ql0 = vld1q_u8(blk + 64 * h + 16 * half), ql1 = vld1q_u8(blk + 64 * h + 32 + 16 * half);
                const uint8x16_t qh = vld1q_u8(blk + 128 + 32 * h + 16 * half);
                const int8x16_t codes[4] = {
                    vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql0, mask4), vshlq_n_u8(vandq_u8(qh, mask2), 4))),
                    vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ql1, mask4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), mask2), 4))),
                    vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), mask2), 4))),
                    vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4))),
                };
                for (int i = 0; i < count; i++) {
                    const int8_t *xh = x[i][b].q + 128 * h + 16 * half;
                    for (int k = 0; k < 4; k++) {
                        const int32x4_t d = Q8_NEON_DOT16(vdupq_n_s32(0), codes[k], vld1q_s8(xh + 32 * k));
                        sumi[i] = vmlaq_n_s32(sumi[i], d, sc[2 * k + half]);
                    }
                }
            }
        }
        const int8x16_t sc16 = vld1q_s8((const int8_t *)blk + 192);
        const int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc16)), sc_hi = vmovl_high_s8(sc16);
        for (int i = 0; i < count; i++) {
            const cn_q8_block *xb = x[i] + b;
            const int16x8_t s_lo = vld1q_s16(xb->sum16), s_hi = vld1q_s16(xb->sum16 + 8);
            const int32x4_t off = vaddq_s32(vaddq_s32(vmull_s16(vget_low_s16(sc_lo), vget_low_s16(s_lo)), vmull_high_s16(sc_lo, s_lo)),
                                            vaddq_s32(vmull_s16(vget_low_s16(sc_hi), vget_low_s16(s_hi)), vmull_high_s16(sc_hi, s_hi)));
            const int32_t total = vaddvq_s32(sumi[i]) - 32 * vaddvq_s32(off);
            const float dd = xb->d * f16_at(blk + 208);
            const float t = dd * (float)total;
            acc[i] = acc[i] + t;
        }
    }
    for (int i = 0; i < count; i++) out[i] = acc[i];
}

/* The per-32 formats' record for each token (Q8_0, both MXFP4s): w[k] block k's 32 int8 weight
 * values (blocks past `used` zero), w_scale_lo / hi the eight blocks' weight scales; each token's
 * eight block sums and f32 steps follow the one-token record's (record_add), lanes of a short
 * last record untouched. */
NEON_INLINE void int8_record_many(const int8x16_t w[8][2], float32x4_t w_scale_lo, float32x4_t w_scale_hi, int used,
                                  const cn_q8_32x8 *const x[], int64_t r, int count, float32x4_t lanes_lo[], float32x4_t lanes_hi[]) {
    const int32x4_t index_lo = {0, 1, 2, 3}, index_hi = {4, 5, 6, 7};
    const uint32x4_t keep_lo = vcltq_s32(index_lo, vdupq_n_s32(used)), keep_hi = vcltq_s32(index_hi, vdupq_n_s32(used));
    for (int i = 0; i < count; i++) {
        const cn_q8_32x8 *xr = x[i] + r;
        int32x4_t s[8];
        for (int k = 0; k < 8; k++) {
            s[k] = vdupq_n_s32(0);
            if (k < used) {
                s[k] = Q8_NEON_DOT16(s[k], w[k][0], vld1q_s8(xr->q + 32 * k));
                s[k] = Q8_NEON_DOT16(s[k], w[k][1], vld1q_s8(xr->q + 32 * k + 16));
            }
        }
        const int32x4_t sum_lo = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
        const int32x4_t sum_hi = vpaddq_s32(vpaddq_s32(s[4], s[5]), vpaddq_s32(s[6], s[7]));
        const float32x4_t t_lo = vmulq_f32(vmulq_f32(w_scale_lo, vld1q_f32(xr->d)), vcvtq_f32_s32(sum_lo));
        const float32x4_t t_hi = vmulq_f32(vmulq_f32(w_scale_hi, vld1q_f32(xr->d + 4)), vcvtq_f32_s32(sum_hi));
        lanes_lo[i] = vbslq_f32(keep_lo, vaddq_f32(lanes_lo[i], t_lo), lanes_lo[i]);
        lanes_hi[i] = vbslq_f32(keep_hi, vaddq_f32(lanes_hi[i], t_hi), lanes_hi[i]);
    }
}

/* Q8_0 (as Q8_NEON_FN(q8_0) with q8_0_record): a record's weights are loaded and their f16
 * scales widened once, then int8_record_many. */
NEON_INLINE void q8_0_many_neon(const uint8_t *row, const void *xq, size_t stride, int count, int64_t n, float *out) {
    const int64_t blocks = n / 32;
    const cn_q8_32x8 *x[CN_Q8_MANY_MAX];
    float32x4_t lanes_lo[CN_Q8_MANY_MAX], lanes_hi[CN_Q8_MANY_MAX];
    for (int i = 0; i < count; i++) x[i] = token_at(xq, stride, i), lanes_lo[i] = lanes_hi[i] = vdupq_n_f32(0.0f);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int used = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        const uint8_t *rec = row + 34 * 8 * r;
        int8x16_t w[8][2];
        uint16_t d_bits[8] = {0};
        for (int k = 0; k < 8; k++) {
            w[k][0] = w[k][1] = vdupq_n_s8(0);
            if (k < used) {
                w[k][0] = vld1q_s8((const int8_t *)rec + 34 * k + 2);
                w[k][1] = vld1q_s8((const int8_t *)rec + 34 * k + 18);
                memcpy(&d_bits[k], rec + 34 * k, 2);
            }
        }
        const uint16x8_t dh = vld1q_u16(d_bits);
        const float32x4_t dw_lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(dh)));
        const float32x4_t dw_hi = vcvt_high_f32_f16(vreinterpretq_f16_u16(dh));
        int8_record_many(w, dw_lo, dw_hi, used, x, r, count, lanes_lo, lanes_hi);
    }
    for (int i = 0; i < count; i++) out[i] = reduce_lanes(lanes_lo[i], lanes_hi[i]);
}

/* MXFP4, both layouts (as Q8_NEON_FN(mxfp4) with mxfp4_record): a record's codes are looked up
 * and its halved scales computed once (mxfp4_block), then int8_record_many. DeepSeek's layout
 * (ggml false) reads its scale bytes from row_scales. */
NEON_INLINE void mxfp4_many_neon(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t stride, int count, int64_t n,
                                 bool ggml, float *out) {
    const int64_t blocks = n / 32;
    const cn_q8_32x8 *x[CN_Q8_MANY_MAX];
    float32x4_t lanes_lo[CN_Q8_MANY_MAX], lanes_hi[CN_Q8_MANY_MAX];
    for (int i = 0; i < count; i++) x[i] = token_at(xq, stride, i), lanes_lo[i] = lanes_hi[i] = vdupq_n_f32(0.0f);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int used = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        const uint8_t *rec = row + (ggml ? 17 : 16) * 8 * r;
        int8x16_t w[8][2];
        float half[8] = {0};
        for (int k = 0; k < 8; k++) {
            w[k][0] = w[k][1] = vdupq_n_s8(0);
            if (k < used) half[k] = mxfp4_block(rec, ggml ? NULL : row_scales + 8 * r, k, ggml, w[k]);
        }
        int8_record_many(w, vld1q_f32(half), vld1q_f32(half + 4), used, x, r, count, lanes_lo, lanes_hi);
    }
    for (int i = 0; i < count; i++) out[i] = reduce_lanes(lanes_lo[i], lanes_hi[i]);
}

void Q8_NEON_MANY_FN(q4_k)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) k4_many_neon(row, xq, xq_stride, (c), n, false, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

void Q8_NEON_MANY_FN(q5_k)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) k4_many_neon(row, xq, xq_stride, (c), n, true, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

void Q8_NEON_MANY_FN(q6_k)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) q6_k_many_neon(row, xq, xq_stride, (c), n, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

void Q8_NEON_MANY_FN(q8_0)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) q8_0_many_neon(row, xq, xq_stride, (c), n, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

void Q8_NEON_MANY_FN(mxfp4)(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens, int64_t n,
                           float *out) {
#define CALL(c) mxfp4_many_neon(row, row_scales, xq, xq_stride, (c), n, false, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

void Q8_NEON_MANY_FN(mxfp4_ggml)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out) {
#define CALL(c) mxfp4_many_neon(row, NULL, xq, xq_stride, (c), n, true, out)
    CN_Q8_MANY_BY_COUNT(CALL)
#undef CALL
}

#endif
