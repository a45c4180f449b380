/* 8-bit activations (q8_activations.h): the quantiser's rounding bound and per-16 sums, the
 * AVX2 Q4_K and Q6_K x Q8 kernels against their scalar references bit for bit, and each reference
 * against the f32 dot product of the dequantised weights (cn_kquant_row_to_f32, in double) within
 * the bound the activation rounding allows: Σ_blocks (dx/2)·Σ|w| plus f32 rounding (1e-5 of
 * Σ|w·x| + that bound: a handful of roundings per block and one per block in the sum). Rows of
 * 1 to 17 super-blocks, blocks of very different magnitudes, an all-zero block, a NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/q8_activations.h"
#include "tensor/row_dot_avx2.h"

static uint64_t rng_state = 0x243f6a8885a308d3u;
static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_uniform(void) { return (float)(rng_next() & 0xffffff) * 0x1p-24f * 2.0f - 1.0f; } /* [-1, 1) */

/* Random blocks (every code and scale byte random), small finite f16 super-block scales: Q4_K's
 * d and dmin at 0 and 2, Q6_K's d at 208. */
static void random_row(cn_dtype t, uint8_t *row, int64_t n) {
    const int bb = cn_dtype_block_bytes(t);
    for (int64_t b = 0; b < n / 256; b++) {
        uint8_t *blk = row + bb * b;
        for (int k = 0; k < bb; k++) blk[k] = (uint8_t)rng_next();
        const uint16_t d = cn_f32_to_f16(rng_uniform() * 0.01f), dmin = cn_f32_to_f16(rng_uniform() * 0.01f);
        memcpy(blk + (t == CN_DTYPE_Q6_K ? 208 : 0), &d, 2);
        if (t == CN_DTYPE_Q4_K) memcpy(blk + 2, &dmin, 2);
    }
}

static float dot_ref(cn_dtype t, const uint8_t *row, const cn_q8_block *q, int64_t n) {
    return t == CN_DTYPE_Q6_K ? cn_q6_k_q8_dot_ref(row, q, n) : cn_q4_k_q8_dot_ref(row, q, n);
}
static float dot_avx2(cn_dtype t, const uint8_t *row, const cn_q8_block *q, int64_t n) {
    return t == CN_DTYPE_Q6_K ? cn_q6_k_q8_dot_avx2(row, q, n) : cn_q4_k_q8_dot_avx2(row, q, n);
}

static void check_quantiser(const float *x, int64_t n, const cn_q8_block *q) {
    int bad_round = 0, bad_sum = 0;
    for (int64_t b = 0; b < n / 256; b++) {
        float amax = 0.0f;
        for (int i = 0; i < 256; i++) amax = fmaxf(amax, fabsf(x[256 * b + i]));
        for (int i = 0; i < 256; i++) {
            const double err = fabs((double)x[256 * b + i] - (double)q[b].d * q[b].q[i]);
            bad_round += !(err <= 0.5 * (double)q[b].d * (1.0 + 1e-6) + 1e-30) || q[b].q[i] == -128;
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += q[b].q[16 * j + l];
            bad_sum += s != q[b].sum16[j];
        }
        bad_round += amax == 0.0f ? q[b].d != 0.0f : fabsf(q[b].d * 127.0f - amax) > 1e-6f * amax;
    }
    CHECKF(bad_round == 0, "n %lld: %d quantised activations off by more than half a step", (long long)n, bad_round);
    CHECKF(bad_sum == 0, "n %lld: %d group sums wrong", (long long)n, bad_sum);
}

static void check_width(cn_dtype t, int64_t n) {
    const int rows = 9;
    const size_t row_bytes = cn_dtype_row_bytes(t, n);
    uint8_t *w = malloc(rows * row_bytes);
    float *x = malloc((size_t)n * sizeof *x), *wf = malloc((size_t)n * sizeof *wf);
    cn_q8_block *q = malloc((size_t)(n / 256) * sizeof *q);
    /* activations: each block its own magnitude (1e-3 .. 1e3), block 1 all zero */
    for (int64_t b = 0; b < n / 256; b++) {
        const float scale = powf(10.0f, (float)(rng_next() % 7) - 3.0f);
        for (int i = 0; i < 256; i++) x[256 * b + i] = b == 1 ? 0.0f : rng_uniform() * scale;
    }
    cn_q8_quantize_row(x, n, q);
    check_quantiser(x, n, q);
    int bad_bits = 0, bad_bound = 0;
    for (int r = 0; r < rows; r++) {
        uint8_t *row = w + (size_t)r * row_bytes;
        random_row(t, row, n);
        const float ref = dot_ref(t, row, q, n);
        if (cn_cpu_has_avx2_fma()) {
            const float fast = dot_avx2(t, row, q, n);
            bad_bits += memcmp(&ref, &fast, sizeof ref) != 0;
        }
        cn_kquant_row_to_f32(t, row, n, wf);
        double exact = 0.0, abs_sum = 0.0, bound = 0.0;
        for (int64_t b = 0; b < n / 256; b++) {
            double wsum = 0.0;
            for (int i = 0; i < 256; i++) {
                const double p = (double)wf[256 * b + i] * x[256 * b + i];
                exact += p, abs_sum += fabs(p), wsum += fabs((double)wf[256 * b + i]);
            }
            bound += 0.5 * (double)q[b].d * wsum;
        }
        const double err = fabs((double)ref - exact), allowed = bound + 1e-5 * (abs_sum + bound) + 1e-30;
        bad_bound += !(err <= allowed);
    }
    CHECKF(bad_bits == 0, "%s n %lld: %d AVX2 dots differ from the reference", cn_dtype_name(t), (long long)n, bad_bits);
    CHECKF(bad_bound == 0, "%s n %lld: %d dots off the f32 dot by more than the rounding bound", cn_dtype_name(t), (long long)n,
           bad_bound);
    free(w), free(x), free(wf), free(q);
}

int main(void) {
    static const int64_t widths[] = {256, 512, 768, 1280, 2048, 4352};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        check_width(CN_DTYPE_Q4_K, widths[i]);
        check_width(CN_DTYPE_Q6_K, widths[i]);
    }

    /* A NaN activation makes the dot NaN, as it does in f32. */
    float x[256];
    uint8_t row[210];
    cn_q8_block q;
    for (int i = 0; i < 256; i++) x[i] = rng_uniform();
    x[17] = NAN;
    cn_q8_quantize_row(x, 256, &q);
    for (int f = 0; f < 2; f++) {
        const cn_dtype t = f ? CN_DTYPE_Q6_K : CN_DTYPE_Q4_K;
        random_row(t, row, 256);
        CHECK(isnan(dot_ref(t, row, &q, 256)));
        if (cn_cpu_has_avx2_fma()) CHECK(isnan(dot_avx2(t, row, &q, 256)));
    }
    return cn_test_finish("test_q8_activations");
}
