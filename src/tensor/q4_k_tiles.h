/* Q4_K weights against many 8-bit tokens as GEMM tiles (issue 4, item 5), the Q4_K counterpart of
 * q8_0_tiles.h: 2 weight rows x 4 tokens per pass, VPDPBUSD (or AVX2's maddubs) on operands
 * rearranged once per cn_matmul call.
 *
 * A Q4_K block has eight groups of 32 codes, each with a 6-bit scale sc_g and min m_g
 * (cn_k4_scale_min). Rearranged, vector m of a block holds codes 4m..4m+3 of group k in its
 * 32-bit lane k (codes as unsigned bytes 0..15, the token's bytes likewise from its cn_q8_block),
 * so eight VPDPBUSDs leave lane k holding group k's Σ q·qx (at most 32·15·127 < 2^16), one
 * 32-bit multiply by the scales gives sc_k·Σ q·qx, and the eight (row, token) pairs' vectors are
 * totalled lane-wise by one horizontal-add tree (sum_each8): lane j = pair j's sumi. Plain AVX2
 * has no VPDPBUSD: maddubs gives pairs of products in int16, eight vectors m add up there exactly,
 * and one VPMADDWD with the scales (each twice, sc2) makes lane k's sc_k·Σ q·qx. The min term
 * summ = Σ_g m_g·(sum16_2g + sum16_2g+1) takes one VPMADDWD per token (the two rows' mins, one
 * per 128-bit half, against the token's eight group sums gsum in both halves) and three
 * horizontal adds for the eight pairs. Both are exact integers (the reference's:
 * cn_q4_k_q8_dot_ref), and the f32 steps run with one lane per pair, in the reference's order and
 * not contracted: dd = dx·d, dm = dx·dmin, t = dd·sumi − dm·summ, acc = acc + t, blocks in order.
 * So every output is cn_q8_dot's bits, whatever the tile or the split.
 *
 * Without AVX2 (or the x86-64 build) cn_q4_k_tile_dot is the same arithmetic in scalar C. */
#ifndef CN_TENSOR_Q4_K_TILES_H
#define CN_TENSOR_Q4_K_TILES_H

#include <stdint.h>

#include "tensor/q8_activations.h"

#define CN_Q4_K_TILE_ROWS 2
#define CN_Q4_K_TILE_TOKENS 4

/* One block (256 elements) of a quantised token, rearranged. */
typedef struct {
    int8_t q[8][32];     /* q[m][4k + j] = element 32k + 4m + j */
    int16_t gsum[8];     /* Σ q over element 32g .. 32g + 31 (sum16[2g] + sum16[2g + 1]; |·| ≤ 4096) */
    float d;             /* its scale dx */
} cn_q4_k_tile_x;

/* One block of a stored Q4_K row, rearranged. */
typedef struct {
    uint8_t q[8][32];    /* q[m][4k + j] = code 4m + j of group k (0..15) */
    int16_t sc2[16];     /* group g's 6-bit scale at 2g and 2g + 1 */
    int16_t mins[8];     /* the groups' 6-bit mins */
    float d, dmin;       /* the block's f16 fields as f32 (exact) */
} cn_q4_k_tile_w;

/* A token quantised as n / 256 cn_q8_block -> its tile blocks. */
void cn_q4_k_tile_x_from(const cn_q8_block *x, int64_t n, cn_q4_k_tile_x *out);

/* A stored Q4_K row of n elements (n a multiple of 256) -> its tile blocks. */
void cn_q4_k_tile_w_from(const uint8_t *row, int64_t n, cn_q4_k_tile_w *out);

/* out[r][t] = Σ_i W_r[i]·x_t[i] (n / 256 blocks each), cn_q4_k_q8_dot_ref's bits. Rows or tokens
 * past the ones wanted may repeat others. kernel: CN_Q8_AVX512_VNNI (VPDPBUSD), CN_Q8_AVX2
 * (maddubs, the group sums in int16: see q4_k_tiles.c), anything else the scalar twin; only a
 * kind this CPU runs (cn_q8_kernel_available). */
void cn_q4_k_tile_dot(const cn_q4_k_tile_w *const w[CN_Q4_K_TILE_ROWS], const cn_q4_k_tile_x *const x[CN_Q4_K_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q4_K_TILE_ROWS][CN_Q4_K_TILE_TOKENS]);

#endif
