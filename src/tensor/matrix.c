#include "tensor/matrix.h"

#include "base/cpu_clones.h"
#include "tensor/element.h"

cn_matrix cn_matrix_rows(const cn_matrix *m, int64_t row0, int64_t n) {
    cn_matrix v = *m;
    v.rows = n;
    v.data = m->data + (size_t)row0 * m->row_bytes;
    if (m->dtype == CN_DTYPE_MXFP4) v.scales = m->scales + (size_t)row0 * (size_t)m->scale_cols;
    else v.scale_row0 = m->scale_row0 + row0;
    return v;
}

/* Integer and bit conversions only: the AVX2 copy gives the same values as the default one. */
CN_CPU_CLONES void cn_matrix_row_to_f32(const cn_matrix *m, int64_t row, float *out) {
    const uint8_t *p = m->data + (size_t)row * m->row_bytes;
    const int64_t n = m->cols;
    switch (m->dtype) {
    case CN_DTYPE_F32:
        memcpy(out, p, (size_t)n * 4);
        break;
    case CN_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = cn_bf16_to_f32(h);
        }
        break;
    case CN_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = cn_f16_to_f32(h);
        }
        break;
    case CN_DTYPE_F8_E4M3: {
        const uint8_t *srow = m->scales + (size_t)((m->scale_row0 + row) / 128) * (size_t)m->scale_cols;
        for (int64_t i = 0; i < n; i++) out[i] = cn_e4m3_to_f32(p[i]) * cn_e8m0_to_f32(srow[i / 128]);
        break;
    }
    case CN_DTYPE_MXFP4: {
        const uint8_t *srow = m->scales + (size_t)row * (size_t)m->scale_cols;
        for (int64_t i = 0; i < n; i += 2) {
            float s = cn_e8m0_to_f32(srow[i / 32]);
            out[i] = cn_e2m1_to_f32(p[i / 2] & 0xf) * s;
            out[i + 1] = cn_e2m1_to_f32(p[i / 2] >> 4) * s;
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
    default:
        for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
        break;
    }
}
