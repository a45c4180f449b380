#include "model/indexer.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/hadamard.h"
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

/* The best `cap` (score, entry) pairs seen so far, in a min-heap whose root is the worst.
 * "Better" = higher score, then lower index (specs/kv-store.md 6.1 and 7.3: "lower index wins
 * ties"; the reference's torch.topk leaves tie order unspecified, spec 5.5): a fixed total
 * order, since entry_score maps NaN to -inf and -0 == +0, so the selected set is a function of
 * the scores alone, never of thread timing, of how the queries were split into calls, or of sort
 * stability. */
typedef struct {
    float *score;
    int32_t *index;
    int64_t n, cap;
} top_k_heap;

static bool better(float sa, int32_t ia, float sb, int32_t ib) { return sa > sb || (sa == sb && ia < ib); }

static void heap_set(top_k_heap *h, int64_t i, float score, int32_t index) {
    h->score[i] = score;
    h->index[i] = index;
}

static void heap_offer(top_k_heap *h, float score, int32_t index) {
    int64_t i;
    if (h->n < h->cap) { /* append, then sift up past better parents */
        for (i = h->n++; i > 0; i = (i - 1) / 2) {
            int64_t parent = (i - 1) / 2;
            if (!better(h->score[parent], h->index[parent], score, index)) break;
            heap_set(h, i, h->score[parent], h->index[parent]);
        }
        heap_set(h, i, score, index);
        return;
    }
    if (!better(score, index, h->score[0], h->index[0])) return;
    for (i = 0;;) { /* replace the root, then sift down past worse children */
        int64_t worst = i, l = 2 * i + 1, r = l + 1;
        float ws = score;
        int32_t wi = index;
        if (l < h->n && better(ws, wi, h->score[l], h->index[l])) worst = l, ws = h->score[l], wi = h->index[l];
        if (r < h->n && better(ws, wi, h->score[r], h->index[r])) worst = r;
        if (worst == i) break;
        heap_set(h, i, h->score[worst], h->index[worst]);
        i = worst;
    }
    heap_set(h, i, score, index);
}

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* score(s, e) = Σ_h w_h · relu(q_h · K_e) · di^-1/2, in transformers' order of operations. */
static float entry_score(const float *q, const float *w, const float *key, int64_t Hi, int64_t di, float softmax_scale) {
    float score = 0.0f;
    for (int64_t h = 0; h < Hi; h++) {
        float dot = cn_vec_dot(q + h * di, key, di);
        score += (dot > 0.0f ? dot : 0.0f) * softmax_scale * w[h];
    }
    return isnan(score) ? -INFINITY : score; /* NaN ranks last, keeping the order total */
}

static void select_queries(void *p, int64_t begin, int64_t end) {
    const select_job *job = p;
    const cn_model_config *cfg = job->cfg;
    const int64_t Hi = cfg->index_n_heads, di = cfg->index_head_dim, topk = cfg->index_topk;
    const float softmax_scale = 1.0f / sqrtf((float)di);
    top_k_heap heap = {cn_scratch_alloc((size_t)topk * sizeof(float)), cn_scratch_alloc((size_t)topk * sizeof(int32_t)), 0,
                       topk};
    float *keybuf = cn_scratch_alloc((size_t)di * sizeof(float)); /* one decoded key (non-F32 storage) */
    for (int64_t s = begin; s < end; s++) {
        /* Only entries whose window is complete at this position are candidates (5.2). */
        int64_t visible = (job->p0 + s + 1) / job->ratio;
        if (visible > job->keys->count) visible = job->keys->count;
        const float *q = job->q + s * Hi * di, *w = job->weights + s * Hi;
        heap.n = 0;
        for (int64_t e = 0; e < visible; e++)
            heap_offer(&heap, entry_score(q, w, cn_kv_rows_get(job->keys, e, keybuf), Hi, di, softmax_scale), (int32_t)e);
        int32_t *out = job->selected + s * topk;
        memcpy(out, heap.index, (size_t)heap.n * sizeof *out);
        qsort(out, (size_t)heap.n, sizeof *out, compare_int32);
        for (int64_t i = heap.n; i < topk; i++) out[i] = -1;
        job->n_selected[s] = (int32_t)heap.n;
    }
    free(heap.score);
    free(heap.index);
    free(keybuf);
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
    /* FP4 keys were stored as FP4(Hadamard(k)); the official query gets the same treatment,
     * FP4RoundTrip(Hadamard(q)) (5.5), each head a row of di in blocks of 32 like a key. */
    const bool fp4 = keys->codec.type == CN_KV_FP4;
    uint8_t *q_enc = fp4 ? cn_scratch_alloc(keys->codec.row_bytes) : NULL;
    for (int64_t s = 0; s < S; s++) {
        for (int64_t h = 0; h < Hi; h++) {
            float *qh = q + (s * Hi + h) * di;
            cn_rope_apply(rope, qh, di, p0 + s, false);
            if (!fp4) continue;
            cn_hadamard_rotate(qh, di);
            cn_kv_row_encode(&keys->codec, qh, q_enc);
            cn_kv_row_decode(&keys->codec, q_enc, qh);
        }
        for (int64_t h = 0; h < Hi; h++) weights[s * Hi + h] *= weight_scale;
    }
    free(q_enc);
    select_job job = {cfg, keys, q, weights, ratio, p0, selected, n_selected};
    cn_parallel_for(pool, S, select_queries, &job);
    free(q);
    free(weights);
}
