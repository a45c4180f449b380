/* Scalar parts of q8_activations.h: the quantisers, the reference integer dots (written from the
 * block layouts of kquants.c / ggml's block_q*), and the dispatch. */
#include "tensor/q8_activations.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

/* Not contracted into FMAs (GCC does not in ISO C mode; clang needs the pragma): the AVX2
 * kernel repeats these steps. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* One run of len elements to int8 with one scale (returned; 0 for an all-zero run, NaN if a value
 * is not finite, the q then all zero). */
static float quantize_run(const float *x, int len, int8_t *q) {
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < len; i++) {
        finite = finite && isfinite(x[i]);
        const float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    memset(q, 0, (size_t)len);
    if (!finite || amax == 0.0f) return finite ? 0.0f : NAN; /* NaN makes the dot NaN, as the f32 path would */
    const float inverse = 127.0f / amax;
    for (int i = 0; i < len; i++) {
        long v = lrintf(x[i] * inverse); /* |x·inverse| ≤ 127 up to one rounding */
        if (v > 127) v = 127;
        if (v < -127) v = -127;
        q[i] = (int8_t)v;
    }
    return amax / 127.0f;
}

void cn_q8_quantize_row(const float *x, int64_t n, cn_q8_block *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        cn_q8_block *o = out + b;
        o->d = quantize_run(x + 256 * b, 256, o->q);
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += o->q[16 * j + l];
            o->sum16[j] = (int16_t)s;
        }
    }
}

void cn_q8_quantize_row_32(const float *x, int64_t n, cn_q8_32x8 *out) {
    const int64_t blocks = n / 32;
    for (int64_t r = 0; r < (blocks + 7) / 8; r++) {
        cn_q8_32x8 *o = out + r;
        memset(o, 0, sizeof *o);
        for (int k = 0; k < 8 && 8 * r + k < blocks; k++) o->d[k] = quantize_run(x + 256 * r + 32 * k, 32, o->q + 32 * k);
        cn_q8_32x8_fill_sums(o);
    }
}

cn_q8_layout cn_q8_layout_of(cn_dtype t) {
    switch (t) {
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_IQ2_XXS: return CN_Q8_256;
    case CN_DTYPE_Q8_0:
    case CN_DTYPE_MXFP4:
    case CN_DTYPE_MXFP4_GGML: return CN_Q8_32;
    default: return CN_Q8_NONE;
    }
}

size_t cn_q8_row_bytes(cn_q8_layout layout, int64_t n) {
    switch (layout) {
    case CN_Q8_256: return (size_t)(n / 256) * sizeof(cn_q8_block);
    case CN_Q8_32: return (size_t)((n / 32 + 7) / 8) * sizeof(cn_q8_32x8);
    default: return 0;
    }
}

bool cn_q8_kernel_available(cn_q8_kernel k) {
    switch (k) {
    case CN_Q8_SCALAR: return true;
    case CN_Q8_AVX2: return cn_cpu_has_avx2_fma();
    case CN_Q8_NEON: return cn_cpu_has_neon();
    case CN_Q8_NEON_SDOT: return cn_q8_has_neon_sdot();
    case CN_Q8_AVX512_VNNI: return cn_q8_has_avx512_vnni();
    default: return false;
    }
}

const char *cn_q8_kernel_name(cn_q8_kernel k) {
    switch (k) {
    case CN_Q8_AVX2: return "avx2";
    case CN_Q8_NEON: return "neon";
    case CN_Q8_NEON_SDOT: return "neon-sdot";
    case CN_Q8_AVX512_VNNI: return "avx512-vnni";
    default: return "scalar";
    }
}

bool cn_q8_kernel_from_name(const char *name, cn_q8_kernel *k) {
    static const cn_q8_kernel kinds[] = {CN_Q8_SCALAR, CN_Q8_AVX2, CN_Q8_NEON, CN_Q8_NEON_SDOT, CN_Q8_AVX512_VNNI};
    for (size_t i = 0; name && i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(name, cn_q8_kernel_name(kinds[i]))) return *k = kinds[i], true;
    return false;
}

/* The choice, made once per process (cn_matmul asks on every call; the CPUID behind it traps to
 * the hypervisor in a VM): a fact about the CPU and the environment the process started with, not
 * state any caller can alter. */
static pthread_once_t best_once = PTHREAD_ONCE_INIT;
static cn_q8_kernel best_kernel;
static void best_read_once(void) {
    cn_q8_kernel forced;
    if (cn_q8_kernel_from_name(getenv("CLAWNET_Q8_KERNEL"), &forced) && cn_q8_kernel_available(forced)) best_kernel = forced;
    else if (cn_q8_has_avx512_vnni()) best_kernel = CN_Q8_AVX512_VNNI;
    else if (cn_cpu_has_avx2_fma()) best_kernel = CN_Q8_AVX2;
    else if (cn_q8_has_neon_sdot()) best_kernel = CN_Q8_NEON_SDOT;
    else best_kernel = cn_cpu_has_neon() ? CN_Q8_NEON : CN_Q8_SCALAR;
}

cn_q8_kernel cn_q8_kernel_best(void) {
    pthread_once(&best_once, best_read_once);
    return best_kernel;
}

void cn_q8_quantize(cn_q8_layout layout, const float *x, int64_t n, void *out, cn_q8_kernel kernel) {
    const bool avx2 = kernel == CN_Q8_AVX2 || kernel == CN_Q8_AVX512_VNNI; /* VNNI has no quantiser of its own */
    if (layout == CN_Q8_256) (avx2 ? cn_q8_quantize_row_avx2 : cn_q8_quantize_row)(x, n, out);
    else if (layout == CN_Q8_32) (avx2 ? cn_q8_quantize_row_32_avx2 : cn_q8_quantize_row_32)(x, n, out);
}

/* One format's kernels; CN_Q8_AVX512_VNNI takes the AVX2 ones for the formats without a VNNI
 * kernel (the same bits; cn_q8_dot picks the VNNI ones first). */
#define Q8_DOT_BY(kernel, fmt, row, xq, n)                                                                      \
    ((kernel) == CN_Q8_AVX2 || (kernel) == CN_Q8_AVX512_VNNI ? cn_##fmt##_q8_dot_avx2(row, xq, n)               \
     : (kernel) == CN_Q8_NEON_SDOT                           ? cn_##fmt##_q8_dot_neon_sdot(row, xq, n)          \
     : (kernel) == CN_Q8_NEON                                ? cn_##fmt##_q8_dot_neon(row, xq, n)               \
                                                             : cn_##fmt##_q8_dot_ref(row, xq, n))

float cn_q8_dot(cn_dtype t, const uint8_t *row, const uint8_t *row_scales, const void *xq, int64_t n, cn_q8_kernel kernel) {
    if (kernel == CN_Q8_AVX512_VNNI && t == CN_DTYPE_Q4_K) return cn_q4_k_q8_dot_avx512_vnni(row, xq, n);
    if (kernel == CN_Q8_AVX512_VNNI && t == CN_DTYPE_Q8_0) return cn_q8_0_q8_dot_avx512_vnni(row, xq, n);
    if (kernel == CN_Q8_AVX512_VNNI && t == CN_DTYPE_MXFP4) return cn_mxfp4_q8_dot_avx512_vnni(row, row_scales, xq, n);
    if (kernel == CN_Q8_AVX512_VNNI && t == CN_DTYPE_MXFP4_GGML) return cn_mxfp4_ggml_q8_dot_avx512_vnni(row, xq, n);
    if (kernel == CN_Q8_AVX512_VNNI) kernel = CN_Q8_AVX2; /* the formats without a VNNI kernel */
    switch (t) {
    case CN_DTYPE_MXFP4:
        return kernel == CN_Q8_AVX2        ? cn_mxfp4_q8_dot_avx2(row, row_scales, xq, n)
               : kernel == CN_Q8_NEON_SDOT ? cn_mxfp4_q8_dot_neon_sdot(row, row_scales, xq, n)
               : kernel == CN_Q8_NEON      ? cn_mxfp4_q8_dot_neon(row, row_scales, xq, n)
                                           : cn_mxfp4_q8_dot_ref(row, row_scales, xq, n);
    case CN_DTYPE_MXFP4_GGML: return Q8_DOT_BY(kernel, mxfp4_ggml, row, xq, n);
    case CN_DTYPE_Q4_K: return Q8_DOT_BY(kernel, q4_k, row, xq, n);
    case CN_DTYPE_Q5_K: return Q8_DOT_BY(kernel, q5_k, row, xq, n);
    case CN_DTYPE_Q6_K: return Q8_DOT_BY(kernel, q6_k, row, xq, n);
    case CN_DTYPE_Q2_K: return Q8_DOT_BY(kernel, q2_k, row, xq, n);
    case CN_DTYPE_Q3_K: return Q8_DOT_BY(kernel, q3_k, row, xq, n);
    case CN_DTYPE_IQ2_XXS: return Q8_DOT_BY(kernel, iq2_xxs, row, xq, n);
    case CN_DTYPE_Q8_0: return Q8_DOT_BY(kernel, q8_0, row, xq, n);
    default: return 0.0f;
    }
}

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return cn_f16_to_f32(h);
}

/* block_q4_K: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles; element 32g + l is the
 * nibble of byte 32·(g/2) + l (low for even g). block_q5_K (fifth_bit): the same with 32 bytes qh
 * before the nibbles, and bit g of qh[l] added to element 32g + l as 16. */
static float k4_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n, bool fifth_bit) {
    const int64_t block_bytes = fifth_bit ? 176 : 144;
    const int codes_at = fifth_bit ? 48 : 16;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + block_bytes * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0, summ = 0;
        for (int g = 0; g < 8; g++) {
            int sc, m;
            cn_k4_scale_min(blk + 4, g, &sc, &m);
            const uint8_t *qh = blk + 16, *q = blk + codes_at + 32 * (g / 2);
            int32_t isum = 0;
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> (4 * (g & 1))) & 0xf) | (fifth_bit ? ((qh[l] >> g) & 1) << 4 : 0);
                isum += v * xb->q[32 * g + l];
            }
            sumi += sc * isum;
            summ += m * (xb->sum16[2 * g] + xb->sum16[2 * g + 1]);
        }
        const float dd = xb->d * f16_at(blk), dm = xb->d * f16_at(blk + 2);
        const float t = dd * (float)sumi - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

float cn_q4_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return k4_q8_dot_ref(row, x, n, false);
}

float cn_q5_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    return k4_q8_dot_ref(row, x, n, true);
}

float cn_q6_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 210 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int32_t isum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) { /* element e = 128h + 32k + l (kquants.c) */
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                const int low = (blk[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0)) & 0xf;
                const int high = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
                isum += (low | high << 4) * xb->q[e];
            }
            sumi += (int8_t)blk[192 + j] * (isum - 32 * xb->sum16[j]);
        }
        const float dd = xb->d * f16_at(blk + 208);
        const float t = dd * (float)sumi;
        acc = acc + t;
    }
    return acc;
}

/* block_q2_K: 16 scale bytes (run j of 16 elements: scale in the low nibble, min in the high),
 * 64 bytes of 2-bit codes, f16 d at 80, f16 dmin at 82; element e = 128h + 32k + l is bits 2k,
 * 2k + 1 of byte 16 + 32h + l (kquants.c). */
float cn_q2_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 84 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int32_t isum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                isum += ((blk[16 + 32 * h + l] >> (2 * k)) & 3) * xb->q[e];
            }
            sumi += (blk[j] & 0xf) * isum;
            summ += (blk[j] >> 4) * xb->sum16[j];
        }
        const float dd = xb->d * f16_at(blk + 80), dm = xb->d * f16_at(blk + 82);
        const float t = dd * (float)sumi - dm * (float)summ;
        acc = acc + t;
    }
    return acc;
}

/* block_q3_K: 32 bytes hmask, 64 bytes of 2-bit codes at 32, 12 bytes of sixteen 6-bit scales at
 * 96 (cn_q3_k_scale, biased by 32), f16 d at 108; element e = 32g + l (g = 4h + k) is bits 2k,
 * 2k + 1 of byte 32 + 32h + l plus 4 where bit g of hmask[l] is set, minus 4 (kquants.c). */
float cn_q3_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 110 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int32_t isum = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int g = e / 32, h = g / 4, k = g % 4, l = e % 32;
                const int u = ((blk[32 + 32 * h + l] >> (2 * k)) & 3) | ((blk[l] >> g) & 1) << 2;
                isum += u * xb->q[e];
            }
            sumi += (cn_q3_k_scale(blk + 96, j) - 32) * (isum - 4 * xb->sum16[j]);
        }
        const float dd = xb->d * f16_at(blk + 108);
        const float t = dd * (float)sumi;
        acc = acc + t;
    }
    return acc;
}

/* block_iq2_xxs: f16 d, then per group g of 32 elements eight bytes: four grid indices (one per 8
 * elements) and a little-endian u32 of four 7-bit sign indices (bits 7l..7l + 6; the eighth sign
 * the parity of the seven) and the scale s in bits 28..31 (kquants.c). */
float cn_iq2_xxs_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n) {
    static const int magnitude[4] = {8, 25, 43, 0};
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + 66 * b;
        const cn_q8_block *xb = x + b;
        int32_t sumi = 0;
        for (int g = 0; g < 8; g++) {
            const uint8_t *q = blk + 2 + 8 * g;
            uint32_t aux1;
            memcpy(&aux1, q + 4, 4);
            int32_t isum = 0;
            for (int l = 0; l < 4; l++) {
                const uint32_t grid = cn_iq2xxs_grid[q[l]];
                const uint32_t sign_index = (aux1 >> (7 * l)) & 127u;
                const uint32_t signs = sign_index | (uint32_t)__builtin_parity(sign_index) << 7;
                for (int j = 0; j < 8; j++) {
                    const int m = magnitude[(grid >> (2 * j)) & 3u];
                    isum += ((signs >> j) & 1u ? -m : m) * xb->q[32 * g + 8 * l + j];
                }
            }
            sumi += (2 * (int32_t)(aux1 >> 28) + 1) * isum;
        }
        const float dd = xb->d * (f16_at(blk) * 0.125f);
        const float t = dd * (float)sumi;
        acc = acc + t;
    }
    return acc;
}

/* block_q8_0: f16 d, 32 int8 values. */
float cn_q8_0_q8_dot_ref(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    float lane[8] = {0};
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        const cn_q8_32x8 *xr = x + b / 8;
        const int k = (int)(b % 8);
        int32_t sumi = 0;
        for (int l = 0; l < 32; l++) sumi += (int8_t)blk[2 + l] * xr->q[32 * k + l];
        const float scale = f16_at(blk) * xr->d[k];
        const float t = scale * (float)sumi;
        lane[k] = lane[k] + t;
    }
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

/* E2M1 codes doubled (kquants.c, row_dot_avx2.c): integers, so the block's products are exact. */
static const int8_t e2m1_doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* Both MXFP4 layouts (q8_activations.h): ggml's 17-byte blocks when ggml, else DeepSeek's byte
 * pairs with the scales in row_scales. */
static float mxfp4_q8_dot_ref(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n, bool ggml) {
    float lane[8] = {0};
    for (int64_t b = 0; b < n / 32; b++) {
        const cn_q8_32x8 *xr = x + b / 8;
        const int k = (int)(b % 8);
        const int8_t *xq = xr->q + 32 * k;
        int32_t sumi = 0;
        float half;
        if (ggml) {
            const uint8_t *blk = row + 17 * b;
            const uint32_t e = blk[0];
            half = cn_f32_from_bits(e < 2 ? 0x00200000u << e : (e - 1) << 23);
            for (int l = 0; l < 16; l++)
                sumi += e2m1_doubled[blk[1 + l] & 0xf] * xq[l] + e2m1_doubled[blk[1 + l] >> 4] * xq[16 + l];
        } else {
            const uint8_t *p = row + 16 * b;
            half = cn_e8m0_to_f32(row_scales[b]) * 0.5f;
            for (int l = 0; l < 32; l++) sumi += e2m1_doubled[(p[l / 2] >> (4 * (l & 1))) & 0xf] * xq[l];
        }
        const float scale = half * xr->d[k];
        const float t = scale * (float)sumi;
        lane[k] = lane[k] + t;
    }
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

float cn_mxfp4_q8_dot_ref(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n) {
    return mxfp4_q8_dot_ref(row, row_scales, x, n, false);
}

float cn_mxfp4_ggml_q8_dot_ref(const uint8_t *row, const cn_q8_32x8 *x, int64_t n) {
    return mxfp4_q8_dot_ref(row, NULL, x, n, true);
}
