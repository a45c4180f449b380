/* The NEON integer dots of q8_activations.h for every aarch64 CPU (armv8.0 Advanced SIMD): 16
 * int8 products by two widening multiplies (vmull_s8: int16, at most 128·128 in magnitude) and
 * widening pairwise adds into int32 lanes; the kernels themselves are q8_dot_neon_kernels.h (one
 * token; q8_dot_neon_lowbit.h for Q2_K, Q3_K and IQ2_XXS) and q8_dot_many_neon_kernels.h
 * (several tokens per weight row). Also the run-time check for the SDOT forms
 * (q8_dot_neon_sdot.c). */
#include "tensor/q8_activations.h"
#include "tensor/q8_dot_many.h"

#if defined(__aarch64__) && defined(__GNUC__) && !defined(CLAWNET_NO_SIMD)
#include <arm_neon.h>

#include "base/cpu_features.h"

/* CLAWNET_NEON_SDOT: CMake built q8_dot_neon_sdot.c with +dotprod. */
bool cn_q8_has_neon_sdot(void) {
#ifdef CLAWNET_NEON_SDOT
    return cn_cpu_features_get()->arm_dotprod;
#else
    return false;
#endif
}

static inline __attribute__((always_inline)) int32x4_t dot16_widening(int32x4_t acc, int8x16_t w, int8x16_t x) {
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x)), hi = vmull_high_s8(w, x);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

#define Q8_NEON_DOT16(acc, w, x) dot16_widening((acc), (w), (x))
#define Q8_NEON_FN(fmt) cn_##fmt##_q8_dot_neon
#define Q8_NEON_MANY_FN(fmt) cn_##fmt##_q8_dot_many_neon
#include "tensor/q8_dot_neon_kernels.h"
#include "tensor/q8_dot_many_neon_kernels.h"
#include "tensor/q8_dot_neon_lowbit.h"

#else

bool cn_q8_has_neon_sdot(void) { return false; }
float cn_q4_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q4_k_q8_dot_ref(row, x, n); }
float cn_q5_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q5_k_q8_dot_ref(row, x, n); }
float cn_q6_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q6_k_q8_dot_ref(row, x, n); }
float cn_q8_0_q8_dot_neon(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_q8_0_q8_dot_ref(row, x, n); }
CN_Q8_MANY_AS_LOOP(cn_q4_k_q8_dot_many_neon, cn_q4_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q5_k_q8_dot_many_neon, cn_q5_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q6_k_q8_dot_many_neon, cn_q6_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q8_0_q8_dot_many_neon, cn_q8_0_q8_dot_ref, cn_q8_32x8)
CN_Q8_MANY_AS_LOOP(cn_mxfp4_ggml_q8_dot_many_neon, cn_mxfp4_ggml_q8_dot_ref, cn_q8_32x8)
CN_Q8_MXFP4_MANY_AS_LOOP(cn_mxfp4_q8_dot_many_neon)
float cn_q2_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q2_k_q8_dot_ref(row, x, n); }
float cn_q3_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q3_k_q8_dot_ref(row, x, n); }
float cn_iq2_xxs_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_iq2_xxs_q8_dot_ref(row, x, n); }
float cn_mxfp4_q8_dot_neon(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return cn_mxfp4_q8_dot_ref(row, row_scales, x, n);
}
float cn_mxfp4_ggml_q8_dot_neon(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_mxfp4_ggml_q8_dot_ref(row, x, n); }

#endif
