/* The fixed dot chain of row_dot_avx2.h on aarch64 Advanced SIMD (NEON), shared by the NEON
 * kernel files (row_dot_neon.c, row_dot_kquants_neon.c). It is the AVX2 chain lane for lane:
 * AVX2's four 8-lane accumulators are eight 4-lane ones here, AVX2 accumulator k lanes 0..3 and
 * 4..7 being NEON accumulators 2k and 2k + 1, so element i + j of a 32-block (j < 32) goes into
 * the same lane, by the same fused multiply-add (vfmaq_f32 = _mm256_fmadd_ps, one rounding), in
 * the same order; the reduction pairs lanes exactly as sum_accumulators in dot_chain_avx2.h. So
 * a NEON kernel gives the AVX2 kernel's bits for the same decoded weights (test_matmul_kernels
 * holds both to one scalar model of the chain). Internal to src/tensor; include only under
 * `defined(__aarch64__)`. */
#ifndef CN_TENSOR_DOT_CHAIN_NEON_H
#define CN_TENSOR_DOT_CHAIN_NEON_H

#include <arm_neon.h>

#define NEON_INLINE static inline __attribute__((always_inline))

typedef struct {
    float32x4_t v[8];
} weights32; /* 32 decoded weights, element order */

typedef struct {
    float32x4_t v[2];
} weights8;

/* AVX2: s = (A0 + A1) + (A2 + A3) on 8 lanes, then lanes l and l + 4, then (q0 + q2) + (q1 + q3). */
NEON_INLINE float sum_accumulators(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3, float32x4_t a4,
                                   float32x4_t a5, float32x4_t a6, float32x4_t a7) {
    const float32x4_t s_low = vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a4, a6));
    const float32x4_t s_high = vaddq_f32(vaddq_f32(a1, a3), vaddq_f32(a5, a7));
    const float32x4_t q = vaddq_f32(s_low, s_high);
    const float32x2_t r = vadd_f32(vget_low_f32(q), vget_high_f32(q));
    return vget_lane_f32(r, 0) + vget_lane_f32(r, 1);
}

/* One FMA per accumulator for 32 weights (accumulators are named variables, not an array, so
 * that they stay in registers). */
#define FMA_32(acc, w, xt, i)                                                               \
    do {                                                                                    \
        acc##0 = vfmaq_f32(acc##0, (w).v[0], vld1q_f32((xt) + (i)));                        \
        acc##1 = vfmaq_f32(acc##1, (w).v[1], vld1q_f32((xt) + (i) + 4));                    \
        acc##2 = vfmaq_f32(acc##2, (w).v[2], vld1q_f32((xt) + (i) + 8));                    \
        acc##3 = vfmaq_f32(acc##3, (w).v[3], vld1q_f32((xt) + (i) + 12));                   \
        acc##4 = vfmaq_f32(acc##4, (w).v[4], vld1q_f32((xt) + (i) + 16));                   \
        acc##5 = vfmaq_f32(acc##5, (w).v[5], vld1q_f32((xt) + (i) + 20));                   \
        acc##6 = vfmaq_f32(acc##6, (w).v[6], vld1q_f32((xt) + (i) + 24));                   \
        acc##7 = vfmaq_f32(acc##7, (w).v[7], vld1q_f32((xt) + (i) + 28));                   \
    } while (0)

#define DECLARE_ACCUMULATORS(acc) \
    float32x4_t acc##0 = vdupq_n_f32(0.0f), acc##1 = acc##0, acc##2 = acc##0, acc##3 = acc##0, acc##4 = acc##0, \
                acc##5 = acc##0, acc##6 = acc##0, acc##7 = acc##0

#define SUM_ACCUMULATORS(acc) sum_accumulators(acc##0, acc##1, acc##2, acc##3, acc##4, acc##5, acc##6, acc##7)

/* Widening integer lanes to f32 (exact for the small integers every decoder produces). */
NEON_INLINE float32x4_t s8x8_low4(int8x8_t v) { return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(v)))); }
NEON_INLINE float32x4_t s8x8_high4(int8x8_t v) { return vcvtq_f32_s32(vmovl_s16(vget_high_s16(vmovl_s8(v)))); }
NEON_INLINE float32x4_t u8x8_low4(uint8x8_t v) { return vcvtq_f32_u32(vmovl_u16(vget_low_u16(vmovl_u8(v)))); }
NEON_INLINE float32x4_t u8x8_high4(uint8x8_t v) { return vcvtq_f32_u32(vmovl_u16(vget_high_u16(vmovl_u8(v)))); }

/* Sixteen signed bytes (elements in order) times s. */
NEON_INLINE void s8x16_times(int8x16_t q, float32x4_t s, float32x4_t *out) {
    out[0] = vmulq_f32(s8x8_low4(vget_low_s8(q)), s);
    out[1] = vmulq_f32(s8x8_high4(vget_low_s8(q)), s);
    out[2] = vmulq_f32(s8x8_low4(vget_high_s8(q)), s);
    out[3] = vmulq_f32(s8x8_high4(vget_high_s8(q)), s);
}

/* Sixteen unsigned bytes times s, minus m afterwards (two roundings, as the scalar reference). */
NEON_INLINE void u8x16_times_minus(uint8x16_t q, float32x4_t s, float32x4_t m, float32x4_t *out) {
    out[0] = vsubq_f32(vmulq_f32(s, u8x8_low4(vget_low_u8(q))), m);
    out[1] = vsubq_f32(vmulq_f32(s, u8x8_high4(vget_low_u8(q))), m);
    out[2] = vsubq_f32(vmulq_f32(s, u8x8_low4(vget_high_u8(q))), m);
    out[3] = vsubq_f32(vmulq_f32(s, u8x8_high4(vget_high_u8(q))), m);
}

/* An f16 stored at any byte address, widened exactly. */
NEON_INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

#endif
