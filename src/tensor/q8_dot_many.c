/* Dispatch of q8_dot_many.h: groups of CN_Q8_MANY_MAX tokens to a format's many-token kernel,
 * everything else (the scalar kind, the formats without one, a group of one token)
 * to cn_q8_dot per token, which is by definition what the many-token kernels must equal. */
#include "tensor/q8_dot_many.h"

typedef void (*many_fn)(const uint8_t *row, const void *xq, size_t xq_stride, int n_tokens, int64_t n, float *out);

/* One format's three many-token kernels (the AVX2 ones under CN_Q8_AVX512_VNNI, which give the
 * same bits as every kind; only the MXFP4s have VNNI ones). */
#define MANY_BY(kernel, fmt)                                                                                     \
    ((kernel) == CN_Q8_AVX2 || (kernel) == CN_Q8_AVX512_VNNI ? cn_##fmt##_q8_dot_many_avx2                       \
     : (kernel) == CN_Q8_NEON_SDOT ? cn_##fmt##_q8_dot_many_neon_sdot                                            \
     : (kernel) == CN_Q8_NEON      ? cn_##fmt##_q8_dot_many_neon                                                 \
                                   : (many_fn)NULL)

static many_fn many_kernel(cn_dtype t, cn_q8_kernel kernel) {
    switch (t) {
    case CN_DTYPE_Q4_K: return MANY_BY(kernel, q4_k);
    case CN_DTYPE_Q5_K: return MANY_BY(kernel, q5_k);
    case CN_DTYPE_Q6_K: return MANY_BY(kernel, q6_k);
    case CN_DTYPE_Q8_0: return MANY_BY(kernel, q8_0);
    case CN_DTYPE_MXFP4_GGML: return kernel == CN_Q8_AVX512_VNNI ? cn_mxfp4_ggml_q8_dot_many_avx512_vnni : MANY_BY(kernel, mxfp4_ggml);
    default: return NULL;
    }
}

/* DeepSeek's MXFP4 has its own signature (the row's scales). */
typedef void (*mxfp4_many_fn)(const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride, int n_tokens, int64_t n,
                              float *out);
static mxfp4_many_fn mxfp4_many(cn_dtype t, cn_q8_kernel kernel) {
    if (t != CN_DTYPE_MXFP4) return NULL;
    return kernel == CN_Q8_AVX512_VNNI ? cn_mxfp4_q8_dot_many_avx512_vnni
           : kernel == CN_Q8_AVX2      ? cn_mxfp4_q8_dot_many_avx2
           : kernel == CN_Q8_NEON_SDOT ? cn_mxfp4_q8_dot_many_neon_sdot
           : kernel == CN_Q8_NEON      ? cn_mxfp4_q8_dot_many_neon
                                       : NULL;
}

bool cn_q8_many_has(cn_dtype t, cn_q8_kernel kernel) { return many_kernel(t, kernel) != NULL || mxfp4_many(t, kernel) != NULL; }

void cn_q8_dot_many(cn_dtype t, const uint8_t *row, const uint8_t *row_scales, const void *xq, size_t xq_stride,
                    int n_tokens, int64_t n, cn_q8_kernel kernel, float *out) {
    const many_fn many = many_kernel(t, kernel);
    const mxfp4_many_fn many_mxfp4 = mxfp4_many(t, kernel);
    for (int i = 0; i < n_tokens;) {
        const int group = n_tokens - i < CN_Q8_MANY_MAX ? n_tokens - i : CN_Q8_MANY_MAX;
        const uint8_t *x = (const uint8_t *)xq + (size_t)i * xq_stride;
        if (many && group > 1) {
            many(row, x, xq_stride, group, n, out + i);
            i += group;
        } else if (many_mxfp4 && group > 1) {
            many_mxfp4(row, row_scales, x, xq_stride, group, n, out + i);
            i += group;
        } else {
            out[i] = cn_q8_dot(t, row, row_scales, x, n, kernel);
            i++;
        }
    }
}
