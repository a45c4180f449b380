#include "tensor/matrix.h"

#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/rows_avx2.h"

cn_matrix cn_matrix_rows(const cn_matrix *m, int64_t row0, int64_t n) {
    cn_matrix v = *m;
    v.rows = n;
    v.data = m->data + (size_t)row0 * m->row_bytes;
    if (m->dtype == CN_DTYPE_MXFP4) v.scales = m->scales + (size_t)row0 * (size_t)m->scale_cols;
    else v.scale_row0 = m->scale_row0 + row0;
    return v;
}

const uint8_t *cn_matrix_row_scales(const cn_matrix *m, int64_t row) {
    return m->dtype == CN_DTYPE_MXFP4 ? m->scales + (size_t)row * (size_t)m->scale_cols : NULL;
}

/* Bit-level forms of the element decoders for the portable row loops (the AVX2 kernels in
 * rows_avx2.c do the same on eight lanes); test_matrix_rows holds both to element.h. */
static inline uint32_t e4m3_bits(uint32_t v) {
    const uint32_t sign = (v & 0x80u) << 24, em = v & 0x7fu;
    const uint32_t normal = sign | ((em << 20) + (120u << 23));
    const uint32_t subnormal = sign | cn_f32_bits((float)(v & 7u) * 0x1p-9f);
    const uint32_t value = (em >> 3) == 0 ? subnormal : normal;
    return em == 0x7fu ? 0x7fc00000u : value;
}

static inline uint32_t e2m1_bits(uint32_t code) {
    const uint32_t mag = code & 7u, sign = (code & 8u) << 28;
    /* codes 2..7 are 2^((m>>1)-1) * (1 + (m&1)/2): build the float; 0 and 1 are 0 and 0.5 */
    const uint32_t normal = (((mag >> 1) + 126u) << 23) | ((mag & 1u) << 22);
    return sign | (mag == 0 ? 0u : mag == 1 ? 0x3f000000u : normal);
}

/* The scalar decoders above, or their AVX2 forms where the CPU has AVX2 (identical values). */
void cn_matrix_row_to_f32(const cn_matrix *m, int64_t row, float *out) {
    const uint8_t *p = m->data + (size_t)row * m->row_bytes;
    const int64_t n = m->cols;
    const bool avx2 = cn_cpu_has_avx2();
    switch (m->dtype) {
    case CN_DTYPE_F32:
        memcpy(out, p, (size_t)n * 4);
        break;
    case CN_DTYPE_BF16: {
        if (n % 8 == 0 && cn_cpu_has_avx2()) {
            cn_bf16_row_avx2(p, n, out);
            break;
        }
        /* The row may sit at any byte offset in the file: copy it out before widening. */
        uint16_t half[64];
        for (int64_t i = 0; i < n; i += 64) {
            const int64_t len = n - i < 64 ? n - i : 64;
            memcpy(half, p + 2 * i, (size_t)len * 2);
            for (int64_t k = 0; k < len; k++) out[i + k] = cn_f32_from_bits((uint32_t)half[k] << 16);
        }
        break;
    }
    case CN_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = cn_f16_to_f32(h);
        }
        break;
    case CN_DTYPE_F8_E4M3: {
        const uint8_t *srow = m->scales + (size_t)((m->scale_row0 + row) / 128) * (size_t)m->scale_cols;
        for (int64_t i = 0; i < n; i += 128) {
            const int64_t len = n - i < 128 ? n - i : 128;
            const float scale = cn_e8m0_to_f32(srow[i / 128]);
            if (len % 8 == 0 && avx2) {
                cn_e4m3_row_avx2(p + i, len, scale, out + i);
                continue;
            }
            for (int64_t k = 0; k < len; k++) out[i + k] = cn_f32_from_bits(e4m3_bits(p[i + k])) * scale;
        }
        break;
    }
    case CN_DTYPE_MXFP4: {
        const uint8_t *srow = m->scales + (size_t)row * (size_t)m->scale_cols;
        for (int64_t i = 0; i < n; i += 32) {
            const float scale = cn_e8m0_to_f32(srow[i / 32]);
            if (avx2) {
                cn_mxfp4_block_avx2(p + i / 2, scale, out + i);
                continue;
            }
            for (int64_t k = 0; k < 16; k++) {
                const uint32_t byte = p[i / 2 + k];
                out[i + 2 * k] = cn_f32_from_bits(e2m1_bits(byte & 0xfu)) * scale;
                out[i + 2 * k + 1] = cn_f32_from_bits(e2m1_bits(byte >> 4)) * scale;
            }
        }
        break;
    }
    case CN_DTYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = p + b * 34;
            uint16_t hs;
            memcpy(&hs, blk, 2);
            float d = cn_f16_to_f32(hs);
            for (int j = 0; j < 32; j++) out[b * 32 + j] = d * (float)(int8_t)blk[2 + j];
        }
        break;
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_IQ2_XXS:
    case CN_DTYPE_MXFP4_GGML:
        cn_kquant_row_to_f32(m->dtype, p, n, out);
        break;
    default:
        for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
        break;
    }
}
