/* 8-bit activations (q8_activations.h): the quantisers' rounding bound and per-16 sums, the
 * AVX2 and NEON (widening and SDOT) Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ2_XXS, Q8_0, MXFP4 and ggml's
 * MXFP4 x Q8 kernels, each where this CPU has it, against their scalar references bit for bit
 * (NEON under qemu-aarch64: make test-aarch64 runs this on qemu's default CPU, which has SDOT, and
 * as a Cortex-A53, which has not; CLAWNET_TEST_Q8_KERNEL names the kernels cn_q8_kernel_best must
 * pick there), and each reference against two independent computations from the dequantised weights
 * (cn_matrix_row_to_f32, itself held to the gguf package by test_kquants), in double:
 *  - the dot with the dequantised activations dx·qx: only f32 rounding separates them (1e-5 of
 *    Σ|w·dx·qx|), so a wrong code, scale, min or lane anywhere in a reference shows;
 *  - the dot with the f32 activations, within the bound the activation rounding allows:
 *    Σ_blocks (dx/2)·Σ|w| plus f32 rounding.
 * The AVX2 quantisers must write every byte the scalar ones write.
 * Rows of 1 to 17 super-blocks (the per-32 formats also widths that end mid-record), blocks of very different
 * magnitudes, an all-zero block, a NaN; and extreme blocks: every code and scale byte 0xff, 0x00
 * or alternating, block scales ±65504 and ±2^-24, activations all ±127 after quantising (the
 * largest int16 pair sums the AVX2 kernels form). The IQ2_XXS byte tables (iq2xxs_tables.c) are
 * rebuilt here from cn_iq2xxs_grid and the parity rule. MXFP4's E8M0 scales: random codes near 127
 * with the subnormal-half codes 0 and 1 among them; then every code 0..255 in both MXFP4 layouts,
 * kernels against the reference bit for bit (NaN: both NaN) and the reference against the dot of
 * the codes decoded at scale 1 (cn_matrix_row_to_f32) times 2^(e-127) in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/matrix.h"
#include "tensor/q8_activations.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

static cn_test_rng rng = {0x243f6a8885a308d3u};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

/* An E8M0 code for a test block: 118..135 (scales 2^-9..2^8), one in eight the subnormal-half
 * codes 0 or 1 (or 2, the smallest normal half). */
static uint8_t random_e8m0(void) {
    const uint32_t r = rng_next();
    return r % 8 == 0 ? (uint8_t)((r >> 3) % 3) : (uint8_t)(118 + (r >> 3) % 18);
}

/* Where a format keeps its f16 block scale d and (Q2_K, Q4_K, Q5_K) its min scale dmin; -1 for
 * none. Q8_0: d at 0 of each 34-byte block. */
static int d_at(cn_dtype t) {
    switch (t) {
    case CN_DTYPE_Q2_K: return 80;
    case CN_DTYPE_Q3_K: return 108;
    case CN_DTYPE_Q6_K: return 208;
    default: return 0;
    }
}
static int dmin_at(cn_dtype t) {
    switch (t) {
    case CN_DTYPE_Q2_K: return 82;
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q5_K: return 2;
    default: return -1;
    }
}

/* Blocks whose code and scale bytes are `fill` (0..255), or random (fill < 0), or 0xaa and 0x55
 * by turns (fill 256); f16 scales by `scales`: 0 small random (|d|, |dmin| < 0.01), 1 both 65504,
 * 2 d −65504 and dmin 65504, 3 d 2^-24 and dmin −2^-24 (the smallest f16). */
static void fill_row(cn_dtype t, uint8_t *row, int64_t n, int fill, int scales) {
    static const uint16_t extreme_d[4][2] = {{0, 0}, {0x7bff, 0x7bff}, {0xfbff, 0x7bff}, {0x0001, 0x8001}};
    const int bb = cn_dtype_block_bytes(t), be = cn_dtype_block_elems(t);
    for (int64_t b = 0; b < n / be; b++) {
        uint8_t *blk = row + bb * b;
        for (int k = 0; k < bb; k++)
            blk[k] = (uint8_t)(fill < 0 ? (int)(rng_next() & 0xff) : fill == 256 ? ((k + b) & 1 ? 0x55 : 0xaa) : fill);
        if (t == CN_DTYPE_MXFP4 || t == CN_DTYPE_MXFP4_GGML) continue; /* E8M0 scales: random_row */
        uint16_t d = extreme_d[scales][0], dmin = extreme_d[scales][1];
        if (scales == 0) d = cn_f32_to_f16(rng_uniform() * 0.01f), dmin = cn_f32_to_f16(rng_uniform() * 0.01f);
        memcpy(blk + d_at(t), &d, 2);
        if (dmin_at(t) >= 0) memcpy(blk + dmin_at(t), &dmin, 2);
    }
}

/* Random blocks: every code and scale byte random, small finite f16 block scales; MXFP4's E8M0
 * scales (ggml's byte 0 of each 17-byte block, DeepSeek's n / 32 bytes in scales) from
 * random_e8m0. */
static void random_row(cn_dtype t, uint8_t *row, uint8_t *scales, int64_t n) {
    fill_row(t, row, n, -1, 0);
    if (t == CN_DTYPE_MXFP4)
        for (int64_t b = 0; b < n / 32; b++) scales[b] = random_e8m0();
    if (t == CN_DTYPE_MXFP4_GGML)
        for (int64_t b = 0; b < n / 32; b++) row[17 * b] = random_e8m0();
}

static float dot_ref(cn_dtype t, const uint8_t *row, const uint8_t *scales, const void *q, int64_t n) {
    switch (t) {
    case CN_DTYPE_Q4_K: return cn_q4_k_q8_dot_ref(row, q, n);
    case CN_DTYPE_Q5_K: return cn_q5_k_q8_dot_ref(row, q, n);
    case CN_DTYPE_Q6_K: return cn_q6_k_q8_dot_ref(row, q, n);
    case CN_DTYPE_Q2_K: return cn_q2_k_q8_dot_ref(row, q, n);
    case CN_DTYPE_Q3_K: return cn_q3_k_q8_dot_ref(row, q, n);
    case CN_DTYPE_IQ2_XXS: return cn_iq2_xxs_q8_dot_ref(row, q, n);
    case CN_DTYPE_MXFP4: return cn_mxfp4_q8_dot_ref(row, scales, q, n);
    case CN_DTYPE_MXFP4_GGML: return cn_mxfp4_ggml_q8_dot_ref(row, q, n);
    default: return cn_q8_0_q8_dot_ref(row, q, n);
    }
}

/* A one-row matrix view of a test row (DeepSeek's MXFP4 with its scales). */
static cn_matrix one_row(cn_dtype t, const uint8_t *row, const uint8_t *scales, int64_t n) {
    const bool mx = t == CN_DTYPE_MXFP4;
    return (cn_matrix){t, 1, n, row, cn_dtype_row_bytes(t, n), mx ? scales : NULL, mx ? n / 32 : 0, 0, false};
}

/* The SIMD kernels this CPU can run (through cn_q8_dot, which the matmul calls). */
static const cn_q8_kernel simd_kernels[] = {CN_Q8_AVX2, CN_Q8_NEON, CN_Q8_NEON_SDOT, CN_Q8_AVX512_VNNI};
#define N_SIMD (sizeof simd_kernels / sizeof *simd_kernels)
static bool kernel_runs_here(cn_q8_kernel k) { return cn_q8_kernel_available(k); }

/* Element i of a quantised row: its int8 value and its block's scale. */
static int q_at(cn_q8_layout layout, const void *q, int64_t i, float *d) {
    if (layout == CN_Q8_256) {
        const cn_q8_block *b = (const cn_q8_block *)q + i / 256;
        *d = b->d;
        return b->q[i % 256];
    }
    const cn_q8_32x8 *r = (const cn_q8_32x8 *)q + i / 256;
    *d = r->d[(i % 256) / 32];
    return r->q[i % 256];
}

/* Every element within half a step of its value, no -128, each block's scale amax/127 (0 for an
 * all-zero block), per-16 sums right (256 layout), unused blocks of a last record zero. */
static void check_quantiser(cn_q8_layout layout, const float *x, int64_t n, const void *q) {
    const int64_t be = layout == CN_Q8_256 ? 256 : 32;
    int bad_round = 0, bad_sum = 0, bad_pad = 0;
    for (int64_t b = 0; b < n / be; b++) {
        float amax = 0.0f, d = 0.0f;
        for (int64_t i = be * b; i < be * b + be; i++) amax = fmaxf(amax, fabsf(x[i]));
        for (int64_t i = be * b; i < be * b + be; i++) {
            const int v = q_at(layout, q, i, &d);
            const double err = fabs((double)x[i] - (double)d * v);
            bad_round += !(err <= 0.5 * (double)d * (1.0 + 1e-6) + 1e-30) || v == -128;
        }
        bad_round += amax == 0.0f ? d != 0.0f : fabsf(d * 127.0f - amax) > 1e-6f * amax;
    }
    if (layout == CN_Q8_256) {
        const cn_q8_block *blocks = q;
        for (int64_t b = 0; b < n / 256; b++)
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += blocks[b].q[16 * j + l];
                bad_sum += s != blocks[b].sum16[j];
            }
    } else if (n % 256) {
        const cn_q8_32x8 *last = (const cn_q8_32x8 *)q + n / 256;
        for (int64_t k = (n % 256) / 32; k < 8; k++) {
            bad_pad += last->d[k] != 0.0f;
            for (int l = 0; l < 32; l++) bad_pad += last->q[32 * k + l] != 0;
        }
    }
    CHECKF(bad_round == 0, "n %lld: %d quantised activations off by more than half a step", (long long)n, bad_round);
    CHECKF(bad_sum == 0, "n %lld: %d group sums wrong", (long long)n, bad_sum);
    CHECKF(bad_pad == 0, "n %lld: %d unused values of the last record not zero", (long long)n, bad_pad);
}

/* The AVX2 quantiser against the scalar one's output q, byte for byte. */
static void check_avx2_quantiser(cn_q8_layout layout, const float *x, int64_t n, const void *q) {
    if (!cn_cpu_has_avx2_fma()) return;
    const size_t bytes = cn_q8_row_bytes(layout, n);
    void *fast = malloc(bytes);
    memset(fast, 0x5a, bytes);
    cn_q8_quantize(layout, x, n, fast, CN_Q8_AVX2);
    CHECKF(memcmp(q, fast, bytes) == 0, "layout %d n %lld: the AVX2 quantiser differs from the scalar one", (int)layout,
           (long long)n);
    free(fast);
}

/* extreme 0: random rows and activations; 1: extreme rows (fill_row's fills and scales by turns)
 * against activations that all quantise to ±127, signs random; 2: the same, all +127. */
static void check_width(cn_dtype t, int64_t n, int extreme) {
    const int rows = 9;
    const cn_q8_layout layout = cn_q8_layout_of(t);
    const int64_t be = layout == CN_Q8_256 ? 256 : 32;
    const size_t row_bytes = cn_dtype_row_bytes(t, n);
    uint8_t *w = malloc(rows * row_bytes), *scales = malloc((size_t)(n / 32));
    float *x = malloc((size_t)n * sizeof *x), *wf = malloc((size_t)n * sizeof *wf);
    void *q = malloc(cn_q8_row_bytes(layout, n));
    /* activations: each 256 its own magnitude (1e-3 .. 1e3), elements 256..511 all zero (random
     * ones); ±magnitude everywhere (extreme ones) */
    for (int64_t b = 0; b < (n + 255) / 256; b++) {
        const float scale = powf(10.0f, (float)(rng_next() % 7) - 3.0f);
        for (int64_t i = 256 * b; i < 256 * b + 256 && i < n; i++) {
            if (extreme) x[i] = extreme == 2 || (rng_next() & 1) ? scale : -scale;
            else x[i] = b == 1 ? 0.0f : rng_uniform() * scale;
        }
    }
    cn_q8_quantize(layout, x, n, q, CN_Q8_SCALAR);
    check_quantiser(layout, x, n, q);
    check_avx2_quantiser(layout, x, n, q);
    int bad_bits[N_SIMD] = {0}, bad_exact = 0, bad_bound = 0;
    for (int r = 0; r < rows; r++) {
        uint8_t *row = w + (size_t)r * row_bytes;
        static const int fills[3] = {0xff, 0x00, 256};
        if (extreme) fill_row(t, row, n, fills[r % 3], r % 4);
        else random_row(t, row, scales, n);
        const cn_matrix m = one_row(t, row, scales, n);
        const float ref = dot_ref(t, row, m.scales, q, n);
        for (size_t k = 0; k < N_SIMD; k++) {
            if (!kernel_runs_here(simd_kernels[k])) continue;
            const float fast = cn_q8_dot(t, row, m.scales, q, n, simd_kernels[k]);
            bad_bits[k] += memcmp(&ref, &fast, sizeof ref) != 0;
        }
        cn_matrix_row_to_f32(&m, 0, wf);
        double exact = 0.0, abs_sum = 0.0, on_q = 0.0, abs_q = 0.0, bound = 0.0, wsum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            float d;
            const int v = q_at(layout, q, i, &d);
            const double p = (double)wf[i] * x[i], pq = (double)wf[i] * ((double)d * v);
            exact += p, abs_sum += fabs(p), on_q += pq, abs_q += fabs(pq), wsum += fabs((double)wf[i]);
            if ((i + 1) % be == 0) bound += 0.5 * (double)d * wsum, wsum = 0.0;
        }
        bad_exact += !(fabs((double)ref - on_q) <= 1e-5 * abs_q + 1e-30);
        const double err = fabs((double)ref - exact), allowed = bound + 1e-5 * (abs_sum + bound) + 1e-30;
        bad_bound += !(err <= allowed);
    }
    for (size_t k = 0; k < N_SIMD; k++)
        CHECKF(bad_bits[k] == 0, "%s n %lld extreme %d: %d %s dots differ from the reference", cn_dtype_name(t), (long long)n,
               extreme, bad_bits[k], cn_q8_kernel_name(simd_kernels[k]));
    CHECKF(bad_exact == 0, "%s n %lld extreme %d: %d dots differ from the dot of the dequantised values", cn_dtype_name(t),
           (long long)n, extreme, bad_exact);
    CHECKF(bad_bound == 0, "%s n %lld extreme %d: %d dots off the f32 dot by more than the rounding bound", cn_dtype_name(t),
           (long long)n, extreme, bad_bound);
    free(w), free(scales), free(x), free(wf), free(q);
}

/* Same bits, or both NaN (a NaN's sign and payload depend on which operand an instruction
 * passes on, which the kernels need not match). */
static bool same_result(float a, float b) { return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b)); }

/* Every E8M0 code e in both MXFP4 layouts: a row of 10 blocks (one full record and two blocks of
 * the next), block b's code e + b - 4 clamped to 0..255, random codes and activations; and a
 * second row per code where only block e mod 8 of the full record has code e and the others
 * ordinary codes 118..135 (the kernels take a faster path for records without the codes 0, 1 and
 * DeepSeek's 255, so each of those must be found in any position on its own). Every
 * kernel gives the reference's result; the reference is the dot of the codes' values (the row
 * decoded with every scale code 127, i.e. 1) times 2^(code-127) with the dequantised activations,
 * in double, within 1e-5 of Σ|terms| plus the subnormal scales' rounding (2^-150 per block of
 * half·dx, times |sumi| ≤ 48768); DeepSeek's 255 is NaN. Codes above 240 are only compared between
 * kernels (the f32 products overflow where the double sum does not). */
static void check_e8m0_codes(cn_dtype t) {
    const int64_t n = 320, blocks = n / 32;
    const size_t row_bytes = cn_dtype_row_bytes(t, n);
    uint8_t row[17 * 10], unit[17 * 10], scales[10], unit_scales[10];
    float x[320], w1[320];
    cn_q8_32x8 q[2];
    int bad_bits[N_SIMD] = {0}, bad_value = 0;
    for (int trial = 0; trial < 512; trial++) {
        const int e = trial % 256;
        const bool alone = trial >= 256; /* the second row: code e in block e mod 8 only */
        random_row(t, row, scales, n);
        memcpy(unit, row, row_bytes);
        for (int64_t b = 0; b < blocks; b++) {
            int code = e + (int)b - 4 < 0 ? 0 : e + (int)b - 4 > 255 ? 255 : e + (int)b - 4;
            if (alone) code = b == e % 8 ? e : 118 + (int)(rng_next() % 18);
            if (t == CN_DTYPE_MXFP4) scales[b] = (uint8_t)code, unit_scales[b] = 127;
            else row[17 * b] = (uint8_t)code, unit[17 * b] = 127;
        }
        for (int64_t i = 0; i < n; i++) x[i] = rng_uniform() * (i / 32 % 3 == 1 ? 1e-3f : 1.0f);
        cn_q8_quantize_row_32(x, n, q);
        const float ref = dot_ref(t, row, scales, q, n);
        for (size_t k = 0; k < N_SIMD; k++)
            if (kernel_runs_here(simd_kernels[k]))
                bad_bits[k] += !same_result(ref, cn_q8_dot(t, row, t == CN_DTYPE_MXFP4 ? scales : NULL, q, n, simd_kernels[k]));
        const cn_matrix m = one_row(t, unit, unit_scales, n);
        cn_matrix_row_to_f32(&m, 0, w1);
        double want = 0.0, abs_sum = 0.0;
        bool nan = false;
        for (int64_t b = 0; b < blocks; b++) {
            const int code = t == CN_DTYPE_MXFP4 ? scales[b] : row[17 * b];
            nan = nan || (t == CN_DTYPE_MXFP4 && code == 255);
            for (int64_t i = 32 * b; i < 32 * b + 32; i++) {
                float d;
                const int v = q_at(CN_Q8_32, q, i, &d);
                const double p = ldexp((double)w1[i], code - 127) * ((double)d * v);
                want += p, abs_sum += fabs(p);
            }
        }
        if (nan) bad_value += !isnan(ref);
        else if (e <= 240) bad_value += !(fabs((double)ref - want) <= 1e-5 * abs_sum + (double)blocks * 48770.0 * 0x1p-150);
    }
    for (size_t k = 0; k < N_SIMD; k++)
        CHECKF(bad_bits[k] == 0, "%s: %d of 512 scale-code rows give %s dots other than the reference's", cn_dtype_name(t), bad_bits[k],
               cn_q8_kernel_name(simd_kernels[k]));
    CHECKF(bad_value == 0, "%s: %d of 512 scale-code rows give reference dots off the scaled dot in double", cn_dtype_name(t), bad_value);
}

/* cn_iq2xxs_grid_bytes and cn_iq2xxs_sign_bytes rebuilt from cn_iq2xxs_grid and the parity rule
 * (kquants.h). */
static void check_iq2xxs_tables(void) {
    static const uint8_t magnitude[4] = {8, 25, 43, 0};
    int bad = 0;
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 8; j++) bad += (uint8_t)(cn_iq2xxs_grid_bytes[i] >> (8 * j)) != magnitude[(cn_iq2xxs_grid[i] >> (2 * j)) & 3];
    for (int s = 0; s < 128; s++) {
        int ones = 0;
        for (int j = 0; j < 7; j++) ones += (s >> j) & 1;
        for (int j = 0; j < 8; j++) {
            const bool negative = j < 7 ? (s >> j) & 1 : ones & 1;
            bad += (uint8_t)(cn_iq2xxs_sign_bytes[s] >> (8 * j)) != (negative ? 0xff : 0x01);
        }
    }
    CHECKF(bad == 0, "%d bytes of the IQ2_XXS byte tables differ from the grid and the sign rule", bad);
}

int main(void) {
    check_iq2xxs_tables();
    static const cn_dtype types[] = {CN_DTYPE_Q2_K, CN_DTYPE_Q3_K, CN_DTYPE_Q4_K,    CN_DTYPE_Q5_K,
                                     CN_DTYPE_Q6_K, CN_DTYPE_Q8_0, CN_DTYPE_IQ2_XXS};
    static const int64_t widths[] = {256, 512, 768, 1280, 2048, 4352};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) check_width(types[t], widths[i], 0);
        check_width(types[t], 768, 1);
        check_width(types[t], 512, 2);
    }
    /* the per-32 formats; MXFP4's edge scale codes in check_e8m0_codes (no f16 scales to make extreme) */
    static const int64_t q8_32_widths[] = {32, 64, 96, 224, 288, 4096 + 160};
    static const cn_dtype q8_32_types[] = {CN_DTYPE_Q8_0, CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML};
    for (size_t t = 0; t < sizeof q8_32_types / sizeof *q8_32_types; t++)
        for (size_t i = 0; i < sizeof q8_32_widths / sizeof *q8_32_widths; i++) check_width(q8_32_types[t], q8_32_widths[i], 0);
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        check_width(CN_DTYPE_MXFP4, widths[i], 0);
        check_width(CN_DTYPE_MXFP4_GGML, widths[i], 0);
    }
    check_e8m0_codes(CN_DTYPE_MXFP4);
    check_e8m0_codes(CN_DTYPE_MXFP4_GGML);
    CHECK(cn_q8_layout_of(CN_DTYPE_BF16) == CN_Q8_NONE && cn_q8_layout_of(CN_DTYPE_F8_E4M3) == CN_Q8_NONE);
    CHECK(cn_q8_layout_of(CN_DTYPE_MXFP4) == CN_Q8_32 && cn_q8_layout_of(CN_DTYPE_MXFP4_GGML) == CN_Q8_32);
    CHECK(cn_q8_layout_of(CN_DTYPE_Q2_K) == CN_Q8_256 && cn_q8_layout_of(CN_DTYPE_Q3_K) == CN_Q8_256 &&
          cn_q8_layout_of(CN_DTYPE_IQ2_XXS) == CN_Q8_256);

    /* A NaN activation makes the dot NaN, as it does in f32. */
    float x[256];
    uint8_t row[272], row_scales[8];
    cn_q8_block q;
    cn_q8_32x8 q32;
    for (int i = 0; i < 256; i++) x[i] = rng_uniform();
    x[17] = NAN;
    x[200] = INFINITY; /* a second block with a non-finite value, for the 32-element layout */
    cn_q8_quantize_row(x, 256, &q);
    cn_q8_quantize_row_32(x, 256, &q32);
    check_avx2_quantiser(CN_Q8_256, x, 256, &q);
    check_avx2_quantiser(CN_Q8_32, x, 256, &q32);
    CHECK(isnan(q.d) && isnan(q32.d[0]) && isnan(q32.d[6]) && !isnan(q32.d[1]));
    for (size_t f = 0; f < sizeof types / sizeof *types; f++) {
        const cn_dtype t = types[f];
        const void *xq = cn_q8_layout_of(t) == CN_Q8_256 ? (const void *)&q : (const void *)&q32;
        random_row(t, row, row_scales, 256);
        const uint8_t *rs = t == CN_DTYPE_MXFP4 ? row_scales : NULL;
        CHECKF(isnan(dot_ref(t, row, rs, xq, 256)), "%s: no NaN", cn_dtype_name(t));
        for (size_t k = 0; k < N_SIMD; k++)
            if (kernel_runs_here(simd_kernels[k]))
                CHECKF(isnan(cn_q8_dot(t, row, rs, xq, 256, simd_kernels[k])), "%s: no NaN (%s)", cn_dtype_name(t),
                       cn_q8_kernel_name(simd_kernels[k]));
    }

    /* The kinds by name (CLAWNET_Q8_KERNEL), and which were skipped here. */
    for (size_t k = 0; k < N_SIMD; k++) {
        cn_q8_kernel back = CN_Q8_SCALAR;
        CHECKF(cn_q8_kernel_from_name(cn_q8_kernel_name(simd_kernels[k]), &back) && back == simd_kernels[k], "%s: no round trip",
               cn_q8_kernel_name(simd_kernels[k]));
        if (!kernel_runs_here(simd_kernels[k]))
            printf("test_q8_activations: %s kernels not checked: this CPU or build has none\n", cn_q8_kernel_name(simd_kernels[k]));
    }
    cn_q8_kernel unknown;
    CHECK(!cn_q8_kernel_from_name("avx512", &unknown) && !cn_q8_kernel_from_name(NULL, &unknown));

    /* Which kernels the matmul takes here; under qemu the Makefile says which it must be, so a
     * run meant to cover SDOT (or the widening form) cannot pass on the other. */
    const char *best = cn_q8_kernel_name(cn_q8_kernel_best());
    const char *want = getenv("CLAWNET_TEST_Q8_KERNEL");
    printf("test_q8_activations: cn_matmul's 8-bit-activation kernels here: %s\n", best);
    if (want && *want) CHECKF(strcmp(want, best) == 0, "CLAWNET_TEST_Q8_KERNEL is %s but the kernels are %s", want, best);
    /* VNNI when the CPU has it, unless CLAWNET_Q8_KERNEL names another kind that runs here. */
    cn_q8_kernel forced;
    const char *force = getenv("CLAWNET_Q8_KERNEL");
    if (cn_q8_kernel_from_name(force, &forced) && cn_q8_kernel_available(forced))
        CHECKF(cn_q8_kernel_best() == forced, "CLAWNET_Q8_KERNEL is %s but the kernels are %s", force, best);
    else if (cn_q8_has_avx512_vnni())
        CHECKF(cn_q8_kernel_best() == CN_Q8_AVX512_VNNI, "this CPU has AVX-512 VNNI but the kernels are %s", best);
    return cn_test_finish("test_q8_activations");
}
