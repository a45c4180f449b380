/* Fused AVX2+FMA dot products of one stored weight row with one or two tokens, decoding the row
 * straight into registers (no f32 row buffer): F32, F16, BF16, F8_E4M3 with 128-wide block
 * scales, MXFP4 with 32-wide scales, Q8_0 here, and the ggml block formats (kquants.h: Q2_K..Q6_K,
 * IQ2_XXS, ggml's MXFP4) through row_dot_kquants_avx2.h, on the same chain (dot_chain_avx2.h).
 *
 * Chunk invariance (docs/engine.md, "Rules that make every split of a sequence give the same
 * logits"): the result for a token is one fixed chain of operations on the exactly decoded
 * weights, decided by the number of columns alone. Four 8-lane accumulators take 32-element
 * blocks (acc[k] = fma(w[i+8k..], x[i+8k..], acc[k])), then 8-element steps go into acc[0], then
 * the last cols % 8 elements, zero padded, into acc[0]; the reduction order is fixed. Each token
 * has its own accumulators, so pairing tokens changes nothing, and a row decoded once with
 * cn_row_decode_avx2 and dotted as F32 gives the same bits as the fused kernel.
 * Called only when cn_cpu_has_avx2_fma(). */
#ifndef CN_TENSOR_ROW_DOT_AVX2_H
#define CN_TENSOR_ROW_DOT_AVX2_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/matrix.h"

/* AVX2, FMA and F16C: the instruction sets the fused kernels use. */
bool cn_cpu_has_avx2_fma(void);

/* out[t] = Σ_i W[row][i] · x[t][i] for t < n_tokens, n_tokens 1 or 2. */
void cn_row_dot_avx2(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out);

/* The weights of one row as f32, exactly the values the fused kernel multiplies. */
void cn_row_decode_avx2(const cn_matrix *m, int64_t row, float *out);

/* The same f32 weights written straight into line `line` of a GEMM tile record of `lines` rows
 * (f32_tiles.h, the layout cn_f32_tile_pack makes), sparing the f32 row and the rearranging
 * pass. F32, F16, BF16, F8_E4M3, MXFP4 and Q8_0; false (nothing written) for the other formats,
 * which the caller decodes with cn_row_decode_avx2 and rearranges. */
bool cn_row_decode_avx2_line(const cn_matrix *m, int64_t row, float *record, int line, int lines);

#endif
