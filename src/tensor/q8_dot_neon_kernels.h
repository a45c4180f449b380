/* The NEON integer dots of q8_activations.h, written once for two ways of summing 16 int8
 * products: included by q8_dot_neon.c (widening multiplies, armv8.0) and q8_dot_neon_sdot.c
 * (SDOT, built for armv8.2-a+dotprod), each of which defines first
 *   Q8_NEON_DOT16(acc, w, x)  int32x4_t acc plus the 16 products w[i]·x[i] (int8x16_t w, x),
 *                             spread over the four lanes in any way (all that is used is the sum);
 *   Q8_NEON_FN(fmt)           the name of format fmt's kernel (cn_q4_k_q8_dot_neon, ...).
 * Every weight code is read as a signed byte: Q4_K's 0..15, Q5_K's 0..31 and Q6_K's unsigned
 * 0..63 are the same numbers signed, Q8_0's are signed, MXFP4's are looked up as signed doubled
 * values (-12..12). The integer sums are exact whatever the
 * order (bounds in q8_activations.h: well inside int32, and a lane holds a part of the sum), so
 * each block's sumi (and summ) is the reference's; the f32 steps after them are the reference's,
 * operation for operation, not contracted into FMAs (ISO C mode: -std=c17; clang: the pragma),
 * so each kernel gives its reference's bits. Internal to src/tensor; include only under
 * `defined(__aarch64__)`. */
#ifndef CN_TENSOR_Q8_DOT_NEON_KERNELS_H
#define CN_TENSOR_Q8_DOT_NEON_KERNELS_H

#include <arm_neon.h>
#include <string.h>

#include "tensor/dot_chain_neon.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/q8_activations.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* The eight 6-bit scales and mins of a Q4_K / Q5_K block (kquants.h's layout). */
NEON_INLINE void k4_scales_mins(const uint8_t *s, int32_t sc[8], int16_t mins[8]) {
    for (int g = 0; g < 8; g++) {
        int scale, min;
        cn_k4_scale_min(s, g, &scale, &min);
        sc[g] = scale, mins[g] = (int16_t)min;
    }
}

/* Σ_g mins[g]·(sum16[2g] + sum16[2g + 1]): the pair sums fit int16 (|sum16| ≤ 16·127). */
NEON_INLINE int32_t k4_min_sum(const int16_t mins[8], const int16_t sum16[16]) {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(sum16), vld1q_s16(sum16 + 8));
    const int16x8_t m = vld1q_s16(mins);
    return vaddvq_s32(vaddq_s32(vmull_s16(vget_low_s16(m), vget_low_s16(pairs)), vmull_high_s16(m, pairs)));
}

/* Q4_K: groups 2j and 2j + 1 are the low and high nibbles of bytes 16 + 32j .. + 31; group g
 * meets activations 32g .. 32g + 31. */
float Q8_NEON_FN(q4_k)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 144 * b;
        const cn_q8_block *xb = x + b;
        int32_t sc[8];
        int16_t mins[8];
        k4_scales_mins(blk + 4, sc, mins);
        int32x4_t sumi = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(blk + 16 + 32 * j), q1 = vld1q_u8(blk + 32 + 32 * j);
            const int8_t *xq = xb->q + 64 * j;
            int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
            lo = Q8_NEON_DOT16(lo, vreinterpretq_s8_u8(vandq_u8(q0, low_mask)), vld1q_s8(xq));
            lo = Q8_NEON_DOT16(lo, vreinterpretq_s8_u8(vandq_u8(q1, low_mask)), vld1q_s8(xq + 16));
            hi = Q8_NEON_DOT16(hi, vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(xq + 32));
            hi = Q8_NEON_DOT16(hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(xq + 48));
            sumi = vmlaq_n_s32(sumi, lo, sc[2 * j]);
            sumi = vmlaq_n_s32(sumi, hi, sc[2 * j + 1]);
        }
        const int32_t summ = k4_min_sum(mins, xb->sum16);
        const float dd = xb->d * f16_at(blk), dm = xb->d * f16_at(blk + 2);
        const float t = dd * (float)vaddvq_s32(sumi) - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

/* Q5_K: Q4_K's nibbles (at byte 48) with bit g of qh[l] (bytes 16..47) as 16. */
float Q8_NEON_FN(q5_k)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const uint8x16_t low_mask = vdupq_n_u8(0x0f), sixteen = vdupq_n_u8(16);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 176 * b;
        const cn_q8_block *xb = x + b;
        int32_t sc[8];
        int16_t mins[8];
        k4_scales_mins(blk + 4, sc, mins);
        const uint8x16_t qh0 = vld1q_u8(blk + 16), qh1 = vld1q_u8(blk + 32);
        int32x4_t sumi = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) {
            const uint8x16_t q0 = vld1q_u8(blk + 48 + 32 * j), q1 = vld1q_u8(blk + 64 + 32 * j);
            const uint8x16_t bit_lo = vdupq_n_u8((uint8_t)(1u << (2 * j))), bit_hi = vdupq_n_u8((uint8_t)(2u << (2 * j)));
            const int8_t *xq = xb->q + 64 * j;
            /* vtstq: all ones where the bit is set, so & 16 is the fifth bit's value */
#define CODES(nibbles, qh, bit) vreinterpretq_s8_u8(vorrq_u8((nibbles), vandq_u8(vtstq_u8((qh), (bit)), sixteen)))
            int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
            lo = Q8_NEON_DOT16(lo, CODES(vandq_u8(q0, low_mask), qh0, bit_lo), vld1q_s8(xq));
            lo = Q8_NEON_DOT16(lo, CODES(vandq_u8(q1, low_mask), qh1, bit_lo), vld1q_s8(xq + 16));
            hi = Q8_NEON_DOT16(hi, CODES(vshrq_n_u8(q0, 4), qh0, bit_hi), vld1q_s8(xq + 32));
            hi = Q8_NEON_DOT16(hi, CODES(vshrq_n_u8(q1, 4), qh1, bit_hi), vld1q_s8(xq + 48));
#undef CODES
            sumi = vmlaq_n_s32(sumi, lo, sc[2 * j]);
            sumi = vmlaq_n_s32(sumi, hi, sc[2 * j + 1]);
        }
        const int32_t summ = k4_min_sum(mins, xb->sum16);
        const float dd = xb->d * f16_at(blk), dm = xb->d * f16_at(blk + 2);
        const float t = dd * (float)vaddvq_s32(sumi) - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

/* Q6_K: element 128h + 32k + l is the low (k < 2) or high nibble of ql[64h + 32(k & 1) + l] with
 * bits 2k, 2k + 1 of qh[128 + 32h + l] above it, unsigned; it is in run 8h + 2k + (l ≥ 16), whose
 * int8 scale is byte 192 + run. sumi = Σ_run sc·Σ u·qx − 32·Σ_run sc·sum16 (the reference's
 * Σ_run sc·(Σ u·qx − 32·sum16), exactly). */
float Q8_NEON_FN(q6_k)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const uint8x16_t mask4 = vdupq_n_u8(0x0f), mask2 = vdupq_n_u8(3);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        const cn_q8_block *xb = x + b;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const int8_t *xh = xb->q + 128 * h;
            const int8_t *sc = (const int8_t *)blk + 192 + 8 * h;
            for (int half = 0; half < 2; half++) {
                const uint8x16_t ql0 = vld1q_u8(blk + 64 * h + 16 * half), ql1 = vld1q_u8(blk + 64 * h + 32 + 16 * half);
                const uint8x16_t qh = vld1q_u8(blk + 128 + 32 * h + 16 * half);
                const uint8x16_t codes[4] = {
                    vorrq_u8(vandq_u8(ql0, mask4), vshlq_n_u8(vandq_u8(qh, mask2), 4)),
                    vorrq_u8(vandq_u8(ql1, mask4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), mask2), 4)),
                    vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), mask2), 4)),
                    vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)),
                };
                for (int k = 0; k < 4; k++) {
                    const int32x4_t d = Q8_NEON_DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(codes[k]), vld1q_s8(xh + 32 * k + 16 * half));
                    sumi = vmlaq_n_s32(sumi, d, sc[2 * k + half]);
                }
            }
        }
        /* Σ_run sc·sum16 (each product at most 128·2032 in magnitude) */
        const int8x16_t sc16 = vld1q_s8((const int8_t *)blk + 192);
        const int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc16)), sc_hi = vmovl_high_s8(sc16);
        const int16x8_t s_lo = vld1q_s16(xb->sum16), s_hi = vld1q_s16(xb->sum16 + 8);
        const int32x4_t off = vaddq_s32(vaddq_s32(vmull_s16(vget_low_s16(sc_lo), vget_low_s16(s_lo)), vmull_high_s16(sc_lo, s_lo)),
                                        vaddq_s32(vmull_s16(vget_low_s16(sc_hi), vget_low_s16(s_hi)), vmull_high_s16(sc_hi, s_hi)));
        const int32_t total = vaddvq_s32(sumi) - 32 * vaddvq_s32(off);
        const float dd = xb->d * f16_at(blk + 208);
        const float t = dd * (float)total;
        acc = acc + t;
    }
    return acc;
}

/* Lane k of (*lanes_lo, *lanes_hi) += (w_scale[k]·dx[k])·sumi[k] for the first count of eight
 * blocks, sumi[k] the sum of the four lanes of s[k] (pairwise adds); a last record of fewer
 * blocks adds to its lanes only (adding 0 to the others could turn -0 into +0). */
NEON_INLINE void record_add(const int32x4_t s[8], float32x4_t w_scale_lo, float32x4_t w_scale_hi, const cn_q8_32x8 *xr, int count,
                            float32x4_t *lanes_lo, float32x4_t *lanes_hi) {
    const int32x4_t sum_lo = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
    const int32x4_t sum_hi = vpaddq_s32(vpaddq_s32(s[4], s[5]), vpaddq_s32(s[6], s[7]));
    const float32x4_t t_lo = vmulq_f32(vmulq_f32(w_scale_lo, vld1q_f32(xr->d)), vcvtq_f32_s32(sum_lo));
    const float32x4_t t_hi = vmulq_f32(vmulq_f32(w_scale_hi, vld1q_f32(xr->d + 4)), vcvtq_f32_s32(sum_hi));
    if (count == 8) {
        *lanes_lo = vaddq_f32(*lanes_lo, t_lo);
        *lanes_hi = vaddq_f32(*lanes_hi, t_hi);
    } else {
        const int32x4_t index_lo = {0, 1, 2, 3}, index_hi = {4, 5, 6, 7};
        const int32x4_t c = vdupq_n_s32(count);
        *lanes_lo = vbslq_f32(vcltq_s32(index_lo, c), vaddq_f32(*lanes_lo, t_lo), *lanes_lo);
        *lanes_hi = vbslq_f32(vcltq_s32(index_hi, c), vaddq_f32(*lanes_hi, t_hi), *lanes_hi);
    }
}

/* ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) */
NEON_INLINE float reduce_lanes(float32x4_t lanes_lo, float32x4_t lanes_hi) {
    const float32x4_t q = vaddq_f32(lanes_lo, lanes_hi);
    const float32x2_t r = vadd_f32(vget_low_f32(q), vget_high_f32(q));
    return vget_lane_f32(r, 0) + vget_lane_f32(r, 1);
}

/* Q8_0: eight blocks at a time, block k's exact sumi in lane k of two int32x4 (pairwise adds of
 * its partial sums), then lane k += (dw·dx)·sumi as the reference's lane[b mod 8]. */
NEON_INLINE void q8_0_record(const uint8_t *blk, const cn_q8_32x8 *xr, int count, float32x4_t *lanes_lo, float32x4_t *lanes_hi) {
    int32x4_t s[8];
    uint16_t d_bits[8] = {0};
    for (int k = 0; k < 8; k++) {
        s[k] = vdupq_n_s32(0);
        if (k < count) {
            const uint8_t *w = blk + 34 * k;
            s[k] = Q8_NEON_DOT16(s[k], vld1q_s8((const int8_t *)w + 2), vld1q_s8(xr->q + 32 * k));
            s[k] = Q8_NEON_DOT16(s[k], vld1q_s8((const int8_t *)w + 18), vld1q_s8(xr->q + 32 * k + 16));
            memcpy(&d_bits[k], w, 2);
        }
    }
    const uint16x8_t dh = vld1q_u16(d_bits);
    const float32x4_t dw_lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(dh)));
    const float32x4_t dw_hi = vcvt_high_f32_f16(vreinterpretq_f16_u16(dh));
    record_add(s, dw_lo, dw_hi, xr, count, lanes_lo, lanes_hi);
}

float Q8_NEON_FN(q8_0)(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    float32x4_t lanes_lo = vdupq_n_f32(0.0f), lanes_hi = vdupq_n_f32(0.0f);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int count = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        q8_0_record(row + 34 * 8 * r, x + r, count, &lanes_lo, &lanes_hi);
    }
    return reduce_lanes(lanes_lo, lanes_hi);
}

/* MXFP4 (both layouts): a table lookup (vqtbl1q_s8) turns 16 codes into their signed doubled
 * values, which are int8 like Q8_0's weights; then Q8_0's record steps with half the E8M0 scale
 * (computed per block as the reference does) in place of dw. DeepSeek's pairs: vzip of the low
 * and high nibbles puts elements 0..15 and 16..31 in order; ggml's block: the low nibbles are
 * elements 0..15, the high ones 16..31. Block k of the record at p: its values in w[0] (elements
 * 0..15) and w[1] (16..31), its halved scale returned. */
NEON_INLINE float mxfp4_block(const uint8_t *p, const uint8_t *scales, int k, bool ggml, int8x16_t w[2]) {
    static const int8_t doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t lut = vld1q_s8(doubled);
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    uint8x16_t first, second;
    float half;
    if (ggml) {
        const uint8x16_t v = vld1q_u8(p + 17 * k + 1);
        first = vandq_u8(v, mask), second = vshrq_n_u8(v, 4);
        const uint32_t e = p[17 * k];
        half = cn_f32_from_bits(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    } else {
        const uint8x16_t v = vld1q_u8(p + 16 * k), lo = vandq_u8(v, mask), hi = vshrq_n_u8(v, 4);
        first = vzip1q_u8(lo, hi), second = vzip2q_u8(lo, hi);
        half = cn_e8m0_to_f32(scales[k]) * 0.5f;
    }
    w[0] = vqtbl1q_s8(lut, first), w[1] = vqtbl1q_s8(lut, second);
    return half;
}

NEON_INLINE void mxfp4_record(const uint8_t *p, const uint8_t *scales, const cn_q8_32x8 *xr, int count, bool ggml,
                              float32x4_t *lanes_lo, float32x4_t *lanes_hi) {
    int32x4_t s[8];
    float half[8] = {0};
    for (int k = 0; k < 8; k++) {
        s[k] = vdupq_n_s32(0);
        if (k < count) {
            int8x16_t w[2];
            half[k] = mxfp4_block(p, scales, k, ggml, w);
            s[k] = Q8_NEON_DOT16(s[k], w[0], vld1q_s8(xr->q + 32 * k));
            s[k] = Q8_NEON_DOT16(s[k], w[1], vld1q_s8(xr->q + 32 * k + 16));
        }
    }
    record_add(s, vld1q_f32(half), vld1q_f32(half + 4), xr, count, lanes_lo, lanes_hi);
}

float Q8_NEON_FN(mxfp4)(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    float32x4_t lanes_lo = vdupq_n_f32(0.0f), lanes_hi = vdupq_n_f32(0.0f);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int count = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        mxfp4_record(row + 16 * 8 * r, row_scales + 8 * r, x + r, count, false, &lanes_lo, &lanes_hi);
    }
    return reduce_lanes(lanes_lo, lanes_hi);
}

float Q8_NEON_FN(mxfp4_ggml)(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    const int64_t blocks = n / 32;
    float32x4_t lanes_lo = vdupq_n_f32(0.0f), lanes_hi = vdupq_n_f32(0.0f);
    for (int64_t r = 0; 8 * r < blocks; r++) {
        const int count = blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r);
        mxfp4_record(row + 17 * 8 * r, NULL, x + r, count, true, &lanes_lo, &lanes_hi);
    }
    return reduce_lanes(lanes_lo, lanes_hi);
}

#endif
