#include "model/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/element.h"

typedef struct {
    cn_model_weights *w;
    const cn_checkpoint *ckpt;
    const cn_model_config *cfg;
    cn_error *err;
} binder;

static void *own(binder *b, size_t bytes) {
    cn_model_weights *w = b->w;
    if (w->n_owned == w->cap_owned) {
        int cap = w->cap_owned ? 2 * w->cap_owned : 256;
        void **grown = realloc(w->owned, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        w->owned = grown;
        w->cap_owned = cap;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (p) w->owned[w->n_owned++] = p;
    return p;
}

static const char *shape_string(const cn_tensor_record *t, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->n_dims && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

static const cn_tensor_record *require(binder *b, const char *name) {
    const cn_tensor_record *t = cn_checkpoint_find(b->ckpt, name);
    if (!t) cn_fail(b->err, CN_ERR_MISSING, "tensor %s is missing from the checkpoint", name);
    return t;
}

/* Builds a matrix view of `t` (2-D, or one [rows][cols] slab of a 3-D tensor at `slab`). */
static cn_status matrix_view(binder *b, const cn_tensor_record *t, const char *name, int64_t slab, int64_t rows,
                             int64_t cols, cn_matrix *m) {
    char shape[96];
    memset(m, 0, sizeof *m);
    int dims = slab >= 0 ? 3 : 2;
    int64_t stored_cols = t->dtype == CN_DTYPE_I8 ? cols / 2 : cols; /* MXFP4 packs two per byte */
    bool ok = t->n_dims == dims && t->shape[dims - 2] == rows && t->shape[dims - 1] == stored_cols &&
              (slab < 0 || slab < t->shape[0]);
    if (!ok)
        return cn_fail(b->err, CN_ERR_SHAPE, "tensor %s has shape %s, expected %s[%lld, %lld]", t->source_name,
                       shape_string(t, shape, sizeof shape), dims == 3 ? "[E, ...] with slabs " : "", (long long)rows,
                       (long long)stored_cols);
    m->rows = rows;
    m->cols = cols;
    switch (t->dtype) {
    case CN_DTYPE_F32:
    case CN_DTYPE_F16:
    case CN_DTYPE_BF16:
    case CN_DTYPE_Q8_0:
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_IQ2_XXS:
    case CN_DTYPE_MXFP4_GGML:
        m->dtype = t->dtype;
        break;
    case CN_DTYPE_F8_E4M3:
    case CN_DTYPE_I8: {
        /* The scale tensor sits beside the weight: X.weight -> X.scale. */
        char scale_name[256];
        size_t n = strlen(name);
        if (n < 7 || strcmp(name + n - 7, ".weight") != 0 || n + 1 > sizeof scale_name)
            return cn_fail(b->err, CN_ERR_UNSUPPORTED, "tensor %s: quantised weight without a .scale companion", name);
        snprintf(scale_name, sizeof scale_name, "%.*s.scale", (int)(n - 7), name);
        const cn_tensor_record *s = require(b, scale_name);
        if (!s) return b->err->code;
        if (s->dtype != CN_DTYPE_F8_E8M0)
            return cn_fail(b->err, CN_ERR_UNSUPPORTED, "scale %s is %s; only F8_E8M0 scales are supported", s->source_name,
                           cn_dtype_name(s->dtype));
        if (slab >= 0)
            return cn_fail(b->err, CN_ERR_UNSUPPORTED, "tensor %s: fused 3-D FP8/FP4 expert tensors are not supported", name);
        int64_t srows, scols;
        if (t->dtype == CN_DTYPE_F8_E4M3) {
            m->dtype = CN_DTYPE_F8_E4M3;
            srows = (rows + 127) / 128;
            scols = (cols + 127) / 128;
        } else {
            if (cols % 32)
                return cn_fail(b->err, CN_ERR_SHAPE, "MXFP4 tensor %s: %lld columns is not a multiple of 32", name, (long long)cols);
            m->dtype = CN_DTYPE_MXFP4;
            srows = rows;
            scols = cols / 32;
        }
        if (s->n_dims != 2 || s->shape[0] != srows || s->shape[1] != scols)
            return cn_fail(b->err, CN_ERR_SHAPE, "scale %s has shape %s, expected [%lld, %lld]", s->source_name,
                           shape_string(s, shape, sizeof shape), (long long)srows, (long long)scols);
        m->scales = s->data;
        m->scale_cols = scols;
        break;
    }
    default:
        return cn_fail(b->err, CN_ERR_UNSUPPORTED, "tensor %s has dtype %s, which cannot be used as a weight matrix",
                       t->source_name, cn_dtype_name(t->dtype));
    }
    m->row_bytes = cn_dtype_row_bytes(m->dtype, cols);
    if (m->row_bytes == 0)
        return cn_fail(b->err, CN_ERR_SHAPE, "tensor %s: %lld columns do not fill whole %s blocks", t->source_name,
                       (long long)cols, cn_dtype_name(m->dtype));
    size_t slab_bytes = (size_t)rows * m->row_bytes;
    if ((size_t)(slab < 0 ? 1 : t->shape[0]) * slab_bytes != t->n_bytes)
        return cn_fail(b->err, CN_ERR_SHAPE, "tensor %s: %zu bytes do not match its shape", t->source_name, t->n_bytes);
    m->data = t->data + (slab < 0 ? 0 : (size_t)slab * slab_bytes);
    return CN_OK;
}

static cn_status bind_matrix(binder *b, const char *name, int64_t rows, int64_t cols, cn_matrix *m) {
    const cn_tensor_record *t = require(b, name);
    return t ? matrix_view(b, t, name, -1, rows, cols, m) : b->err->code;
}

/* Small vectors are converted to f32 once (norm weights, biases, sinks, mHC parameters). */
static cn_status bind_vector(binder *b, const char *name, int64_t n, float **out) {
    const cn_tensor_record *t = require(b, name);
    if (!t) return b->err->code;
    char shape[96];
    if (cn_tensor_elements(t) != n)
        return cn_fail(b->err, CN_ERR_SHAPE, "tensor %s has shape %s, expected %lld elements", t->source_name,
                       shape_string(t, shape, sizeof shape), (long long)n);
    if (t->dtype != CN_DTYPE_F32 && t->dtype != CN_DTYPE_BF16 && t->dtype != CN_DTYPE_F16)
        return cn_fail(b->err, CN_ERR_UNSUPPORTED, "tensor %s has dtype %s, expected F32, BF16 or F16", t->source_name,
                       cn_dtype_name(t->dtype));
    float *v = own(b, (size_t)n * sizeof(float));
    if (!v) return cn_fail(b->err, CN_ERR_NOMEM, "out of memory");
    cn_matrix m = {.dtype = t->dtype, .rows = 1, .cols = n, .data = t->data, .row_bytes = t->n_bytes};
    cn_matrix_row_to_f32(&m, 0, v);
    *out = v;
    return CN_OK;
}

static cn_status bind_hc(binder *b, const char *prefix, const char *site, cn_hc_weights *hc) {
    const int64_t n = b->cfg->hc_mult, D = b->cfg->hidden_size, mix = (2 + n) * n;
    char name[256];
    cn_status s;
    snprintf(name, sizeof name, "%shc_%s_fn", prefix, site);
    if ((s = bind_matrix(b, name, mix, n * D, &hc->fn))) return s;
    snprintf(name, sizeof name, "%shc_%s_base", prefix, site);
    if ((s = bind_vector(b, name, mix, &hc->base))) return s;
    snprintf(name, sizeof name, "%shc_%s_scale", prefix, site);
    return bind_vector(b, name, 3, &hc->scale);
}

static cn_status bind_compressor(binder *b, const char *prefix, int64_t m, int64_t dc, cn_compressor_weights *c) {
    const int64_t coff = m == 4 ? 2 : 1, D = b->cfg->hidden_size;
    char name[256];
    cn_status s;
    snprintf(name, sizeof name, "%swkv.weight", prefix);
    if ((s = bind_matrix(b, name, coff * dc, D, &c->wkv))) return s;
    snprintf(name, sizeof name, "%swgate.weight", prefix);
    if ((s = bind_matrix(b, name, coff * dc, D, &c->wgate))) return s;
    snprintf(name, sizeof name, "%sape", prefix);
    if ((s = bind_vector(b, name, m * coff * dc, &c->ape))) return s;
    snprintf(name, sizeof name, "%snorm.weight", prefix);
    return bind_vector(b, name, dc, &c->norm);
}

static cn_status bind_attention(binder *b, const char *prefix, int layer, cn_attention_weights *a) {
    const cn_model_config *c = b->cfg;
    const int64_t D = c->hidden_size, H = c->n_heads, d = c->head_dim;
    char name[256];
    cn_status s;
#define MAT(field, suffix, r, k)                                 \
    snprintf(name, sizeof name, "%sattn." suffix, prefix);      \
    if ((s = bind_matrix(b, name, r, k, &a->field))) return s
#define VEC(field, suffix, n)                                    \
    snprintf(name, sizeof name, "%sattn." suffix, prefix);      \
    if ((s = bind_vector(b, name, n, &a->field))) return s
    MAT(wq_a, "wq_a.weight", c->q_lora_rank, D);
    VEC(q_norm, "q_norm.weight", c->q_lora_rank);
    MAT(wq_b, "wq_b.weight", H * d, c->q_lora_rank);
    MAT(wkv, "wkv.weight", d, D);
    VEC(kv_norm, "kv_norm.weight", d);
    MAT(wo_a, "wo_a.weight", c->o_groups * c->o_lora_rank, H * d / c->o_groups);
    MAT(wo_b, "wo_b.weight", D, c->o_groups * c->o_lora_rank);
    VEC(sinks, "attn_sink", H);
#undef MAT
#undef VEC
    const int m = c->compress_ratio[layer];
    if (m > 0) {
        snprintf(name, sizeof name, "%sattn.compressor.", prefix);
        if ((s = bind_compressor(b, name, m, d, &a->compressor))) return s;
    }
    if (c->has_indexer[layer]) {
        snprintf(name, sizeof name, "%sattn.indexer.wq_b.weight", prefix);
        if ((s = bind_matrix(b, name, c->index_n_heads * c->index_head_dim, c->q_lora_rank, &a->indexer.wq_b))) return s;
        snprintf(name, sizeof name, "%sattn.indexer.weights_proj.weight", prefix);
        if ((s = bind_matrix(b, name, c->index_n_heads, D, &a->indexer.weights_proj))) return s;
        snprintf(name, sizeof name, "%sattn.indexer.compressor.", prefix);
        if ((s = bind_compressor(b, name, m, c->index_head_dim, &a->indexer.compressor))) return s;
    }
    return CN_OK;
}

/* Expert e's three matrices, from per-expert tensors or one of the fused 3-D forms. */
static cn_status bind_expert(binder *b, const char *prefix, int64_t e, cn_expert_weights *x) {
    const int64_t D = b->cfg->hidden_size, I = b->cfg->moe_intermediate_size;
    char name[256];
    cn_status s;
    snprintf(name, sizeof name, "%sffn.experts.%lld.w1.weight", prefix, (long long)e);
    if (cn_checkpoint_find(b->ckpt, name)) {
        if ((s = bind_matrix(b, name, I, D, &x->w1))) return s;
        snprintf(name, sizeof name, "%sffn.experts.%lld.w3.weight", prefix, (long long)e);
        if ((s = bind_matrix(b, name, I, D, &x->w3))) return s;
        snprintf(name, sizeof name, "%sffn.experts.%lld.w2.weight", prefix, (long long)e);
        return bind_matrix(b, name, D, I, &x->w2);
    }
    const cn_tensor_record *t;
    snprintf(name, sizeof name, "%sffn.experts.w13.weight", prefix);
    if ((t = cn_checkpoint_find(b->ckpt, name))) {
        cn_matrix both;
        if ((s = matrix_view(b, t, name, e, 2 * I, D, &both))) return s;
        x->w1 = cn_matrix_rows(&both, 0, I);
        x->w3 = cn_matrix_rows(&both, I, I);
    } else {
        snprintf(name, sizeof name, "%sffn.experts.w1.weight", prefix);
        if (!(t = cn_checkpoint_find(b->ckpt, name)))
            return cn_fail(b->err, CN_ERR_MISSING, "weights of expert %lld (%sffn.experts.%lld.w1.weight or a fused form) are missing",
                           (long long)e, prefix, (long long)e);
        if ((s = matrix_view(b, t, name, e, I, D, &x->w1))) return s;
        snprintf(name, sizeof name, "%sffn.experts.w3.weight", prefix);
        if (!(t = require(b, name)) || (s = matrix_view(b, t, name, e, I, D, &x->w3))) return b->err->code;
    }
    snprintf(name, sizeof name, "%sffn.experts.w2.weight", prefix);
    if (!(t = require(b, name))) return b->err->code;
    return matrix_view(b, t, name, e, D, I, &x->w2);
}

static cn_status bind_tid2eid(binder *b, const char *name, int32_t **out) {
    const cn_model_config *c = b->cfg;
    const cn_tensor_record *t = require(b, name);
    if (!t) return b->err->code;
    const int64_t V = c->vocab_size, K = c->n_experts_per_tok, E = c->n_routed_experts;
    char shape[96];
    if (t->n_dims != 2 || t->shape[0] != V || t->shape[1] != K || (t->dtype != CN_DTYPE_I64 && t->dtype != CN_DTYPE_I32))
        return cn_fail(b->err, CN_ERR_SHAPE, "tensor %s is %s %s, expected I64 or I32 [%lld, %lld]", t->source_name,
                       cn_dtype_name(t->dtype), shape_string(t, shape, sizeof shape), (long long)V, (long long)K);
    int32_t *table = own(b, (size_t)(V * K) * sizeof *table);
    if (!table) return cn_fail(b->err, CN_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < V * K; i++) {
        int64_t v;
        if (t->dtype == CN_DTYPE_I64) memcpy(&v, t->data + 8 * i, 8);
        else {
            int32_t v32;
            memcpy(&v32, t->data + 4 * i, 4);
            v = v32;
        }
        if (v < 0 || v >= E)
            return cn_fail(b->err, CN_ERR_FORMAT, "tensor %s: token %lld maps to expert %lld, outside 0..%lld", t->source_name,
                           (long long)(i / K), (long long)v, (long long)E - 1);
        table[i] = (int32_t)v;
    }
    *out = table;
    return CN_OK;
}

static cn_status bind_moe(binder *b, const char *prefix, int layer, cn_moe_weights *moe) {
    const cn_model_config *c = b->cfg;
    const int64_t D = c->hidden_size, I = c->moe_intermediate_size, E = c->n_routed_experts;
    char name[256];
    cn_status s;
    snprintf(name, sizeof name, "%sffn.gate.weight", prefix);
    if ((s = bind_matrix(b, name, E, D, &moe->gate))) return s;
    if (c->hash_moe[layer]) {
        snprintf(name, sizeof name, "%sffn.gate.tid2eid", prefix);
        if ((s = bind_tid2eid(b, name, &moe->tid2eid))) return s;
    } else {
        snprintf(name, sizeof name, "%sffn.gate.bias", prefix);
        if ((s = bind_vector(b, name, E, &moe->bias))) return s;
    }
    moe->experts = own(b, (size_t)E * sizeof *moe->experts);
    if (!moe->experts) return cn_fail(b->err, CN_ERR_NOMEM, "out of memory");
    for (int64_t e = 0; e < E; e++)
        if ((s = bind_expert(b, prefix, e, &moe->experts[e]))) return s;
    moe->has_shared = c->n_shared_experts > 0;
    if (moe->has_shared) {
        snprintf(name, sizeof name, "%sffn.shared_experts.w1.weight", prefix);
        if ((s = bind_matrix(b, name, I, D, &moe->shared.w1))) return s;
        snprintf(name, sizeof name, "%sffn.shared_experts.w3.weight", prefix);
        if ((s = bind_matrix(b, name, I, D, &moe->shared.w3))) return s;
        snprintf(name, sizeof name, "%sffn.shared_experts.w2.weight", prefix);
        if ((s = bind_matrix(b, name, D, I, &moe->shared.w2))) return s;
    }
    return CN_OK;
}

static cn_status bind_block(binder *b, const char *prefix, int layer, cn_block_weights *blk) {
    const int64_t D = b->cfg->hidden_size;
    char name[256];
    cn_status s;
    if ((s = bind_hc(b, prefix, "attn", &blk->hc_attn))) return s;
    if ((s = bind_hc(b, prefix, "ffn", &blk->hc_ffn))) return s;
    snprintf(name, sizeof name, "%sattn_norm.weight", prefix);
    if ((s = bind_vector(b, name, D, &blk->attn_norm))) return s;
    snprintf(name, sizeof name, "%sffn_norm.weight", prefix);
    if ((s = bind_vector(b, name, D, &blk->ffn_norm))) return s;
    if ((s = bind_attention(b, prefix, layer, &blk->attn))) return s;
    return bind_moe(b, prefix, layer, &blk->moe);
}

static cn_status bind_hc_head(binder *b, const char *prefix, cn_hc_head_weights *h) {
    const int64_t n = b->cfg->hc_mult, D = b->cfg->hidden_size;
    char name[256];
    cn_status s;
    snprintf(name, sizeof name, "%shc_head_fn", prefix);
    if ((s = bind_matrix(b, name, n, n * D, &h->fn))) return s;
    snprintf(name, sizeof name, "%shc_head_base", prefix);
    if ((s = bind_vector(b, name, n, &h->base))) return s;
    snprintf(name, sizeof name, "%shc_head_scale", prefix);
    return bind_vector(b, name, 1, &h->scale);
}

static cn_status bind_mtp(binder *b, cn_mtp_weights *mtp) {
    const int64_t D = b->cfg->hidden_size;
    const char *p = "mtp.0.";
    cn_status s;
    if ((s = bind_block(b, p, b->cfg->n_layers, &mtp->block))) return s;
    if ((s = bind_matrix(b, "mtp.0.e_proj.weight", D, D, &mtp->e_proj))) return s;
    if ((s = bind_matrix(b, "mtp.0.h_proj.weight", D, D, &mtp->h_proj))) return s;
    if ((s = bind_vector(b, "mtp.0.enorm.weight", D, &mtp->enorm))) return s;
    if ((s = bind_vector(b, "mtp.0.hnorm.weight", D, &mtp->hnorm))) return s;
    if ((s = bind_vector(b, "mtp.0.norm.weight", D, &mtp->norm))) return s;
    return bind_hc_head(b, p, &mtp->hc_head);
}

cn_status cn_model_weights_bind(cn_model_weights *w, const cn_checkpoint *ckpt, cn_error *err) {
    memset(w, 0, sizeof *w);
    cn_error local;
    if (!err) err = &local; /* the binder reads back the code of the error it set */
    const cn_model_config *c = &ckpt->config;
    binder b = {w, ckpt, c, err};
    cn_status s;
    const int64_t V = c->vocab_size, D = c->hidden_size;
    if ((s = bind_matrix(&b, "embed.weight", V, D, &w->embed))) goto fail;
    if ((s = bind_matrix(&b, "head.weight", V, D, &w->head))) goto fail;
    if ((s = bind_vector(&b, "norm.weight", D, &w->norm))) goto fail;
    if ((s = bind_hc_head(&b, "", &w->hc_head))) goto fail;
    w->blocks = own(&b, (size_t)c->n_layers * sizeof *w->blocks);
    if (!w->blocks) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int l = 0; l < c->n_layers; l++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "layers.%d.", l);
        if ((s = bind_block(&b, prefix, l, &w->blocks[l]))) goto fail;
    }
    /* MTP is optional: bound when the config declares it and the weights are present
     * (transformers-format checkpoints drop mtp.*). */
    if (c->n_mtp_layers > 0 && cn_checkpoint_find(ckpt, "mtp.0.e_proj.weight")) {
        if ((s = bind_mtp(&b, &w->mtp))) goto fail;
        w->has_mtp = true;
    }
    return CN_OK;
fail:
    cn_model_weights_free(w);
    return s;
}

void cn_model_weights_free(cn_model_weights *w) {
    for (int i = 0; i < w->n_owned; i++) free(w->owned[i]);
    free(w->owned);
    memset(w, 0, sizeof *w);
}

static void set_expert(cn_expert_weights *x, bool on) { x->w1.act_q8 = x->w3.act_q8 = x->w2.act_q8 = on; }

static void set_block(cn_block_weights *b, int64_t n_experts, bool on) {
    cn_attention_weights *a = &b->attn;
    b->hc_attn.fn.act_q8 = b->hc_ffn.fn.act_q8 = on;
    a->wq_a.act_q8 = a->wq_b.act_q8 = a->wkv.act_q8 = a->wo_a.act_q8 = a->wo_b.act_q8 = on;
    a->compressor.wkv.act_q8 = a->compressor.wgate.act_q8 = on;
    a->indexer.wq_b.act_q8 = a->indexer.weights_proj.act_q8 = on;
    a->indexer.compressor.wkv.act_q8 = a->indexer.compressor.wgate.act_q8 = on;
    b->moe.gate.act_q8 = on;
    for (int64_t e = 0; e < n_experts && b->moe.experts; e++) set_expert(&b->moe.experts[e], on);
    set_expert(&b->moe.shared, on);
}

void cn_model_weights_set_act_q8(cn_model_weights *w, const cn_model_config *cfg, bool on) {
    w->head.act_q8 = on; /* the embedding is looked up, never multiplied */
    w->hc_head.fn.act_q8 = on;
    for (int l = 0; l < cfg->n_layers && w->blocks; l++) set_block(&w->blocks[l], cfg->n_routed_experts, on);
    if (w->has_mtp) {
        set_block(&w->mtp.block, cfg->n_routed_experts, on);
        w->mtp.e_proj.act_q8 = w->mtp.h_proj.act_q8 = w->mtp.hc_head.fn.act_q8 = on;
    }
}
