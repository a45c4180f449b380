/* Fused aarch64 Advanced SIMD (NEON) dot products of one stored weight row with one or two
 * tokens, and the row decoders: the NEON form of row_dot_avx2.h, for every format it has, on the
 * same fixed chain lane for lane (dot_chain_neon.h), so a token gets the AVX2 kernel's bits and
 * chunk invariance (docs/engine.md) holds as it does there. Advanced SIMD is part of the armv8-a
 * baseline, so every aarch64 build has these; docs/arm.md says what is vectorised per format.
 * Called only when cn_cpu_has_neon(). */
#ifndef CN_TENSOR_ROW_DOT_NEON_H
#define CN_TENSOR_ROW_DOT_NEON_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/matrix.h"

/* True on aarch64 builds (Advanced SIMD and its FMA are baseline there), false elsewhere. */
bool cn_cpu_has_neon(void);

/* out[t] = Σ_i W[row][i] · x[t][i] for t < n_tokens, n_tokens 1 or 2. */
void cn_row_dot_neon(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out);

/* The weights of one row as f32, exactly the values the fused kernel multiplies. */
void cn_row_decode_neon(const cn_matrix *m, int64_t row, float *out);

#endif
