/* FP8 E4M3 rows (128x128 E8M0 block scales) dotted with one or two f32 tokens, for decode: the
 * same fixed chain as row_dot_avx2.h, bit for bit, with less work per weight.
 *
 * The 128 rows of a scale row share their scales, so the token is prepared once per scale row
 * (per call): each element is multiplied by a power of two that folds in its block's scale and
 * each 32-element group is stored in the order the weight decoder produces its weights. A weight
 * then costs a few integer operations and one FMA, and fma(w', x·s', acc) = fma(w, x, acc)
 * bitwise because w'·s' is exactly the scalar decoder's weight w and x·s' is checked to be exact
 * (|x·s'| above the least normal and finite, or x = 0). Two forms:
 *  - shift (taken whenever it can be): the code's sign and 7 bits at f32 positions 31 and
 *    20..26 are the f32 2^-120 times its value (subnormal for exponent 0; row_dot_avx2.c,
 *    "General decoder"), s' = 2^(e-7), a normal f32 for e <= 134; stride-4 order (shifts of the
 *    32-bit lane holding four codes);
 *  - F16C (a scale row with e in 135..246, or a token whose x·2^(e-7) is not exact): the half
 *    2^-8 times the value (row_dot_avx2.c, "The fast decoder") from the 16-bit lane of two codes,
 *    s' = 2^(e-119); evens-first order; AVX2, or AVX-512 F+BW (vcvtph2ps ymm -> zmm, 16-lane
 *    accumulators) for the avx512 kind.
 * The accumulator lanes are put back in chain order before the 8-element steps, the tail and the
 * fixed reduction. A scale row with a code above 246 or a token that is not exact in either form,
 * a run of fewer than 8 rows of one scale row in the call (preparing costs about three rows'
 * decoding), and a row holding a NaN code (0x7f, 0xff: found by a running byte max, checked once
 * per row) take cn_row_dot_avx2: the same bits. Internal to src/tensor; x86-64 only (elsewhere
 * the functions do nothing and the kinds are unavailable). */
#ifndef CN_TENSOR_E4M3_ROWS_X86_H
#define CN_TENSOR_E4M3_ROWS_X86_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/matrix.h"

typedef enum {
    CN_E4M3_ROWS_NONE,   /* no fused form here: callers use cn_row_dot_* */
    CN_E4M3_ROWS_AVX2,   /* AVX2+FMA+F16C */
    CN_E4M3_ROWS_AVX512, /* AVX-512 F and BW besides AVX2 */
} cn_e4m3_rows_kind;

/* AVX-512 F and BW by CPUID, with the OS saving the opmask and ZMM state (XCR0), read once. */
bool cn_e4m3_has_avx512(void);

/* The fastest kind this CPU runs, or the one the environment variable CLAWNET_E4M3_KERNEL names
 * ("avx2", "avx512") where this CPU runs it; read once per process. */
cn_e4m3_rows_kind cn_e4m3_rows_best(void);
bool cn_e4m3_rows_available(cn_e4m3_rows_kind kind);
const char *cn_e4m3_rows_name(cn_e4m3_rows_kind kind);

/* For rows r in [row_begin, row_end) of the F8_E4M3 matrix m and tokens t < n_tokens (1 or 2):
 * y[t][r - row_begin] = the chain's dot of row r with x[t] (cn_row_dot_avx2's bits). kind must
 * be available. */
void cn_e4m3_rows_dot(cn_e4m3_rows_kind kind, const cn_matrix *m, int64_t row_begin, int64_t row_end, const float *const *x,
                      int n_tokens, float *const *y);

#endif
