/* The many-token integer dots (q8_dot_many.h) against the one-token ones, bit for bit: for every
 * format with an integer dot and every kernel kind this CPU runs (scalar, AVX2, AVX-512 VNNI, which
 * has many-token kernels for both MXFP4s, NEON, NEON with SDOT; under qemu-aarch64 through make
 * test-aarch64), cn_q8_dot_many over 1..9 tokens must give
 * for each token exactly cn_q8_dot's bits with the same kernel and with the scalar reference
 * (q8_activations.c, written independently of the many-token kernels), and so must each AVX2
 * many-token kernel called directly with 1..4 tokens. Rows of 256 to 4352 elements (the per-32
 * formats Q8_0 and both MXFP4s also widths that end mid-record; MXFP4's E8M0 scales near 1 with the
 * subnormal-half codes 0 and 1 among them, DeepSeek's in their own per-row array), tokens of very different magnitudes, an all-zero token, a token
 * with an all-zero block, a token with a NaN. Then cn_matmul with act_q8 (the rewritten
 * matmul_rows_q8: tokens in groups, rows in blocks) on matrices with more rows than one row
 * block, odd row counts, 1..9 tokens, pools of 1 and 2 threads: every output the scalar
 * reference's bits on the token quantised alone (also for Q2_K, Q3_K and IQ2_XXS, which have no
 * many-token kernel and take cn_q8_dot per token). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "harness.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/matmul.h"
#include "tensor/matrix.h"
#include "tensor/q8_activations.h"
#include "tensor/q8_dot_many.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

#define MAX_TOKENS 9

static cn_test_rng rng = {0x3c6ef372fe94f82bu};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

/* An E8M0 code: 118..135, one in eight 0, 1 or 2 (subnormal halves and the smallest normal). */
static uint8_t random_e8m0(void) {
    const uint32_t r = rng_next();
    return r % 8 == 0 ? (uint8_t)((r >> 3) % 3) : (uint8_t)(118 + (r >> 3) % 18);
}

/* Random blocks (every code and scale byte random) with small finite f16 block scales; MXFP4's
 * E8M0 scales from random_e8m0 (ggml's in byte 0 of each block, DeepSeek's n / 32 per row in
 * scales). */
static void random_rows(cn_dtype t, uint8_t *rows, uint8_t *scales, int64_t n_rows, int64_t n) {
    const int bb = cn_dtype_block_bytes(t), be = cn_dtype_block_elems(t);
    for (int64_t b = 0; b < n_rows * (n / be); b++) {
        uint8_t *blk = rows + bb * b;
        for (int k = 0; k < bb; k++) blk[k] = (uint8_t)rng_next();
        if (t == CN_DTYPE_MXFP4 || t == CN_DTYPE_MXFP4_GGML) continue;
        const uint16_t d = cn_f32_to_f16(rng_uniform() * 0.01f), dmin = cn_f32_to_f16(rng_uniform() * 0.01f);
        memcpy(blk + (t == CN_DTYPE_Q6_K ? 208 : t == CN_DTYPE_Q2_K ? 80 : t == CN_DTYPE_Q3_K ? 108 : 0), &d, 2);
        if (t == CN_DTYPE_Q4_K || t == CN_DTYPE_Q5_K) memcpy(blk + 2, &dmin, 2);
        if (t == CN_DTYPE_Q2_K) memcpy(blk + 82, &dmin, 2);
    }
    for (int64_t b = 0; b < n_rows * (n / 32); b++) {
        if (t == CN_DTYPE_MXFP4) scales[b] = random_e8m0();
        if (t == CN_DTYPE_MXFP4_GGML) rows[17 * b] = random_e8m0();
    }
}

/* Row r's separate scales (DeepSeek's MXFP4 only). */
static const uint8_t *scales_of(cn_dtype t, const uint8_t *scales, int64_t r, int64_t n) {
    return t == CN_DTYPE_MXFP4 ? scales + (size_t)(r * (n / 32)) : NULL;
}

/* Token i: each 256 its own magnitude (1e-3 .. 1e3); token 2 all zero; token 4 zero in its first
 * 256; token 6 a NaN at element 5 (so its dots are NaN). */
static void random_tokens(float *x, int64_t n, int64_t stride) {
    for (int i = 0; i < MAX_TOKENS; i++)
        for (int64_t b = 0; b < (n + 255) / 256; b++) {
            const float scale = powf(10.0f, (float)(rng_next() % 7) - 3.0f);
            for (int64_t e = 256 * b; e < 256 * b + 256 && e < n; e++)
                x[i * stride + e] = i == 2 || (i == 4 && b == 0) ? 0.0f : rng_uniform() * scale;
        }
    x[6 * stride + 5] = NAN;
}

static bool kernel_runs_here(cn_q8_kernel k) { return cn_q8_kernel_available(k); }

/* Format t's AVX2 many-token kernel, called directly. */
static void avx2_many(cn_dtype t, const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens,
                      int64_t n, float *out) {
    switch (t) {
    case CN_DTYPE_Q4_K: cn_q4_k_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out); break;
    case CN_DTYPE_Q5_K: cn_q5_k_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out); break;
    case CN_DTYPE_Q6_K: cn_q6_k_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out); break;
    case CN_DTYPE_MXFP4: cn_mxfp4_q8_dot_many_avx2(row, row_scales, xq, xq_stride, n_tokens, n, out); break;
    case CN_DTYPE_MXFP4_GGML: cn_mxfp4_ggml_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out); break;
    default: cn_q8_0_q8_dot_many_avx2(row, xq, xq_stride, n_tokens, n, out); break;
    }
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_width(cn_dtype t, int64_t n) {
    const int64_t rows = 5, stride = n + 3;
    const cn_q8_layout layout = cn_q8_layout_of(t);
    const size_t row_bytes = cn_dtype_row_bytes(t, n), xq_bytes = cn_q8_row_bytes(layout, n);
    uint8_t *w = malloc((size_t)rows * row_bytes), *xq = malloc(MAX_TOKENS * xq_bytes), *scales = malloc((size_t)(rows * (n / 32)));
    float *x = malloc((size_t)(MAX_TOKENS * stride) * sizeof *x);
    random_rows(t, w, scales, rows, n);
    random_tokens(x, n, stride);
    for (int i = 0; i < MAX_TOKENS; i++) cn_q8_quantize(layout, x + i * stride, n, xq + (size_t)i * xq_bytes, CN_Q8_SCALAR);
    static const cn_q8_kernel kinds[] = {CN_Q8_SCALAR, CN_Q8_AVX2, CN_Q8_NEON, CN_Q8_NEON_SDOT, CN_Q8_AVX512_VNNI};
    int bad_many[5] = {0}, bad_direct = 0, nan_seen = 0, finite_seen = 0;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes, *rs = scales_of(t, scales, r, n);
        float ref[MAX_TOKENS];
        for (int i = 0; i < MAX_TOKENS; i++) {
            ref[i] = cn_q8_dot(t, row, rs, xq + (size_t)i * xq_bytes, n, CN_Q8_SCALAR);
            nan_seen += isnan(ref[i]) != 0, finite_seen += isfinite(ref[i]) && ref[i] != 0.0f;
        }
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            if (!kernel_runs_here(kinds[k])) continue;
            /* every token count, and every starting token, so each token sits in groups of
             * every size and position */
            for (int count = 1; count <= MAX_TOKENS; count++)
                for (int first = 0; first + count <= MAX_TOKENS; first += count > 4 ? MAX_TOKENS : 1) {
                    float out[MAX_TOKENS];
                    memset(out, 0x5a, sizeof out);
                    cn_q8_dot_many(t, row, rs, xq + (size_t)first * xq_bytes, xq_bytes, count, n, kinds[k], out);
                    for (int i = 0; i < count; i++) {
                        const float one = cn_q8_dot(t, row, rs, xq + (size_t)(first + i) * xq_bytes, n, kinds[k]);
                        bad_many[k] += !same_bits(out[i], one) || !same_bits(out[i], ref[first + i]);
                    }
                }
        }
        if (cn_cpu_has_avx2_fma())
            for (int count = 1; count <= CN_Q8_MANY_MAX; count++)
                for (int first = 0; first + count <= MAX_TOKENS; first++) {
                    float out[CN_Q8_MANY_MAX];
                    avx2_many(t, row, rs, xq + (size_t)first * xq_bytes, xq_bytes, count, n, out);
                    for (int i = 0; i < count; i++) bad_direct += !same_bits(out[i], ref[first + i]);
                }
    }
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        CHECKF(bad_many[k] == 0, "%s n %lld: %d many-token %s dots differ from cn_q8_dot", cn_dtype_name(t), (long long)n,
               bad_many[k], cn_q8_kernel_name(kinds[k]));
    CHECKF(bad_direct == 0, "%s n %lld: %d AVX2 many-token kernel outputs differ from the reference", cn_dtype_name(t),
           (long long)n, bad_direct);
    CHECKF(nan_seen == rows && finite_seen >= rows * (MAX_TOKENS - 3), "%s n %lld: %d NaN and %d finite nonzero dots",
           cn_dtype_name(t), (long long)n, nan_seen, finite_seen);
    free(w), free(xq), free(scales), free(x);
}

/* cn_matmul with act_q8 against cn_q8_dot(SCALAR) of each token quantised alone. */
static void check_matmul(cn_threadpool *pool, cn_dtype t, int64_t rows, int64_t n) {
    const int64_t x_stride = n + 1, y_stride = rows + 3;
    const cn_q8_layout layout = cn_q8_layout_of(t);
    const size_t row_bytes = cn_dtype_row_bytes(t, n), xq_bytes = cn_q8_row_bytes(layout, n);
    uint8_t *w = malloc((size_t)rows * row_bytes), *xq = malloc(xq_bytes), *scales = malloc((size_t)(rows * (n / 32)));
    float *x = malloc((size_t)(MAX_TOKENS * x_stride) * sizeof *x), *y = malloc((size_t)(MAX_TOKENS * y_stride) * sizeof *y);
    random_rows(t, w, scales, rows, n);
    random_tokens(x, n, x_stride);
    x[6 * x_stride + 5] = 0.5f; /* no NaN here: every output is compared */
    const bool mx = t == CN_DTYPE_MXFP4;
    const cn_matrix m = {t, rows, n, w, row_bytes, mx ? scales : NULL, mx ? n / 32 : 0, 0, true};
    float *want = malloc((size_t)(MAX_TOKENS * rows) * sizeof *want);
    for (int i = 0; i < MAX_TOKENS; i++) {
        cn_q8_quantize(layout, x + i * x_stride, n, xq, CN_Q8_SCALAR);
        for (int64_t r = 0; r < rows; r++) want[i * rows + r] = cn_q8_dot(t, w + (size_t)r * row_bytes, scales_of(t, scales, r, n), xq, n, CN_Q8_SCALAR);
    }
    int bad = 0;
    for (int count = 1; count <= MAX_TOKENS; count++) {
        memset(y, 0, (size_t)(MAX_TOKENS * y_stride) * sizeof *y);
        cn_matmul(pool, &m, x, x_stride, count, y, y_stride);
        for (int i = 0; i < count; i++)
            for (int64_t r = 0; r < rows; r++) bad += !same_bits(y[i * y_stride + r], want[i * rows + r]);
    }
    CHECKF(bad == 0, "%s %lld x %lld: %d act_q8 matmul outputs differ from the scalar reference", cn_dtype_name(t), (long long)rows,
           (long long)n, bad);
    free(w), free(xq), free(scales), free(x), free(y), free(want);
}

int main(void) {
    static const cn_dtype types[] = {CN_DTYPE_Q4_K, CN_DTYPE_Q5_K, CN_DTYPE_Q6_K, CN_DTYPE_Q8_0, CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML};
    static const int64_t widths[] = {256, 512, 1280, 2048, 4096, 4352};
    for (size_t f = 0; f < sizeof types / sizeof *types; f++) {
        /* every SIMD kind this CPU runs has a many-token kernel for these formats, so the
         * comparisons below exercise it (not cn_q8_dot per token) */
        static const cn_q8_kernel simd[] = {CN_Q8_AVX2, CN_Q8_AVX512_VNNI, CN_Q8_NEON, CN_Q8_NEON_SDOT};
        for (size_t k = 0; k < sizeof simd / sizeof *simd; k++)
            if (kernel_runs_here(simd[k]))
                CHECKF(cn_q8_many_has(types[f], simd[k]), "%s: no %s many-token kernel", cn_dtype_name(types[f]), cn_q8_kernel_name(simd[k]));
        for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(types[f], widths[i]);
    }
    static const int64_t q8_0_widths[] = {32, 96, 288, 4096 + 160};
    static const cn_dtype per32[] = {CN_DTYPE_Q8_0, CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML};
    for (size_t f = 0; f < sizeof per32 / sizeof *per32; f++)
        for (size_t i = 0; i < sizeof q8_0_widths / sizeof *q8_0_widths; i++) check_width(per32[f], q8_0_widths[i]);

    /* 64 KB row blocks: 4096-wide rows of Q8_0 (4,352 bytes) make blocks of 15 rows, of Q4_K
     * (2,304 bytes) 28; 61 and 37 rows end mid-block, and split over 2 threads unevenly. */
    for (int threads = 1; threads <= 2; threads++) {
        cn_threadpool *pool = cn_threadpool_create(threads);
        CHECK(pool != NULL);
        if (!pool) break;
        check_matmul(pool, CN_DTYPE_Q8_0, 61, 4096);
        check_matmul(pool, CN_DTYPE_Q4_K, 61, 4096);
        check_matmul(pool, CN_DTYPE_Q5_K, 37, 1280);
        check_matmul(pool, CN_DTYPE_Q6_K, 37, 2048);
        check_matmul(pool, CN_DTYPE_Q8_0, 7, 96);
        /* the formats without a many-token kernel: cn_q8_dot per token inside cn_q8_dot_many */
        check_matmul(pool, CN_DTYPE_Q2_K, 37, 1280);
        check_matmul(pool, CN_DTYPE_Q3_K, 37, 2048);
        check_matmul(pool, CN_DTYPE_IQ2_XXS, 61, 4096);
        check_matmul(pool, CN_DTYPE_MXFP4, 61, 4096); /* 2,048-byte rows: blocks of 32 */
        check_matmul(pool, CN_DTYPE_MXFP4_GGML, 37, 2048);
        check_matmul(pool, CN_DTYPE_MXFP4, 7, 96);
        cn_threadpool_destroy(pool);
    }
    printf("test_q8_many_tokens: kernels here: %s; many-token kernel for Q4_K there: %s; kinds checked:", cn_q8_kernel_name(cn_q8_kernel_best()),
           cn_q8_many_has(CN_DTYPE_Q4_K, cn_q8_kernel_best()) ? "yes" : "no (one-token loop)");
    static const cn_q8_kernel all[] = {CN_Q8_SCALAR, CN_Q8_AVX2, CN_Q8_AVX512_VNNI, CN_Q8_NEON, CN_Q8_NEON_SDOT};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        printf(" %s%s", cn_q8_kernel_name(all[k]), kernel_runs_here(all[k]) ? "" : " (skipped: not on this CPU or build)");
    printf("\n");
    return cn_test_finish("test_q8_many_tokens");
}
