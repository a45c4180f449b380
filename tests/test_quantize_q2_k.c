/* The Q2_K quantiser (tensor/quantize.h) against invariants that do not depend on its search:
 * decoded through the reference decoder (kquants.c, itself held to the gguf package by
 * test_kquants), a block the format represents exactly comes back bit for bit; zeros stay zeros;
 * blocks are quantised independently of their neighbours in a row; extreme magnitudes stay finite.
 * Its error against data and against llama.cpp-style plain quantisation is measured by
 * tests/cli/test_cli_quantize_q2.py with numpy and the gguf package. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/quantize.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_gauss(void) { /* Box-Muller */
    const float u = ((float)(rng_next() & 0xffffff) + 0.5f) * 0x1p-24f, v = (float)(rng_next() & 0xffffff) * 0x1p-24f;
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void decode(const uint8_t *q, int64_t n, float *out) { cn_kquant_row_to_f32(CN_DTYPE_Q2_K, q, n, out); }

/* Values the format holds exactly: random codes, with d and dmin f16 numbers, every sub-block
 * using codes 0 and 3 and some sub-block scale and min code 15, computed as the decoder does. */
static void exactly_representable_block(float *x, float d, float dmin) {
    uint8_t sc[16], mc[16];
    for (int j = 0; j < 16; j++) {
        sc[j] = (uint8_t)(1 + rng_next() % 15);
        mc[j] = (uint8_t)(rng_next() % 16);
    }
    sc[rng_next() % 16] = 15;
    mc[rng_next() % 16] = 15;
    for (int j = 0; j < 16; j++) {
        const float dl = d * (float)sc[j], ml = dmin * (float)mc[j];
        for (int l = 0; l < 16; l++) {
            const int q = l == 0 ? 0 : l == 1 ? 3 : (int)(rng_next() % 4);
            x[16 * j + l] = dl * (float)q - ml;
        }
        for (int l = 15; l > 0; l--) { /* shuffle so codes 0 and 3 are not always first */
            const int k = (int)(rng_next() % (uint32_t)(l + 1));
            const float t = x[16 * j + l];
            x[16 * j + l] = x[16 * j + k];
            x[16 * j + k] = t;
        }
    }
}

static void check_exact(void) {
    static const float scales[][2] = {{0.0078125f, 0.00390625f}, {1.5f, 0.25f}, {3.0517578e-05f, 0.125f}};
    for (size_t c = 0; c < sizeof scales / sizeof *scales; c++)
        for (int trial = 0; trial < 20; trial++) {
            float x[256], y[256];
            uint8_t q[84];
            const float d = cn_f16_to_f32(cn_f32_to_f16(scales[c][0] * (1.0f + (float)(rng_next() % 64) / 64.0f)));
            const float dmin = cn_f16_to_f32(cn_f32_to_f16(scales[c][1] * (1.0f + (float)(rng_next() % 64) / 64.0f)));
            exactly_representable_block(x, d, dmin);
            cn_quantize_row_q2_k(x, 256, q);
            decode(q, 256, y);
            int bad = 0;
            for (int i = 0; i < 256; i++) bad += memcmp(&x[i], &y[i], sizeof(float)) != 0;
            CHECKF(bad == 0, "representable block (d %g, dmin %g): %d of 256 values differ", d, dmin, bad);
        }
}

static void check_zeros_and_constants(void) {
    float x[256], y[256];
    uint8_t q[84];
    memset(x, 0, sizeof x);
    cn_quantize_row_q2_k(x, 256, q);
    decode(q, 256, y);
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += y[i] != 0.0f;
    CHECKF(bad == 0, "zero block: %d values not 0", bad);
    /* One sub-block of a negative constant, one of a positive constant, the rest zero: the min
     * alone holds a constant <= 0, code 3 of the scale a constant > 0 (to f16 precision). */
    for (int i = 0; i < 16; i++) x[i] = -0.75f, x[16 + i] = 0.5f;
    cn_quantize_row_q2_k(x, 256, q);
    decode(q, 256, y);
    float worst = 0;
    for (int i = 0; i < 256; i++) worst = fmaxf(worst, fabsf(y[i] - x[i]));
    CHECKF(worst <= 0.75f * 0x1p-10f, "constant sub-blocks: error %g", worst);
}

/* A row is its blocks one after another: each quantised alone gives the same bytes. */
static void check_blocks_independent(void) {
    enum { N = 5 * 256 };
    float x[N];
    uint8_t row[5 * 84], one[84];
    for (int i = 0; i < N; i++) x[i] = rng_gauss() * (i < 256 ? 1.0f : i < 512 ? 1e-3f : 20.0f);
    cn_quantize_row_q2_k(x, N, row);
    for (int b = 0; b < 5; b++) {
        cn_quantize_row_q2_k(x + 256 * b, 256, one);
        CHECKF(!memcmp(one, row + 84 * b, 84), "block %d of a row differs from the block quantised alone", b);
    }
}

/* Gaussian blocks over many magnitudes: finite, and the error a 2-bit code with a fitted grid
 * gives (RMSE well under the standard deviation: about 0.27 of it, tests/cli/test_cli_quantize_q2.py)
 * as long as d stays a normal f16 number. */
static void check_magnitudes(void) {
    static const float sigmas[] = {1e-3f, 0.02f, 1.0f, 30.0f, 500.0f};
    for (size_t c = 0; c < sizeof sigmas / sizeof *sigmas; c++) {
        enum { N = 16 * 256 };
        static float x[N], y[N];
        static uint8_t q[16 * 84];
        for (int i = 0; i < N; i++) x[i] = rng_gauss() * sigmas[c];
        x[7] = 12.0f * sigmas[c]; /* an outlier */
        cn_quantize_row_q2_k(x, N, q);
        decode(q, N, y);
        double se = 0, sx = 0;
        int finite = 1;
        for (int i = 0; i < N; i++) {
            finite &= isfinite(y[i]) != 0;
            se += (double)(y[i] - x[i]) * (y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        const double rel = sqrt(se / sx);
        CHECKF(finite && rel < 0.32, "sigma %g: finite %d, RMSE / rms %.4f", sigmas[c], finite, rel);
    }
}

int main(void) {
    check_exact();
    check_zeros_and_constants();
    check_blocks_independent();
    check_magnitudes();
    return cn_test_finish("test_quantize_q2_k");
}
