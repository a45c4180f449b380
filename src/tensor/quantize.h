/* Quantisers from f32 rows to GGUF block formats, the inverse direction of the decoders in
 * matrix.c / kquants.c. Block layouts are ggml's, byte for byte (any GGUF reader decodes them):
 *   Q8_0: f16 d, int8 q[32]; x = d*q, d = max|x|/127, q = round(x/d) (ggml's quantize_row_q8_0_ref).
 *   Q4_K: f16 d, f16 dmin, 12 bytes of packed 6-bit scales/mins, 128 bytes of nibbles for 256
 *         elements; x = (d*sc_j)*q - (dmin*m_j) per group j of 32. Each group's (scale, min) is an
 *         importance-weighted least-squares fit searched over 21 candidate scales (ggml's
 *         make_qkx2_quants recipe, weights |x| + rms), then the 8 pairs are quantised to 6 bits
 *         against the block maxima and the nibbles recomputed from the stored values.
 *   Q2_K: 16 bytes of 4-bit scale/min code pairs (one per 16 elements), 64 bytes of 2-bit codes,
 *         f16 d, f16 dmin for 256 elements; x = (d*sc_j)*q - (dmin*m_j) per sub-block j of 16.
 *         Each sub-block's (scale, min) is fitted by iterated weighted least squares (nearest codes
 *         and the 2x2 solve, alternated from several starting grids), d and dmin by least squares
 *         over the 4-bit codes, then code pairs and (d, dmin) are refined against the block's real
 *         decoded error (quantize_q2_k.c says how).
 * n must be a multiple of the block size (32 / 256). */
#ifndef CN_TENSOR_QUANTIZE_H
#define CN_TENSOR_QUANTIZE_H

#include <stdint.h>

void cn_quantize_row_q8_0(const float *x, int64_t n, uint8_t *out);
void cn_quantize_row_q4_k(const float *x, int64_t n, uint8_t *out);
void cn_quantize_row_q2_k(const float *x, int64_t n, uint8_t *out);

#endif
