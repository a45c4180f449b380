/* Fused NEON dot products and row decoders for the ggml block formats (kquants.h): the NEON form
 * of row_dot_kquants_avx2.h on the chain of dot_chain_neon.h. Q2_K..Q6_K, IQ2_XXS and ggml's
 * MXFP4 decode each 32-element group in registers to exactly the scalar reference's f32 values.
 * Called only when cn_cpu_has_neon() and cn_kquant_is(t); n is a multiple of the block size. */
#ifndef CN_TENSOR_ROW_DOT_KQUANTS_NEON_H
#define CN_TENSOR_ROW_DOT_KQUANTS_NEON_H

#include <stdint.h>

#include "tensor/dtype.h"

/* out[k] = Σ_i row[i] · x[k][i] for k < n_tokens (1 or 2), row stored in format t. */
void cn_kquant_row_dot_neon(cn_dtype t, const uint8_t *row, int64_t n, const float *const *x, int n_tokens, float *out);

/* The n weights of the row as f32, bit for bit the scalar reference's (cn_kquant_row_to_f32). */
void cn_kquant_row_decode_neon(cn_dtype t, const uint8_t *row, int64_t n, float *out);

#endif
