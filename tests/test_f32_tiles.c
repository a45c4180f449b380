/* The f32 GEMM tiles (f32_tiles.h) against the one-row fused chain, bit for bit.
 *  1. The records (cn_f32_tile_pack) and the tile (cn_f32_tile_dot) directly against
 *     cn_row_dot_avx2 (one token, F32 rows) for every output, on widths around the group and
 *     8-step boundaries (cols % 32 and cols % 8 != 0), tiles with repeated rows and tokens, rows
 *     and tokens at strides that are odd numbers of floats, holding NaN, ±Inf, subnormals and -0.
 *  2. cn_matmul with many tokens (the tiles on decoded blocks: F8_E4M3 with a NaN code, subnormal
 *     codes and scale codes above 246; BF16 and F16 with NaN, Inf and subnormals; F32 in place)
 *     against cn_matmul one token at a time (the one-row chain, or e4m3_rows_x86.h for F8_E4M3:
 *     the same bits), on one thread and on two: row counts that are not multiples of the tile's 3,
 *     token counts that are not multiples of its 4, odd strides of tokens and outputs.
 * Where the tiles do not run (no AVX2+FMA, or a build without the x86 kernels) part 1 is skipped
 * and part 2 still checks that many tokens give one token's bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "harness.h"
#include "tensor/element.h"
#include "tensor/f32_tiles.h"
#include "tensor/matmul.h"
#include "tensor/matrix.h"
#include "tensor/row_dot_avx2.h"

static cn_test_rng rng = {0x3c6ef372fe94f82bu};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

/* Mostly uniform values with some large ones (so that the order of the additions shows in the
 * low bits), and at a few fixed places the special values. */
static float test_value(int64_t i, int64_t line, bool specials) {
    const float v = rng_uniform() * ((rng_next() & 15) == 0 ? 300.0f : 1.0f);
    if (!specials) return v;
    switch ((i * 7 + line * 13) % 211) {
    case 3: return 1e-40f; /* subnormal */
    case 50: return -3e-39f;
    case 77: return -0.0f;
    case 101: return line % 5 == 1 ? INFINITY : v;
    case 150: return line % 7 == 2 ? -INFINITY : v;
    case 190: return line % 6 == 4 ? NAN : v;
    default: return v;
    }
}

/* Every window of 3 rows and 4 tokens (wrapping round, so repeated rows and tokens too) of
 * `rows` rows and `tokens` tokens at odd strides, rearranged and tiled, against cn_row_dot_avx2. */
static void check_direct(int64_t n, int64_t rows, int64_t tokens) {
    const int64_t w_stride = n + 3, x_stride = n + 5;
    float *w = malloc((size_t)(rows * w_stride) * sizeof *w), *x = malloc((size_t)(tokens * x_stride) * sizeof *x);
    float *wr = malloc((size_t)cn_f32_tile_record_floats(CN_F32_TILE_ROWS, n) * sizeof *wr);
    float *xr = malloc((size_t)cn_f32_tile_record_floats(CN_F32_TILE_TOKENS, n) * sizeof *xr);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < w_stride; i++) w[r * w_stride + i] = i < n ? test_value(i, r, true) : NAN; /* past the row: never read */
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t i = 0; i < x_stride; i++) x[t * x_stride + i] = i < n ? test_value(i, t + 100, t % 2 == 1) : NAN;
    const cn_matrix m = {CN_DTYPE_F32, rows, n, (const uint8_t *)w, (size_t)w_stride * sizeof *w, NULL, 0, 0, false};
    int bad = 0, finite_seen = 0;
    for (int64_t r0 = 0; r0 < rows; r0++) {
        int64_t rr[CN_F32_TILE_ROWS];
        const float *wp[CN_F32_TILE_ROWS];
        for (int i = 0; i < CN_F32_TILE_ROWS; i++) rr[i] = (r0 + i) % rows, wp[i] = w + rr[i] * w_stride;
        cn_f32_tile_pack(wp, CN_F32_TILE_ROWS, n, wr);
        for (int64_t t0 = 0; t0 < tokens; t0++) {
            int64_t tt[CN_F32_TILE_TOKENS];
            const float *xp[CN_F32_TILE_TOKENS];
            for (int i = 0; i < CN_F32_TILE_TOKENS; i++) tt[i] = (t0 + i) % tokens, xp[i] = x + tt[i] * x_stride;
            cn_f32_tile_pack(xp, CN_F32_TILE_TOKENS, n, xr);
            float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS];
            cn_f32_tile_dot(wr, xr, n, out);
            for (int i = 0; i < CN_F32_TILE_ROWS; i++)
                for (int j = 0; j < CN_F32_TILE_TOKENS; j++) {
                    float want;
                    cn_row_dot_avx2(&m, rr[i], &xp[j], 1, &want);
                    bad += !cn_test_same_bits(out[i][j], want);
                    finite_seen += isfinite(want);
                }
        }
    }
    CHECKF(bad == 0, "n %lld, %lld rows, %lld tokens: %d tile outputs differ from cn_row_dot_avx2", (long long)n, (long long)rows,
           (long long)tokens, bad);
    CHECKF(finite_seen > 0, "n %lld: no finite output", (long long)n);
    free(w), free(x), free(wr), free(xr);
}

/* A matrix of `dtype` (F8_E4M3, BF16, F16, F32) with special values in some rows. */
typedef struct {
    cn_matrix m;
    uint8_t *data, *scales;
} stored_matrix;

static stored_matrix special_matrix(cn_dtype dtype, int64_t rows, int64_t cols) {
    stored_matrix s = {0};
    if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 65536) return s;
    const size_t row_bytes = cn_dtype_row_bytes(dtype, cols);
    s.data = malloc(row_bytes * (size_t)rows);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++) {
            uint8_t *e = s.data + (size_t)r * row_bytes;
            const float v = test_value(i, r, r % 3 != 0);
            switch (dtype) {
            case CN_DTYPE_F32: memcpy(e + 4 * i, &v, 4); break;
            case CN_DTYPE_F16: {
                /* subnormal halves too: |v| below 2^-14 */
                const uint16_t h = (i % 29 == 4) ? (uint16_t)(0x0001 + (rng_next() & 0x83ff)) : cn_f32_to_f16(v);
                memcpy(e + 2 * i, &h, 2);
                break;
            }
            case CN_DTYPE_BF16: {
                const uint16_t h = cn_f32_to_bf16(v);
                memcpy(e + 2 * i, &h, 2);
                break;
            }
            case CN_DTYPE_F8_E4M3: {
                /* every code: subnormals (exponent field 0) and, in row 4, the NaN code 0x7f; under
                 * the scale code 247 (block (0, 1)) subnormal codes only, so that sums stay finite */
                uint8_t c = (uint8_t)rng_next();
                if ((c & 0x7f) == 0x7f && r != 4) c ^= 1;
                if (r == 4 && i % 50 == 7) c = 0x7f;
                if (r < 128 && i / 128 == 1) c &= 0x87;
                e[i] = c;
                break;
            }
            default: break;
            }
        }
    s.m = (cn_matrix){dtype, rows, cols, s.data, row_bytes, NULL, 0, 0, false};
    if (dtype == CN_DTYPE_F8_E4M3) {
        const int64_t scale_rows = (rows + 127) / 128, scale_cols = (cols + 127) / 128;
        s.scales = malloc((size_t)(scale_rows * scale_cols));
        /* 120..130 mostly (the fast decoder), 247 (above 246: the general decoder) and 0 (2^-127) */
        for (int64_t i = 0; i < scale_rows * scale_cols; i++) s.scales[i] = i == 1 ? 247 : i % 4 == 2 ? 0 : (uint8_t)(120 + rng_next() % 11);
        s.m.scales = s.scales, s.m.scale_cols = scale_cols;
    }
    return s;
}

static void check_matmul(cn_threadpool *pool, cn_dtype dtype, int64_t rows, int64_t cols, int64_t tokens) {
    stored_matrix s = special_matrix(dtype, rows, cols);
    if (tokens <= 0 || tokens > 64 || !s.data) return;
    const int64_t x_stride = cols + 7, y_stride = rows + 3;
    float *x = malloc((size_t)(tokens * x_stride) * sizeof *x);
    float *all = calloc((size_t)(tokens * y_stride), sizeof *all), *one = calloc((size_t)(tokens * y_stride), sizeof *one);
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t i = 0; i < x_stride; i++) x[t * x_stride + i] = test_value(i, t + 50, t == 2);
    cn_matmul(pool, &s.m, x, x_stride, tokens, all, y_stride);
    for (int64_t t = 0; t < tokens; t++) cn_matmul(pool, &s.m, x + t * x_stride, x_stride, 1, one + t * y_stride, y_stride);
    int bad = 0, finite_seen = 0;
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = 0; r < rows; r++) {
            bad += !cn_test_same_bits(all[t * y_stride + r], one[t * y_stride + r]);
            finite_seen += isfinite(one[t * y_stride + r]);
        }
    CHECKF(bad == 0, "%s %lld x %lld, %lld tokens: %d outputs differ from one-token calls", cn_dtype_name(dtype), (long long)rows,
           (long long)cols, (long long)tokens, bad);
    CHECKF(finite_seen > 0, "%s %lld x %lld: no finite output", cn_dtype_name(dtype), (long long)rows, (long long)cols);
    free(x), free(all), free(one), free(s.data), free(s.scales);
}

int main(void) {
    const bool tiles = cn_f32_tiles_available();
    if (tiles) {
        static const int64_t widths[] = {1, 7, 8, 31, 32, 33, 100, 512, 520, 1031, 4096 + 40};
        static const int64_t counts[][2] = {{1, 1}, {2, 3}, {4, 5}};
        for (size_t i = 0; i < sizeof widths / sizeof *widths; i++)
            for (size_t j = 0; j < sizeof counts / sizeof *counts; j++) check_direct(widths[i], counts[j][0], counts[j][1]);
    }
    static const cn_dtype dtypes[] = {CN_DTYPE_F8_E4M3, CN_DTYPE_BF16, CN_DTYPE_F16, CN_DTYPE_F32};
    static const int64_t shapes[][3] = {{7, 40, 9}, {10, 300, 5}, {131, 1000, 7}, {5, 2048 + 96, 17}, {4, 8192 + 40, 6}};
    for (int threads = 1; threads <= 2; threads++) {
        cn_threadpool *pool = cn_threadpool_create(threads);
        CHECK(pool != NULL);
        for (size_t d = 0; pool && d < sizeof dtypes / sizeof *dtypes; d++)
            for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
                check_matmul(pool, dtypes[d], shapes[i][0], shapes[i][1], shapes[i][2]);
        cn_threadpool_destroy(pool);
    }
    printf("test_f32_tiles: tiles %s\n", tiles ? "checked against the one-row chain" : "not on this CPU or build");
    return cn_test_finish("test_f32_tiles");
}
