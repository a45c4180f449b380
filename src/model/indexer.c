#include "model/indexer.h"

#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

typedef struct {
    const cn_model_config *cfg;
    const cn_kv_rows *keys;
    const float *q, *weights;
    int ratio;
    int64_t p0;
    int32_t *selected, *n_selected;
} select_job;

/* Better = higher score, then lower index: a fixed total order, so the selection never
 * depends on thread timing or sort stability (specs/kv-store.md 6.1). */
static int better(float sa, int32_t ia, float sb, int32_t ib) { return sa > sb || (sa == sb && ia < ib); }

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void select_queries(void *p, int64_t begin, int64_t end) {
    const select_job *job = p;
    const cn_model_config *cfg = job->cfg;
    const int64_t Hi = cfg->index_n_heads, di = cfg->index_head_dim, topk = cfg->index_topk;
    const float softmax_scale = 1.0f / sqrtf((float)di);
    float *heap_score = cn_scratch_alloc((size_t)topk * sizeof(float));
    int32_t *heap_index = cn_scratch_alloc((size_t)topk * sizeof(int32_t));
    for (int64_t s = begin; s < end; s++) {
        const int64_t pos = job->p0 + s;
        int64_t visible = (pos + 1) / job->ratio;
        if (visible > job->keys->count) visible = job->keys->count;
        const float *q = job->q + s * Hi * di, *w = job->weights + s * Hi;
        /* Keep the best `topk` in a small min-heap keyed by (score, -index). */
        int64_t n = 0;
        for (int64_t e = 0; e < visible; e++) {
            const float *k = cn_kv_rows_at(job->keys, e);
            float score = 0.0f;
            for (int64_t h = 0; h < Hi; h++) {
                float dot = cn_vec_dot(q + h * di, k, di);
                score += (dot > 0.0f ? dot : 0.0f) * softmax_scale * w[h];
            }
            int64_t i;
            if (n < topk) {
                i = n++;
            } else if (better(score, (int32_t)e, heap_score[0], heap_index[0])) {
                i = 0; /* replace the worst and sift down */
                for (;;) {
                    int64_t l = 2 * i + 1, r = l + 1, worst = i;
                    float ws = score;
                    int32_t wi = (int32_t)e;
                    if (l < n && better(ws, wi, heap_score[l], heap_index[l])) worst = l, ws = heap_score[l], wi = heap_index[l];
                    if (r < n && better(ws, wi, heap_score[r], heap_index[r])) worst = r;
                    if (worst == i) break;
                    heap_score[i] = heap_score[worst];
                    heap_index[i] = heap_index[worst];
                    i = worst;
                }
                heap_score[i] = score;
                heap_index[i] = (int32_t)e;
                continue;
            } else {
                continue;
            }
            /* sift up a new element */
            while (i > 0 && better(heap_score[(i - 1) / 2], heap_index[(i - 1) / 2], score, (int32_t)e)) {
                heap_score[i] = heap_score[(i - 1) / 2];
                heap_index[i] = heap_index[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            heap_score[i] = score;
            heap_index[i] = (int32_t)e;
        }
        int32_t *out = job->selected + s * topk;
        for (int64_t i = 0; i < n; i++) out[i] = heap_index[i];
        qsort(out, (size_t)n, sizeof *out, compare_int32);
        for (int64_t i = n; i < topk; i++) out[i] = -1;
        job->n_selected[s] = (int32_t)n;
    }
    free(heap_score);
    free(heap_index);
}

void cn_indexer_select(cn_threadpool *pool, const cn_model_config *cfg, const cn_indexer_weights *w,
                       const cn_rope *rope, int ratio, const cn_kv_rows *keys, const float *qr, const float *a,
                       int64_t S, int64_t p0, int32_t *selected, int32_t *n_selected) {
    const int64_t Hi = cfg->index_n_heads, di = cfg->index_head_dim;
    float *q = cn_scratch_alloc((size_t)(S * Hi * di) * sizeof(float));
    float *weights = cn_scratch_alloc((size_t)(S * Hi) * sizeof(float));
    cn_matmul(pool, &w->wq_b, qr, cfg->q_lora_rank, S, q, Hi * di);
    cn_matmul(pool, &w->weights_proj, a, cfg->hidden_size, S, weights, Hi);
    const float weight_scale = 1.0f / sqrtf((float)Hi);
    for (int64_t s = 0; s < S; s++) {
        for (int64_t h = 0; h < Hi; h++) cn_rope_apply(rope, q + (s * Hi + h) * di, di, p0 + s, false);
        for (int64_t h = 0; h < Hi; h++) weights[s * Hi + h] *= weight_scale;
    }
    select_job job = {cfg, keys, q, weights, ratio, p0, selected, n_selected};
    cn_parallel_for(pool, S, select_queries, &job);
    free(q);
    free(weights);
}
