#include "tensor/dtype.h"

static const struct {
    const char *name;
    int block_elems, block_bytes;
} dtype_table[CN_DTYPE_COUNT] = {
    [CN_DTYPE_F32] = {"F32", 1, 4},        [CN_DTYPE_F16] = {"F16", 1, 2},
    [CN_DTYPE_BF16] = {"BF16", 1, 2},      [CN_DTYPE_F8_E4M3] = {"F8_E4M3", 1, 1},
    [CN_DTYPE_F8_E8M0] = {"F8_E8M0", 1, 1}, [CN_DTYPE_I8] = {"I8", 1, 1},
    [CN_DTYPE_I32] = {"I32", 1, 4},        [CN_DTYPE_I64] = {"I64", 1, 8},
    [CN_DTYPE_MXFP4] = {"MXFP4", 2, 1},    [CN_DTYPE_Q8_0] = {"Q8_0", 32, 34},
    [CN_DTYPE_Q4_K] = {"Q4_K", 256, 144},  [CN_DTYPE_Q6_K] = {"Q6_K", 256, 210},
    [CN_DTYPE_Q5_K] = {"Q5_K", 256, 176},  [CN_DTYPE_Q3_K] = {"Q3_K", 256, 110},
    [CN_DTYPE_Q2_K] = {"Q2_K", 256, 84},   [CN_DTYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [CN_DTYPE_MXFP4_GGML] = {"MXFP4_GGML", 32, 17},
};

const char *cn_dtype_name(cn_dtype t) {
    return (unsigned)t < CN_DTYPE_COUNT ? dtype_table[t].name : "?";
}

int cn_dtype_block_elems(cn_dtype t) {
    return (unsigned)t < CN_DTYPE_COUNT ? dtype_table[t].block_elems : 0;
}

int cn_dtype_block_bytes(cn_dtype t) {
    return (unsigned)t < CN_DTYPE_COUNT ? dtype_table[t].block_bytes : 0;
}

size_t cn_dtype_row_bytes(cn_dtype t, int64_t n) {
    int be = cn_dtype_block_elems(t);
    if (be <= 0 || n < 0 || n % be) return 0;
    return (size_t)(n / be) * (size_t)cn_dtype_block_bytes(t);
}
