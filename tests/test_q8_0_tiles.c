/* The Q8_0 GEMM tiles (q8_0_tiles.h) against the scalar integer reference cn_q8_0_q8_dot_ref,
 * bit for bit: every (row, token) of a 2 x 4 tile, through both rearrangements, with the scalar
 * twin, the AVX2 tile and the VPDPBUSD tile (each where this CPU runs it). Rows of 32 to 4352 elements
 * (widths that end mid-record included), random codes (-128 among them) with random f16 scales,
 * and the extremes of the +128 offset: a row of all -128 codes and one of all +127 against tokens
 * whose int8 values are all +127 or all -127 (|sumi| = 32·128·127 per block), an all-zero token,
 * a token with an all-zero block, a token with a NaN (its dot NaN), and a tile whose rows or
 * tokens repeat (as cn_matmul pads a tail). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/q8_0_tiles.h"
#include "tensor/q8_activations.h"

#define ROWS 5
#define TOKENS 7

static cn_test_rng rng = {0x6a09e667f3bcc909u};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

/* Row r: 0 all codes -128, 1 all +127, the others random. */
static void make_rows(uint8_t *w, int64_t n) {
    const size_t row_bytes = (size_t)(n / 32) * 34;
    for (int r = 0; r < ROWS; r++)
        for (int64_t b = 0; b < n / 32; b++) {
            uint8_t *blk = w + (size_t)r * row_bytes + 34 * b;
            const uint16_t d = cn_f32_to_f16((0.5f + rng_uniform()) * 0.01f);
            memcpy(blk, &d, 2);
            for (int l = 0; l < 32; l++) blk[2 + l] = r == 0 ? 0x80 : r == 1 ? 0x7f : (uint8_t)rng_next();
        }
}

/* Token t: 0 all +1 (int8 +127), 1 all -1 (-127), 2 zero, 3 with a zero block, 4 with a NaN,
 * the others random with a few outliers. */
static void make_tokens(float *x, int64_t n) {
    for (int t = 0; t < TOKENS; t++)
        for (int64_t i = 0; i < n; i++)
            x[t * n + i] = t == 0 ? 1.0f : t == 1 ? -1.0f : t == 2 ? 0.0f : rng_uniform() * (i % 97 == 5 ? 40.0f : 1.0f);
    for (int64_t i = 0; i < 32 && i < n; i++) x[3 * n + (n > 64 ? 32 : 0) + i] = 0.0f;
    x[4 * n + n / 2] = NAN;
}

static void check_width(int64_t n) {
    const int64_t records = cn_q8_0_tile_records(n);
    const size_t row_bytes = (size_t)(n / 32) * 34, xq_bytes = cn_q8_row_bytes(CN_Q8_32, n);
    uint8_t *w = malloc(ROWS * row_bytes), *xq = malloc(TOKENS * xq_bytes);
    float *x = malloc((size_t)(TOKENS * n) * sizeof *x);
    cn_q8_0_tile_w *wt = malloc((size_t)(ROWS * records) * sizeof *wt);
    cn_q8_0_tile_x *xt = malloc((size_t)(TOKENS * records) * sizeof *xt);
    make_rows(w, n);
    make_tokens(x, n);
    for (int t = 0; t < TOKENS; t++) {
        cn_q8_quantize_row_32(x + t * n, n, (cn_q8_32x8 *)(void *)(xq + t * xq_bytes));
        cn_q8_0_tile_x_from((const cn_q8_32x8 *)(const void *)(xq + t * xq_bytes), n, xt + t * records);
    }
    for (int r = 0; r < ROWS; r++) cn_q8_0_tile_w_from(w + (size_t)r * row_bytes, n, wt + r * records);
    const cn_q8_kernel kinds[3] = {CN_Q8_SCALAR, CN_Q8_AVX2, CN_Q8_AVX512_VNNI};
    int bad[3] = {0, 0, 0}, nan_seen = 0, extreme_seen = 0;
    for (int k = 0; k < 3; k++)
        if (cn_q8_kernel_available(kinds[k]))
        /* every row pair (r, r + 1 mod ROWS, so also a repeated row) with every token window */
        for (int r = 0; r < ROWS; r++)
            for (int t0 = 0; t0 < TOKENS; t0++) {
                const int rows[CN_Q8_0_TILE_ROWS] = {r, r == ROWS - 1 ? r : r + 1};
                const cn_q8_0_tile_w *wp[CN_Q8_0_TILE_ROWS];
                const cn_q8_0_tile_x *xp[CN_Q8_0_TILE_TOKENS];
                int tokens[CN_Q8_0_TILE_TOKENS];
                for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++) wp[i] = wt + rows[i] * records;
                for (int i = 0; i < CN_Q8_0_TILE_TOKENS; i++) tokens[i] = (t0 + i) % TOKENS, xp[i] = xt + tokens[i] * records;
                float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS];
                cn_q8_0_tile_dot(wp, xp, n, kinds[k], out);
                for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++)
                    for (int j = 0; j < CN_Q8_0_TILE_TOKENS; j++) {
                        const float want = cn_q8_0_q8_dot_ref(w + (size_t)rows[i] * row_bytes,
                                                              (const cn_q8_32x8 *)(const void *)(xq + tokens[j] * xq_bytes), n);
                        bad[k] += !cn_test_same_bits(out[i][j], want);
                        nan_seen += isnan(want);
                        extreme_seen += rows[i] < 2 && tokens[j] < 2 && want != 0.0f;
                    }
            }
    CHECKF(bad[0] == 0, "n %lld: %d scalar tile outputs differ from cn_q8_0_q8_dot_ref", (long long)n, bad[0]);
    CHECKF(bad[1] == 0, "n %lld: %d AVX2 tile outputs differ from cn_q8_0_q8_dot_ref", (long long)n, bad[1]);
    CHECKF(bad[2] == 0, "n %lld: %d VNNI tile outputs differ from cn_q8_0_q8_dot_ref", (long long)n, bad[2]);
    CHECKF(nan_seen > 0 && extreme_seen > 0, "n %lld: the NaN token or the extreme pairs were not exercised", (long long)n);
    free(w), free(xq), free(x), free(wt), free(xt);
}

int main(void) {
    static const int64_t widths[] = {32, 96, 256, 288, 1024, 4096 + 160, 4352};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(widths[i]);
    printf("test_q8_0_tiles: AVX2 tile %s, VPDPBUSD tile %s\n", cn_q8_kernel_available(CN_Q8_AVX2) ? "checked" : "not on this CPU",
           cn_q8_has_avx512_vnni() ? "checked" : "not on this CPU");
    return cn_test_finish("test_q8_0_tiles");
}
