/* f32 GEMM tiles with the one-row chain's bits (f32_tiles.h): the records in portable C, the
 * tile in AVX2+FMA on x86-64. */
#include "tensor/f32_tiles.h"

#include <string.h>

int64_t cn_f32_tile_record_floats(int lines, int64_t n) { return (int64_t)lines * (n - n % 32 + 32); }

void cn_f32_tile_pack_line(const float *src, int line, int lines, int64_t n, float *record) {
    const int64_t groups = n / 32, n32 = 32 * groups;
    for (int k = 0; k < 4; k++)
        for (int64_t g = 0; g < groups; g++) memcpy(record + ((k * groups + g) * lines + line) * 8, src + 32 * g + 8 * k, 8 * sizeof *record);
    float *tail = record + lines * n32 + 32 * line;
    memset(tail, 0, 32 * sizeof *tail);
    memcpy(tail, src + n32, (size_t)(n - n32) * sizeof *tail);
}

void cn_f32_tile_pack(const float *const *src, int lines, int64_t n, float *record) {
    for (int l = 0; l < lines; l++) cn_f32_tile_pack_line(src[l], l, lines, n, record);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include "tensor/dot_chain_avx2.h"
#include "tensor/row_dot_avx2.h"

bool cn_f32_tiles_available(void) { return cn_cpu_has_avx2_fma(); }

#define ROWS CN_F32_TILE_ROWS
#define TOKENS CN_F32_TILE_TOKENS
_Static_assert(ROWS == 3 && TOKENS == 4, "tile_k names its 12 accumulators");

/* Accumulator k's chain over `groups` full groups for the 3 x 4 tile: w and x at the k part of
 * their records (per group 3 and 4 vectors of 8), resumed from and left in p[r · TOKENS + t]
 * (stored and reloaded exactly, so a chain split anywhere gives the same bits). Twelve named
 * accumulators, three weight vectors and one token vector: the 16 ymm registers. The FMA is the
 * chain's, fma(w, x, acc), in group order. */
KERNEL_INLINE void tile_k(const float *w, const float *x, int64_t groups, float p[ROWS * TOKENS][8]) {
    __m256 c00 = _mm256_loadu_ps(p[0]), c01 = _mm256_loadu_ps(p[1]), c02 = _mm256_loadu_ps(p[2]), c03 = _mm256_loadu_ps(p[3]);
    __m256 c10 = _mm256_loadu_ps(p[4]), c11 = _mm256_loadu_ps(p[5]), c12 = _mm256_loadu_ps(p[6]), c13 = _mm256_loadu_ps(p[7]);
    __m256 c20 = _mm256_loadu_ps(p[8]), c21 = _mm256_loadu_ps(p[9]), c22 = _mm256_loadu_ps(p[10]), c23 = _mm256_loadu_ps(p[11]);
    for (int64_t g = 0; g < groups; g++, w += 8 * ROWS, x += 8 * TOKENS) {
        const __m256 a0 = _mm256_loadu_ps(w), a1 = _mm256_loadu_ps(w + 8), a2 = _mm256_loadu_ps(w + 16);
        __m256 b = _mm256_loadu_ps(x);
        c00 = _mm256_fmadd_ps(a0, b, c00), c10 = _mm256_fmadd_ps(a1, b, c10), c20 = _mm256_fmadd_ps(a2, b, c20);
        b = _mm256_loadu_ps(x + 8);
        c01 = _mm256_fmadd_ps(a0, b, c01), c11 = _mm256_fmadd_ps(a1, b, c11), c21 = _mm256_fmadd_ps(a2, b, c21);
        b = _mm256_loadu_ps(x + 16);
        c02 = _mm256_fmadd_ps(a0, b, c02), c12 = _mm256_fmadd_ps(a1, b, c12), c22 = _mm256_fmadd_ps(a2, b, c22);
        b = _mm256_loadu_ps(x + 24);
        c03 = _mm256_fmadd_ps(a0, b, c03), c13 = _mm256_fmadd_ps(a1, b, c13), c23 = _mm256_fmadd_ps(a2, b, c23);
    }
    _mm256_storeu_ps(p[0], c00), _mm256_storeu_ps(p[1], c01), _mm256_storeu_ps(p[2], c02), _mm256_storeu_ps(p[3], c03);
    _mm256_storeu_ps(p[4], c10), _mm256_storeu_ps(p[5], c11), _mm256_storeu_ps(p[6], c12), _mm256_storeu_ps(p[7], c13);
    _mm256_storeu_ps(p[8], c20), _mm256_storeu_ps(p[9], c21), _mm256_storeu_ps(p[10], c22), _mm256_storeu_ps(p[11], c23);
}

KERNEL void cn_f32_tile_dot_k(const float *w, const float *x, int64_t n, int k, int64_t g0, int64_t g1,
                              float partials[CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8]) {
    const int64_t groups = n / 32;
    tile_k(w + (k * groups + g0) * 8 * ROWS, x + (k * groups + g0) * 8 * TOKENS, g1 - g0, partials);
}

/* DOT_CHAIN's 8-element steps and zero-padded tail into accumulator 0 (the records' tails are zero
 * padded as DOT_CHAIN pads), then its reduction. */
KERNEL void cn_f32_tile_finish(const float *w, const float *x, int64_t n, const float partials[4][CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8],
                        float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS]) {
    const int64_t n32 = n - n % 32;
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < TOKENS; t++) {
            const int j = r * TOKENS + t;
            const float *wt = w + ROWS * n32 + 32 * r, *xt = x + TOKENS * n32 + 32 * t;
            __m256 a = _mm256_loadu_ps(partials[0][j]);
            for (int64_t i = 0; n32 + i < n; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(wt + i), _mm256_loadu_ps(xt + i), a);
            out[r][t] = sum_accumulators(a, _mm256_loadu_ps(partials[1][j]), _mm256_loadu_ps(partials[2][j]), _mm256_loadu_ps(partials[3][j]));
        }
}

void cn_f32_tile_dot(const float *w, const float *x, int64_t n, float out[ROWS][TOKENS]) {
    float partials[4][ROWS * TOKENS][8] = {0};
    for (int k = 0; k < 4; k++) cn_f32_tile_dot_k(w, x, n, k, 0, n / 32, partials[k]);
    cn_f32_tile_finish(w, x, n, (const float(*)[ROWS * TOKENS][8])partials, out);
}

#else

bool cn_f32_tiles_available(void) { return false; }
void cn_f32_tile_dot_k(const float *w, const float *x, int64_t n, int k, int64_t g0, int64_t g1,
                       float partials[CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8]) {
    (void)w, (void)x, (void)n, (void)k, (void)g0, (void)g1, (void)partials;
}
void cn_f32_tile_finish(const float *w, const float *x, int64_t n, const float partials[4][CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8],
                        float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS]) {
    (void)w, (void)x, (void)n, (void)partials, (void)out;
}
void cn_f32_tile_dot(const float *w, const float *x, int64_t n, float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS]) {
    (void)w, (void)x, (void)n, (void)out;
}

#endif
