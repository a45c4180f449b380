/* Q8_0 weights against many 8-bit tokens as GEMM tiles (issue 4, item 5: prefill as real
 * matmuls): CN_Q8_0_TILE_ROWS weight rows x CN_Q8_0_TILE_TOKENS tokens per pass, each weight
 * vector loaded once for the tile's tokens and each token vector once for its rows, with no
 * horizontal reduction per block.
 *
 * Both operands are rearranged once per cn_matmul call (a prompt's tokens once for all rows, a
 * block of weight rows once for all tokens) so that the eight blocks of a record (q8_activations.h,
 * cn_q8_32x8) sit side by side in one vector: vector m of a record holds bytes 4m..4m+3 of block
 * k in its 32-bit lane k. A run of dot-product instructions over m = 0..7 (four byte products
 * into each int32 lane, VPDPBUSD) then leaves lane k holding block k's whole integer sum — what
 * the one-token kernels gather with three levels of horizontal adds.
 *
 * VPDPBUSD multiplies unsigned by signed bytes; the weight codes are stored plus 128 (w ^ 0x80,
 * 0..255) and each token record carries −128·Σ q over each block, the accumulators' start, so
 * the sum is Σ (w + 128)·x − 128·Σ x = Σ w·x exactly (at most 32·255·127 + 128·32·127 < 2^23
 * per block: no int32 overflow). The f32 steps are cn_q8_0_q8_dot_ref's, lane by lane and not
 * contracted: lane k of a (row, token) pair adds (dw·dx)·sumi of blocks k, k + 8, ... in order
 * (a short last record adds to its used lanes only), and the lanes are totalled as
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). So every output is bit for bit what
 * cn_q8_dot gives that row and token, whatever the tile, the thread split or the calls.
 *
 * The integer sums take VPDPBUSD (AVX-512 VNNI, cn_q8_has_avx512_vnni()) or AVX2's maddubs on the
 * signed codes; without either (or without the x86-64 build) cn_q8_0_tile_dot is the same
 * arithmetic in scalar C, which the tests compare too. */
#ifndef CN_TENSOR_Q8_0_TILES_H
#define CN_TENSOR_Q8_0_TILES_H

#include <stdint.h>

#include "tensor/q8_activations.h"

#define CN_Q8_0_TILE_ROWS 2
#define CN_Q8_0_TILE_TOKENS 4

/* One record (eight blocks of 32) of a quantised token, rearranged. */
typedef struct {
    int8_t q[8][32];        /* q[m][4k + j] = block k's q[4m + j] (zero past the row's end) */
    float d[8];             /* block k's scale dx */
    int32_t neg_offset[8];  /* −128·Σ q over block k */
} cn_q8_0_tile_x;

/* One record of a stored Q8_0 row, rearranged. */
typedef struct {
    uint8_t q[8][32];       /* q[m][4k + j] = block k's code 4m + j, plus 128 (zero past the row's end) */
    float d[8];             /* block k's f16 scale as f32 (exact; zero past the row's end) */
} cn_q8_0_tile_w;

/* Records of an n-element row: ceil(n / 256). */
int64_t cn_q8_0_tile_records(int64_t n);

/* A token quantised as cn_q8_32x8 records (n elements, n a multiple of 32) -> its tile records. */
void cn_q8_0_tile_x_from(const cn_q8_32x8 *x, int64_t n, cn_q8_0_tile_x *out);

/* A stored Q8_0 row of n elements -> its tile records. */
void cn_q8_0_tile_w_from(const uint8_t *row, int64_t n, cn_q8_0_tile_w *out);

/* out[r][t] = Σ_i W_r[i]·x_t[i] for the tile's rows w[r] and tokens x[t] (n elements each, in
 * tile records), cn_q8_0_q8_dot_ref's bits. Rows or tokens past the ones wanted may repeat
 * others (their outputs are dropped). kernel: CN_Q8_AVX512_VNNI (VPDPBUSD), CN_Q8_AVX2 (maddubs
 * on the codes made signed again, no offset: see q8_0_tiles.c), anything else the scalar twin;
 * only a kind this CPU runs (cn_q8_kernel_available). */
void cn_q8_0_tile_dot(const cn_q8_0_tile_w *const w[CN_Q8_0_TILE_ROWS], const cn_q8_0_tile_x *const x[CN_Q8_0_TILE_TOKENS],
                      int64_t n, cn_q8_kernel kernel, float out[CN_Q8_0_TILE_ROWS][CN_Q8_0_TILE_TOKENS]);

#endif
