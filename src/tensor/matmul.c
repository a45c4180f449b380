#include "tensor/matmul.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "tensor/vec.h"

typedef struct {
    const cn_matrix *w;
    const float *x;
    int64_t x_stride, n_tokens;
    float *y;
    int64_t y_stride;
} matmul_job;

static void matmul_rows(void *p, int64_t begin, int64_t end) {
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

void cn_matmul(cn_threadpool *pool, const cn_matrix *w, const float *x, int64_t x_stride,
               int64_t n_tokens, float *y, int64_t y_stride) {
    matmul_job job = {w, x, x_stride, n_tokens, y, y_stride};
    cn_parallel_for(pool, w->rows, matmul_rows, &job);
}
