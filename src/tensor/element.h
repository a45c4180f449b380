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

/* OCP e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN, max 448. */
float cn_e4m3_to_f32(uint8_t v);
/* Saturating round-to-nearest-even (spec 13.4). */
uint8_t cn_f32_to_e4m3(float f);

/* E8M0 scale 2^(e-127); e = 255 is NaN, e = 0 is 2^-127. */
float cn_e8m0_to_f32(uint8_t e);

/* E2M1 code (bit 3 sign, bits 0-2 index into {0, .5, 1, 1.5, 2, 3, 4, 6}). */
float cn_e2m1_to_f32(uint8_t code);

#endif
