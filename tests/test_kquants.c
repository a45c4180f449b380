/* The ggml block formats (tensor/kquants.h) against the PyPI gguf package's dequantisers: the
 * fixtures of scripts/make_kquant_fixtures.py (random blocks and gguf.quants.dequantize's values)
 * must decode bit for bit through cn_matrix_row_to_f32 as one long row, as rows of several
 * blocks, at odd byte addresses and as row views; the AVX2 and NEON decoders (where the CPU has
 * them) must give the same bits. Then a GGUF with Q4_K and Q6_K tensors written by the package:
 * the parser maps their ggml types, shapes are in elements, and every row dequantises to the F32
 * tensor the package stored beside it. */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "harness.h"
#include "tensor/kquants.h"
#include "tensor/matrix.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/row_dot_neon.h"

#define DIR "tests/fixtures/kquants/"

static int count_bit_mismatches(const float *got, const float *want, int64_t n) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(got + i, want + i, sizeof(float)) != 0;
    return bad;
}

/* Decodes every row of m (rows of `row_elems` taken from the fixture) and compares bits. */
static int check_rows(const cn_matrix *m, const float *want, int64_t want_row0) {
    float *row = malloc((size_t)m->cols * sizeof *row);
    int bad = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        cn_matrix_row_to_f32(m, r, row);
        bad += count_bit_mismatches(row, want + (want_row0 + r) * m->cols, m->cols);
        if (cn_cpu_has_avx2_fma()) {
            memset(row, 0xff, (size_t)m->cols * sizeof *row);
            cn_row_decode_avx2(m, r, row);
            bad += count_bit_mismatches(row, want + (want_row0 + r) * m->cols, m->cols);
        }
        if (cn_cpu_has_neon()) {
            memset(row, 0xff, (size_t)m->cols * sizeof *row);
            cn_row_decode_neon(m, r, row);
            bad += count_bit_mismatches(row, want + (want_row0 + r) * m->cols, m->cols);
        }
    }
    free(row);
    return bad;
}

static void check_format(cn_dtype dtype, const char *stem) {
    char path[256];
    size_t n_raw = 0, n_want = 0;
    snprintf(path, sizeof path, DIR "%s.blocks", stem);
    uint8_t *raw = cn_test_read_file(path, &n_raw);
    snprintf(path, sizeof path, DIR "%s.f32", stem);
    float *want = cn_test_read_file(path, &n_want);
    CHECKF(raw && want, "%s: fixtures missing (run scripts/make_kquant_fixtures.py)", stem);
    if (!raw || !want) goto done;
    const int be = cn_dtype_block_elems(dtype), bb = cn_dtype_block_bytes(dtype);
    CHECK(cn_kquant_is(dtype));
    const int64_t n_blocks = (int64_t)(n_raw / (size_t)bb);
    CHECKF(n_raw % (size_t)bb == 0 && n_want == (size_t)(n_blocks * be) * sizeof(float), "%s: fixture sizes", stem);
    if (n_raw % (size_t)bb || n_want != (size_t)(n_blocks * be) * sizeof(float)) goto done;
    const int64_t n = n_blocks * be;
    CHECK(cn_dtype_row_bytes(dtype, n) == n_raw);
    CHECK(cn_dtype_row_bytes(dtype, be + 32) == 0 || be == 32);

    /* One row of every block, then rows of 1, 3 and (for 32-blocks) 4 blocks; each at the file
     * buffer's address and copied to odd byte offsets. */
    static const int64_t blocks_per_row[] = {0, 1, 3, 4};
    for (size_t k = 0; k < sizeof blocks_per_row / sizeof *blocks_per_row; k++) {
        const int64_t bpr = blocks_per_row[k] ? blocks_per_row[k] : n_blocks;
        if (n_blocks % bpr) continue;
        for (size_t offset = 0; offset < 4; offset += 3) {
            uint8_t *buf = malloc(n_raw + offset);
            memcpy(buf + offset, raw, n_raw);
            const cn_matrix m = {dtype, n_blocks / bpr, bpr * be, buf + offset, (size_t)(bpr * bb), NULL, 0, 0, false};
            int bad = check_rows(&m, want, 0);
            CHECKF(bad == 0, "%s: %d values differ (rows of %lld blocks, byte offset %zu)", stem, bad, (long long)bpr, offset);
            if (m.rows > 1) { /* a view that starts at row 1 */
                const cn_matrix v = cn_matrix_rows(&m, 1, m.rows - 1);
                bad = check_rows(&v, want, 1);
                CHECKF(bad == 0, "%s: %d values differ in a row view (rows of %lld blocks)", stem, bad, (long long)bpr);
            }
            free(buf);
        }
    }
    /* Every group of 32 on its own. */
    int bad = 0;
    for (int64_t b = 0; b < n_blocks; b++)
        for (int g = 0; g < be / 32; g++) {
            float out[32];
            cn_kquant_decode32(dtype, raw + b * bb, g, out);
            bad += count_bit_mismatches(out, want + b * be + 32 * g, 32);
        }
    CHECKF(bad == 0, "%s: %d values differ group by group", stem, bad);
done:
    free(raw), free(want);
}

static const cn_gguf_tensor_info *find_tensor(const cn_gguf *g, const char *name) {
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name.len == strlen(name) && memcmp(g->tensors[i].name.ptr, name, strlen(name)) == 0)
            return &g->tensors[i];
    return NULL;
}

static void check_roundtrip(void) {
    size_t size = 0;
    uint8_t *file = cn_test_read_file(DIR "roundtrip.gguf", &size);
    CHECKF(file != NULL, "roundtrip.gguf missing");
    if (!file) return;
    cn_gguf g;
    cn_error err = {0};
    cn_status s = cn_gguf_parse(file, size, &g, &err);
    CHECKF(s == CN_OK, "parse: %s", err.msg);
    if (s) {
        free(file);
        return;
    }
    static const struct {
        const char *name;
        cn_dtype dtype;
        int64_t rows, cols;
    } cases[] = {{"w.q4_k", CN_DTYPE_Q4_K, 3, 512}, {"w.q6_k", CN_DTYPE_Q6_K, 2, 768}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char ref_name[64];
        snprintf(ref_name, sizeof ref_name, "%s.dequant", cases[c].name);
        const cn_gguf_tensor_info *t = find_tensor(&g, cases[c].name), *ref = find_tensor(&g, ref_name);
        CHECKF(t && ref, "%s or its .dequant missing", cases[c].name);
        if (!t || !ref) continue;
        cn_dtype dtype;
        CHECK(cn_ggml_type_to_dtype(t->ggml_type, &dtype) && dtype == cases[c].dtype);
        CHECK(t->n_dims == 2 && t->ne[0] == cases[c].cols && t->ne[1] == cases[c].rows);
        const size_t row_bytes = cn_dtype_row_bytes(cases[c].dtype, cases[c].cols);
        CHECK(t->n_bytes == row_bytes * (size_t)cases[c].rows);
        CHECK(ref->n_bytes == (size_t)(cases[c].rows * cases[c].cols) * sizeof(float));
        if (t->n_bytes != row_bytes * (size_t)cases[c].rows || ref->n_bytes != (size_t)(cases[c].rows * cases[c].cols) * 4)
            continue;
        float *want = malloc(ref->n_bytes);
        memcpy(want, ref->data, ref->n_bytes);
        const cn_matrix m = {cases[c].dtype, cases[c].rows, cases[c].cols, t->data, row_bytes, NULL, 0, 0, false};
        const int bad = check_rows(&m, want, 0);
        CHECKF(bad == 0, "%s: %d values differ from the package's dequantisation", cases[c].name, bad);
        free(want);
    }
    cn_gguf_free(&g);
    free(file);
}

int main(void) {
    check_format(CN_DTYPE_Q4_K, "q4_k");
    check_format(CN_DTYPE_Q6_K, "q6_k");
    check_format(CN_DTYPE_Q5_K, "q5_k");
    check_format(CN_DTYPE_Q3_K, "q3_k");
    check_format(CN_DTYPE_Q2_K, "q2_k");
    check_format(CN_DTYPE_IQ2_XXS, "iq2_xxs");
    check_format(CN_DTYPE_MXFP4_GGML, "mxfp4");
    check_roundtrip();
    return cn_test_finish("test_kquants");
}
