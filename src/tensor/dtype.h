/* Element formats as stored in checkpoints. A format is either a plain element type
 * (F32, BF16, ...) or a block format whose rows are packed in fixed-size blocks (Q8_0, the K-quants). */
#ifndef CN_TENSOR_DTYPE_H
#define CN_TENSOR_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CN_DTYPE_F32 = 0,
    CN_DTYPE_F16,
    CN_DTYPE_BF16,
    CN_DTYPE_F8_E4M3,  /* OCP e4m3fn; weights pair it with F8_E8M0 128x128 block scales */
    CN_DTYPE_F8_E8M0,  /* power-of-two scales: 2^(e-127) */
    CN_DTYPE_I8,       /* raw bytes; routed experts store MXFP4 (two E2M1 codes per byte) in it */
    CN_DTYPE_I32,
    CN_DTYPE_I64,
    CN_DTYPE_MXFP4,    /* logical format of a weight: E2M1 pairs + one E8M0 scale per 32 along a row */
    CN_DTYPE_Q8_0,     /* GGUF block: f16 scale + 32 int8, 34 bytes per 32 elements */
    /* ggml super-block formats, 256 elements per block (tensor/kquants.h has the layouts) */
    CN_DTYPE_Q4_K,     /* 144 bytes */
    CN_DTYPE_Q6_K,     /* 210 bytes */
    CN_DTYPE_Q5_K,     /* 176 bytes */
    CN_DTYPE_Q3_K,     /* 110 bytes */
    CN_DTYPE_Q2_K,     /* 84 bytes */
    CN_DTYPE_IQ2_XXS,  /* 66 bytes */
    CN_DTYPE_MXFP4_GGML, /* ggml's MXFP4 block: E8M0 scale + 16 bytes of E2M1 pairs, 17 bytes per 32 */
    CN_DTYPE_COUNT
} cn_dtype;

const char *cn_dtype_name(cn_dtype t);

/* Elements per block and bytes per block (1 element for plain types). For MXFP4 the block is
 * the 2-element byte; its scales live in a separate tensor. */
int cn_dtype_block_elems(cn_dtype t);
int cn_dtype_block_bytes(cn_dtype t);

/* Bytes needed for n elements (n must be a multiple of the block size), or 0 if it is not. */
size_t cn_dtype_row_bytes(cn_dtype t, int64_t n);

#endif
