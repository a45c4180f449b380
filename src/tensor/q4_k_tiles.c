/* Q4_K GEMM tiles (q4_k_tiles.h): the rearrangements, the VPDPBUSD and AVX2 tiles and their scalar twin. */
#include "tensor/q4_k_tiles.h"

#include <string.h>

#include "tensor/element.h"
#include "tensor/kquants.h"

/* Not contracted into FMAs (GCC does not in ISO C mode; clang needs the pragma): the steps are
 * cn_q4_k_q8_dot_ref's. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

void cn_q4_k_tile_x_from(const cn_q8_block *x, int64_t n, cn_q4_k_tile_x *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        cn_q4_k_tile_x *o = out + b;
        for (int k = 0; k < 8; k++)
            for (int m = 0; m < 8; m++) memcpy(&o->q[m][4 * k], x[b].q + 32 * k + 4 * m, 4);
        for (int g = 0; g < 8; g++) o->gsum[g] = (int16_t)(x[b].sum16[2 * g] + x[b].sum16[2 * g + 1]);
        o->d = x[b].d;
    }
}

static void tile_w_from_scalar(const uint8_t *row, int64_t n, cn_q4_k_tile_w *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 144 * b;
        cn_q4_k_tile_w *o = out + b;
        uint16_t h;
        memcpy(&h, blk, 2);
        o->d = cn_f16_to_f32(h);
        memcpy(&h, blk + 2, 2);
        o->dmin = cn_f16_to_f32(h);
        for (int g = 0; g < 8; g++) {
            int sc, m;
            cn_k4_scale_min(blk + 4, g, &sc, &m);
            o->sc2[2 * g] = o->sc2[2 * g + 1] = (int16_t)sc;
            o->mins[g] = (int16_t)m;
            /* group g: the low (even g) or high nibbles of bytes 32·(g/2) .. +31 */
            const uint8_t *q = blk + 16 + 32 * (g / 2);
            for (int l = 0; l < 32; l++) o->q[l / 4][4 * g + l % 4] = (uint8_t)((q[l] >> (4 * (g & 1))) & 0xf);
        }
    }
}

static void tile_dot_scalar(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                            int64_t n, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    for (int i = 0; i < CN_Q4_K_TILE_ROWS; i++)
        for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) {
            float acc = 0.0f;
            for (int64_t b = 0; b < n / 256; b++) {
                const cn_q4_k_tile_w *wb = w[i] + b;
                const cn_q4_k_tile_x *xb = x[t] + b;
                int32_t sumi = 0, summ = 0;
                for (int k = 0; k < 8; k++) {
                    int32_t isum = 0;
                    for (int m = 0; m < 8; m++)
                        for (int j = 0; j < 4; j++) isum += wb->q[m][4 * k + j] * xb->q[m][4 * k + j];
                    sumi += wb->sc2[2 * k] * isum;
                    summ += wb->mins[k] * xb->gsum[k];
                }
                const float dd = xb->d * wb->d, dm = xb->d * wb->dmin;
                const float v = dd * (float)sumi - dm * (float)summ;
                acc = acc + v;
            }
            out[i][t] = acc;
        }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <immintrin.h>

#include "tensor/q8_avx2_parts.h"
#include "tensor/row_dot_avx2.h"

#define KERNEL __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* The same rearrangement with AVX2 (a row is rearranged once per cn_matmul call and used by
 * every token of it, a routed expert's few dozen among them, so the scalar loop's cost showed):
 * group g's 32 codes as bytes, eight groups as rows of an 8 x 8 matrix of 32-bit lanes,
 * transposed. */
Q8_AVX2_KERNEL static void tile_w_from_avx2(const uint8_t *row, int64_t n, cn_q4_k_tile_w *out) {
    const __m256i low_mask = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 144 * b;
        cn_q4_k_tile_w *o = out + b;
        __m256i g[8];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16 + 32 * j));
            g[2 * j] = _mm256_and_si256(q, low_mask);
            g[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
        }
        transpose_8x8_epi32(g);
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) _mm256_storeu_si256((__m256i *)(void *)o->q[m], g[m]);
        uint64_t sc8, m8;
        k4_scales_mins(blk + 4, &sc8, &m8);
        const __m128i scales16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)), mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
        _mm256_storeu_si256((__m256i *)(void *)o->sc2, _mm256_set_m128i(_mm_unpackhi_epi16(scales16, scales16), _mm_unpacklo_epi16(scales16, scales16)));
        _mm_storeu_si128((__m128i *)(void *)o->mins, mins16);
        uint16_t h;
        memcpy(&h, blk, 2);
        o->d = _cvtsh_ss(h);
        memcpy(&h, blk + 2, 2);
        o->dmin = _cvtsh_ss(h);
    }
}

void cn_q4_k_tile_w_from(const uint8_t *row, int64_t n, cn_q4_k_tile_w *out) {
    if (cn_cpu_has_avx2_fma()) tile_w_from_avx2(row, n, out);
    else tile_w_from_scalar(row, n, out);
}

/* A block's end for the tile's eight pairs, once s[j] (pair j = 4·row + token) holds pair j's
 * sc_k·Σ q·qx in lane k: sumi by one horizontal-add tree; the min sums by one VPMADDWD per token
 * (both rows' mins, one per 128-bit half, against the token's group sums) and three horizontal
 * adds, which leave pair j's summ in lane j; then the reference's f32 steps with pair j in lane j:
 * dx and d, dmin spread over the lanes as pairs need them. AVX2 only, for both tiles. */
Q8_AVX2_KERNEL static inline __m256 block_end(__m256 acc, const __m256i s[8], const cn_q4_k_tile_w *w0, const cn_q4_k_tile_w *w1,
                                              const cn_q4_k_tile_x *const xb[CN_Q4_K_TILE_TOKENS]) {
    const __m256i sumi = sum_each8(s);
    /* pair (row, token)'s four partial sums of m_g·gsum_g in the row's half of p[token] */
    const __m256i mins = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(const void *)w1->mins),
                                          _mm_loadu_si128((const __m128i *)(const void *)w0->mins));
    __m256i p[CN_Q4_K_TILE_TOKENS];
#pragma GCC unroll 4
    for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++)
        p[t] = _mm256_madd_epi16(mins, _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)xb[t]->gsum)));
    const __m256i summ = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m128 dx4 = _mm_setr_ps(xb[0]->d, xb[1]->d, xb[2]->d, xb[3]->d);
    const __m256 dx = _mm256_set_m128(dx4, dx4);
    const __m256 d = _mm256_set_m128(_mm_set1_ps(w1->d), _mm_set1_ps(w0->d));
    const __m256 dmin = _mm256_set_m128(_mm_set1_ps(w1->dmin), _mm_set1_ps(w0->dmin));
    /* reference: dd = dx·d, dm = dx·dmin, t = dd·sumi − dm·summ, acc = acc + t */
    const __m256 dd = _mm256_mul_ps(dx, d), dm = _mm256_mul_ps(dx, dmin);
    const __m256 v = _mm256_sub_ps(_mm256_mul_ps(dd, _mm256_cvtepi32_ps(sumi)), _mm256_mul_ps(dm, _mm256_cvtepi32_ps(summ)));
    return _mm256_add_ps(acc, v);
}

Q8_AVX2_KERNEL static inline void store_pairs(__m256 acc, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    for (int i = 0; i < CN_Q4_K_TILE_ROWS; i++)
        for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) out[i][t] = lanes[4 * i + t];
}

/* Per block: eight VPDPBUSDs per pair (lane k: group k's Σ q·qx), times the row's scales
 * (VPMULLD; the low halves of sc2's 32-bit lanes), then block_end. */
KERNEL static void tile_dot_vnni(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                                 int64_t n, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    const __m256i low16 = _mm256_set1_epi32(0xffff);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
        const cn_q4_k_tile_w *w0 = w[0] + b, *w1 = w[1] + b;
        const cn_q4_k_tile_x *xb[CN_Q4_K_TILE_TOKENS] = {x[0] + b, x[1] + b, x[2] + b, x[3] + b};
        __m256i s[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)w0->q[m]);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)w1->q[m]);
#pragma GCC unroll 4
            for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)xb[t]->q[m]);
                s[t] = _mm256_dpbusd_epi32(s[t], a0, v);
                s[4 + t] = _mm256_dpbusd_epi32(s[4 + t], a1, v);
            }
        }
        const __m256i sc0 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)w0->sc2), low16);
        const __m256i sc1 = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)w1->sc2), low16);
#pragma GCC unroll 4
        for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) s[t] = _mm256_mullo_epi32(s[t], sc0), s[4 + t] = _mm256_mullo_epi32(s[4 + t], sc1);
        acc = block_end(acc, s, w0, w1, xb);
    }
    store_pairs(acc, out);
}

/* AVX2 without VNNI: per vector m, maddubs(codes 0..15, token bytes) gives int16 lane 2k + h the
 * sum of two products of group k; the eight m add up in int16 exactly (16 products, at most
 * 16·15·128 = 30,720 < 2^15), and one VPMADDWD with sc2 (sc_k in int16 lanes 2k and 2k + 1)
 * leaves sc_k·Σ q·qx in 32-bit lane k: two instructions per m and pair where VNNI takes one, no
 * 32-bit multiply. Then block_end, the same integers and f32 steps. */
Q8_AVX2_KERNEL static void tile_dot_avx2(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                                         int64_t n, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 256; b++) {
        const cn_q4_k_tile_w *w0 = w[0] + b, *w1 = w[1] + b;
        const cn_q4_k_tile_x *xb[CN_Q4_K_TILE_TOKENS] = {x[0] + b, x[1] + b, x[2] + b, x[3] + b};
        __m256i s[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_si256();
/* by two: fully unrolled, GCC regroups the int16 adds into trees and spills (1.5x slower) */
#pragma GCC unroll 2
        for (int m = 0; m < 8; m++) {
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)w0->q[m]);
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)w1->q[m]);
#pragma GCC unroll 4
            for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)xb[t]->q[m]);
                s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(a0, v));
                s[4 + t] = _mm256_add_epi16(s[4 + t], _mm256_maddubs_epi16(a1, v));
            }
        }
        const __m256i sc0 = _mm256_loadu_si256((const __m256i *)(const void *)w0->sc2);
        const __m256i sc1 = _mm256_loadu_si256((const __m256i *)(const void *)w1->sc2);
#pragma GCC unroll 4
        for (int t = 0; t < CN_Q4_K_TILE_TOKENS; t++) s[t] = _mm256_madd_epi16(s[t], sc0), s[4 + t] = _mm256_madd_epi16(s[4 + t], sc1);
        acc = block_end(acc, s, w0, w1, xb);
    }
    store_pairs(acc, out);
}

void cn_q4_k_tile_dot(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    if (kernel == CN_Q8_AVX512_VNNI) tile_dot_vnni(w, x, n, out);
    else if (kernel == CN_Q8_AVX2) tile_dot_avx2(w, x, n, out);
    else tile_dot_scalar(w, x, n, out);
}

#else

void cn_q4_k_tile_w_from(const uint8_t *row, int64_t n, cn_q4_k_tile_w *out) { tile_w_from_scalar(row, n, out); }

void cn_q4_k_tile_dot(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]) {
    (void)kernel;
    tile_dot_scalar(w, x, n, out);
}

#endif
