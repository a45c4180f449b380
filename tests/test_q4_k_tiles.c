/* The Q4_K GEMM tiles (q4_k_tiles.h) against the scalar integer reference cn_q4_k_q8_dot_ref,
 * bit for bit: every (row, token) of a 2 x 4 tile, through both rearrangements, with the scalar
 * twin and each kernel kind this CPU has (AVX2's maddubs tile, AVX-512 VNNI's VPDPBUSD one). Rows of 1 to 17 blocks with
 * random codes, scale bytes and f16 d, dmin; the extremes: a row of all-15 codes whose every
 * 6-bit scale and min is 63 against tokens whose int8 values are all +127 or all -127, a row of
 * all-zero codes, an all-zero token, a token with a NaN (its dot NaN), tiles whose rows or tokens
 * repeat (as cn_matmul pads a tail). Then cn_matmul with act_q8 on Q4_K matrices with 3 to 257
 * tokens (both sides of the tile thresholds; odd row and token counts, pools of 1 and 2 threads):
 * every output the scalar reference's bits on the token quantised alone. CTest runs this twice,
 * the second time with CLAWNET_Q8_KERNEL=avx2, so cn_matmul takes the AVX2 tile too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "harness.h"
#include "tensor/dtype.h"
#include "tensor/element.h"
#include "tensor/matmul.h"
#include "tensor/matrix.h"
#include "tensor/q4_k_tiles.h"
#include "tensor/q8_activations.h"

#define ROWS 5
#define TOKENS 7

static cn_test_rng rng = {0xbb67ae8584caa73bu};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

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
    const cn_q8_kernel kinds[3] = {CN_Q8_SCALAR, CN_Q8_AVX2, CN_Q8_AVX512_VNNI};
    int bad[3] = {0, 0, 0}, nan_seen = 0, extreme_seen = 0;
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < ROWS && cn_q8_kernel_available(kinds[k]); r++)
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
                        bad[k] += !cn_test_same_bits(out[i][j], want);
                        nan_seen += isnan(want);
                        extreme_seen += rows[i] == 0 && tokens[j] < 2 && want != 0.0f;
                    }
            }
    CHECKF(bad[0] == 0, "n %lld: %d scalar tile outputs differ from cn_q4_k_q8_dot_ref", (long long)n, bad[0]);
    CHECKF(bad[1] == 0, "n %lld: %d AVX2 tile outputs differ from cn_q4_k_q8_dot_ref", (long long)n, bad[1]);
    CHECKF(bad[2] == 0, "n %lld: %d VNNI tile outputs differ from cn_q4_k_q8_dot_ref", (long long)n, bad[2]);
    CHECKF(nan_seen > 0 && extreme_seen > 0, "n %lld: the NaN token or the extreme pairs were not exercised", (long long)n);
    free(w), free(xq), free(x), free(wt), free(xt);
}

static void check_matmul(cn_threadpool *pool, int64_t rows, int64_t n, int64_t tokens) {
    const size_t row_bytes = cn_dtype_row_bytes(CN_DTYPE_Q4_K, n);
    const int64_t x_stride = n + 3, y_stride = rows + 1;
    uint8_t *w = malloc((size_t)rows * row_bytes);
    float *x = malloc((size_t)(tokens * x_stride) * sizeof *x), *y = malloc((size_t)(tokens * y_stride) * sizeof *y);
    cn_q8_block *xq = malloc((size_t)(n / 256) * sizeof *xq);
    for (size_t i = 0; i < (size_t)rows * row_bytes; i++) w[i] = (uint8_t)rng_next();
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b = 0; b < n / 256; b++) {
            const uint16_t d = cn_f32_to_f16(rng_uniform() * 0.01f), dmin = cn_f32_to_f16(rng_uniform() * 0.01f);
            memcpy(w + (size_t)r * row_bytes + 144 * b, &d, 2);
            memcpy(w + (size_t)r * row_bytes + 144 * b + 2, &dmin, 2);
        }
    for (int64_t i = 0; i < tokens * x_stride; i++) x[i] = rng_uniform() * (i % 211 == 3 ? 30.0f : 1.0f);
    const cn_matrix m = {CN_DTYPE_Q4_K, rows, n, w, row_bytes, NULL, 0, 0, true};
    cn_matmul(pool, &m, x, x_stride, tokens, y, y_stride);
    int bad = 0;
    for (int64_t t = 0; t < tokens; t++) {
        cn_q8_quantize_row(x + t * x_stride, n, xq);
        for (int64_t r = 0; r < rows; r++) bad += !cn_test_same_bits(y[t * y_stride + r], cn_q4_k_q8_dot_ref(w + (size_t)r * row_bytes, xq, n));
    }
    CHECKF(bad == 0, "cn_matmul Q4_K %lld x %lld, %lld tokens: %d outputs differ from the scalar reference", (long long)rows,
           (long long)n, (long long)tokens, bad);
    free(w), free(x), free(y), free(xq);
}

int main(void) {
    static const int64_t widths[] = {256, 512, 1280, 2048, 4096, 4352};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(widths[i]);
    for (int threads = 1; threads <= 2; threads++) {
        cn_threadpool *pool = cn_threadpool_create(threads);
        CHECK(pool != NULL);
        if (!pool) break;
        /* token counts on both sides of the tile thresholds, with short last groups of four */
        static const int64_t counts[] = {3, 5, 7, 9, 13, 17, 31, 33, 130};
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
            check_matmul(pool, 61, 4096, counts[i]); /* 5,248 bytes rearranged: row blocks of 12, the last 1 row */
        check_matmul(pool, 7, 1280, 257);
        check_matmul(pool, 3, 768, 11);
        cn_threadpool_destroy(pool);
    }
    printf("test_q4_k_tiles: AVX2 tile %s, VPDPBUSD tile %s; cn_matmul with the %s kernels\n",
           cn_q8_kernel_available(CN_Q8_AVX2) ? "checked" : "not on this CPU", cn_q8_has_avx512_vnni() ? "checked" : "not on this CPU",
           cn_q8_kernel_name(cn_q8_kernel_best()));
    return cn_test_finish("test_q4_k_tiles");
}
