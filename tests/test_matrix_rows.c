/* Row dequantisation (the vectorisable decoders in matrix.c) against the scalar element
 * definitions, which test_elements holds to torch: every FP8 code and every MXFP4 byte under
 * several scales, BF16 and F16 rows at odd byte offsets, Q8_0 blocks, and row views that start
 * mid-tensor (FP8 block scales found through scale_row0). */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/matrix.h"
#include "tensor/rows_avx2.h"

static int same(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, 4) == 0; }

int main(void) {
    /* FP8: 3 x 256 rows of all 256 codes, block scales varying per (row block, column block). */
    enum { R = 384, C = 256 };
    static uint8_t w8[R * C], s8[3 * 2];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) w8[r * C + c] = (uint8_t)(c + r);
    for (int i = 0; i < 6; i++) s8[i] = (uint8_t)(120 + 3 * i);
    cn_matrix m8 = {CN_DTYPE_F8_E4M3, R, C, w8, C, s8, 2, 0, false};
    float row[C];
    int bad = 0;
    for (int r = 0; r < R; r++) {
        cn_matrix_row_to_f32(&m8, r, row);
        for (int c = 0; c < C; c++) bad += !same(row[c], cn_e4m3_to_f32(w8[r * C + c]) * cn_e8m0_to_f32(s8[(r / 128) * 2 + c / 128]));
    }
    CHECKF(bad == 0, "%d FP8 elements differ", bad);
    cn_matrix tail = cn_matrix_rows(&m8, 200, 100); /* rows 200..299 straddle scale blocks 1 and 2 */
    bad = 0;
    for (int r = 0; r < 100; r++) {
        cn_matrix_row_to_f32(&tail, r, row);
        int g = 200 + r;
        for (int c = 0; c < C; c++) bad += !same(row[c], cn_e4m3_to_f32(w8[g * C + c]) * cn_e8m0_to_f32(s8[(g / 128) * 2 + c / 128]));
    }
    CHECKF(bad == 0, "%d FP8 elements of a row view differ", bad);

    /* MXFP4: every byte value, 8 per-32 scales per row. */
    static uint8_t w4[4 * 256], s4[4 * 16];
    for (int i = 0; i < 4 * 256; i++) w4[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 4 * 16; i++) s4[i] = (uint8_t)(110 + i);
    cn_matrix m4 = {CN_DTYPE_MXFP4, 4, 512, w4, 256, s4, 16, 0, false};
    float row4[512];
    bad = 0;
    for (int r = 0; r < 4; r++) {
        cn_matrix_row_to_f32(&m4, r, row4);
        for (int c = 0; c < 512; c++) {
            uint8_t byte = w4[r * 256 + c / 2];
            float want = cn_e2m1_to_f32(c % 2 ? byte >> 4 : byte & 15) * cn_e8m0_to_f32(s4[r * 16 + c / 32]);
            bad += !same(row4[c], want);
        }
    }
    CHECKF(bad == 0, "%d MXFP4 elements differ", bad);

    /* BF16 and F16: all 65536 patterns in rows that start at an odd address. */
    static uint8_t raw[1 + 65536 * 2];
    for (int i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        memcpy(raw + 1 + 2 * i, &h, 2);
    }
    static float wide[65536];
    cn_matrix mb = {CN_DTYPE_BF16, 1, 65536, raw + 1, 65536 * 2, NULL, 0, 0, false};
    cn_matrix_row_to_f32(&mb, 0, wide);
    bad = 0;
    for (int i = 0; i < 65536; i++) bad += !same(wide[i], cn_bf16_to_f32((uint16_t)i));
    CHECKF(bad == 0, "%d BF16 patterns differ", bad);
    mb.dtype = CN_DTYPE_F16;
    cn_matrix_row_to_f32(&mb, 0, wide);
    bad = 0;
    for (int i = 0; i < 65536; i++) bad += !same(wide[i], cn_f16_to_f32((uint16_t)i));
    CHECKF(bad == 0, "%d F16 patterns differ", bad);

    /* Q8_0: d * q per 32-block. */
    uint8_t q8[2 * 34];
    for (int b = 0; b < 2; b++) {
        uint16_t d = cn_f32_to_f16(b ? -0.125f : 0.03125f);
        memcpy(q8 + 34 * b, &d, 2);
        for (int j = 0; j < 32; j++) q8[34 * b + 2 + j] = (uint8_t)(j * 9 - 128);
    }
    cn_matrix mq = {CN_DTYPE_Q8_0, 1, 64, q8, 68, NULL, 0, 0, false};
    cn_matrix_row_to_f32(&mq, 0, row);
    bad = 0;
    for (int i = 0; i < 64; i++) bad += !same(row[i], (i < 32 ? 0.03125f : -0.125f) * (float)(int8_t)q8[34 * (i / 32) + 2 + i % 32]);
    CHECKF(bad == 0, "%d Q8_0 elements differ", bad);
    /* Widths that are not multiples of 8 take the scalar loops even on AVX2 machines, so both
     * decoders of FP8 and BF16 are exercised here. */
    cn_matrix odd8 = {CN_DTYPE_F8_E4M3, R, 252, w8, C, s8, 2, 0, false};
    bad = 0;
    for (int r = 0; r < R; r += 7) {
        cn_matrix_row_to_f32(&odd8, r, row);
        for (int c = 0; c < 252; c++) bad += !same(row[c], cn_e4m3_to_f32(w8[r * C + c]) * cn_e8m0_to_f32(s8[(r / 128) * 2 + c / 128]));
    }
    CHECKF(bad == 0, "%d FP8 elements of the scalar path differ", bad);
    cn_matrix oddb = {CN_DTYPE_BF16, 1, 65535, raw + 1, 65535 * 2, NULL, 0, 0, false};
    cn_matrix_row_to_f32(&oddb, 0, wide);
    bad = 0;
    for (int i = 0; i < 65535; i++) bad += !same(wide[i], cn_bf16_to_f32((uint16_t)i));
    CHECKF(bad == 0, "%d BF16 patterns of the scalar path differ", bad);
    if (cn_cpu_has_avx2()) { /* and the AVX2 kernels directly, all codes and both signs of zero */
        uint8_t codes[256];
        float got[256];
        for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
        cn_e4m3_row_avx2(codes, 256, 0.5f, got);
        bad = 0;
        for (int i = 0; i < 256; i++) bad += !same(got[i], cn_e4m3_to_f32((uint8_t)i) * 0.5f);
        CHECKF(bad == 0, "%d FP8 codes differ in the AVX2 kernel", bad);
        bad = 0;
        for (int b = 0; b < 256; b += 16) {
            cn_mxfp4_block_avx2(codes + b, 4.0f, got);
            for (int k = 0; k < 32; k++)
                bad += !same(got[k], cn_e2m1_to_f32(k % 2 ? codes[b + k / 2] >> 4 : codes[b + k / 2] & 15) * 4.0f);
        }
        CHECKF(bad == 0, "%d MXFP4 elements differ in the AVX2 kernel", bad);
    }
    return cn_test_finish("test_matrix_rows");
}
