/* f32 weight rows against many f32 tokens as register-blocked GEMM tiles (issue 4, prefill
 * speed): the many-token path of the float formats (F8_E4M3, BF16, F16 decoded once per block
 * of rows; F32 as stored) on AVX2+FMA, with exactly the bits of the one-row fused chain.
 *
 * The chain (row_dot_avx2.h, dot_chain_avx2.h) gives each output element four independent 8-lane
 * accumulators: element i of a full 32-element group g goes to accumulator k = (i / 8) % 4, lane
 * i % 8, one FMA per group in group order; then the 8-element steps and the zero-padded last
 * cols % 8 elements go into accumulator 0; then the fixed reduction sum_accumulators(a0..a3).
 * Since the four chains never mix before the reduction, a tile runs accumulator k's chain for
 * CN_F32_TILE_ROWS rows x CN_F32_TILE_TOKENS tokens at once (12 ymm accumulators; per group one
 * weight vector per row and one token vector per token, so each load feeds three or four FMAs
 * instead of one or two), keeps the 8-lane partials, does the next k, and ends with the same
 * 8-element steps, padded tail and reduction. So every output is bit for bit cn_row_dot_avx2's
 * dot of the same f32 row with that token, whatever the tile, the block or the thread split
 * (docs/engine.md, chunk invariance).
 *
 * Both operands are rearranged so that each k pass reads one contiguous stream: a record of the
 * tile's rows (or tokens) holds, for k = 0..3 and group g in order, the 8 elements 32g + 8k..+7
 * of each row (token) side by side, then each row's (token's) last n % 32 elements, zero padded
 * to 32. Tokens are rearranged once per cn_matmul call, a block of decoded rows once for all
 * tokens. The rearranging is portable C; the tile is AVX2+FMA on x86-64 only
 * (cn_f32_tiles_available; elsewhere cn_f32_tile_dot does nothing). */
#ifndef CN_TENSOR_F32_TILES_H
#define CN_TENSOR_F32_TILES_H

#include <stdbool.h>
#include <stdint.h>

#define CN_F32_TILE_ROWS 3
#define CN_F32_TILE_TOKENS 4

/* AVX2+FMA on this CPU and in this build. */
bool cn_f32_tiles_available(void);

/* Floats in a record of `lines` rows or tokens of n elements: lines · (n - n % 32 + 32). */
int64_t cn_f32_tile_record_floats(int lines, int64_t n);

/* Rearranges `lines` rows or tokens (CN_F32_TILE_ROWS or CN_F32_TILE_TOKENS; a tile short of
 * them repeats one, whose outputs the caller drops) of n elements into one record. */
void cn_f32_tile_pack(const float *const *src, int lines, int64_t n, float *record);
/* One of them: src into line `line` of a record of `lines`. */
void cn_f32_tile_pack_line(const float *src, int line, int lines, int64_t n, float *record);

/* out[r][t] = the chain's dot of row r of the row record w with token t of the token record x. */
void cn_f32_tile_dot(const float *w, const float *x, int64_t n, float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS]);

/* The same in steps, so that a caller can run one k and a run of groups over many tiles (that
 * part of a token record then stays in L1 while row records pass): accumulator k's chain over
 * groups [g0, g1) of the tile's (row r, token t) pairs, resumed from and left in the 8-lane
 * partials[r · CN_F32_TILE_TOKENS + t] (zero to start; any split into runs gives the same bits) ... */
void cn_f32_tile_dot_k(const float *w, const float *x, int64_t n, int k, int64_t g0, int64_t g1,
                       float partials[CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8]);
/* ... and, once the four chains have run over all n / 32 groups, the 8-element steps, the tail and the reduction. */
void cn_f32_tile_finish(const float *w, const float *x, int64_t n, const float partials[4][CN_F32_TILE_ROWS * CN_F32_TILE_TOKENS][8],
                        float out[CN_F32_TILE_ROWS][CN_F32_TILE_TOKENS]);

#endif
