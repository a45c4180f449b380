/* GGUF (ggml) 256-element super-block formats and ggml's MXFP4 block: the scalar reference
 * decoders, bit-compatible with ggml's dequantize_row_* and the PyPI gguf package's
 * gguf.quants (tests/test_kquants.c holds them to fixtures the package dequantised).
 *
 * Every format decodes in groups of 32 consecutive elements (a 256-block has 8), and a group's
 * values depend only on its own block, so a kernel can decode any 32-aligned run of a row. The
 * arithmetic is ggml's, operation for operation, in f32 without contraction (C17 mode):
 *   Q4_K/Q5_K: (d·sc)·q − (dmin·m);  Q2_K: (d·(s&15))·q − (dmin·(s>>4));
 *   Q3_K, Q6_K: (d·sc)·q;  IQ2_XXS: ((d·(0.5+s))·0.25)·grid·sign;  MXFP4: e8m0/2 · doubled code. */
#ifndef CN_TENSOR_KQUANTS_H
#define CN_TENSOR_KQUANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/dtype.h"

/* True for the formats this file decodes (Q2_K..Q6_K, IQ2_XXS, MXFP4_GGML). */
bool cn_kquant_is(cn_dtype t);

/* Elements [32g, 32g + 32) of the block at `block` (g < block elements / 32). */
void cn_kquant_decode32(cn_dtype t, const uint8_t *block, int g, float out[32]);

/* A row of n elements (a multiple of the block size) stored at p. */
void cn_kquant_row_to_f32(cn_dtype t, const uint8_t *p, int64_t n, float *out);

#endif
