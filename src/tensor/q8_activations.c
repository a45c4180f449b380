/* Scalar parts of q8_activations.h: the quantiser and the reference Q4_K / Q6_K x Q8 dots. */
#include "tensor/q8_activations.h"

#include <math.h>
#include <string.h>

#include "tensor/element.h"
#include "tensor/kquants.h"

/* Not contracted into FMAs (GCC does not in ISO C mode; clang needs the pragma): the AVX2
 * kernel repeats these steps. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

void cn_q8_quantize_row(const float *x, int64_t n, cn_q8_block *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        cn_q8_block *o = out + b;
        float amax = 0.0f;
        bool finite = true;
        for (int i = 0; i < 256; i++) {
            finite = finite && isfinite(xb[i]);
            const float a = fabsf(xb[i]);
            if (a > amax) amax = a;
        }
        memset(o->q, 0, sizeof o->q);
        memset(o->sum16, 0, sizeof o->sum16);
        if (!finite || amax == 0.0f) { /* NaN makes the dot NaN, as the f32 path would */
            o->d = finite ? 0.0f : NAN;
            continue;
        }
        o->d = amax / 127.0f;
        const float inverse = 127.0f / amax;
        for (int i = 0; i < 256; i++) {
            long v = lrintf(xb[i] * inverse); /* |x·inverse| ≤ 127 up to one rounding */
            if (v > 127) v = 127;
            if (v < -127) v = -127;
            o->q[i] = (int8_t)v;
            o->sum16[i / 16] = (int16_t)(o->sum16[i / 16] + v);
        }
    }
}

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return cn_f16_to_f32(h);
}

float cn_q4_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 144 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0, summ = 0;
        for (int g = 0; g < 8; g++) {
            int sc, m;
            cn_k4_scale_min(blk + 4, g, &sc, &m);
            const uint8_t *q = blk + 16 + 32 * (g / 2);
            int32_t isum = 0;
            for (int l = 0; l < 32; l++) isum += ((q[l] >> (4 * (g & 1))) & 0xf) * xb->q[32 * g + l];
            sumi += sc * isum;
            summ += m * (xb->sum16[2 * g] + xb->sum16[2 * g + 1]);
        }
        const float dd = xb->d * f16_at(blk), dm = xb->d * f16_at(blk + 2);
        const float t = dd * (float)sumi - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

float cn_q6_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int32_t isum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) { /* element e = 128h + 32k + l (kquants.c) */
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                const int low = (blk[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0)) & 0xf;
                const int high = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
                isum += (low | high << 4) * xb->q[e];
            }
            sumi += (int8_t)blk[192 + j] * (isum - 32 * xb->sum16[j]);
        }
        const float dd = xb->d * f16_at(blk + 208);
        const float t = dd * (float)sumi;
        acc = acc + t;
    }
    return acc;
}
