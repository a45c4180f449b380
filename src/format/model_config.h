/* The DeepSeek-V4 hyper-parameters, read from an HF config.json (both the transformers
 * form and DeepSeek's legacy keys) or from GGUF metadata. Nothing in model/ hard-codes a
 * V4-Flash constant: every shape and the layer schedule come from here. */
#ifndef CN_FORMAT_MODEL_CONFIG_H
#define CN_FORMAT_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define CN_MAX_LAYERS 256

typedef struct {
    float theta;
    bool yarn;              /* YaRN frequency interpolation (compressed layers only in V4) */
    float yarn_factor;
    int64_t yarn_original_max_position;
    float yarn_beta_fast, yarn_beta_slow;
} cn_rope_config;

typedef struct {
    int64_t vocab_size;
    int64_t hidden_size;          /* D */
    int n_layers;                 /* L, main blocks only */
    int64_t n_heads;              /* H */
    int64_t head_dim;             /* d */
    int64_t rope_dim;             /* r: last r dims of a head are rotated */
    int64_t q_lora_rank;          /* Rq */
    int64_t o_groups;             /* G */
    int64_t o_lora_rank;          /* Ro */
    int64_t sliding_window;       /* W */
    /* compress_ratio[l]: 0 sliding only, 4 CSA (m=4 with indexer), 128 HCA (any m > 0 without
     * indexer is allowed: what makes a layer CSA is has_indexer). Entry n_layers is the MTP block. */
    int compress_ratio[CN_MAX_LAYERS + 1];
    bool has_indexer[CN_MAX_LAYERS + 1];
    bool hash_moe[CN_MAX_LAYERS + 1];
    cn_rope_config rope_main;     /* sliding-only layers */
    cn_rope_config rope_compress; /* compressed layers, their compressors and indexers */
    int64_t index_n_heads, index_head_dim, index_topk;
    int64_t n_routed_experts, n_experts_per_tok, n_shared_experts, moe_intermediate_size;
    float routed_scaling_factor;
    bool norm_topk_prob;
    float swiglu_limit;
    int64_t hc_mult;              /* n residual streams */
    int hc_sinkhorn_iters;
    float hc_eps;
    float rms_norm_eps;
    int n_mtp_layers;
    int64_t max_position_embeddings;
    int64_t bos_token_id, eos_token_id;
} cn_model_config;

/* Parses an HF config.json text. `where` names the file in error messages. */
cn_status cn_model_config_from_json(const char *json_text, const char *where, cn_model_config *cfg,
                                    cn_error *err);

/* Reads and parses a config.json file. */
cn_status cn_model_config_from_file(const char *path, cn_model_config *cfg, cn_error *err);

/* Checks internal consistency (divisibility, ranges); every loader calls it. */
cn_status cn_model_config_validate(const cn_model_config *cfg, cn_error *err);

/* Prints the configuration as "key: value" lines. */
void cn_model_config_print(const cn_model_config *cfg, void *file /* FILE* */);

#endif
