/* The Q2_K quantiser (quantize.h): ggml's block_q2_K, byte for byte, written from the layout that
 * kquants.c decodes (84 bytes per 256 elements):
 *   bytes  0..15  one byte per sub-block j of 16 elements: low nibble the scale code, high the min code
 *   bytes 16..79  2-bit codes: element 128h + 32k + l sits in bits 2k, 2k+1 of byte 16 + 32h + l
 *   bytes 80..83  f16 d, f16 dmin
 * and an element decodes to (d·sc_j)·q − (dmin·m_j), q in 0..3.
 *
 * Two bits leave four levels per 16 weights, so where the grid goes matters more than in Q4_K. The
 * search has three stages, each minimising the importance-weighted squared error Σ w (x̂ − x)²
 * with w = x² (plus a tiny floor): large weights count much more. On models/hk-tiny that weighting
 * gave 30-40 % less KL than w = |x| + rms (the Q4_K quantiser's) and 2-7 % less than |x|, at a higher plain RMSE
 * (docs/performance.md "Quantisation policy"):
 *  1. per sub-block, the continuous fit x ≈ s·q − m with s, m ≥ 0 (the decoder can only subtract a
 *     min): from a few starting grids (the whole [min, max] range, and narrower ones anchored low,
 *     centred and high, which give up an outlier), alternate nearest-level codes and the weighted
 *     2x2 least-squares solve for (s, m) until the codes stop changing; each half-step lowers the
 *     error, so this is Lloyd's algorithm on a uniform four-level grid;
 *  2. per block, d and dmin: the 4-bit codes round(s_j / d) against d refitted by least squares
 *     until it settles, each sub-block weighted by what an error in its scale costs (Σ w q² for
 *     the scale, Σ w for the min);
 *  3. with d and dmin as f16 stores them, each sub-block tries the (scale code, min code) pairs
 *     next to its rounded fit and keeps the one whose decoded values are closest, with their codes.
 *     Then d and dmin are refitted over the whole block with every code fixed (a 2x2 least-squares
 *     solve again) and stage 3 repeats; a round is kept only when the block's error drops. */
#include "tensor/quantize.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/element.h"

enum { SUB = 16, N_SUB = 16, BLOCK = 256, BLOCK_BYTES = 84, MAX_CODE = 3, MAX_SCALE_CODE = 15, FIT_ROUNDS = 2 };

static int clamp_code(float v, int hi) {
    const long l = lrintf(v);
    return l < 0 ? 0 : l > hi ? hi : (int)l;
}

/* Nearest codes of x on the grid s·q − m (every code 0 when s is 0) and their weighted error. The
 * value s·q − m is computed as the decoder computes it. */
static float assign_codes(const float *x, const float *w, float s, float m, uint8_t *q) {
    const float inv = s > 0 ? 1.0f / s : 0.0f;
    float err = 0;
    for (int i = 0; i < SUB; i++) {
        q[i] = (uint8_t)(s > 0 ? clamp_code((x[i] + m) * inv, MAX_CODE) : 0);
        const float diff = s * (float)q[i] - m - x[i];
        err += w[i] * diff * diff;
    }
    return err;
}

/* The (s, m) minimising Σ w (s·q − m − x)² for fixed codes, with m ≥ 0; false when the codes do
 * not determine a positive s (all equal). Normal equations: s·Σwq² − m·Σwq = Σwxq,
 * s·Σwq − m·Σw = Σwx. */
static bool least_squares_scale_min(const float *x, const float *w, const uint8_t *q, float *s, float *m) {
    float sw = 0, swq = 0, swqq = 0, swx = 0, swxq = 0;
    for (int i = 0; i < SUB; i++) {
        const float wq = w[i] * (float)q[i];
        sw += w[i];
        swq += wq;
        swqq += wq * (float)q[i];
        swx += w[i] * x[i];
        swxq += wq * x[i];
    }
    const float det = swqq * sw - swq * swq;
    if (!(det > 0)) return false;
    float ss = (sw * swxq - swq * swx) / det, mm = (swq * swxq - swqq * swx) / det;
    if (mm < 0) { /* the best grid starts above zero: the closest one the format holds starts at 0 */
        mm = 0;
        ss = swxq / swqq;
    }
    if (!(ss > 0)) return false;
    *s = ss;
    *m = mm;
    return true;
}

/* Stage 1: the sub-block's continuous scale and min (x ≈ s·q − m). */
static void fit_sub_block(const float *x, const float *w, float *best_s, float *best_m) {
    float lo = 0, hi = x[0];
    for (int i = 0; i < SUB; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    *best_s = 0;
    *best_m = -lo;
    if (!(hi > lo)) return; /* all equal and <= 0: exactly -m */
    uint8_t q[SUB], prev[SUB];
    float best_err = INFINITY;
    /* Starting grids: fraction of the range covered, and where the narrower ones sit in it. */
    static const float span[] = {1.0f, 0.85f, 0.85f, 0.85f, 0.7f, 0.7f, 0.7f};
    static const float place[] = {0.0f, 0.0f, 0.5f, 1.0f, 0.0f, 0.5f, 1.0f};
    for (size_t c = 0; c < sizeof span / sizeof span[0]; c++) {
        const float width = (hi - lo) * span[c], bottom = lo + (hi - lo - width) * place[c];
        float s = width / MAX_CODE, m = fmaxf(-bottom, 0.0f);
        for (int it = 0; it < 8; it++) {
            const float err = assign_codes(x, w, s, m, q);
            if (err < best_err) {
                best_err = err;
                *best_s = s;
                *best_m = m;
            }
            if (it > 0 && !memcmp(q, prev, SUB)) break;
            memcpy(prev, q, SUB);
            if (!least_squares_scale_min(x, w, q, &s, &m)) break;
        }
    }
}

/* Stage 2: a super-scale for values v_j (scales or mins) as d·code_j with 4-bit codes, by weighted
 * least squares Σ cost_j (v_j − d·code_j)² alternating codes and d from d = max/15. */
static float fit_super_scale(const float *v, const float *cost) {
    float vmax = 0;
    for (int j = 0; j < N_SUB; j++) vmax = fmaxf(vmax, v[j]);
    if (!(vmax > 0)) return 0.0f;
    float d = vmax / MAX_SCALE_CODE, best_d = d, best_err = INFINITY;
    for (int it = 0; it < 6; it++) {
        const float inv = 1.0f / d;
        float err = 0, num = 0, den = 0;
        for (int j = 0; j < N_SUB; j++) {
            const float code = (float)clamp_code(v[j] * inv, MAX_SCALE_CODE), diff = v[j] - d * code;
            err += cost[j] * diff * diff;
            num += cost[j] * v[j] * code;
            den += cost[j] * code * code;
        }
        if (err < best_err) {
            best_err = err;
            best_d = d;
        }
        if (!(den > 0) || !(num > 0)) break;
        const float next = num / den;
        if (next == d) break;
        d = next;
    }
    return best_d;
}

typedef struct {
    uint8_t scale_code[N_SUB], min_code[N_SUB], q[BLOCK];
    float err;
} block_codes;

/* Stage 3: every sub-block's best code pair near its fit, for d and dmin as stored (f16). */
static void choose_codes(const float *x, const float *w, const float *s, const float *m, float d, float dmin,
                         block_codes *out) {
    out->err = 0;
    uint8_t q[SUB];
    for (int j = 0; j < N_SUB; j++) {
        const int sc0 = d > 0 ? clamp_code(s[j] / d, MAX_SCALE_CODE) : 0;
        const int mc0 = dmin > 0 ? clamp_code(m[j] / dmin, MAX_SCALE_CODE) : 0;
        float best = INFINITY;
        for (int sc = sc0 - 1; sc <= sc0 + 1; sc++) {
            if (sc < 0 || sc > MAX_SCALE_CODE || (sc != sc0 && !(d > 0))) continue;
            for (int mc = mc0 - 1; mc <= mc0 + 1; mc++) {
                if (mc < 0 || mc > MAX_SCALE_CODE || (mc != mc0 && !(dmin > 0))) continue;
                const float err = assign_codes(x + SUB * j, w + SUB * j, d * (float)sc, dmin * (float)mc, q);
                if (err < best) {
                    best = err;
                    out->scale_code[j] = (uint8_t)sc;
                    out->min_code[j] = (uint8_t)mc;
                    memcpy(out->q + SUB * j, q, SUB);
                }
            }
        }
        out->err += best;
    }
}

/* Stage 3's refit: (d, dmin) minimising Σ w (d·u − dmin·v − x)² with u = sc_j·q, v = m_j fixed;
 * false when the system is singular or a solution is negative (d and dmin are then left as they are). */
static bool refit_super_scales(const float *x, const float *w, const block_codes *c, float *d, float *dmin) {
    float suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
    for (int i = 0; i < BLOCK; i++) {
        const float u = (float)(c->scale_code[i / SUB] * c->q[i]), v = (float)c->min_code[i / SUB];
        suu += w[i] * u * u;
        suv += w[i] * u * v;
        svv += w[i] * v * v;
        sxu += w[i] * x[i] * u;
        sxv += w[i] * x[i] * v;
    }
    if (!(svv > 0)) { /* every min code 0: dmin multiplies nothing */
        if (!(suu > 0) || !(sxu > 0)) return false;
        *d = sxu / suu;
        return true;
    }
    /* d·suu − dmin·suv = sxu;  d·suv − dmin·svv = sxv */
    const float det = suv * suv - suu * svv;
    if (!(det < 0)) return false;
    const float dd = (suv * sxv - svv * sxu) / det, mm = (suu * sxv - suv * sxu) / det;
    if (!(dd >= 0) || !(mm >= 0)) return false;
    *d = dd;
    *dmin = mm;
    return true;
}

static float f16_round(float v, uint16_t *h) {
    *h = cn_f32_to_f16(v);
    return cn_f16_to_f32(*h);
}

static void quantize_block(const float *x, uint8_t *out) {
    float w[BLOCK], s[N_SUB], m[N_SUB], scale_cost[N_SUB], min_cost[N_SUB];
    for (int i = 0; i < BLOCK; i++) w[i] = x[i] * x[i] + 1e-30f;
    for (int j = 0; j < N_SUB; j++) {
        fit_sub_block(x + SUB * j, w + SUB * j, &s[j], &m[j]);
        uint8_t q[SUB];
        assign_codes(x + SUB * j, w + SUB * j, s[j], m[j], q);
        scale_cost[j] = min_cost[j] = 0;
        for (int i = 0; i < SUB; i++) {
            scale_cost[j] += w[SUB * j + i] * (float)(q[i] * q[i]);
            min_cost[j] += w[SUB * j + i];
        }
    }
    uint16_t dh, mh;
    float d = f16_round(fit_super_scale(s, scale_cost), &dh), dmin = f16_round(fit_super_scale(m, min_cost), &mh);
    block_codes best, trial;
    choose_codes(x, w, s, m, d, dmin, &best);
    for (int round = 0; round < FIT_ROUNDS && best.err > 0; round++) {
        float d2 = d, dmin2 = dmin;
        uint16_t dh2, mh2;
        if (!refit_super_scales(x, w, &best, &d2, &dmin2)) break;
        d2 = f16_round(d2, &dh2);
        dmin2 = f16_round(dmin2, &mh2);
        if (!isfinite(d2) || !isfinite(dmin2)) break;
        choose_codes(x, w, s, m, d2, dmin2, &trial);
        if (!(trial.err < best.err)) break;
        best = trial;
        d = d2;
        dmin = dmin2;
        dh = dh2;
        mh = mh2;
    }
    for (int j = 0; j < N_SUB; j++) out[j] = (uint8_t)(best.scale_code[j] | (best.min_code[j] << 4));
    uint8_t *qs = out + 16;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *q = best.q + 128 * h + l;
            qs[32 * h + l] = (uint8_t)(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
        }
    memcpy(out + 80, &dh, 2);
    memcpy(out + 82, &mh, 2);
}

void cn_quantize_row_q2_k(const float *x, int64_t n, uint8_t *out) {
    for (int64_t b = 0; b < n / BLOCK; b++) quantize_block(x + BLOCK * b, out + BLOCK_BYTES * b);
}
