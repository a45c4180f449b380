/* The Q4_K GEMM tiles (q4_k_tiles.h) against the scalar integer reference cn_q4_k_q8_dot_ref,
 * bit for bit: every (row, token) of a 2 x 4 tile, through both rearrangements, with the scalar
 * twin and (when this CPU has AVX-512 VNNI) the VPDPBUSD kernel. Rows of 1 to 17 blocks with
 * random codes, scale bytes and f16 d, dmin; the extremes: a row of all-15 codes whose every
 * 6-bit scale and min is 63 against tokens whose int8 values are all +127 or all -127, a row of
 * all-zero codes, an all-zero token, a token with a NaN (its dot NaN), tiles whose rows or tokens
 * repeat (as cn_matmul pads a tail). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/q4_k_tiles.h"
#include "tensor/q8_activations.h"

#define ROWS 5
#define TOKENS 7

static uint64_t rng_state = 0xbb67ae8584caa73bu;
static uint32_t rng_next(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static float rng_uniform(void) { return (float)(rng_next() & 0xffffff) * 0x1p-24f * 2.0f - 1.0f; } /* [-1, 1) */

static bool same_bits(float a, float b) { return isnan(a) ? isnan(b) : memcmp(&a, &b, sizeof a) == 0; }

/* Row 0: every code 15, every scale and min 63 (all scale bytes 0xff); row 1: codes 0; the others
 * random. */
static void make_rows(uint8_t *w, int64_t n) {
    const size_t row_bytes = (size_t)(n / 256) * 144;
    for (int r = 0; r < ROWS; r++)
        for (int64_t b = 0; b < n / 256; b++) {
            uint8_t *blk = w + (size_t)r * row_bytes + 144 * b;
            const uint16_t d = cn_f32_to_f16((0.5f + rng_uniform()) * 0.01f), dmin = cn_f32_to_f16((0.5f + rng_uniform()) * 0.02f);
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &dmin, 2);
            for (int i = 4; i < 144; i++) blk[i] = r == 0 ? 0xff : r == 1 && i >= 16 ? 0 : (uint8_t)rng_next();
        }
}

/* Token t: 0 all +1 (int8 +127), 1 all -1, 2 zero, 3 with a NaN, the others random with outliers. */
static void make_tokens(float *x, int64_t n) {
    for (int t = 0; t < TOKENS; t++)
        for (int64_t i = 0; i < n; i++)
            x[t * n + i] = t == 0 ? 1.0f : t == 1 ? -1.0f : t == 2 ? 0.0f : rng_uniform() * (i % 97 == 5 ? 40.0f : 1.0f);
    x[3 * n + n / 2] = NAN;
}

static void check_width(int64_t n) {
    const int64_t blocks = n / 256;
    const size_t row_bytes = (size_t)blocks * 144;
    uint8_t *w = malloc(ROWS * row_bytes);
    cn_q8_block *xq = malloc((size_t)(TOKENS * blocks) * sizeof *xq);
    float *x = malloc((size_t)(TOKENS * n) * sizeof *x);
    cn_q4_k_tile_w *wt = malloc((size_t)(ROWS * blocks) * sizeof *wt);
    cn_q4_k_tile_x *xt = malloc((size_t)(TOKENS * blocks) * sizeof *xt);
    make_rows(w, n);
    make_tokens(x, n);
    for (int t = 0; t < TOKENS; t++) {
        cn_q8_quantize_row(x + t * n, n, xq + t * blocks);
        cn_q4_k_tile_x_from(xq + t * blocks, n, xt + t * blocks);
    }
    for (int r = 0; r < ROWS; r++) cn_q4_k_tile_w_from(w + (size_t)r * row_bytes, n, wt + r * blocks);
    const bool kinds[2] = {false, true};
    int bad[2] = {0, 0}, nan_seen = 0, extreme_seen = 0;
    for (int k = 0; k < (cn_q8_has_avx512_vnni() ? 2 : 1); k++)
        for (int r = 0; r < ROWS; r++)
            for (int t0 = 0; t0 < TOKENS; t0++) {
                const int rows[CN_Q4_K_TILE_ROWS] = {r, r == ROWS - 1 ? r : r + 1};
                const cn_q4_k_tile_w *wp[CN_Q4_K_TILE_ROWS];
                const cn_q4_k_tile_x *xp[CN_Q4_K_TILE_TOKENS];
                int tokens[CN_Q4_K_TILE_TOKENS];
                for (int i = 0; i < CN_Q4_K_TILE_ROWS; i++) wp[i] = wt + rows[i] * blocks;
                for (int i = 0; i < CN_Q4_K_TILE_TOKENS; i++) tokens[i] = (t0 + i) % TOKENS, xp[i] = xt + tokens[i] * blocks;
                float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS];
                cn_q4_k_tile_dot(wp, xp, n, kinds[k], out);
                for (int i = 0; i < CN_Q4_K_TILE_ROWS; i++)
                    for (int j = 0; j < CN_Q4_K_TILE_TOKENS; j++) {
                        const float want = cn_q4_k_q8_dot_ref(w + (size_t)rows[i] * row_bytes, xq + tokens[j] * blocks, n);
                        bad[k] += !same_bits(out[i][j], want);
                        nan_seen += isnan(want);
                        extreme_seen += rows[i] == 0 && tokens[j] < 2 && want != 0.0f;
                    }
            }
    CHECKF(bad[0] == 0, "n %lld: %d scalar tile outputs differ from cn_q4_k_q8_dot_ref", (long long)n, bad[0]);
    CHECKF(bad[1] == 0, "n %lld: %d VNNI tile outputs differ from cn_q4_k_q8_dot_ref", (long long)n, bad[1]);
    CHECKF(nan_seen > 0 && extreme_seen > 0, "n %lld: the NaN token or the extreme pairs were not exercised", (long long)n);
    free(w), free(xq), free(x), free(wt), free(xt);
}

int main(void) {
    static const int64_t widths[] = {256, 512, 1280, 2048, 4096, 4352};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(widths[i]);
    printf("test_q4_k_tiles: VPDPBUSD kernel %s\n", cn_q8_has_avx512_vnni() ? "checked" : "not on this CPU (scalar twin only)");
    return cn_test_finish("test_q4_k_tiles");
}
