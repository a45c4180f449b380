#include "model/weight_traffic.h"

#include "tensor/q8_activations.h"

static double elements(const cn_matrix *m) { return (double)m->rows * (double)m->cols; }

double cn_matrix_bytes(const cn_matrix *m) {
    double bytes = (double)m->rows * (double)m->row_bytes;
    if (m->dtype == CN_DTYPE_F8_E4M3) bytes += (double)((m->rows + 127) / 128) * (double)m->scale_cols;
    if (m->dtype == CN_DTYPE_MXFP4) bytes += (double)m->rows * (double)m->scale_cols;
    return bytes;
}

/* Adds one matrix read once per token (times `count`) to the bytes and element totals, and to the
 * 8-bit-activation bytes if cn_matmul takes the integer path for it (tensor/matmul.c). */
static void add(cn_weight_traffic *t, double *bytes, const cn_matrix *m, double count) {
    *bytes += count * cn_matrix_bytes(m);
    t->active_params += count * elements(m);
    if (m->act_q8 && cn_q8_layout_of(m->dtype) != CN_Q8_NONE) t->int8_dot += count * cn_matrix_bytes(m);
}

cn_weight_traffic cn_model_weight_traffic(const cn_model *model) {
    const cn_model_config *c = model->cfg;
    const cn_model_weights *w = &model->weights;
    cn_weight_traffic t = {0};
    add(&t, &t.head, &w->head, 1);
    add(&t, &t.head, &w->hc_head.fn, 1);
    t.head_params = t.active_params;
    t.head += (double)w->embed.row_bytes; /* one row looked up, no multiply */
    for (int l = 0; l < c->n_layers; l++) {
        const cn_block_weights *b = &w->blocks[l];
        const cn_attention_weights *a = &b->attn;
        const cn_matrix *dense[] = {&b->hc_attn.fn, &b->hc_ffn.fn, &a->wq_a, &a->wq_b, &a->wkv, &a->wo_a, &a->wo_b, &b->moe.gate};
        for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++) add(&t, &t.dense, dense[i], 1);
        if (c->compress_ratio[l] > 0) {
            add(&t, &t.dense, &a->compressor.wkv, 1);
            add(&t, &t.dense, &a->compressor.wgate, 1);
        }
        if (c->has_indexer[l]) {
            add(&t, &t.dense, &a->indexer.wq_b, 1);
            add(&t, &t.dense, &a->indexer.weights_proj, 1);
            add(&t, &t.dense, &a->indexer.compressor.wkv, 1);
            add(&t, &t.dense, &a->indexer.compressor.wgate, 1);
        }
        if (b->moe.has_shared) {
            add(&t, &t.dense, &b->moe.shared.w1, 1);
            add(&t, &t.dense, &b->moe.shared.w3, 1);
            add(&t, &t.dense, &b->moe.shared.w2, 1);
        }
        /* Experts share one shape and format, so K of them cost K times the first. */
        const double K = (double)c->n_experts_per_tok;
        const cn_expert_weights *e = &b->moe.experts[0];
        add(&t, &t.routed, &e->w1, K), add(&t, &t.routed, &e->w3, K), add(&t, &t.routed, &e->w2, K);
    }
    t.per_token = t.dense + t.routed + t.head;
    return t;
}
