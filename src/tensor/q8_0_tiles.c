/* Q8_0 GEMM tiles (q8_0_tiles.h): the rearrangements, the VPDPBUSD tile and its scalar twin. */
#include "tensor/q8_0_tiles.h"

#include <string.h>

#include "tensor/element.h"

/* Not contracted into FMAs (GCC does not in ISO C mode; clang needs the pragma): the steps are
 * cn_q8_0_q8_dot_ref's. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

int64_t cn_q8_0_tile_records(int64_t n) { return (n / 32 + 7) / 8; }

/* Blocks of record r that lie inside a row of `blocks` blocks. */
static int used_blocks(int64_t blocks, int64_t r) { return blocks - 8 * r >= 8 ? 8 : (int)(blocks - 8 * r); }

void cn_q8_0_tile_x_from(const cn_q8_32x8 *x, int64_t n, cn_q8_0_tile_x *out) {
    const int64_t blocks = n / 32;
    for (int64_t r = 0; r < cn_q8_0_tile_records(n); r++) {
        cn_q8_0_tile_x *o = out + r;
        memset(o, 0, sizeof *o);
        for (int k = 0; k < used_blocks(blocks, r); k++) {
            const int8_t *q = x[r].q + 32 * k;
            int32_t sum = 0;
            for (int l = 0; l < 32; l++) sum += q[l];
            for (int m = 0; m < 8; m++) memcpy(&o->q[m][4 * k], q + 4 * m, 4);
            o->d[k] = x[r].d[k];
            o->neg_offset[k] = -128 * sum;
        }
    }
}

/* Records first..last - 1 of the row (the scalar rearrangement). */
static void tile_w_from_scalar(const uint8_t *row, int64_t n, int64_t first, int64_t last, cn_q8_0_tile_w *out) {
    const int64_t blocks = n / 32;
    for (int64_t r = first; r < last; r++) {
        cn_q8_0_tile_w *o = out + r;
        memset(o, 0, sizeof *o);
        for (int k = 0; k < used_blocks(blocks, r); k++) {
            const uint8_t *blk = row + 34 * (8 * r + k);
            uint16_t h;
            memcpy(&h, blk, 2);
            o->d[k] = cn_f16_to_f32(h);
            for (int m = 0; m < 8; m++) {
                uint32_t four;
                memcpy(&four, blk + 2 + 4 * m, 4);
                four ^= 0x80808080u; /* each code plus 128, as an unsigned byte */
                memcpy(&o->q[m][4 * k], &four, 4);
            }
        }
    }
}

/* The reference's total of the eight lanes. */
static float total(const float lane[8]) {
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

static void tile_dot_scalar(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                            int64_t n, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    const int64_t blocks = n / 32;
    for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++)
        for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) {
            float lane[8] = {0};
            for (int64_t r = 0; r < cn_q8_0_tile_records(n); r++) {
                const cn_q8_0_tile_w *wr = w[i] + r;
                const cn_q8_0_tile_x *xr = x[t] + r;
                for (int k = 0; k < used_blocks(blocks, r); k++) {
                    int32_t sumi = xr->neg_offset[k];
                    for (int m = 0; m < 8; m++)
                        for (int j = 0; j < 4; j++) sumi += wr->q[m][4 * k + j] * xr->q[m][4 * k + j];
                    const float scale = wr->d[k] * xr->d[k];
                    const float v = scale * (float)sumi;
                    lane[k] = lane[k] + v;
                }
            }
            out[i][t] = total(lane);
        }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>

#include "tensor/q8_avx2_parts.h"
#include "tensor/row_dot_avx2.h"

#define KERNEL __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* The full records with AVX2 (eight blocks as rows of an 8 x 8 matrix of 32-bit lanes,
 * transposed), a short last one by the scalar loop. */
Q8_AVX2_KERNEL static void tile_w_from_avx2(const uint8_t *row, int64_t n, cn_q8_0_tile_w *out) {
    const int64_t full = n / 256;
    const __m256i plus_128 = _mm256_set1_epi8((char)0x80);
    for (int64_t r = 0; r < full; r++) {
        const uint8_t *rec = row + 34 * 8 * r;
        cn_q8_0_tile_w *o = out + r;
        __m256i q[8];
        uint16_t h[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            q[k] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(rec + 34 * k + 2)), plus_128);
            memcpy(&h[k], rec + 34 * k, 2);
        }
        transpose_8x8_epi32(q);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm256_storeu_si256((__m256i *)(void *)o->q[m], q[m]);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) o->d[k] = _cvtsh_ss(h[k]);
    }
    tile_w_from_scalar(row, n, full, cn_q8_0_tile_records(n), out);
}

void cn_q8_0_tile_w_from(const uint8_t *row, int64_t n, cn_q8_0_tile_w *out) {
    if (cn_cpu_has_avx2_fma()) tile_w_from_avx2(row, n, out);
    else tile_w_from_scalar(row, n, 0, cn_q8_0_tile_records(n), out);
}

/* A record's end for the tile's eight pairs, once lane k of s[i][t] holds block k's exact sumi
 * of row i and token t: lane by lane (dw·dx)·sumi added to the pair's f32 lanes, only the used
 * ones in a short last record (adding 0 could turn a −0 into +0). AVX2 only, for both tiles. */
Q8_AVX2_KERNEL static inline void record_end(__m256 lanes[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS],
                                             const __m256i s[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS],
                                             const cn_q8_0_tile_w *const wr[CN_Q8_0_TILE_ROWS],
                                             const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS], int64_t r, int used) {
    const __m256 dw[CN_Q8_0_TILE_ROWS] = {_mm256_loadu_ps(wr[0]->d), _mm256_loadu_ps(wr[1]->d)};
#pragma GCC unroll 4
    for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) {
        const __m256 dx = _mm256_loadu_ps(x[t][r].d);
#pragma GCC unroll 2
        for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++) {
            const __m256 v = _mm256_mul_ps(_mm256_mul_ps(dw[i], dx), _mm256_cvtepi32_ps(s[i][t]));
            lanes[i][t] = used == 8 ? _mm256_add_ps(lanes[i][t], v) : add_last_record(lanes[i][t], v, used);
        }
    }
}

/* The pairs' lanes, zero before the first record. */
Q8_AVX2_KERNEL static inline void zero_lanes(__m256 lanes[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
#pragma GCC unroll 2
    for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++)
#pragma GCC unroll 4
        for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) lanes[i][t] = _mm256_setzero_ps();
}

/* Each pair's lanes totalled as the reference does. */
Q8_AVX2_KERNEL static inline void store_totals(__m256 lanes[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS],
                                               float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++)
        for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) out[i][t] = total_of_lanes(lanes[i][t]);
}

/* Per record: the eight int32 accumulators (2 rows x 4 tokens) start at their token's
 * −128·Σ q and take eight VPDPBUSDs each (vector m of the row against vector m of the token);
 * lane k is then block k's exact sumi; then record_end. 2 x 4 pairs keep 16 accumulators, two
 * row vectors and one token vector in AVX-512VL's 32 registers; per vector m, 6 loads feed 8
 * VPDPBUSDs. */
KERNEL static void tile_dot_vnni(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                                 int64_t n, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    const int64_t blocks = n / 32;
    __m256 lanes[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS];
    zero_lanes(lanes);
    for (int64_t r = 0; r < cn_q8_0_tile_records(n); r++) {
        const cn_q8_0_tile_w *const wr[CN_Q8_0_TILE_ROWS] = {w[0] + r, w[1] + r};
        __m256i s[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS];
#pragma GCC unroll 4
        for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++)
            s[0][t] = s[1][t] = _mm256_loadu_si256((const __m256i *)(const void *)x[t][r].neg_offset);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)wr[0]->q[m]);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)wr[1]->q[m]);
#pragma GCC unroll 4
            for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) {
                const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)x[t][r].q[m]);
                s[0][t] = _mm256_dpbusd_epi32(s[0][t], a0, b);
                s[1][t] = _mm256_dpbusd_epi32(s[1][t], a1, b);
            }
        }
        record_end(lanes, s, wr, x, r, used_blocks(blocks, r));
    }
    store_totals(lanes, out);
}

/* AVX2 without VNNI: maddubs cannot take the +128 codes (pairs up to 2·255·127 overflow int16),
 * so each row's codes are made signed again (w = stored ^ 0x80) and |w| once per vector for the
 * tile's four tokens, and each token meets them as the one-token kernel does: maddubs(|w|,
 * x·sign(w)) (pairs at most 2·128·127 < 2^15), madd with ones, added into lane k; no offset. The
 * same exact sums, then record_end. */
Q8_AVX2_KERNEL static void tile_dot_avx2(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                                         int64_t n, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    const int64_t blocks = n / 32;
    const __m256i plus_128 = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 lanes[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS];
    zero_lanes(lanes);
    for (int64_t r = 0; r < cn_q8_0_tile_records(n); r++) {
        const cn_q8_0_tile_w *const wr[CN_Q8_0_TILE_ROWS] = {w[0] + r, w[1] + r};
        __m256i s[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS];
#pragma GCC unroll 2
        for (int i = 0; i < CN_Q8_0_TILE_ROWS; i++)
#pragma GCC unroll 4
            for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) s[i][t] = _mm256_setzero_si256();
/* by four: fully unrolled, GCC regroups the adds and spills (4 % slower) */
#pragma GCC unroll 4
        for (int m = 0; m < 8; m++) {
            const __m256i s0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)wr[0]->q[m]), plus_128);
            const __m256i s1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)wr[1]->q[m]), plus_128);
            const __m256i a0 = _mm256_abs_epi8(s0), a1 = _mm256_abs_epi8(s1);
#pragma GCC unroll 4
            for (int t = 0; t < CN_Q8_0_TILE_TOKENS; t++) {
                const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)x[t][r].q[m]);
                s[0][t] = _mm256_add_epi32(s[0][t], _mm256_madd_epi16(_mm256_maddubs_epi16(a0, _mm256_sign_epi8(b, s0)), ones));
                s[1][t] = _mm256_add_epi32(s[1][t], _mm256_madd_epi16(_mm256_maddubs_epi16(a1, _mm256_sign_epi8(b, s1)), ones));
            }
        }
        record_end(lanes, s, wr, x, r, used_blocks(blocks, r));
    }
    store_totals(lanes, out);
}

void cn_q8_0_tile_dot(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    if (kernel == CN_Q8_AVX512_VNNI) tile_dot_vnni(w, x, n, out);
    else if (kernel == CN_Q8_AVX2) tile_dot_avx2(w, x, n, out);
    else tile_dot_scalar(w, x, n, out);
}

#else

void cn_q8_0_tile_w_from(const uint8_t *row, int64_t n, cn_q8_0_tile_w *out) {
    tile_w_from_scalar(row, n, 0, cn_q8_0_tile_records(n), out);
}

void cn_q8_0_tile_dot(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]) {
    (void)kernel;
    tile_dot_scalar(w, x, n, out);
}

#endif
