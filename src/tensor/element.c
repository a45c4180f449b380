#include "tensor/element.h"

#include <math.h>

float cn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return cn_f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* subnormal: man * 2^-24 exactly */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return cn_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t cn_f32_to_f16(float f) {
    uint32_t u = cn_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;             /* NaN */
    if (abs >= 0x477ff000u) return sign | 0x7c00u;            /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {                                  /* below 2^-14: subnormal grid 2^-24 */
        float a = cn_f32_from_bits(abs);
        return sign | (uint16_t)lrintf(a * 0x1p24f);
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);           /* round to nearest even at bit 13 */
    return sign | (uint16_t)((r >> 13) - (112u << 10));
}

uint8_t cn_f32_to_e2m1(float f) {
    const uint8_t sign = signbit(f) ? 8 : 0;
    float a = fabsf(f);
    if (!(a <= 6.0f)) a = 6.0f; /* saturate; NaN too */
    /* Codes 0..7 are {0, .5, 1, 1.5, 2, 3, 4, 6}: below 2 the code is a / 0.5, between 2 and 4
     * it is 2 + a, above 4 it is 4 + a / 2. rintf rounds halves to even, and on every step the
     * even integer is the even code. */
    float q;
    if (a < 2.0f) q = rintf(a * 2.0f);                /* 0..4 (4 = the code of 2.0) */
    else if (a < 4.0f) q = 2.0f + rintf(a);           /* 4..6, 3.5 -> 4 -> code 6 */
    else q = 4.0f + rintf(a * 0.5f);                  /* 6..7, 5 -> 2.5 -> 2 -> code 6 */
    return sign | (uint8_t)q;
}

uint8_t cn_f32_to_e4m3(float f) {
    if (isnan(f)) return 0x7f;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a > 448.0f) a = 448.0f;
    float q;
    if (a < 0x1p-6f) {
        q = rintf(a * 0x1p9f); /* subnormal code = q (0..8; 8 means the smallest normal) */
        return sign | (uint8_t)q;
    }
    int e = (int)floorf(log2f(a));
    q = rintf(ldexpf(a, 3 - e)); /* 8..16 */
    if (q >= 16.0f) {
        q = 8.0f;
        e += 1;
    }
    return sign | (uint8_t)(((e + 7) << 3) | ((int)q - 8));
}

