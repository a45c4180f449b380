#include "model/model.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/block.h"
#include "model/mhc.h"
#include "tensor/hadamard.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

#define DEFAULT_MAX_CHUNK 256

cn_status cn_model_from_checkpoint(cn_checkpoint *ckpt, int n_threads, cn_model **out, cn_error *err) {
    *out = NULL;
    cn_model *m = calloc(1, sizeof *m);
    if (!m) {
        cn_checkpoint_close(ckpt);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    m->ckpt = *ckpt;
    memset(ckpt, 0, sizeof *ckpt);
    m->cfg = &m->ckpt.config;
    m->max_chunk = DEFAULT_MAX_CHUNK;
    cn_status s = cn_model_config_validate(m->cfg, err);
    if (!s) s = cn_rope_init(&m->rope_main, &m->cfg->rope_main, m->cfg->rope_dim, err);
    if (!s) s = cn_rope_init(&m->rope_compress, &m->cfg->rope_compress, m->cfg->rope_dim, err);
    if (!s) s = cn_model_weights_bind(&m->weights, &m->ckpt, err);
    if (!s && !(m->pool = cn_threadpool_create(n_threads))) s = cn_fail(err, CN_ERR_NOMEM, "cannot start worker threads");
    if (s) {
        cn_model_close(m);
        return s;
    }
    *out = m;
    return CN_OK;
}

cn_status cn_model_open(const char *path, int n_threads, cn_model **out, cn_error *err) {
    cn_checkpoint ckpt;
    *out = NULL;
    cn_status s = cn_checkpoint_open(path, &ckpt, err);
    if (s) return s;
    return cn_model_from_checkpoint(&ckpt, n_threads, out, err);
}

void cn_model_close(cn_model *m) {
    if (!m) return;
    cn_threadpool_destroy(m->pool);
    cn_model_weights_free(&m->weights);
    cn_checkpoint_close(&m->ckpt);
    free(m);
}

void cn_model_set_act_q8(cn_model *m, bool on) { cn_model_weights_set_act_q8(&m->weights, m->cfg, on); }

static cn_kv_layer_shape layer_shape(const cn_model_config *c, int layer) {
    const int ratio = c->compress_ratio[layer];
    const int64_t coff = ratio == 4 ? 2 : 1;
    cn_kv_layer_shape sh = {
        .ratio = ratio,
        .has_indexer = c->has_indexer[layer],
        .window = c->sliding_window,
        .head_dim = c->head_dim,
        .rope_dim = c->rope_dim,
    };
    if (ratio > 0) {
        sh.compressor_rows = coff * ratio;
        sh.compressor_width = coff * c->head_dim;
    }
    if (sh.has_indexer) {
        sh.indexer_head_dim = c->index_head_dim;
        sh.indexer_compressor_rows = coff * ratio;
        sh.indexer_compressor_width = coff * c->index_head_dim;
    }
    return sh;
}

cn_status cn_model_state_init(const cn_model *m, cn_kv_state *st, cn_error *err) {
    const cn_kv_options f32 = {CN_KV_F32, CN_KV_F32};
    return cn_model_state_init_opts(m, st, &f32, err);
}

cn_status cn_model_state_init_opts(const cn_model *m, cn_kv_state *st, const cn_kv_options *opts, cn_error *err) {
    /* FP4 keys are Hadamard-rotated first (5.3), which needs a power-of-two key width (128 in V4). */
    if (opts->index == CN_KV_FP4 && !cn_hadamard_size_ok(m->cfg->index_head_dim))
        return cn_fail(err, CN_ERR_ARG, "fp4 indexer keys need a power-of-two index_head_dim for the Hadamard rotation, not %lld",
                       (long long)m->cfg->index_head_dim);
    cn_kv_layer_shape shapes[CN_MAX_LAYERS];
    for (int l = 0; l < m->cfg->n_layers; l++) shapes[l] = layer_shape(m->cfg, l);
    return cn_kv_state_init_opts(st, m->cfg->n_layers, shapes, opts, err);
}

bool cn_model_has_mtp(const cn_model *m) { return m->weights.has_mtp; }

cn_status cn_model_mtp_state_init(const cn_model *m, cn_kv_state *st, cn_error *err) {
    if (!m->weights.has_mtp) return cn_fail(err, CN_ERR_MISSING, "this checkpoint has no MTP block");
    cn_kv_layer_shape shape = layer_shape(m->cfg, m->cfg->n_layers);
    return cn_kv_state_init(st, 1, &shape, err);
}

static cn_block_ctx block_ctx(const cn_model *m, int layer) {
    cn_block_ctx ctx = {
        .pool = m->pool,
        .cfg = m->cfg,
        .layer = layer,
        .rope = m->cfg->compress_ratio[layer] > 0 ? &m->rope_compress : &m->rope_main,
        .observer = m->observer,
    };
    return ctx;
}

/* logits [S][V] = Head · RMSNorm(HcHead(X)) (section 8). */
static void head_logits(const cn_model *m, const cn_hc_head_weights *hc, const float *norm, const float *X, int64_t S,
                        float *logits) {
    const int64_t D = m->cfg->hidden_size;
    float *h = cn_scratch_alloc((size_t)(S * D) * sizeof(float));
    cn_hc_head(m->pool, m->cfg, hc, X, S, h);
    for (int64_t s = 0; s < S; s++) cn_vec_rms_norm(h + s * D, h + s * D, norm, D, m->cfg->rms_norm_eps);
    cn_matmul(m->pool, &m->weights.head, h, D, S, logits, m->cfg->vocab_size);
    free(h);
}

/* One sequence's rows in a forward step. */
typedef struct {
    cn_kv_state *st;
    const int32_t *tokens;
    int64_t n;
    float *logits;  /* NULL; [n][V] for every row; or [V] for the last row when last_only */
    bool last_only;
    float *streams; /* NULL or [n][hc_mult][D] */
    int item;       /* batch item named in errors, -1 outside a batch */
} step_seq;

/* The LM head for the rows the sequences ask logits of, in one matmul over all of them (the
 * head is read once per step); each row's logits are the same as computed alone. */
static void step_logits(const cn_model *m, const step_seq *seqs, int count, const float *X, int64_t T) {
    const int64_t nD = m->cfg->hc_mult * m->cfg->hidden_size, V = m->cfg->vocab_size;
    if (count == 1 && seqs[0].logits && !seqs[0].last_only) { /* the plain forward: every row, in place */
        head_logits(m, &m->weights.hc_head, m->weights.norm, X, T, seqs[0].logits);
        return;
    }
    int64_t R = 0;
    for (int i = 0; i < count; i++)
        if (seqs[i].logits) R += seqs[i].last_only ? 1 : seqs[i].n;
    if (R == 0) return;
    float *rows = cn_scratch_alloc((size_t)(R * nD) * sizeof(float));
    float *out = cn_scratch_alloc((size_t)(R * V) * sizeof(float));
    int64_t r = 0, row0 = 0;
    for (int i = 0; i < count; row0 += seqs[i++].n) {
        if (!seqs[i].logits) continue;
        const int64_t first = seqs[i].last_only ? seqs[i].n - 1 : 0, k = seqs[i].n - first;
        memcpy(rows + r * nD, X + (row0 + first) * nD, (size_t)(k * nD) * sizeof(float));
        r += k;
    }
    head_logits(m, &m->weights.hc_head, m->weights.norm, rows, R, out);
    r = 0;
    for (int i = 0; i < count; i++) {
        if (!seqs[i].logits) continue;
        const int64_t k = seqs[i].last_only ? 1 : seqs[i].n;
        memcpy(seqs[i].logits, out + r * V, (size_t)(k * V) * sizeof(float));
        r += k;
    }
    free(rows);
    free(out);
}

/* Advances `count` distinct sequences by their rows in one pass over the layers: every block's
 * state-independent work runs once over all T rows (cn_block_forward), the LM head once over the
 * rows that want logits. On error no state's n_tokens moves (the layers' contents are then
 * unusable, as after a failed cn_model_forward). */
static cn_status forward_step(cn_model *m, const step_seq *seqs, int count, cn_error *err) {
    const cn_model_config *c = m->cfg;
    const int64_t n = c->hc_mult, D = c->hidden_size;
    int64_t T = 0;
    for (int i = 0; i < count; i++) T += seqs[i].n;
    float *X = cn_scratch_alloc((size_t)(T * n * D) * sizeof(float));
    int32_t *tokens = cn_scratch_alloc((size_t)T * sizeof(int32_t));
    int64_t *pos = cn_scratch_alloc((size_t)T * sizeof(int64_t));
    cn_attention_seq *aseqs = cn_scratch_alloc((size_t)count * sizeof *aseqs);
    int64_t row = 0;
    for (int i = 0; i < count; i++)
        for (int64_t t = 0; t < seqs[i].n; t++, row++) {
            tokens[row] = seqs[i].tokens[t];
            pos[row] = seqs[i].st->n_tokens + t;
        }
    /* Every stream starts as the token embedding (section 3, no learned expansion). */
    for (int64_t t = 0; t < T; t++) {
        cn_matrix_row_to_f32(&m->weights.embed, tokens[t], X + t * n * D);
        for (int64_t k = 1; k < n; k++) memcpy(X + (t * n + k) * D, X + t * n * D, (size_t)D * sizeof(float));
    }
    cn_status s = CN_OK;
    for (int l = 0; l < c->n_layers && s == CN_OK; l++) {
        int64_t row0 = 0;
        for (int i = 0; i < count; row0 += seqs[i++].n) {
            cn_attention_seq a = {&seqs[i].st->layers[l], row0, seqs[i].n, seqs[i].st->n_tokens, seqs[i].item};
            aseqs[i] = a;
        }
        cn_block_ctx ctx = block_ctx(m, l);
        s = cn_block_forward(&ctx, &m->weights.blocks[l], aseqs, count, X, tokens, pos, T, err);
    }
    if (s == CN_OK) {
        int64_t row0 = 0;
        for (int i = 0; i < count; row0 += seqs[i++].n)
            if (seqs[i].streams) memcpy(seqs[i].streams, X + row0 * n * D, (size_t)(seqs[i].n * n * D) * sizeof(float));
        step_logits(m, seqs, count, X, T);
        for (int i = 0; i < count; i++) seqs[i].st->n_tokens += seqs[i].n;
    }
    free(X);
    free(tokens);
    free(pos);
    free(aseqs);
    return s;
}

static cn_status check_tokens(const cn_model *m, const int32_t *tokens, int64_t n, cn_error *err) {
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg->vocab_size)
            return cn_fail(err, CN_ERR_ARG, "token id %d at index %lld is outside the vocabulary (0..%lld)", tokens[i],
                           (long long)i, (long long)m->cfg->vocab_size - 1);
    return CN_OK;
}

cn_status cn_model_forward(cn_model *m, cn_kv_state *st, const int32_t *tokens, int64_t n, float *logits,
                           float *streams, cn_error *err) {
    if (st->n_layers != m->cfg->n_layers) return cn_fail(err, CN_ERR_ARG, "state does not belong to this model");
    cn_status s = check_tokens(m, tokens, n, err);
    const int64_t V = m->cfg->vocab_size, nD = m->cfg->hc_mult * m->cfg->hidden_size;
    for (int64_t done = 0; done < n && s == CN_OK;) {
        int64_t S = n - done < m->max_chunk ? n - done : m->max_chunk;
        step_seq one = {st, tokens + done, S, logits ? logits + done * V : NULL, false, streams ? streams + done * nD : NULL, -1};
        s = forward_step(m, &one, 1, err);
        done += S;
    }
    return s;
}

/* Everything a bad batch can be refused for, checked before any state moves. */
static cn_status check_batch(const cn_model *m, const cn_forward_item *items, int count, cn_error *err) {
    if (count < 0) return cn_fail(err, CN_ERR_ARG, "batch of %d items", count);
    if (count > 0 && !items) return cn_fail(err, CN_ERR_ARG, "batch of %d items without an item array", count);
    for (int i = 0; i < count; i++) {
        const cn_forward_item *it = &items[i];
        if (!it->state) return cn_fail(err, CN_ERR_ARG, "batch item %d: no state", i);
        if (it->state->n_layers != m->cfg->n_layers)
            return cn_fail(err, CN_ERR_ARG, "batch item %d: state does not belong to this model", i);
        if (it->n < 1 || !it->tokens) return cn_fail(err, CN_ERR_ARG, "batch item %d: no tokens", i);
        for (int j = 0; j < i; j++)
            if (items[j].state == it->state)
                return cn_fail(err, CN_ERR_ARG, "batch items %d and %d share one state (a sequence can appear once per batch)", j, i);
        cn_status s = check_tokens(m, it->tokens, it->n, err);
        if (s) return cn_error_prefix(err, "batch item %d", i), s;
    }
    return CN_OK;
}

cn_status cn_model_forward_batch(cn_model *m, const cn_forward_item *items, int count, cn_error *err) {
    cn_status s = check_batch(m, items, count, err);
    if (s || count == 0) return s;
    int64_t *done = cn_scratch_calloc((size_t)count, sizeof *done);
    step_seq *step = cn_scratch_alloc((size_t)count * sizeof *step);
    int *step_item = cn_scratch_alloc((size_t)count * sizeof *step_item);
    /* Steps of at most max_chunk rows (bounded scratch), every unfinished item advancing by at
     * least one token per step; any split of a sequence gives the same result (docs/engine.md). */
    for (;;) {
        int k = 0;
        int64_t budget = m->max_chunk;
        for (int i = 0; i < count; i++) {
            const int64_t left = items[i].n - done[i];
            if (left == 0) continue;
            const int64_t take = left < budget ? left : budget > 1 ? budget : 1;
            budget = budget > take ? budget - take : 0;
            const bool last = done[i] + take == items[i].n;
            step_seq one = {items[i].state, items[i].tokens + done[i], take, last ? items[i].last_logits : NULL, true, NULL, i};
            step[k] = one;
            step_item[k++] = i;
        }
        if (k == 0) break;
        s = forward_step(m, step, k, err);
        if (s) break;
        for (int j = 0; j < k; j++) done[step_item[j]] += step[j].n;
    }
    free(done);
    free(step);
    free(step_item);
    return s;
}

cn_status cn_model_mtp_forward(cn_model *m, cn_kv_state *mtp_state, const float *streams, const int32_t *next_tokens,
                               int64_t n, float *logits, cn_error *err) {
    const cn_model_config *c = m->cfg;
    const cn_mtp_weights *w = &m->weights.mtp;
    if (!m->weights.has_mtp) return cn_fail(err, CN_ERR_MISSING, "this checkpoint has no MTP block");
    if (mtp_state->n_layers != 1) return cn_fail(err, CN_ERR_ARG, "not an MTP state");
    cn_status s = check_tokens(m, next_tokens, n, err);
    if (s) return s;
    const int64_t nh = c->hc_mult, D = c->hidden_size, p0 = mtp_state->n_tokens;
    float *X = cn_scratch_alloc((size_t)(n * nh * D) * sizeof(float));
    float *e = cn_scratch_alloc((size_t)(n * D) * sizeof(float));
    float *ep = cn_scratch_alloc((size_t)(n * D) * sizeof(float));
    float *hn = cn_scratch_alloc((size_t)(n * nh * D) * sizeof(float));
    /* xin[k] = e_proj · RMSNorm(embed(t'); enorm) + h_proj · RMSNorm(H[k]; hnorm) (section 9). */
    for (int64_t i = 0; i < n; i++) {
        cn_matrix_row_to_f32(&m->weights.embed, next_tokens[i], e + i * D);
        cn_vec_rms_norm(e + i * D, e + i * D, w->enorm, D, c->rms_norm_eps);
    }
    cn_matmul(m->pool, &w->e_proj, e, D, n, ep, D);
    for (int64_t r = 0; r < n * nh; r++) cn_vec_rms_norm(hn + r * D, streams + r * D, w->hnorm, D, c->rms_norm_eps);
    cn_matmul(m->pool, &w->h_proj, hn, D, n * nh, X, D);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < nh; k++)
            for (int64_t j = 0; j < D; j++) X[(i * nh + k) * D + j] += ep[i * D + j];
    int64_t *pos = cn_scratch_alloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) pos[i] = p0 + i;
    const cn_attention_seq seq = {&mtp_state->layers[0], 0, n, p0, -1};
    cn_block_ctx ctx = block_ctx(m, c->n_layers);
    s = cn_block_forward(&ctx, &w->block, &seq, 1, X, next_tokens, pos, n, err);
    if (s == CN_OK) {
        head_logits(m, &w->hc_head, w->norm, X, n, logits);
        mtp_state->n_tokens += n;
    }
    free(X);
    free(e);
    free(ep);
    free(hn);
    free(pos);
    return s;
}
