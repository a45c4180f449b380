#include "tensor/matmul.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "tensor/row_dot_avx2.h"
#include "tensor/vec.h"

typedef struct {
    const cn_matrix *w;
    const float *x;
    int64_t x_stride, n_tokens;
    float *y;
    int64_t y_stride;
} matmul_job;

/* Portable path: each row dequantised once to f32 and dotted with every token (cn_vec_dot). */
static void matmul_rows_portable(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    float *row = NULL;
    /* f32 rows are used in place when aligned; anything else is converted row by row. */
    int convert = w->dtype != CN_DTYPE_F32 || (((uintptr_t)w->data | w->row_bytes) % sizeof(float)) != 0;
    if (convert) {
        row = cn_scratch_alloc((size_t)w->cols * sizeof *row);
    }
    for (int64_t o = begin; o < end; o++) {
        const float *wr;
        if (row) {
            cn_matrix_row_to_f32(w, o, row);
            wr = row;
        } else {
            wr = (const float *)(const void *)(w->data + (size_t)o * w->row_bytes);
        }
        for (int64_t t = 0; t < job->n_tokens; t++)
            job->y[t * job->y_stride + o] = cn_vec_dot(wr, job->x + t * job->x_stride, w->cols);
    }
    free(row);
}

/* Dots tokens in pairs (the last one alone) with row o of w. */
static void dot_tokens_avx2(const matmul_job *job, const cn_matrix *w, int64_t row, int64_t o) {
    for (int64_t t = 0; t < job->n_tokens; t += 2) {
        const int pair = t + 1 < job->n_tokens ? 2 : 1;
        const float *x[2] = {job->x + t * job->x_stride, job->x + (t + pair - 1) * job->x_stride};
        float out[2];
        cn_row_dot_avx2(w, row, x, pair, out);
        job->y[t * job->y_stride + o] = out[0];
        if (pair == 2) job->y[(t + 1) * job->y_stride + o] = out[1];
    }
}

/* AVX2+FMA path. One or two tokens: the fused kernel reads the stored row directly (decode).
 * More: the row is decoded once to f32 and the fused F32 kernel dots it with the tokens. Both
 * give a token the same bits (row_dot_avx2.h: one chain on exactly decoded weights), which keeps
 * every split of a sequence bitwise equal (docs/engine.md). */
static void matmul_rows_avx2(void *p, int64_t begin, int64_t end) {
    const matmul_job *job = p;
    const cn_matrix *w = job->w;
    if (job->n_tokens <= 2 || w->dtype == CN_DTYPE_F32) {
        for (int64_t o = begin; o < end; o++) dot_tokens_avx2(job, w, o, o);
        return;
    }
    float *row = cn_scratch_alloc((size_t)w->cols * sizeof *row);
    const cn_matrix decoded = {CN_DTYPE_F32, 1, w->cols, (const uint8_t *)row, (size_t)w->cols * sizeof *row, NULL, 0, 0};
    for (int64_t o = begin; o < end; o++) {
        cn_row_decode_avx2(w, o, row);
        dot_tokens_avx2(job, &decoded, 0, o);
    }
    free(row);
}

void cn_matmul(cn_threadpool *pool, const cn_matrix *w, const float *x, int64_t x_stride,
               int64_t n_tokens, float *y, int64_t y_stride) {
    matmul_job job = {w, x, x_stride, n_tokens, y, y_stride};
    cn_parallel_for(pool, w->rows, cn_cpu_has_avx2_fma() ? matmul_rows_avx2 : matmul_rows_portable, &job);
}
