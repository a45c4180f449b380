/* f32 GEMM tiles with the one-row chain's bits (f32_tiles.h): AVX2+FMA, x86-64 only. */
#include "tensor/f32_tiles.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <string.h>

#include "tensor/dot_chain_avx2.h"
#include "tensor/row_dot_avx2.h"

bool cn_f32_tiles_available(void) { return cn_cpu_has_avx2_fma(); }

#define ROWS CN_F32_TILE_ROWS
#define TOKENS CN_F32_TILE_TOKENS
_Static_assert(ROWS == 3 && TOKENS == 4, "tile_k names its 12 accumulators");

/* Elements per chunk of full groups: 16 groups of the tile's 7 operands are 14 KB, which stay
 * in L1 across the four k passes, so each weight and token element comes from L2 once per tile. */
#define CHUNK_ELEMENTS 512

/* Accumulator k's chain over elements [i0, i1) (whole groups; the operands already advanced by
 * 8k) for the 3 x 4 tile, resumed from and parked in p[r · TOKENS + t]. Twelve named
 * accumulators, three weight vectors and one token vector: the 16 ymm registers. The FMA is the
 * chain's, fma(w, x, acc), in group order. */
KERNEL_INLINE void tile_k(const float *w0, const float *w1, const float *w2, const float *const x[TOKENS], int64_t i0, int64_t i1,
                          __m256 p[ROWS * TOKENS]) {
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    __m256 c00 = p[0], c01 = p[1], c02 = p[2], c03 = p[3];
    __m256 c10 = p[4], c11 = p[5], c12 = p[6], c13 = p[7];
    __m256 c20 = p[8], c21 = p[9], c22 = p[10], c23 = p[11];
    for (int64_t i = i0; i < i1; i += 32) {
        const __m256 a0 = _mm256_loadu_ps(w0 + i), a1 = _mm256_loadu_ps(w1 + i), a2 = _mm256_loadu_ps(w2 + i);
        __m256 b = _mm256_loadu_ps(x0 + i);
        c00 = _mm256_fmadd_ps(a0, b, c00), c10 = _mm256_fmadd_ps(a1, b, c10), c20 = _mm256_fmadd_ps(a2, b, c20);
        b = _mm256_loadu_ps(x1 + i);
        c01 = _mm256_fmadd_ps(a0, b, c01), c11 = _mm256_fmadd_ps(a1, b, c11), c21 = _mm256_fmadd_ps(a2, b, c21);
        b = _mm256_loadu_ps(x2 + i);
        c02 = _mm256_fmadd_ps(a0, b, c02), c12 = _mm256_fmadd_ps(a1, b, c12), c22 = _mm256_fmadd_ps(a2, b, c22);
        b = _mm256_loadu_ps(x3 + i);
        c03 = _mm256_fmadd_ps(a0, b, c03), c13 = _mm256_fmadd_ps(a1, b, c13), c23 = _mm256_fmadd_ps(a2, b, c23);
    }
    p[0] = c00, p[1] = c01, p[2] = c02, p[3] = c03;
    p[4] = c10, p[5] = c11, p[6] = c12, p[7] = c13;
    p[8] = c20, p[9] = c21, p[10] = c22, p[11] = c23;
}

/* out[r][t] for one tile: the four chains over the full groups, chunk by chunk, then
 * DOT_CHAIN's 8-element steps and zero-padded tail into accumulator 0, then its reduction. */
static KERNEL void tile(const float *const w[ROWS], const float *const x[TOKENS], int64_t n, float out[ROWS][TOKENS]) {
    __m256 p[4][ROWS * TOKENS];
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < ROWS * TOKENS; j++) p[k][j] = _mm256_setzero_ps();
    const int64_t n32 = n - n % 32;
    for (int64_t c0 = 0; c0 < n32; c0 += CHUNK_ELEMENTS) {
        const int64_t c1 = n32 - c0 < CHUNK_ELEMENTS ? n32 : c0 + CHUNK_ELEMENTS;
        for (int k = 0; k < 4; k++) {
            const float *xk[TOKENS] = {x[0] + 8 * k, x[1] + 8 * k, x[2] + 8 * k, x[3] + 8 * k};
            tile_k(w[0] + 8 * k, w[1] + 8 * k, w[2] + 8 * k, xk, c0, c1, p[k]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < TOKENS; t++) {
            __m256 a = p[0][r * TOKENS + t];
            int64_t i = n32;
            for (; i + 8 <= n; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(w[r] + i), _mm256_loadu_ps(x[t] + i), a);
            if (i < n) {
                float w_tail[8] = {0}, x_tail[8] = {0};
                memcpy(w_tail, w[r] + i, (size_t)(n - i) * sizeof(float));
                memcpy(x_tail, x[t] + i, (size_t)(n - i) * sizeof(float));
                a = _mm256_fmadd_ps(_mm256_loadu_ps(w_tail), _mm256_loadu_ps(x_tail), a);
            }
            out[r][t] = sum_accumulators(a, p[1][r * TOKENS + t], p[2][r * TOKENS + t], p[3][r * TOKENS + t]);
        }
}

/* Token groups outside, row triples inside: a group's tokens (TOKENS rows of x) stay in L2 while
 * every row triple of the caller's block (decoded once, also in L2) passes over them. */
void cn_f32_tiles_dot(const float *w, int64_t w_stride, int64_t n_rows, const float *x, int64_t x_stride, int64_t n_tokens, int64_t n,
                      float *y, int64_t y_stride) {
    for (int64_t t0 = 0; t0 < n_tokens; t0 += TOKENS) {
        const int nt = n_tokens - t0 < TOKENS ? (int)(n_tokens - t0) : TOKENS;
        const float *xt[TOKENS];
        for (int t = 0; t < TOKENS; t++) xt[t] = x + (t0 + (t < nt ? t : nt - 1)) * x_stride; /* extra: dropped */
        for (int64_t r0 = 0; r0 < n_rows; r0 += ROWS) {
            const int nr = n_rows - r0 < ROWS ? (int)(n_rows - r0) : ROWS;
            const float *wr[ROWS];
            for (int r = 0; r < ROWS; r++) wr[r] = w + (r0 + (r < nr ? r : nr - 1)) * w_stride;
            float out[ROWS][TOKENS];
            tile(wr, xt, n, out);
            for (int t = 0; t < nt; t++)
                for (int r = 0; r < nr; r++) y[(t0 + t) * y_stride + r0 + r] = out[r][t];
        }
    }
}

#else

bool cn_f32_tiles_available(void) { return false; }
void cn_f32_tiles_dot(const float *w, int64_t w_stride, int64_t n_rows, const float *x, int64_t x_stride, int64_t n_tokens, int64_t n,
                      float *y, int64_t y_stride) {
    (void)w, (void)w_stride, (void)n_rows, (void)x, (void)x_stride, (void)n_tokens, (void)n, (void)y, (void)y_stride;
}

#endif
