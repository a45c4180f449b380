#include "model/attention.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/compressor.h"
#include "model/indexer.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

/* One sequence's view for the heads: its state, its rows of the call's buffers. */
typedef struct {
    const cn_kv_layer *kv;
    const float *chunk_kv;   /* [n][d], this call's window rows of the sequence */
    const int32_t *selected; /* CSA: [n][topk] */
    const int32_t *n_selected;
    int64_t row0, p0;
} heads_seq;

typedef struct {
    const cn_attention_ctx *ctx;
    const cn_attention_weights *w;
    const heads_seq *seqs;
    const int32_t *row_seq;  /* [T]: the sequence of each row */
    const float *q;          /* [T][H][d] */
    int64_t max_keys;        /* most keys any query of the call sees */
    bool any_encoded;        /* some sequence stores non-F32 rows */
    float *o;                /* [T][H][d] */
} heads_job;

/* The key for window position j: this call's rows for j >= p0 (already round-tripped through
 * the storage encoding), the ring for older ones (the ring is only written after every query of
 * the call has read it). Encoded rows are decoded into `buf`. */
static const float *window_key(const heads_seq *seq, int64_t j, float *buf) {
    if (j >= seq->p0) return seq->chunk_kv + (j - seq->p0) * seq->kv->head_dim;
    return cn_kv_window_get(seq->kv, j % seq->kv->window, buf);
}

/* The keys row s (of its sequence) sees: window, then compressed (selected or all visible).
 * `keybuf` holds one decoded row per key when the state is not F32. Returns the count. */
static int64_t gather_keys(const cn_model_config *cfg, const heads_seq *seq, int64_t s, const float **keys, float *keybuf) {
    const int64_t d = cfg->head_dim, pos = seq->p0 + s, ratio = seq->kv->ratio;
    if (seq->kv->window_codec.type == CN_KV_F32) keybuf = NULL;
    int64_t n = 0;
#define SLOT (keybuf ? keybuf + n * d : NULL)
    int64_t first = pos - cfg->sliding_window + 1;
    for (int64_t j = first < 0 ? 0 : first; j <= pos; j++, n++) keys[n] = window_key(seq, j, SLOT);
    if (ratio > 0) {
        if (seq->kv->has_indexer) {
            const int32_t *sel = seq->selected + s * cfg->index_topk;
            for (int32_t i = 0; i < seq->n_selected[s]; i++, n++) keys[n] = cn_kv_rows_get(&seq->kv->compressed, sel[i], SLOT);
        } else {
            int64_t visible = (pos + 1) / ratio;
            for (int64_t i = 0; i < visible; i++, n++) keys[n] = cn_kv_rows_get(&seq->kv->compressed, i, SLOT);
        }
    }
#undef SLOT
    return n;
}

/* One (query row, head) pair: sink softmax over window ∪ compressed keys, K = V (4.3, 5.2). */
static void attend_one(const heads_job *job, int64_t row, int64_t pos, int64_t h, int64_t n, const float **keys,
                       float *scores) {
    const cn_model_config *cfg = job->ctx->cfg;
    const int64_t d = cfg->head_dim;
    const float *q = job->q + (row * cfg->n_heads + h) * d;
    const float scale = 1.0f / sqrtf((float)d), sink = job->w->sinks[h];
    float mx = sink;
    for (int64_t i = 0; i < n; i++) {
        scores[i] = cn_vec_dot(q, keys[i], d) * scale;
        if (scores[i] > mx) mx = scores[i];
    }
    float sum = expf(sink - mx);
    for (int64_t i = 0; i < n; i++) sum += (scores[i] = expf(scores[i] - mx));
    float *o = job->o + (row * cfg->n_heads + h) * d;
    memset(o, 0, (size_t)d * sizeof(float));
    for (int64_t i = 0; i < n; i++) cn_vec_axpy(o, scores[i] / sum, keys[i], d);
    cn_rope_apply(job->ctx->rope, o, d, pos, true); /* undo the rotation carried by V (5.6) */
}

/* Items are (row, head) pairs of the whole call; a query reads only its own sequence's keys. */
static void attend_range(void *p, int64_t begin, int64_t end) {
    const heads_job *job = p;
    const cn_model_config *cfg = job->ctx->cfg;
    float *scores = cn_scratch_alloc((size_t)job->max_keys * sizeof(float));
    const float **keys = cn_scratch_alloc((size_t)job->max_keys * sizeof(float *));
    /* Encoded rows: decoded once per query, shared by its heads. */
    float *keybuf = job->any_encoded ? cn_scratch_alloc((size_t)(job->max_keys * cfg->head_dim) * sizeof(float)) : NULL;
    int64_t gathered = -1, n = 0;
    for (int64_t i = begin; i < end; i++) {
        const int64_t row = i / cfg->n_heads;
        const heads_seq *seq = &job->seqs[job->row_seq[row]];
        if (row != gathered) n = gather_keys(cfg, seq, (gathered = row) - seq->row0, keys, keybuf);
        attend_one(job, row, seq->p0 + (row - seq->row0), i % cfg->n_heads, n, keys, scores);
    }
    free(scores);
    free(keys);
    free(keybuf);
}

/* q [T][H][d]: projection through the query latent, per-head unweighted RMSNorm, RoPE at each
 * row's position. */
static void project_queries(const cn_attention_ctx *ctx, const cn_attention_weights *w, const float *a, int64_t T,
                            const int64_t *pos, float *qr, float *q) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t Rq = cfg->q_lora_rank, H = cfg->n_heads, d = cfg->head_dim;
    cn_matmul(ctx->pool, &w->wq_a, a, cfg->hidden_size, T, qr, Rq);
    for (int64_t t = 0; t < T; t++) cn_vec_rms_norm(qr + t * Rq, qr + t * Rq, w->q_norm, Rq, cfg->rms_norm_eps);
    cn_matmul(ctx->pool, &w->wq_b, qr, Rq, T, q, H * d);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
            float *v = q + (t * H + h) * d;
            cn_vec_rms_norm(v, v, NULL, d, cfg->rms_norm_eps);
            cn_rope_apply(ctx->rope, v, d, pos[t], false);
        }
}

/* out = Wo_b · concat_g(Wo_a[g] · o[heads of group g]) (5.6). */
static void grouped_output(const cn_attention_ctx *ctx, const cn_attention_weights *w, const float *o, int64_t T,
                           float *out) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t G = cfg->o_groups, Ro = cfg->o_lora_rank, H = cfg->n_heads, d = cfg->head_dim;
    const int64_t group_in = H * d / G;
    float *low = cn_scratch_alloc((size_t)(T * G * Ro) * sizeof(float));
    for (int64_t g = 0; g < G; g++) {
        cn_matrix wg = cn_matrix_rows(&w->wo_a, g * Ro, Ro);
        cn_matmul(ctx->pool, &wg, o + g * group_in, H * d, T, low + g * Ro, G * Ro);
    }
    cn_matmul(ctx->pool, &w->wo_b, low, G * Ro, T, out, cfg->hidden_size);
    free(low);
}

/* The state-touching part for one sequence, before its queries attend: feeds its rows to the
 * compressors (entries are emitted before attention, 5.4) and, on CSA layers, lets the indexer
 * choose each query's compressed keys (selected/n_selected: the sequence's rows). */
static cn_status compress_and_select(const cn_attention_ctx *ctx, const cn_attention_weights *w, const cn_attention_seq *sq,
                                     const float *a, const float *qr, int32_t *selected, int32_t *n_selected,
                                     cn_error *err) {
    const cn_model_config *cfg = ctx->cfg;
    cn_kv_layer *kv = sq->kv;
    const float *sa = a + sq->row0 * cfg->hidden_size;
    cn_status s = cn_compressor_feed(ctx->pool, cfg, &w->compressor, ctx->rope, kv->ratio, cfg->head_dim, false,
                                     &kv->compressor, &kv->compressed, sa, sq->n, sq->p0, err);
    if (s || !kv->has_indexer) return s;
    /* FP4 keys follow the official indexer: Hadamard, then the FP4 encoding (5.3, 5.5). */
    s = cn_compressor_feed(ctx->pool, cfg, &w->indexer.compressor, ctx->rope, kv->ratio, cfg->index_head_dim,
                           kv->indexer_keys.codec.type == CN_KV_FP4, &kv->indexer_compressor, &kv->indexer_keys, sa,
                           sq->n, sq->p0, err);
    if (s) return s;
    cn_indexer_select(ctx->pool, cfg, &w->indexer, ctx->rope, kv->ratio, &kv->indexer_keys, qr + sq->row0 * cfg->q_lora_rank,
                      sa, sq->n, sq->p0, selected, n_selected);
    if (ctx->on_indexer)
        for (int64_t t = 0; t < sq->n; t++)
            ctx->on_indexer(ctx->observer_ctx, ctx->layer, sq->p0 + t, selected + t * cfg->index_topk, n_selected[t]);
    return CN_OK;
}

cn_status cn_attention_forward(const cn_attention_ctx *ctx, const cn_attention_weights *w, const cn_attention_seq *seqs,
                               int n_seqs, const float *a, const int64_t *pos, int64_t T, float *out, cn_error *err) {
    const cn_model_config *cfg = ctx->cfg;
    const int64_t D = cfg->hidden_size, H = cfg->n_heads, d = cfg->head_dim, topk = cfg->index_topk;
    float *qr = cn_scratch_alloc((size_t)(T * cfg->q_lora_rank) * sizeof(float));
    float *q = cn_scratch_alloc((size_t)(T * H * d) * sizeof(float));
    float *chunk_kv = cn_scratch_alloc((size_t)(T * d) * sizeof(float));
    float *o = cn_scratch_alloc((size_t)(T * H * d) * sizeof(float));
    /* Encoded window rows, each sequence in its own state's encoding, at a common stride. */
    size_t enc_stride = 0;
    for (int i = 0; i < n_seqs; i++)
        if (seqs[i].kv->window_codec.row_bytes > enc_stride) enc_stride = seqs[i].kv->window_codec.row_bytes;
    uint8_t *chunk_enc = cn_scratch_alloc((size_t)T * enc_stride);
    int32_t *selected = cn_scratch_alloc((size_t)(T * (topk > 0 ? topk : 1)) * sizeof(int32_t));
    int32_t *n_selected = cn_scratch_alloc((size_t)T * sizeof(int32_t));
    heads_seq *hseqs = cn_scratch_alloc((size_t)n_seqs * sizeof *hseqs);
    int32_t *row_seq = cn_scratch_alloc((size_t)T * sizeof(int32_t));
    cn_status s = CN_OK;

    project_queries(ctx, w, a, T, pos, qr, q);
    /* One shared key/value head: normalised, rotated. */
    cn_matmul(ctx->pool, &w->wkv, a, D, T, chunk_kv, d);
    for (int i = 0; i < n_seqs; i++) {
        const cn_kv_codec *codec = &seqs[i].kv->window_codec;
        for (int64_t t = seqs[i].row0; t < seqs[i].row0 + seqs[i].n; t++) {
            cn_vec_rms_norm(chunk_kv + t * d, chunk_kv + t * d, w->kv_norm, d, cfg->rms_norm_eps);
            cn_rope_apply(ctx->rope, chunk_kv + t * d, d, pos[t], false);
            /* Stored rows are encoded once, here; this call's queries see the decoded row too, so
             * a key reads the same bits whether it comes from this call or from the ring later. */
            cn_kv_row_encode(codec, chunk_kv + t * d, chunk_enc + (size_t)t * enc_stride);
            if (codec->type != CN_KV_F32) cn_kv_row_decode(codec, chunk_enc + (size_t)t * enc_stride, chunk_kv + t * d);
            row_seq[t] = i;
        }
    }
    int64_t max_keys = 1;
    bool any_encoded = false;
    for (int i = 0; i < n_seqs && s == CN_OK; i++) {
        const cn_attention_seq *sq = &seqs[i];
        if (sq->kv->ratio > 0)
            s = compress_and_select(ctx, w, sq, a, qr, selected + sq->row0 * topk, n_selected + sq->row0, err);
        if (s && sq->item >= 0) cn_error_prefix(err, "batch item %d", sq->item);
        const int64_t keys = cfg->sliding_window + (sq->kv->ratio > 0 ? sq->kv->compressed.count : 0);
        if (keys > max_keys) max_keys = keys;
        any_encoded |= sq->kv->window_codec.type != CN_KV_F32;
        heads_seq hs = {sq->kv, chunk_kv + sq->row0 * d, selected + sq->row0 * topk, n_selected + sq->row0, sq->row0, sq->p0};
        hseqs[i] = hs;
    }
    if (s == CN_OK) {
        heads_job job = {ctx, w, hseqs, row_seq, q, max_keys, any_encoded, o};
        cn_parallel_for(ctx->pool, T * H, attend_range, &job);
        grouped_output(ctx, w, o, T, out);
        /* Only now may the rings take this call's rows: keep each sequence's last W of them. */
        for (int i = 0; i < n_seqs; i++) {
            const cn_attention_seq *sq = &seqs[i];
            cn_kv_layer *kv = sq->kv;
            const size_t row_bytes = kv->window_codec.row_bytes;
            for (int64_t t = sq->n > kv->window ? sq->n - kv->window : 0; t < sq->n; t++)
                memcpy(kv->window_ring + (size_t)((sq->p0 + t) % kv->window) * row_bytes,
                       chunk_enc + (size_t)(sq->row0 + t) * enc_stride, row_bytes);
        }
    }
    free(qr);
    free(q);
    free(chunk_kv);
    free(o);
    free(chunk_enc);
    free(selected);
    free(n_selected);
    free(hseqs);
    free(row_seq);
    return s;
}
