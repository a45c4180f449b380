/* A 2-D weight in its stored format, viewed in place: W[rows][cols], y = W x.
 * Slices (one expert of a fused 3-D tensor, the gate half of gate_up) are views too.
 *
 * Scales come in two layouts (specs/deepseek-v4.md 10.1):
 *  - FP8 E4M3 weights: one E8M0 scale per 128x128 block, scales[ceil(R/128)][ceil(C/128)];
 *  - MXFP4 weights: one E8M0 scale per 32 consecutive elements of a row, scales[R][C/32].
 * `scale_row0` is the row of the full tensor that row 0 of this view is, so a view that starts
 * mid-tensor still finds its FP8 block scales. */
#ifndef CN_TENSOR_MATRIX_H
#define CN_TENSOR_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

typedef struct {
    cn_dtype dtype; /* F32, F16, BF16, F8_E4M3, MXFP4, Q8_0 or a ggml block format */
    int64_t rows, cols;
    const uint8_t *data;  /* row 0 of this view */
    size_t row_bytes;     /* stride between rows */
    const uint8_t *scales; /* E8M0; NULL for formats without separate scales */
    int64_t scale_cols;   /* scale entries per scale row */
    int64_t scale_row0;
    /* Multiply with 8-bit activations (q8_activations.h) where the format has an integer dot
     * (Q2_K..Q6_K, IQ2_XXS, Q8_0, both MXFP4s: cn_q8_layout_of); other formats ignore it. Off unless the model asks for it
     * (cn_model_set_act_q8): it trades a small, measured error for speed (docs/performance.md). */
    bool act_q8;
} cn_matrix;

/* Rows [row0, row0 + n) of m. */
cn_matrix cn_matrix_rows(const cn_matrix *m, int64_t row0, int64_t n);

/* Row `row`'s own scales where the format keeps them per row, apart from the row: MXFP4's
 * scale_cols E8M0 bytes (scales + row·scale_cols); NULL for every other format (FP8's 128x128
 * block scales are shared by 128 rows). What cn_q8_dot takes as row_scales. */
const uint8_t *cn_matrix_row_scales(const cn_matrix *m, int64_t row);

/* Dequantises one row to f32 (the scalar reference for every kernel). */
void cn_matrix_row_to_f32(const cn_matrix *m, int64_t row, float *out);

#endif
