/* The NEON integer dots of q8_activations.h for the low-bit formats Q2_K, Q3_K and IQ2_XXS,
 * written once for both ways of summing 16 int8 products, as q8_dot_neon_kernels.h (which must be
 * included first: Q8_NEON_DOT16, Q8_NEON_FN, f16_at). Codes are read as signed bytes: Q2_K's 0..3
 * and Q3_K's 0..7 are the same numbers signed, IQ2_XXS's weights are m·sign in −43..43. Every
 * integer sum is exact (bounds in q8_activations.h) and the f32 steps are the reference's, so each
 * kernel gives its reference's bits. Internal to src/tensor; include only under
 * `defined(__aarch64__)`. */
#ifndef CN_TENSOR_Q8_DOT_NEON_LOWBIT_H
#define CN_TENSOR_Q8_DOT_NEON_LOWBIT_H

#include <arm_neon.h>
#include <string.h>

#include "tensor/kquants.h"
#include "tensor/q8_activations.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* The four 2-bit fields of 16 bytes: codes[k] = bits 2k, 2k + 1 of each byte. */
NEON_INLINE void two_bit_fields(uint8x16_t q, uint8x16_t codes[4]) {
    const uint8x16_t mask2 = vdupq_n_u8(3);
    codes[0] = vandq_u8(q, mask2);
    codes[1] = vandq_u8(vshrq_n_u8(q, 2), mask2);
    codes[2] = vandq_u8(vshrq_n_u8(q, 4), mask2);
    codes[3] = vshrq_n_u8(q, 6);
}

/* Σ_j a[j]·b[j] over sixteen int16 (each product at most 2^15·2^11 in magnitude here). */
NEON_INLINE int32_t dot_i16x16(int16x8_t a_lo, int16x8_t a_hi, const int16_t *b) {
    const int16x8_t b_lo = vld1q_s16(b), b_hi = vld1q_s16(b + 8);
    const int32x4_t s = vaddq_s32(vaddq_s32(vmull_s16(vget_low_s16(a_lo), vget_low_s16(b_lo)), vmull_high_s16(a_lo, b_lo)),
                                  vaddq_s32(vmull_s16(vget_low_s16(a_hi), vget_low_s16(b_hi)), vmull_high_s16(a_hi, b_hi)));
    return vaddvq_s32(s);
}

/* Q2_K: element 128h + 32k + l is field k of byte 16 + 32h + l, in run 8h + 2k + (l ≥ 16), whose
 * scale and min are the low and high nibbles of byte run. */
float Q8_NEON_FN(q2_k)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 84 * b;
        const cn_q8_block *xb = x + b;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                uint8x16_t codes[4];
                two_bit_fields(vld1q_u8(blk + 16 + 32 * h + 16 * half), codes);
                for (int k = 0; k < 4; k++) {
                    const int8x16_t xq = vld1q_s8(xb->q + 128 * h + 32 * k + 16 * half);
                    const int32x4_t d = Q8_NEON_DOT16(vdupq_n_s32(0), vreinterpretq_s8_u8(codes[k]), xq);
                    sumi = vmlaq_n_s32(sumi, d, blk[8 * h + 2 * k + half] & 0xf);
                }
            }
        const uint8x16_t mins = vshrq_n_u8(vld1q_u8(blk), 4);
        const int32_t summ =
            dot_i16x16(vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins))), vreinterpretq_s16_u16(vmovl_high_u8(mins)), xb->sum16);
        const float dd = xb->d * f16_at(blk + 80), dm = xb->d * f16_at(blk + 82);
        const float t = dd * (float)vaddvq_s32(sumi) - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

/* Q3_K: element 32g + l (g = 4h + k) is field k of byte 32 + 32h + l, plus 4 where bit g of
 * hmask[l] is set (u, 0..7); sumi = Σ_run sc·Σ u·qx − 4·Σ_run sc·sum16. */
float Q8_NEON_FN(q3_k)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    const uint8x16_t four = vdupq_n_u8(4);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 110 * b;
        const cn_q8_block *xb = x + b;
        int16_t sc[16];
        for (int j = 0; j < 16; j++) sc[j] = (int16_t)(cn_q3_k_scale(blk + 96, j) - 32);
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                uint8x16_t codes[4];
                two_bit_fields(vld1q_u8(blk + 32 + 32 * h + 16 * half), codes);
                const uint8x16_t hmask = vld1q_u8(blk + 16 * half);
                for (int k = 0; k < 4; k++) {
                    const uint8x16_t high = vandq_u8(vtstq_u8(hmask, vdupq_n_u8((uint8_t)(1u << (4 * h + k)))), four);
                    const int8x16_t u = vreinterpretq_s8_u8(vorrq_u8(codes[k], high));
                    const int32x4_t d = Q8_NEON_DOT16(vdupq_n_s32(0), u, vld1q_s8(xb->q + 128 * h + 32 * k + 16 * half));
                    sumi = vmlaq_n_s32(sumi, d, sc[8 * h + 2 * k + half]);
                }
            }
        const int32_t offset = dot_i16x16(vld1q_s16(sc), vld1q_s16(sc + 8), xb->sum16);
        const float dd = xb->d * f16_at(blk + 108);
        const float t = dd * (float)(vaddvq_s32(sumi) - 4 * offset);
        acc = acc + t;
    }
    return acc;
}

/* IQ2_XXS: per group the grid rows' magnitudes (cn_iq2xxs_grid_bytes) times the ±1 bytes of the
 * sign indices (cn_iq2xxs_sign_bytes) in one int8 multiply (|m| ≤ 43), then 32 products and
 * the factor 2s + 1. */
float Q8_NEON_FN(iq2_xxs)(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 66 * b;
        const cn_q8_block *xb = x + b;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int g = 0; g < 8; g++) {
            const uint8_t *q = blk + 2 + 8 * g;
            uint32_t aux1;
            memcpy(&aux1, q + 4, 4);
            const int8x16_t m0 = vcombine_s8(vcreate_s8(cn_iq2xxs_grid_bytes[q[0]]), vcreate_s8(cn_iq2xxs_grid_bytes[q[1]]));
            const int8x16_t m1 = vcombine_s8(vcreate_s8(cn_iq2xxs_grid_bytes[q[2]]), vcreate_s8(cn_iq2xxs_grid_bytes[q[3]]));
            const int8x16_t s0 =
                vcombine_s8(vcreate_s8(cn_iq2xxs_sign_bytes[aux1 & 127u]), vcreate_s8(cn_iq2xxs_sign_bytes[(aux1 >> 7) & 127u]));
            const int8x16_t s1 =
                vcombine_s8(vcreate_s8(cn_iq2xxs_sign_bytes[(aux1 >> 14) & 127u]), vcreate_s8(cn_iq2xxs_sign_bytes[(aux1 >> 21) & 127u]));
            int32x4_t d = Q8_NEON_DOT16(vdupq_n_s32(0), vmulq_s8(m0, s0), vld1q_s8(xb->q + 32 * g));
            d = Q8_NEON_DOT16(d, vmulq_s8(m1, s1), vld1q_s8(xb->q + 32 * g + 16));
            sumi = vmlaq_n_s32(sumi, d, 2 * (int32_t)(aux1 >> 28) + 1);
        }
        const float dd = xb->d * (f16_at(blk) * 0.125f);
        const float t = dd * (float)vaddvq_s32(sumi);
        acc = acc + t;
    }
    return acc;
}

#endif
