/* FP8 E4M3 rows (128x128 E8M0 block scales) dotted with one or two f32 tokens, for decode: the
 * same fixed chain as row_dot_avx2.h, bit for bit, with less work per weight.
 *
 * The 128 rows of a scale row share their scales, so the token is prepared once per scale row
 * (per call): each element is multiplied by its block's 2^(e-119) and each 32-element group is
 * stored evens first (elements 0, 2, .., 30, then 1, 3, .., 31). A weight then costs only its
 * F16C widening and one FMA: the E4M3 code becomes the IEEE half 2^-8 times its value
 * (row_dot_avx2.c, "The fast decoder") from the 16-bit lane holding it and its neighbour with two
 * or three integer operations and no unpack, and fma(h, x·2^(e-119), acc) is
 * fma(h·2^(e-119), x, acc) = fma(w, x, acc) bitwise, because h·2^(e-119) is the scalar decoder's
 * exact w and x·2^(e-119) is checked to be exact (|x·s| above the least normal, or x = 0). The
 * accumulator lanes hold the chain's lanes in the evens-first order and are put back in order
 * before the 8-element steps, the tail and the fixed reduction. A scale row with an E8M0 code
 * above 246 or a token that does not scale exactly, and a row holding a NaN code (0x7f, 0xff:
 * found by a running byte max, checked once per row), take cn_row_dot_avx2: the same bits.
 *
 * Two forms: AVX2 (cn_cpu_has_avx2_fma()) and AVX-512 F+BW (cn_e4m3_has_avx512()), which widens
 * 16 halves per vcvtph2ps and keeps 16-lane accumulators. Internal to src/tensor; x86-64 only
 * (elsewhere the functions do nothing and the kinds are unavailable). */
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
