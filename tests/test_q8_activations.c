/* 8-bit activations (q8_activations.h): the quantiser's rounding bound and group sums, the AVX2
 * Q4_K x Q8 kernel against the scalar reference bit for bit, and the reference against the f32
 * dot product of the dequantised weights (cn_kquant_row_to_f32, computed in double) within the
 * bound the activation rounding allows: Σ_blocks (dx/2)·Σ|w| plus f32 rounding (1e-5 of
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

/* Random Q4_K blocks: random nibbles and 6-bit scales, small finite f16 d and dmin. */
static void random_q4_k_row(uint8_t *row, int64_t n) {
    for (int64_t b = 0; b < n / 256; b++) {
        uint8_t *blk = row + 144 * b;
        for (int k = 0; k < 144; k++) blk[k] = (uint8_t)rng_next();
        const uint16_t d = cn_f32_to_f16(rng_uniform() * 0.01f), dmin = cn_f32_to_f16(rng_uniform() * 0.01f);
        memcpy(blk, &d, 2);
        memcpy(blk + 2, &dmin, 2);
    }
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
        for (int g = 0; g < 8; g++) {
            int s = 0;
            for (int l = 0; l < 32; l++) s += q[b].q[32 * g + l];
            bad_sum += s != q[b].sum32[g];
        }
        bad_round += amax == 0.0f ? q[b].d != 0.0f : fabsf(q[b].d * 127.0f - amax) > 1e-6f * amax;
    }
    CHECKF(bad_round == 0, "n %lld: %d quantised activations off by more than half a step", (long long)n, bad_round);
    CHECKF(bad_sum == 0, "n %lld: %d group sums wrong", (long long)n, bad_sum);
}

static void check_width(int64_t n) {
    const int rows = 9;
    uint8_t *w = malloc((size_t)(rows * n / 256 * 144));
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
        uint8_t *row = w + (size_t)(r * n / 256 * 144);
        random_q4_k_row(row, n);
        const float ref = cn_q4_k_q8_dot_ref(row, q, n);
        if (cn_cpu_has_avx2_fma()) {
            const float fast = cn_q4_k_q8_dot_avx2(row, q, n);
            bad_bits += memcmp(&ref, &fast, sizeof ref) != 0;
        }
        cn_kquant_row_to_f32(CN_DTYPE_Q4_K, row, n, wf);
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
    CHECKF(bad_bits == 0, "n %lld: %d AVX2 dots differ from the reference", (long long)n, bad_bits);
    CHECKF(bad_bound == 0, "n %lld: %d dots off the f32 dot by more than the rounding bound", (long long)n, bad_bound);
    free(w), free(x), free(wf), free(q);
}

int main(void) {
    static const int64_t widths[] = {256, 512, 768, 1280, 2048, 4352};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(widths[i]);

    /* A NaN activation makes the dot NaN, as it does in f32. */
    float x[256];
    uint8_t row[144];
    cn_q8_block q;
    for (int i = 0; i < 256; i++) x[i] = rng_uniform();
    x[17] = NAN;
    random_q4_k_row(row, 256);
    cn_q8_quantize_row(x, 256, &q);
    CHECK(isnan(cn_q4_k_q8_dot_ref(row, &q, 256)));
    if (cn_cpu_has_avx2_fma()) CHECK(isnan(cn_q4_k_q8_dot_avx2(row, &q, 256)));
    return cn_test_finish("test_q8_activations");
}
