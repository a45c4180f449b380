/* The DeepSeek-V4 weights bound from a checkpoint: every matrix a view into the stored data
 * in its stored format, every small vector (norms, biases, sinks, mHC scales) converted to an
 * f32 array owned by the model. Binding checks every shape against the config. */
#ifndef CN_MODEL_WEIGHTS_H
#define CN_MODEL_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "format/checkpoint.h"
#include "tensor/matrix.h"

/* One mHC site (specs/deepseek-v4.md 3): fn [(2+n)n][n·D], base [(2+n)n], scale [3]. */
typedef struct {
    cn_matrix fn;
    float *base, *scale;
} cn_hc_weights;

/* A compressor (5.3): wkv, wgate [coff·dc][D], ape [m][coff·dc], norm [dc]. */
typedef struct {
    cn_matrix wkv, wgate;
    float *ape, *norm;
} cn_compressor_weights;

typedef struct {
    cn_matrix wq_b;          /* [Hi·di][Rq] */
    cn_matrix weights_proj;  /* [Hi][D] */
    cn_compressor_weights compressor;
} cn_indexer_weights;

typedef struct {
    cn_matrix wq_a, wq_b, wkv, wo_a, wo_b;
    float *q_norm, *kv_norm, *sinks;
    cn_compressor_weights compressor; /* ratio > 0 */
    cn_indexer_weights indexer;       /* CSA only */
} cn_attention_weights;

typedef struct {
    cn_matrix w1, w3, w2; /* gate [I][D], up [I][D], down [D][I] */
} cn_expert_weights;

typedef struct {
    cn_matrix gate;          /* router [E][D] */
    float *bias;             /* [E], learned layers only */
    int32_t *tid2eid;        /* [V][K], hash layers only */
    cn_expert_weights *experts;
    cn_expert_weights shared;
    bool has_shared;
} cn_moe_weights;

typedef struct {
    cn_hc_weights hc_attn, hc_ffn;
    float *attn_norm, *ffn_norm;
    cn_attention_weights attn;
    cn_moe_weights moe;
} cn_block_weights;

/* The collapse of the streams before the head (section 8): fn [n][n·D], base [n], scale [1]. */
typedef struct {
    cn_matrix fn;
    float *base, *scale;
} cn_hc_head_weights;

/* Multi-token prediction block (section 9). */
typedef struct {
    cn_block_weights block;
    cn_matrix e_proj, h_proj;
    float *enorm, *hnorm, *norm;
    cn_hc_head_weights hc_head;
} cn_mtp_weights;

typedef struct {
    cn_matrix embed;          /* [V][D], rows looked up by token id */
    cn_matrix head;           /* [V][D] */
    float *norm;
    cn_hc_head_weights hc_head;
    cn_block_weights *blocks; /* [L] */
    bool has_mtp;
    cn_mtp_weights mtp;
    /* Every f32 array above, freed together. */
    void **owned;
    int n_owned, cap_owned;
} cn_model_weights;

cn_status cn_model_weights_bind(cn_model_weights *w, const cn_checkpoint *ckpt, cn_error *err);
void cn_model_weights_free(cn_model_weights *w);

/* Sets act_q8 (tensor/matrix.h) on every matrix that is multiplied: 8-bit activations where the
 * stored format has an integer dot, nothing changes for the others. */
void cn_model_weights_set_act_q8(cn_model_weights *w, const cn_model_config *cfg, bool on);

#endif
