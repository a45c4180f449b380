/* f32 weight rows against many f32 tokens as register-blocked GEMM tiles (issue 4, prefill
 * speed): the many-token path of the float formats (F8_E4M3, BF16, F16 decoded once per block
 * of rows; F32 in place) on AVX2+FMA, with exactly the bits of the one-row fused chain.
 *
 * The chain (row_dot_avx2.h, dot_chain_avx2.h) gives each output element four independent 8-lane
 * accumulators: element i of a full 32-element group g goes to accumulator k = (i / 8) % 4, lane
 * i % 8, one FMA per group in group order; then the 8-element steps and the zero-padded last
 * cols % 8 elements go into accumulator 0; then the fixed reduction sum_accumulators(a0..a3).
 * Since the four chains never mix before the reduction, a tile runs accumulator k's chain for
 * CN_F32_TILE_ROWS rows x CN_F32_TILE_TOKENS tokens at once (12 accumulators in registers: per
 * group one weight vector per row and one token vector per token, at offset 32g + 8k, so each
 * load feeds three or four FMAs instead of one or two), parks the 8-lane partials, does the next
 * k, and ends with the same 8-element steps, tail and reduction. The groups are taken in chunks
 * that stay in L1 across the four k passes; parking a partial and resuming it changes no bit.
 * So every output is bit for bit cn_row_dot_avx2's dot of the same f32 row with that token,
 * whatever the tile, the block or the thread split (docs/engine.md). x86-64 with AVX2+FMA only
 * (cn_f32_tiles_available); elsewhere the entry point does nothing. */
#ifndef CN_TENSOR_F32_TILES_H
#define CN_TENSOR_F32_TILES_H

#include <stdbool.h>
#include <stdint.h>

#define CN_F32_TILE_ROWS 3
#define CN_F32_TILE_TOKENS 4

/* AVX2+FMA on this CPU and in this build. */
bool cn_f32_tiles_available(void);

/* y[t · y_stride + r] = the chain's dot of row r (w + r · w_stride, n elements) with token t
 * (x + t · x_stride) for r < n_rows, t < n_tokens. Any counts (a tile short of rows or tokens
 * repeats its last one and drops the extra outputs). Only where cn_f32_tiles_available(). */
void cn_f32_tiles_dot(const float *w, int64_t w_stride, int64_t n_rows, const float *x, int64_t x_stride, int64_t n_tokens, int64_t n,
                      float *y, int64_t y_stride);

#endif
