/* The NEON integer dots of q8_activations.h with the Armv8.2 dot-product instructions: SDOT
 * (vdotq_s32) adds four int8 products into each int32 lane. CMake compiles this file alone with
 * -march=armv8.2-a+dotprod and defines CLAWNET_NEON_SDOT (CMakeLists.txt), so the compiler may use
 * armv8.2 instructions anywhere in it: nothing here runs unless cn_q8_has_neon_sdot()
 * (q8_dot_neon.c, built for the baseline) said the CPU has them. The kernels are
 * q8_dot_neon_kernels.h, q8_dot_neon_lowbit.h (Q2_K, Q3_K, IQ2_XXS) and
 * q8_dot_many_neon_kernels.h. Without that build (x86, CLAWNET_SIMD=OFF, a compiler without
 * +dotprod) each is the scalar reference (a loop of them for the many-token ones) and
 * cn_q8_has_neon_sdot() is false. */
#include "tensor/q8_activations.h"
#include "tensor/q8_dot_many.h"

#if defined(CLAWNET_NEON_SDOT) && !defined(CLAWNET_NO_SIMD)
#if !defined(__aarch64__) || !defined(__ARM_FEATURE_DOTPROD)
#error "CLAWNET_NEON_SDOT needs this file compiled for aarch64 with +dotprod"
#endif
#include <arm_neon.h>

#define Q8_NEON_DOT16(acc, w, x) vdotq_s32((acc), (w), (x))
#define Q8_NEON_FN(fmt) cn_##fmt##_q8_dot_neon_sdot
#define Q8_NEON_MANY_FN(fmt) cn_##fmt##_q8_dot_many_neon_sdot
#include "tensor/q8_dot_neon_kernels.h"
#include "tensor/q8_dot_many_neon_kernels.h"
#include "tensor/q8_dot_neon_lowbit.h"

#else

float cn_q4_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q4_k_q8_dot_ref(row, x, n); }
float cn_q5_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q5_k_q8_dot_ref(row, x, n); }
float cn_q6_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q6_k_q8_dot_ref(row, x, n); }
float cn_q8_0_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_q8_0_q8_dot_ref(row, x, n); }
CN_Q8_MANY_AS_LOOP(cn_q4_k_q8_dot_many_neon_sdot, cn_q4_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q5_k_q8_dot_many_neon_sdot, cn_q5_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q6_k_q8_dot_many_neon_sdot, cn_q6_k_q8_dot_ref, cn_q8_block)
CN_Q8_MANY_AS_LOOP(cn_q8_0_q8_dot_many_neon_sdot, cn_q8_0_q8_dot_ref, cn_q8_32x8)
CN_Q8_MANY_AS_LOOP(cn_mxfp4_ggml_q8_dot_many_neon_sdot, cn_mxfp4_ggml_q8_dot_ref, cn_q8_32x8)
CN_Q8_MXFP4_MANY_AS_LOOP(cn_mxfp4_q8_dot_many_neon_sdot)
float cn_q2_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q2_k_q8_dot_ref(row, x, n); }
float cn_q3_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_q3_k_q8_dot_ref(row, x, n); }
float cn_iq2_xxs_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n) { return cn_iq2_xxs_q8_dot_ref(row, x, n); }
float cn_mxfp4_q8_dot_neon_sdot(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return cn_mxfp4_q8_dot_ref(row, row_scales, x, n);
}
float cn_mxfp4_ggml_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) { return cn_mxfp4_ggml_q8_dot_ref(row, x, n); }

#endif
