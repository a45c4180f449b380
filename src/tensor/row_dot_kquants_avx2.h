/* Fused AVX2+FMA dot products and row decoders for the ggml block formats (kquants.h: Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K, IQ2_XXS and ggml's MXFP4), on the chain of row_dot_avx2.h: each
 * 32-element group is decoded in registers to exactly the scalar reference's f32 values (same
 * operations in the same order, no contraction), then FMAed into the token's four accumulators.
 * The 256-element formats unpack a super-block's scales once per block (scalar, 8 or 16
 * products) and decode its eight groups from them. Called only when cn_cpu_has_avx2_fma() and
 * cn_kquant_is(t); n is a multiple of the block size. */
#ifndef CN_TENSOR_ROW_DOT_KQUANTS_AVX2_H
#define CN_TENSOR_ROW_DOT_KQUANTS_AVX2_H

#include <stdint.h>

#include "tensor/dtype.h"

/* out[k] = Σ_i row[i] · x[k][i] for k < n_tokens (1 or 2), row stored in format t. */
void cn_kquant_row_dot_avx2(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out);

/* The n weights of the row as f32: the values the dot multiplies, bit for bit the scalar
 * reference's (cn_kquant_row_to_f32). */
void cn_kquant_row_decode_avx2(cn_dtype t, const uint8_t *row, int64_t n, float *out);

#endif
