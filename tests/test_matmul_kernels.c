/* The fused row-dot kernels (row_dot_avx2.h on x86, row_dot_neon.h on aarch64) and cn_matmul
 * against the scalar reference: rows dequantised by cn_matrix_row_to_f32 and dotted in double
 * precision, for every weight format on random rows of odd widths (not multiples of 8, 32 or 128
 * where the format allows), rows at odd byte addresses and FP8 row views that start mid-tensor.
 * The error bound is 1e-5 of the row's Σ|w|·|x|. Each fused kernel must also give exactly the bits
 * of chain_model below, the fixed chain written as scalar C on the reference's weights: that is
 * what makes AVX2 and NEON (and any split of the tokens) agree bit for bit. Then chunk invariance
 * (docs/engine.md): cn_matmul over 37 tokens in one call must give bitwise the same outputs as 37
 * one-token calls and as calls of 2 and 3 tokens, on whichever path this CPU takes. The ggml block
 * formats (Q2_K..Q6_K, IQ2_XXS, ggml's MXFP4) come as random blocks with small f16 scales. With
 * act_q8 (8-bit activations), cn_matmul must give, for every token and row, bitwise the scalar
 * reference cn_q8_dot(..., avx2 = false) on the token quantised alone, in calls of 37, 1, 2 and 3
 * tokens; formats without an integer dot must ignore the flag (bitwise the f32 path). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "harness.h"
#include "tensor/e4m3_rows_x86.h"
#include "tensor/element.h"
#include "tensor/kquants.h"
#include "tensor/matmul.h"
#include "tensor/matrix.h"
#include "tensor/q8_activations.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

static cn_test_rng rng = {0x9e3779b97f4a7c15u};
static uint32_t rng_next(void) { return cn_test_rng_next(&rng); }
static float rng_uniform(void) { return cn_test_rng_uniform(&rng); } /* [-1, 1) */

/* A random matrix in its stored format; buffers live as long as the test. */
typedef struct {
    cn_matrix m;
    uint8_t *data, *scales;
} stored_matrix;

static stored_matrix random_matrix(cn_dtype dtype, int64_t rows, int64_t cols, size_t byte_offset) {
    stored_matrix s = {0};
    if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 65536) return s;
    const size_t row_bytes = cn_dtype_row_bytes(dtype, cols);
    s.data = malloc(row_bytes * (size_t)rows + byte_offset);
    uint8_t *p = s.data + byte_offset;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < cols; i++) {
            uint8_t *e = p + (size_t)r * row_bytes;
            switch (dtype) {
            case CN_DTYPE_F32: {
                float v = rng_uniform();
                memcpy(e + 4 * i, &v, 4);
                break;
            }
            case CN_DTYPE_F16: {
                uint16_t h = cn_f32_to_f16(rng_uniform() * 4.0f);
                memcpy(e + 2 * i, &h, 2);
                break;
            }
            case CN_DTYPE_BF16: {
                uint16_t h = cn_f32_to_bf16(rng_uniform() * 4.0f);
                memcpy(e + 2 * i, &h, 2);
                break;
            }
            case CN_DTYPE_F8_E4M3: { /* every code but the two NaNs, subnormals included */
                uint8_t v = (uint8_t)rng_next();
                e[i] = (v & 0x7f) == 0x7f ? (uint8_t)(v - 1) : v;
                break;
            }
            case CN_DTYPE_MXFP4:
                if (i % 2 == 0) e[i / 2] = (uint8_t)rng_next();
                break;
            case CN_DTYPE_Q8_0:
                if (i % 32 == 0) {
                    uint16_t d = cn_f32_to_f16(rng_uniform() * 0.05f);
                    memcpy(e + (i / 32) * 34, &d, 2);
                }
                e[(i / 32) * 34 + 2 + i % 32] = (uint8_t)rng_next();
                break;
            default:
                break;
            }
        }
    if (cn_kquant_is(dtype)) { /* random bytes (all valid) with small finite f16 block scales */
        const int be = cn_dtype_block_elems(dtype), bb = cn_dtype_block_bytes(dtype);
        int d_at[2] = {-1, -1};
        switch (dtype) {
        case CN_DTYPE_Q4_K: case CN_DTYPE_Q5_K: d_at[0] = 0, d_at[1] = 2; break;
        case CN_DTYPE_Q6_K: d_at[0] = 208; break;
        case CN_DTYPE_Q3_K: d_at[0] = 108; break;
        case CN_DTYPE_Q2_K: d_at[0] = 80, d_at[1] = 82; break;
        case CN_DTYPE_IQ2_XXS: d_at[0] = 0; break;
        default: break;
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < cols / be; b++) {
                uint8_t *blk = p + (size_t)r * row_bytes + (size_t)(b * bb);
                for (int k = 0; k < bb; k++) blk[k] = (uint8_t)rng_next();
                for (int k = 0; k < 2; k++) {
                    if (d_at[k] < 0) continue;
                    const uint16_t d = cn_f32_to_f16(rng_uniform() * 0.01f);
                    memcpy(blk + d_at[k], &d, 2);
                }
                if (dtype == CN_DTYPE_MXFP4_GGML) blk[0] = (uint8_t)(118 + rng_next() % 12);
            }
    }
    s.m = (cn_matrix){dtype, rows, cols, p, row_bytes, NULL, 0, 0, false};
    if (dtype == CN_DTYPE_F8_E4M3) {
        s.m.scale_cols = (cols + 127) / 128;
        const size_t n = (size_t)((rows + 127) / 128 * s.m.scale_cols);
        s.scales = malloc(n);
        for (size_t i = 0; i < n; i++) s.scales[i] = (uint8_t)(120 + rng_next() % 12);
    } else if (dtype == CN_DTYPE_MXFP4) {
        s.m.scale_cols = cols / 32;
        const size_t n = (size_t)(rows * s.m.scale_cols);
        s.scales = malloc(n);
        for (size_t i = 0; i < n; i++) s.scales[i] = (uint8_t)(118 + rng_next() % 12);
    }
    s.m.scales = s.scales;
    return s;
}

static void free_matrix(stored_matrix *s) { free(s->data), free(s->scales); }

/* The reference: the scalar decoders' row, dotted in double; also Σ|w|·|x| for the bound. */
static double reference_dot(const cn_matrix *m, int64_t row, const float *x, double *abs_sum) {
    float *w = malloc((size_t)m->cols * sizeof *w);
    cn_matrix_row_to_f32(m, row, w);
    double s = 0.0, a = 0.0;
    for (int64_t i = 0; i < m->cols; i++) s += (double)w[i] * x[i], a += fabs((double)w[i] * x[i]);
    free(w);
    *abs_sum = a;
    return s;
}

static int within(double got, double want, double abs_sum) { return fabs(got - want) <= 1e-5 * abs_sum + 1e-30; }

/* The fixed chain of row_dot_avx2.h in scalar C: 32 lanes, lane j taking elements 32b + j by
 * fused multiply-add (fmaf: one rounding), then 8-element steps into lanes 0..7, then the zero
 * padded tail into lanes 0..7; the reduction adds lanes l, l + 8, l + 16, l + 24 as
 * (l + (l + 8)) + ((l + 16) + (l + 24)), then s_l + s_(l+4), then (q0 + q2) + (q1 + q3). */
static float chain_model(const float *w, const float *x, int64_t n) {
    float lane[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++) lane[j] = fmaf(w[i + j], x[i + j], lane[j]);
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = fmaf(w[i + j], x[i + j], lane[j]);
    if (i < n)
        for (int j = 0; j < 8; j++) lane[j] = i + j < n ? fmaf(w[i + j], x[i + j], lane[j]) : fmaf(0.0f, 0.0f, lane[j]);
    float s[8], q[4];
    for (int l = 0; l < 8; l++) s[l] = (lane[l] + lane[l + 8]) + (lane[l + 16] + lane[l + 24]);
    for (int l = 0; l < 4; l++) q[l] = s[l] + s[l + 4];
    return (q[0] + q[2]) + (q[1] + q[3]);
}

/* The fused kernel sets this CPU runs. */
typedef struct {
    const char *name;
    void (*dot)(const cn_matrix *m, int64_t row, const float *const *x, int n_tokens, float *out);
    void (*decode)(const cn_matrix *m, int64_t row, float *out);
} kernel_set;

static int cpu_kernel_sets(kernel_set sets[2]) {
    int n = 0;
    if (cn_cpu_has_avx2_fma()) sets[n++] = (kernel_set){"AVX2", cn_row_dot_avx2, cn_row_decode_avx2};
    if (cn_cpu_has_neon()) sets[n++] = (kernel_set){"NEON", cn_row_dot_neon, cn_row_decode_neon};
    return n;
}

enum { MAX_TOKENS = 37 };

/* One format at one width: kernels against the reference, then cn_matmul and its invariance. */
static void check_format(cn_threadpool *pool, cn_dtype dtype, int64_t cols, size_t byte_offset, int64_t view_row0) {
    const int64_t rows = 21;
    stored_matrix s = random_matrix(dtype, view_row0 + rows, cols, byte_offset);
    const cn_matrix m = cn_matrix_rows(&s.m, view_row0, rows);
    const int64_t x_stride = cols + 3, y_stride = rows + 1;
    float *x = malloc((size_t)(MAX_TOKENS * x_stride) * sizeof *x);
    for (int64_t i = 0; i < MAX_TOKENS * x_stride; i++) x[i] = rng_uniform();
    const char *name = cn_dtype_name(dtype);

    kernel_set sets[2];
    const int n_sets = cpu_kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        int bad_dot = 0, bad_chain = 0, bad_decode = 0, bad_pair = 0;
        float *decoded = malloc((size_t)cols * sizeof *decoded), *scalar = malloc((size_t)cols * sizeof *scalar);
        for (int64_t r = 0; r < rows; r++) {
            const float *xs[2] = {x + r % 5 * x_stride, x + (r % 5 + 1) * x_stride};
            float one[1], two[2];
            sets[k].dot(&m, r, xs, 1, one);
            sets[k].dot(&m, r, xs, 2, two);
            cn_matrix_row_to_f32(&m, r, scalar);
            for (int t = 0; t < 2; t++) {
                double abs_sum, want = reference_dot(&m, r, xs[t], &abs_sum);
                bad_dot += !within(two[t], want, abs_sum);
                const float model = chain_model(scalar, xs[t], cols);
                bad_chain += memcmp(&two[t], &model, sizeof model) != 0;
            }
            bad_pair += memcmp(one, two, sizeof one) != 0; /* a token's chain is its own */
            /* the decoded row holds the reference's bits (-0 included) */
            sets[k].decode(&m, r, decoded);
            for (int64_t i = 0; i < cols; i++) bad_decode += memcmp(&decoded[i], &scalar[i], sizeof *decoded) != 0;
        }
        CHECKF(bad_dot == 0, "%s %s cols %lld: %d fused dots off the reference", sets[k].name, name, (long long)cols, bad_dot);
        CHECKF(bad_chain == 0, "%s %s cols %lld: %d fused dots differ from the chain's bits", sets[k].name, name, (long long)cols,
               bad_chain);
        CHECKF(bad_pair == 0, "%s %s cols %lld: %d rows differ between one and two tokens", sets[k].name, name, (long long)cols,
               bad_pair);
        CHECKF(bad_decode == 0, "%s %s cols %lld: %d decoded weights differ", sets[k].name, name, (long long)cols, bad_decode);
        free(decoded), free(scalar);
    }

    /* cn_matmul (either path) against the reference, and split into calls of 1, 2 and 3 tokens
     * against one call of 37: bitwise equal. */
    float *all = calloc((size_t)(MAX_TOKENS * y_stride), sizeof *all), *split = calloc((size_t)(MAX_TOKENS * y_stride), sizeof *split);
    cn_matmul(pool, &m, x, x_stride, MAX_TOKENS, all, y_stride);
    int bad_ref = 0;
    for (int64_t t = 0; t < MAX_TOKENS; t++)
        for (int64_t r = 0; r < rows; r++) {
            double abs_sum, want = reference_dot(&m, r, x + t * x_stride, &abs_sum);
            bad_ref += !within(all[t * y_stride + r], want, abs_sum);
        }
    CHECKF(bad_ref == 0, "%s cols %lld: %d matmul outputs off the reference", name, (long long)cols, bad_ref);
    for (int64_t group = 1; group <= 3; group++) {
        memset(split, 0, (size_t)(MAX_TOKENS * y_stride) * sizeof *split);
        for (int64_t t = 0; t < MAX_TOKENS; t += group) {
            const int64_t n = t + group <= MAX_TOKENS ? group : MAX_TOKENS - t;
            cn_matmul(pool, &m, x + t * x_stride, x_stride, n, split + t * y_stride, y_stride);
        }
        CHECKF(memcmp(all, split, (size_t)(MAX_TOKENS * y_stride) * sizeof *all) == 0,
               "%s cols %lld: 37 tokens in one call differ from calls of %lld", name, (long long)cols, (long long)group);
    }
    free(all), free(split), free(x);
    free_matrix(&s);
}

/* act_q8: cn_matmul against the scalar integer reference per (token, row), bitwise, whatever the
 * tokens per call. */
static void check_act_q8(cn_threadpool *pool, cn_dtype dtype, int64_t cols) {
    const int64_t rows = 23, x_stride = cols + 5, y_stride = rows + 2;
    stored_matrix s = random_matrix(dtype, rows, cols, 1);
    cn_matrix m = s.m;
    m.act_q8 = true;
    float *x = malloc((size_t)(MAX_TOKENS * x_stride) * sizeof *x);
    for (int64_t i = 0; i < MAX_TOKENS * x_stride; i++) x[i] = rng_uniform() * (i % 300 == 7 ? 50.0f : 1.0f); /* outliers */
    float *all = calloc((size_t)(MAX_TOKENS * y_stride), sizeof *all), *split = calloc((size_t)(MAX_TOKENS * y_stride), sizeof *split);
    const char *name = cn_dtype_name(dtype);
    cn_matmul(pool, &m, x, x_stride, MAX_TOKENS, all, y_stride);
    const cn_q8_layout layout = cn_q8_layout_of(dtype);
    int bad = 0, changed = 0;
    if (layout == CN_Q8_NONE) { /* the flag is ignored: the f32 path's bits */
        cn_matrix plain = s.m;
        cn_matmul(pool, &plain, x, x_stride, MAX_TOKENS, split, y_stride);
        bad = memcmp(all, split, (size_t)(MAX_TOKENS * y_stride) * sizeof *all) != 0;
    } else {
        void *xq = malloc(cn_q8_row_bytes(layout, cols));
        for (int64_t t = 0; t < MAX_TOKENS; t++) {
            cn_q8_quantize(layout, x + t * x_stride, cols, xq, CN_Q8_SCALAR);
            for (int64_t r = 0; r < rows; r++) {
                const float want =
                    cn_q8_dot(dtype, m.data + (size_t)r * m.row_bytes, cn_matrix_row_scales(&m, r), xq, cols, CN_Q8_SCALAR);
                bad += memcmp(&want, &all[t * y_stride + r], sizeof want) != 0;
                double abs_sum;
                changed += reference_dot(&m, r, x + t * x_stride, &abs_sum) != (double)want;
            }
        }
        free(xq);
        CHECKF(changed > 0, "%s cols %lld: act_q8 changed nothing", name, (long long)cols);
    }
    CHECKF(bad == 0, "%s cols %lld: %d act_q8 outputs differ from the scalar integer reference", name, (long long)cols, bad);
    for (int64_t group = 1; group <= 3; group++) {
        memset(split, 0, (size_t)(MAX_TOKENS * y_stride) * sizeof *split);
        for (int64_t t = 0; t < MAX_TOKENS; t += group) {
            const int64_t n = t + group <= MAX_TOKENS ? group : MAX_TOKENS - t;
            cn_matmul(pool, &m, x + t * x_stride, x_stride, n, split + t * y_stride, y_stride);
        }
        CHECKF(memcmp(all, split, (size_t)(MAX_TOKENS * y_stride) * sizeof *all) == 0,
               "%s cols %lld act_q8: 37 tokens in one call differ from calls of %lld", name, (long long)cols, (long long)group);
    }
    free(all), free(split), free(x);
    free_matrix(&s);
}

/* Every code under every E8M0 scale, for E4M3 and MXFP4: the fused decode, the fused dot and
 * cn_matrix_row_to_f32 against the scalar decoders of element.h (cn_e4m3_to_f32 or cn_e2m1_to_f32
 * of the code times cn_e8m0_to_f32 of its scale, one f32 rounding), bit for bit: NaN, -0 and
 * results that round to subnormals or overflow included. A dot is compared with chain_model on
 * the scalar weights: the same bits, or both NaN (a NaN's payload after the chain is not part of
 * the contract). The scale blocks of a row get different scales, so over 256 rounds every block
 * sees every scale, extremes (2^-127, 2^127, NaN) included, and the AVX2 and NEON E4M3 kernels'
 * fast groups and general (fallback) groups follow each other within a row. */
typedef struct {
    int rows, decode[2], dot[2];
} code_mismatches;

static void count_code_mismatches(const cn_matrix *m, const float *want, const float *x, code_mismatches *bad) {
    enum { MAX_COLS = 1024 };
    float got[MAX_COLS];
    const float *xs[2] = {x, x};
    kernel_set sets[2];
    const int n_sets = cpu_kernel_sets(sets);
    for (int64_t r = 0; r < m->rows; r++) {
        const float *want_row = want + r * m->cols;
        cn_matrix_row_to_f32(m, r, got);
        bad->rows += memcmp(got, want_row, (size_t)m->cols * sizeof *got) != 0;
        const float model = chain_model(want_row, x, m->cols);
        for (int k = 0; k < n_sets; k++) {
            sets[k].decode(m, r, got);
            for (int64_t i = 0; i < m->cols; i++) bad->decode[k] += memcmp(&got[i], &want_row[i], sizeof *got) != 0;
            float dot[2];
            sets[k].dot(m, r, xs, 2, dot);
            for (int t = 0; t < 2; t++) bad->dot[k] += !(isnan(dot[t]) && isnan(model)) && memcmp(&dot[t], &model, sizeof model) != 0;
        }
    }
}

static void report_code_mismatches(const char *name, const code_mismatches *bad) {
    CHECKF(bad->rows == 0, "%s every code: %d rows of cn_matrix_row_to_f32 differ from the scalar decoder", name, bad->rows);
    kernel_set sets[2];
    const int n_sets = cpu_kernel_sets(sets);
    for (int k = 0; k < n_sets; k++) {
        CHECKF(bad->decode[k] == 0, "%s %s every code: %d decoded weights differ from the scalar decoder", sets[k].name, name,
               bad->decode[k]);
        CHECKF(bad->dot[k] == 0, "%s %s every code: %d dots differ from the chain's bits", sets[k].name, name, bad->dot[k]);
    }
}

/* E4M3: row 0 holds the 254 non-NaN codes twice (two orders, no NaN in any group of 32, so the
 * fast decoders take every group whose scale allows it), row 1 every code in order (groups with
 * a NaN code take the general decoder); both end in an 8-wide step and a tail. */
static void check_e4m3_every_code(void) {
    enum { COLS = 4 * 128 + 8 + 3, SCALE_COLS = (COLS + 127) / 128 };
    uint8_t codes[2 * COLS], scales[SCALE_COLS];
    for (int i = 0; i < COLS; i++) {
        const uint8_t spread = (uint8_t)(i * 37 + 11);
        codes[i] = i < 256 ? ((i & 0x7f) == 0x7f ? 0x00 : (uint8_t)i) : (spread & 0x7f) == 0x7f ? (uint8_t)(spread - 1) : spread;
        codes[COLS + i] = (uint8_t)(i < 256 ? i : 255 - (i & 255));
    }
    float x[COLS], want[2 * COLS];
    for (int i = 0; i < COLS; i++) x[i] = rng_uniform();
    code_mismatches bad = {0};
    for (int e = 0; e < 256; e++) {
        for (int b = 0; b < SCALE_COLS; b++) scales[b] = (uint8_t)(e + 61 * b);
        for (int i = 0; i < 2 * COLS; i++) want[i] = cn_e4m3_to_f32(codes[i]) * cn_e8m0_to_f32(scales[i % COLS / 128]);
        const cn_matrix m = {CN_DTYPE_F8_E4M3, 2, COLS, codes, COLS, scales, SCALE_COLS, 0, false};
        count_code_mismatches(&m, want, x, &bad);
    }
    report_code_mismatches("F8_E4M3", &bad);
}

/* MXFP4: each block of 32 holds all 16 codes as low nibbles and again as high nibbles. */
static void check_mxfp4_every_code(void) {
    enum { COLS = 8 * 32, BLOCKS = COLS / 32 };
    uint8_t bytes[COLS / 2], scales[BLOCKS];
    for (int j = 0; j < COLS / 2; j++) bytes[j] = (uint8_t)((j % 16) | ((j * 7 + j / 16) % 16) << 4);
    float x[COLS], want[COLS];
    for (int i = 0; i < COLS; i++) x[i] = rng_uniform();
    code_mismatches bad = {0};
    for (int e = 0; e < 256; e++) {
        for (int b = 0; b < BLOCKS; b++) scales[b] = (uint8_t)(e + 37 * b);
        for (int i = 0; i < COLS; i++) want[i] = cn_e2m1_to_f32((uint8_t)(bytes[i / 2] >> (4 * (i % 2)))) * cn_e8m0_to_f32(scales[i / 32]);
        const cn_matrix m = {CN_DTYPE_MXFP4, 1, COLS, bytes, COLS / 2, scales, BLOCKS, 0, false};
        count_code_mismatches(&m, want, x, &bad);
    }
    report_code_mismatches("MXFP4", &bad);
}

/* The FP8 rows kernels of e4m3_rows_x86.h, each kind this CPU runs: for every row of a view that
 * starts mid scale row and crosses into the next, one and two tokens, bitwise chain_model on the
 * scalar decoder's weights (or both NaN) and cn_row_dot_avx2's bits. Tokens: random (the shift
 * form), then with values whose prepared products are inexact or not finite in the shift form
 * only (the F16C form) or in both (the unprepared path), exact zeros of both signs and tiny values
 * that scale exactly; rows: random codes, then every code with NaN codes placed in the middle of
 * the row, under every scale code in turn (e <= 134: shift form; up to 246: F16C form; above:
 * unprepared). Returns the number of kinds checked. */
static int check_e4m3_rows(void) {
    static const cn_e4m3_rows_kind kinds[] = {CN_E4M3_ROWS_AVX2, CN_E4M3_ROWS_AVX512};
    int checked = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const char *kind = cn_e4m3_rows_name(kinds[k]);
        if (!cn_e4m3_rows_available(kinds[k])) {
            printf("test_matmul_kernels: E4M3 rows kind %s: not on this CPU, skipped\n", kind);
            continue;
        }
        checked++;
        static const int64_t widths[] = {1, 31, 32, 33, 100, 129, 256, 520, 4101, 4096};
        int bad_chain = 0, bad_row_dot = 0, rows_seen = 0;
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
            const int64_t cols = widths[wi], rows = 40, row0 = 100;
            stored_matrix s = random_matrix(CN_DTYPE_F8_E4M3, row0 + rows, cols, wi % 2);
            const cn_matrix m = cn_matrix_rows(&s.m, row0, rows); /* rows 100..139: scale rows 0 and 1 */
            float *x = malloc((size_t)(2 * cols) * sizeof *x), *w = malloc((size_t)cols * sizeof *w);
            float *y0 = malloc((size_t)rows * sizeof *y0), *y1 = malloc((size_t)rows * sizeof *y1);
            for (int variant = 0; variant < 7; variant++) {
                for (int64_t i = 0; i < 2 * cols; i++) x[i] = rng_uniform();
                if (variant == 1 && cols > 40) x[cols + 37] = 0x1.00001p-140f; /* second token: inexact (subnormal) under every scale here */
                if (variant == 2 && cols > 40) x[5] = 3e38f;              /* overflows under scales above 2^-8·2^119 */
                if (variant == 3) x[0] = __builtin_inff();
                if (variant == 6 && cols > 40) x[cols + 33] = 0x1p20f; /* overflows x·2^(e-7) but not x·2^(e-119) */
                if (variant == 4)
                    for (int64_t i = 0; i < 2 * cols; i += 3) x[i] = i % 2 ? -0.0f : 0.0f; /* zeros: exact */
                if (variant == 5)
                    for (int64_t i = 0; i < 2 * cols; i += 7) x[i] = 0x1p-100f * (i % 2 ? -1.0f : 1.0f); /* exact tiny values */
                for (int tokens = 1; tokens <= 2; tokens++) {
                    const float *xs[2] = {x, x + cols};
                    float *ys[2] = {y0, y1};
                    cn_e4m3_rows_dot(kinds[k], &m, 3, rows, xs, tokens, ys); /* rows 3.. of the view */
                    for (int64_t r = 3; r < rows; r++) {
                        cn_matrix_row_to_f32(&m, r, w);
                        float ref[2];
                        cn_row_dot_avx2(&m, r, xs, tokens, ref);
                        for (int t = 0; t < tokens; t++) {
                            const float got = (t ? y1 : y0)[r - 3], model = chain_model(w, xs[t], cols);
                            bad_chain += !(isnan(got) && isnan(model)) && memcmp(&got, &model, sizeof got) != 0;
                            bad_row_dot += !(isnan(got) && isnan(ref[t])) && memcmp(&got, &ref[t], sizeof got) != 0;
                        }
                        rows_seen++;
                    }
                }
            }
            free(x), free(w), free(y0), free(y1);
            free_matrix(&s);
        }
        /* every code (and NaN codes mid-row) under every scale code; 8 rows (a run shorter than 8
         * rows is not worth preparing the token for), rows 3.. repeat row 1 */
        enum { COLS = 3 * 128 + 8 + 5, SCALE_COLS = (COLS + 127) / 128, ROWS = 8 };
        uint8_t codes[ROWS * COLS], scales[SCALE_COLS];
        for (int i = 0; i < COLS; i++) {
            const uint8_t c = (uint8_t)(i * 37 + 11);
            codes[i] = (uint8_t)i;                                      /* row 0: every code, NaN ones included */
            codes[COLS + i] = (c & 0x7f) == 0x7f ? (uint8_t)(c - 1) : c; /* row 1: no NaN */
            codes[2 * COLS + i] = i == 200 ? 0xff : codes[COLS + i];    /* row 2: one NaN code mid-row */
            for (int r = 3; r < ROWS; r++) codes[r * COLS + i] = codes[COLS + i];
        }
        float x[2 * COLS], w[COLS];
        for (int i = 0; i < 2 * COLS; i++) x[i] = i % 11 ? rng_uniform() : 0.0f; /* zeros: 0·s must stay 0 for every e */
        int bad_codes = 0, nan_rows = 0;
        for (int e = 0; e < 256; e++) {
            for (int b = 0; b < SCALE_COLS; b++) scales[b] = (uint8_t)(e + 61 * b);
            const cn_matrix m = {CN_DTYPE_F8_E4M3, ROWS, COLS, codes, COLS, scales, SCALE_COLS, 0, false};
            float y[2][ROWS];
            const float *xs[2] = {x, x + COLS};
            float *ys[2] = {y[0], y[1]};
            cn_e4m3_rows_dot(kinds[k], &m, 0, ROWS, xs, 2, ys);
            for (int r = 0; r < ROWS; r++) {
                for (int i = 0; i < COLS; i++) w[i] = cn_e4m3_to_f32(codes[r * COLS + i]) * cn_e8m0_to_f32(scales[i / 128]);
                for (int t = 0; t < 2; t++) {
                    const float model = chain_model(w, xs[t], COLS);
                    bad_codes += !(isnan(y[t][r]) && isnan(model)) && memcmp(&y[t][r], &model, sizeof model) != 0;
                    nan_rows += (r == 0 || r == 2) && isnan(y[t][r]);
                }
            }
        }
        /* the edge of exactness: x·2^(e-119) = 2^-126 - 2^-150 rounds up to the least normal (inexact),
         * and under code 0x7e (448) the dot of that one element tells the two products apart */
        uint8_t edge_codes[8 * 64], edge_scales[1] = {118};
        memset(edge_codes, 0x7e, sizeof edge_codes);
        float edge_x[64] = {0x1.fffffep-126f}, edge_w[64], edge_y[8];
        edge_x[63] = 0x1p20f; /* x·2^(e-7) overflows: not the shift form; its weight is 0 */
        for (int r = 0; r < 8; r++) edge_codes[64 * r + 63] = 0;
        for (int i = 0; i < 64; i++) edge_w[i] = cn_e4m3_to_f32(edge_codes[i]) * cn_e8m0_to_f32(118);
        const cn_matrix edge = {CN_DTYPE_F8_E4M3, 8, 64, edge_codes, 64, edge_scales, 1, 0, false};
        const float *edge_xs[1] = {edge_x};
        float *edge_ys[1] = {edge_y};
        cn_e4m3_rows_dot(kinds[k], &edge, 0, 8, edge_xs, 1, edge_ys);
        const float edge_model = chain_model(edge_w, edge_x, 64);
        CHECKF(memcmp(&edge_y[7], &edge_model, sizeof edge_model) == 0, "E4M3 rows %s: %a at the edge of exactness, the chain gives %a",
               kind, (double)edge_y[7], (double)edge_model);
        /* a zero token under e = 135 and 247, where 2^(e-7) and 2^(e-119) are not f32s (0 · inf would
         * be NaN), and finite weights (code 0x30: 2^-1 · 2^120): +0 */
        memset(edge_x, 0, sizeof edge_x);
        memset(edge_codes, 0x30, sizeof edge_codes);
        for (int e = 135; e <= 247; e += 112) {
            edge_scales[0] = (uint8_t)e;
            cn_e4m3_rows_dot(kinds[k], &edge, 0, 8, edge_xs, 1, edge_ys);
            CHECKF(edge_y[7] == 0.0f && !signbit(edge_y[7]), "E4M3 rows %s: a zero token under scale code %d gave %g", kind, e,
                   (double)edge_y[7]);
        }
        CHECKF(rows_seen > 0 && bad_chain == 0, "E4M3 rows %s: %d of %d dots differ from the chain's bits", kind, bad_chain, rows_seen);
        CHECKF(bad_row_dot == 0, "E4M3 rows %s: %d dots differ from cn_row_dot_avx2", kind, bad_row_dot);
        CHECKF(bad_codes == 0, "E4M3 rows %s every code: %d dots differ from the chain's bits", kind, bad_codes);
        CHECKF(nan_rows == 2 * 2 * 256, "E4M3 rows %s: %d of %d dots of rows with a NaN code are NaN", kind, nan_rows, 2 * 2 * 256);
        printf("test_matmul_kernels: E4M3 rows kind %s: checked\n", kind);
    }
    return checked;
}

int main(void) {
    cn_threadpool *pool = cn_threadpool_create(3);
    CHECK(pool != NULL);
    static const int64_t any_widths[] = {1, 7, 8, 31, 33, 100, 129, 200, 257, 4101};
    static const int64_t block_widths[] = {32, 96, 160, 2048, 4352};
    const cn_dtype plain[] = {CN_DTYPE_F32, CN_DTYPE_F16, CN_DTYPE_BF16, CN_DTYPE_F8_E4M3};
    for (size_t f = 0; f < sizeof plain / sizeof *plain; f++)
        for (size_t w = 0; w < sizeof any_widths / sizeof *any_widths; w++)
            check_format(pool, plain[f], any_widths[w], w % 2 ? 1 : 0, plain[f] == CN_DTYPE_F8_E4M3 ? 120 : 0);
    check_e4m3_every_code();
    check_mxfp4_every_code();
    const int e4m3_kinds = check_e4m3_rows();
    CHECKF(e4m3_kinds > 0 || !cn_cpu_has_avx2_fma(), "no E4M3 rows kind checked on an AVX2 CPU");
    for (size_t w = 0; w < sizeof block_widths / sizeof *block_widths; w++) {
        check_format(pool, CN_DTYPE_MXFP4, block_widths[w], w % 2, 3);
        check_format(pool, CN_DTYPE_Q8_0, block_widths[w], w % 2, 0);
        check_format(pool, CN_DTYPE_MXFP4_GGML, block_widths[w], w % 2, 2);
    }
    /* ggml super-block formats (fused kernels in row_dot_kquants_avx2.c): rows of 1, 2, 3, 5, 8
     * and 17 blocks of 256. The bound holds for all of them: each lane of the fixed chain adds
     * cols/32 products and the reduction 5 more, so the fp32 summation error is at most
     * (cols/32 + 5)·2^-24·Σ|w·x| = 8.4e-6·Σ|w·x| at 4352 columns (the decoded weights are exact). */
    static const int64_t super_widths[] = {256, 512, 768, 1280, 2048, 4352};
    const cn_dtype super[] = {CN_DTYPE_Q4_K, CN_DTYPE_Q6_K, CN_DTYPE_Q5_K, CN_DTYPE_Q3_K, CN_DTYPE_Q2_K, CN_DTYPE_IQ2_XXS};
    for (size_t f = 0; f < sizeof super / sizeof *super; f++)
        for (size_t w = 0; w < sizeof super_widths / sizeof *super_widths; w++)
            check_format(pool, super[f], super_widths[w], w % 2, w);

    static const cn_dtype q8_types[] = {CN_DTYPE_Q4_K, CN_DTYPE_Q5_K,         CN_DTYPE_Q6_K, CN_DTYPE_Q8_0,
                                        CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML, CN_DTYPE_BF16, CN_DTYPE_Q3_K};
    static const int64_t q8_widths[] = {256, 768, 4352};
    for (size_t f = 0; f < sizeof q8_types / sizeof *q8_types; f++)
        for (size_t w = 0; w < sizeof q8_widths / sizeof *q8_widths; w++) check_act_q8(pool, q8_types[f], q8_widths[w]);
    static const cn_dtype q8_32_types[] = {CN_DTYPE_Q8_0, CN_DTYPE_MXFP4, CN_DTYPE_MXFP4_GGML};
    for (size_t f = 0; f < sizeof q8_32_types / sizeof *q8_32_types; f++) { /* widths that end mid-record */
        check_act_q8(pool, q8_32_types[f], 96);
        check_act_q8(pool, q8_32_types[f], 4096 + 224);
    }

    kernel_set sets[2];
    const int n_sets = cpu_kernel_sets(sets);
    printf("test_matmul_kernels: fused kernels on this CPU:");
    for (int k = 0; k < n_sets; k++) printf(" %s", sets[k].name);
    printf("%s\n", n_sets ? "" : " none (portable path only)");
    for (int k = 0; k < n_sets; k++) { /* a NaN weight code reaches the output */
        uint8_t codes[40] = {0}, scales[1] = {127};
        codes[35] = 0x7f;
        const cn_matrix m = {CN_DTYPE_F8_E4M3, 1, 40, codes, 40, scales, 1, 0, false};
        float x[40], out[1];
        for (int i = 0; i < 40; i++) x[i] = 1.0f;
        const float *xs[1] = {x};
        sets[k].dot(&m, 0, xs, 1, out);
        CHECKF(isnan(out[0]), "%s: a NaN weight gave %g", sets[k].name, out[0]);
    }
    cn_threadpool_destroy(pool);
    return cn_test_finish("test_matmul_kernels");
}
