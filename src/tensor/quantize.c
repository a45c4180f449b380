#include "tensor/quantize.h"

#include <math.h>
#include <string.h>

#include "tensor/element.h"
#include "tensor/kquants.h"

void cn_quantize_row_q8_0(const float *x, int64_t n, uint8_t *out) {
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = cn_f32_to_f16(d);
        memcpy(out, &dh, 2);
        for (int i = 0; i < 32; i++) {
            float v = roundf(x[i] * id);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            out[2 + i] = (uint8_t)(int8_t)v;
        }
    }
}

static int nearest_int(float v) { return (int)lrintf(v); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Scale and (negated) min of one group of 32 with levels 0..nmax: x ~ scale*L - min. */
static float fit_group(const float *x, const float *w, int nmax, uint8_t *L, float *neg_min) {
    float mn = x[0], mx = x[0], sum_w = 0, sum_x = 0;
    for (int i = 0; i < 32; i++) {
        mn = fminf(mn, x[i]);
        mx = fmaxf(mx, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx == mn) {
        memset(L, 0, 32);
        *neg_min = -mn;
        return 0.0f;
    }
    float iscale = nmax / (mx - mn), scale = 1.0f / iscale, best = 0;
    for (int i = 0; i < 32; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - mn)), 0, nmax);
        const float diff = scale * L[i] + mn - x[i];
        best += w[i] * diff * diff;
    }
    uint8_t aux[32];
    for (int step = 0; step <= 20; step++) {
        iscale = (-1.0f + 0.1f * step + nmax) / (mx - mn);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < 32; i++) {
            aux[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - mn)), 0, nmax);
            sum_l += w[i] * aux[i];
            sum_l2 += w[i] * aux[i] * aux[i];
            sum_xl += w[i] * aux[i] * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det, m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < 32; i++) {
            const float diff = s * aux[i] + m - x[i];
            err += w[i] * diff * diff;
        }
        if (err < best) {
            memcpy(L, aux, 32);
            best = err;
            scale = s;
            mn = m;
        }
    }
    *neg_min = -mn;
    return scale;
}

void cn_quantize_row_q4_k(const float *x, int64_t n, uint8_t *out) {
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 144) {
        float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
        uint8_t L[256];
        for (int j = 0; j < 8; j++) {
            const float *g = x + 32 * j;
            float sum_x2 = 0;
            for (int i = 0; i < 32; i++) sum_x2 += g[i] * g[i];
            const float av = sqrtf(sum_x2 / 32);
            for (int i = 0; i < 32; i++) w[i] = av + fabsf(g[i]);
            scales[j] = fit_group(g, w, 15, L + 32 * j, &mins[j]);
            max_scale = fmaxf(max_scale, scales[j]);
            max_min = fmaxf(max_min, mins[j]);
        }
        uint8_t *sc = out + 4, *qs = out + 16;
        memset(sc, 0, 12);
        const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        for (int j = 0; j < 8; j++) {
            const int ls = clampi(nearest_int(inv_scale * scales[j]), 0, 63);
            const int lm = clampi(nearest_int(inv_min * mins[j]), 0, 63);
            if (j < 4) {
                sc[j] = (uint8_t)ls;
                sc[j + 4] = (uint8_t)lm;
            } else {
                sc[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
                sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
                sc[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        const uint16_t dh = cn_f32_to_f16(max_scale / 63.0f), mh = cn_f32_to_f16(max_min / 63.0f);
        memcpy(out, &dh, 2);
        memcpy(out + 2, &mh, 2);
        const float d_all = cn_f16_to_f32(dh), dmin_all = cn_f16_to_f32(mh);
        /* Levels again against the stored (rounded) scales and mins. */
        for (int j = 0; j < 8; j++) {
            int s6, m6;
            cn_k4_scale_min(sc, j, &s6, &m6);
            const float d = d_all * (float)s6;
            if (d == 0.0f) continue;
            const float dm = dmin_all * (float)m6;
            for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clampi(nearest_int((x[32 * j + i] + dm) / d), 0, 15);
        }
        for (int j = 0; j < 256; j += 64)
            for (int l = 0; l < 32; l++) *qs++ = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}
