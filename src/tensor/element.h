/* Scalar conversions between stored element formats and f32. These are the reference
 * definitions every optimised kernel is checked against (specs/deepseek-v4.md 10.1, 13.4). */
#ifndef CN_TENSOR_ELEMENT_H
#define CN_TENSOR_ELEMENT_H

#include <stdint.h>
#include <string.h>

static inline float cn_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t cn_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float cn_bf16_to_f32(uint16_t h) { return cn_f32_from_bits((uint32_t)h << 16); }

/* Round to nearest even; NaN stays NaN. */
static inline uint16_t cn_f32_to_bf16(float f) {
    uint32_t u = cn_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float cn_f16_to_f32(uint16_t h);
uint16_t cn_f32_to_f16(float f);

/* OCP e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN, max 448. Inline: it sits in the
 * innermost loop of every FP8 weight row. */
static inline float cn_e4m3_to_f32(uint8_t v) {
    const uint32_t sign = (uint32_t)(v & 0x80u) << 24, exp = (v >> 3) & 0xfu, man = v & 7u;
    if (exp == 0xf && man == 7) return cn_f32_from_bits(0x7fc00000u); /* NaN */
    if (exp == 0) /* subnormal: man * 2^-9, exact */
        return cn_f32_from_bits(sign | cn_f32_bits((float)man * 0x1p-9f));
    /* Normal: rebias the exponent (7 -> 127) and widen the 3-bit mantissa; no arithmetic. */
    return cn_f32_from_bits(sign | ((exp + 120u) << 23) | (man << 20));
}
/* Saturating round-to-nearest-even (spec 13.4). */
uint8_t cn_f32_to_e4m3(float f);

/* E8M0 scale 2^(e-127); e = 255 is NaN, e = 0 is 2^-127. */
static inline float cn_e8m0_to_f32(uint8_t e) {
    if (e == 255) return cn_f32_from_bits(0x7fc00000u);
    return cn_f32_from_bits(e == 0 ? 0x00400000u : (uint32_t)e << 23);
}

/* E2M1 code (bit 3 sign, bits 0-2 index into {0, .5, 1, 1.5, 2, 3, 4, 6}). */
static inline float cn_e2m1_to_f32(uint8_t code) {
    static const float values[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
    return values[code & 15u];
}
/* Saturating round-to-nearest-even to E2M1 (spec 13.4: step 0.5 below 2, 1 below 4, 2 above;
 * halfway cases go to the even code). |f| > 6 gives +-6, NaN gives +-6 with its sign bit (E2M1
 * has no NaN; callers scale so that |f| <= 6). -0 keeps its sign. */
uint8_t cn_f32_to_e2m1(float f);

#endif
