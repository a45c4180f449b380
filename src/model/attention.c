#include "model/attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/compressor.h"
#include "model/indexer.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

typedef struct {
    const cn_attention_ctx *ctx;
    const cn_attention_weights *w;
    const cn_kv_layer *kv;
    const float *q;          /* [S][H][d] */
    const float *chunk_kv;   /* [S][d], this call's window rows */
    const int32_t *selected; /* CSA: [S][topk] */
    const int32_t *n_selected;
    int64_t S, p0;
    float *o;                /* [S][H][d] */
} heads_job;

/* The key for window position j: this call's rows for j >= p0 (already round-tripped through
 * the storage encoding), the ring for older ones (the ring is only written after every query of
 * the call has read it). Encoded rows are decoded into `buf`. */
static const float *window_key(const heads_job *job, int64_t j, float *buf) {
    if (j >= job->p0) return job->chunk_kv + (j - job->p0) * job->kv->head_dim;
    return cn_kv_window_get(job->kv, j % job->kv->window, buf);
}

/* The keys query s sees: window, then compressed (selected or all visible). `keybuf` holds one
 * decoded row per key when the state is not F32. Returns the count. */
static int64_t gather_keys(const heads_job *job, int64_t s, const float **keys, float *keybuf) {
    const cn_model_config *cfg = job->ctx->cfg;
    const int64_t d = cfg->head_dim, pos = job->p0 + s, ratio = job->kv->ratio;
    int64_t n = 0;
#define SLOT (keybuf ? keybuf + n * d : NULL)
    int64_t first = pos - cfg->sliding_window + 1;
    for (int64_t j = first < 0 ? 0 : first; j <= pos; j++, n++) keys[n] = window_key(job, j, SLOT);
    if (ratio > 0) {
        if (job->kv->has_indexer) {
            const int32_t *sel = job->selected + s * cfg->index_topk;
            for (int32_t i = 0; i < job->n_selected[s]; i++, n++) keys[n] = cn_kv_rows_get(&job->kv->compressed, sel[i], SLOT);
        } else {
            int64_t visible = (pos + 1) / ratio;
            for (int64_t i = 0; i < visible; i++, n++) keys[n] = cn_kv_rows_get(&job->kv->compressed, i, SLOT);
        }
    }
#undef SLOT
    return n;
}

/* One (query, head) pair: sink softmax over window ∪ compressed keys, K = V (4.3, 5.2). */
static void attend_one(const heads_job *job, int64_t s, int64_t h, int64_t n, const float **keys, float *scores) {
    const cn_model_config *cfg = job->ctx->cfg;
    const int64_t d = cfg->head_dim, pos = job->p0 + s;
    const float *q = job->q + (s * cfg->n_heads + h) * d;
    const float scale = 1.0f / sqrtf((float)d), sink = job->w->sinks[h];
    float mx = sink;
    for (int64_t i = 0; i < n; i++) {
        scores[i] = cn_vec_dot(q, keys[i], d) * scale;
        if (scores[i] > mx) mx = scores[i];
    }
    float sum = expf(sink - mx);
    for (int64_t i = 0; i < n; i++) sum += (scores[i] = expf(scores[i] - mx));
    float *o = job->o + (s * cfg->n_heads + h) * d;
    memset(o, 0, (size_t)d * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        const float p = scores[i] / sum;
        for (int64_t c = 0; c < d; c++) o[c] += p * keys[i][c];
    }
    cn_rope_apply(job->ctx->rope, o, d, pos, true); /* undo the rotation carried by V (5.6) */
}

static void attend_range(void *p, int64_t begin, int64_t end) {
    const heads_job *job = p;
    const cn_model_config *cfg = job->ctx->cfg;
    int64_t max_keys = cfg->sliding_window + (job->kv->ratio > 0 ? job->kv->compressed.count : 0);
    float *scores = cn_scratch_alloc((size_t)max_keys * sizeof(float));
    const float **keys = cn_scratch_alloc((size_t)max_keys * sizeof(float *));
    /* Encoded rows: decoded once per query, shared by its heads. */
    float *keybuf = job->kv->window_codec.type == CN_KV_F32
                        ? NULL
                        : cn_scratch_alloc((size_t)(max_keys * cfg->head_dim) * sizeof(float));
    int64_t gathered = -1, n = 0;
    for (int64_t i = begin; i < end; i++) {
        const int64_t s = i / cfg->n_heads;
        if (s != gathered) n = gather_keys(job, gathered = s, keys, keybuf);
        attend_one(job, s, i % cfg->n_heads, n, keys, scores);
    }
    free(scores);
    free(keys);
    free(keybuf);
}

/* q [S][H][d]: projection through the query latent, per-head unweighted RMSNorm, RoPE. */
static void project_queries(const cn_attention_ctx *ctx, const cn_attention_weights *w, const float *a, int64_t S,
                            int64_t p0, float *qr, float *q) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t Rq = cfg->q_lora_rank, H = cfg->n_heads, d = cfg->head_dim;
    cn_matmul(ctx->pool, &w->wq_a, a, cfg->hidden_size, S, qr, Rq);
    for (int64_t s = 0; s < S; s++) cn_vec_rms_norm(qr + s * Rq, qr + s * Rq, w->q_norm, Rq, cfg->rms_norm_eps);
    cn_matmul(ctx->pool, &w->wq_b, qr, Rq, S, q, H * d);
    for (int64_t s = 0; s < S; s++)
        for (int64_t h = 0; h < H; h++) {
            float *v = q + (s * H + h) * d;
            cn_vec_rms_norm(v, v, NULL, d, cfg->rms_norm_eps);
            cn_rope_apply(ctx->rope, v, d, p0 + s, false);
        }
}

/* out = Wo_b · concat_g(Wo_a[g] · o[heads of group g]) (5.6). */
static void grouped_output(const cn_attention_ctx *ctx, const cn_attention_weights *w, const float *o, int64_t S,
                           float *out) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t G = cfg->o_groups, Ro = cfg->o_lora_rank, H = cfg->n_heads, d = cfg->head_dim;
    const int64_t group_in = H * d / G;
    float *low = cn_scratch_alloc((size_t)(S * G * Ro) * sizeof(float));
    for (int64_t g = 0; g < G; g++) {
        cn_matrix wg = cn_matrix_rows(&w->wo_a, g * Ro, Ro);
        cn_matmul(ctx->pool, &wg, o + g * group_in, H * d, S, low + g * Ro, G * Ro);
    }
    cn_matmul(ctx->pool, &w->wo_b, low, G * Ro, S, out, cfg->hidden_size);
    free(low);
}

cn_status cn_attention_forward(const cn_attention_ctx *ctx, const cn_attention_weights *w, cn_kv_layer *kv,
                               const float *a, int64_t S, int64_t p0, float *out, cn_error *err) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t D = cfg->hidden_size, H = cfg->n_heads, d = cfg->head_dim;
    float *qr = cn_scratch_alloc((size_t)(S * cfg->q_lora_rank) * sizeof(float));
    float *q = cn_scratch_alloc((size_t)(S * H * d) * sizeof(float));
    float *chunk_kv = cn_scratch_alloc((size_t)(S * d) * sizeof(float));
    float *o = cn_scratch_alloc((size_t)(S * H * d) * sizeof(float));
    const cn_kv_codec *codec = &kv->window_codec;
    uint8_t *chunk_enc = cn_scratch_alloc((size_t)S * codec->row_bytes);
    int32_t *selected = NULL, *n_selected = NULL;
    cn_status s = CN_OK;

    project_queries(ctx, w, a, S, p0, qr, q);
    /* One shared key/value head: normalised, rotated. */
    cn_matmul(ctx->pool, &w->wkv, a, D, S, chunk_kv, d);
    for (int64_t t = 0; t < S; t++) {
        cn_vec_rms_norm(chunk_kv + t * d, chunk_kv + t * d, w->kv_norm, d, cfg->rms_norm_eps);
        cn_rope_apply(ctx->rope, chunk_kv + t * d, d, p0 + t, false);
        /* Stored rows are encoded once, here; this call's queries see the decoded row too, so a
         * key reads the same bits whether it comes from this call or from the ring later. */
        cn_kv_row_encode(codec, chunk_kv + t * d, chunk_enc + (size_t)t * codec->row_bytes);
        if (codec->type != CN_KV_F32) cn_kv_row_decode(codec, chunk_enc + (size_t)t * codec->row_bytes, chunk_kv + t * d);
    }
    if (kv->ratio > 0) {
        s = cn_compressor_feed(ctx->pool, cfg, &w->compressor, ctx->rope, kv->ratio, d, &kv->compressor, &kv->compressed,
                               a, S, p0, err);
        if (s == CN_OK && kv->has_indexer) {
            s = cn_compressor_feed(ctx->pool, cfg, &w->indexer.compressor, ctx->rope, kv->ratio, cfg->index_head_dim,
                                   &kv->indexer_compressor, &kv->indexer_keys, a, S, p0, err);
            if (s == CN_OK) {
                selected = cn_scratch_alloc((size_t)(S * cfg->index_topk) * sizeof(int32_t));
                n_selected = cn_scratch_alloc((size_t)S * sizeof(int32_t));
                cn_indexer_select(ctx->pool, cfg, &w->indexer, ctx->rope, kv->ratio, &kv->indexer_keys, qr, a, S, p0,
                                  selected, n_selected);
                if (ctx->on_indexer)
                    for (int64_t t = 0; t < S; t++)
                        ctx->on_indexer(ctx->observer_ctx, ctx->layer, p0 + t, selected + t * cfg->index_topk, n_selected[t]);
            }
        }
    }
    if (s == CN_OK) {
        heads_job job = {ctx, w, kv, q, chunk_kv, selected, n_selected, S, p0, o};
        cn_parallel_for(ctx->pool, S * H, attend_range, &job);
        grouped_output(ctx, w, o, S, out);
        /* Only now may the ring take this call's rows: keep the last W of them. */
        int64_t first = S > kv->window ? S - kv->window : 0;
        for (int64_t t = first; t < S; t++)
            memcpy(kv->window_ring + (size_t)((p0 + t) % kv->window) * codec->row_bytes,
                   chunk_enc + (size_t)t * codec->row_bytes, codec->row_bytes);
    }
    free(qr);
    free(q);
    free(chunk_kv);
    free(o);
    free(chunk_enc);
    free(selected);
    free(n_selected);
    return s;
}
