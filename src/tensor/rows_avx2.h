/* AVX2 row decoders for the formats the released checkpoints use most: BF16, FP8 E4M3 with
 * 128-wide block scales, MXFP4 with 32-wide scales. Bit-identical to the scalar decoders
 * (test_matrix_rows). Called only when the CPU has AVX2 (cn_cpu_has_avx2). */
#ifndef CN_TENSOR_ROWS_AVX2_H
#define CN_TENSOR_ROWS_AVX2_H

#include <stdbool.h>
#include <stdint.h>

bool cn_cpu_has_avx2(void);

/* n multiple of 8 */
void cn_bf16_row_avx2(const uint8_t *src, int64_t n, float *out);
/* out[i] = e4m3(src[i]) * scale, n multiple of 8 */
void cn_e4m3_row_avx2(const uint8_t *src, int64_t n, float scale, float *out);
/* 32 elements from 16 bytes (low nibble first), times scale */
void cn_mxfp4_block_avx2(const uint8_t *src, float scale, float *out);

#endif
