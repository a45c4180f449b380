#include "format/model_config.h"

#include "base/mapped_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Both key spellings are accepted: transformers' (layer_types, mlp_layer_types, compress_rates,
 * rope_parameters{main,compress}) and DeepSeek's legacy ones (compress_ratios, num_hash_layers,
 * qk_rope_head_dim, rope_scaling), as DeepseekV4Config.__post_init__ folds them
 * (specs/deepseek-v4.md 1.2). */

static const cJSON *get(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static cn_status read_int(const cJSON *obj, const char *key, int64_t fallback, bool required, int64_t *out,
                          const char *where, cn_error *err) {
    const cJSON *v = get(obj, key);
    if (!v) {
        if (required) return cn_fail(err, CN_ERR_MISSING, "%s: missing required key \"%s\"", where, key);
        *out = fallback;
        return CN_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9.0e15)
        return cn_fail(err, CN_ERR_FORMAT, "%s: \"%s\" must be an integer", where, key);
    *out = (int64_t)v->valuedouble;
    return CN_OK;
}

static cn_status read_float(const cJSON *obj, const char *key, double fallback, float *out, const char *where,
                            cn_error *err) {
    const cJSON *v = get(obj, key);
    if (!v) {
        *out = (float)fallback;
        return CN_OK;
    }
    if (!cJSON_IsNumber(v)) return cn_fail(err, CN_ERR_FORMAT, "%s: \"%s\" must be a number", where, key);
    *out = (float)v->valuedouble;
    return CN_OK;
}

static cn_status read_bool(const cJSON *obj, const char *key, bool fallback, bool *out, const char *where,
                           cn_error *err) {
    const cJSON *v = get(obj, key);
    if (!v) {
        *out = fallback;
        return CN_OK;
    }
    if (!cJSON_IsBool(v)) return cn_fail(err, CN_ERR_FORMAT, "%s: \"%s\" must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return CN_OK;
}

/* A rope parameter block: {"rope_type"|"type": "default"|"yarn", "rope_theta", "factor", ...}. */
static cn_status read_rope(const cJSON *block, float default_theta, cn_rope_config *rope, const char *where,
                           cn_error *err) {
    cn_status s;
    memset(rope, 0, sizeof *rope);
    rope->theta = default_theta;
    if (!block) return CN_OK;
    if (!cJSON_IsObject(block)) return cn_fail(err, CN_ERR_FORMAT, "%s: rope parameters must be an object", where);
    if ((s = read_float(block, "rope_theta", default_theta, &rope->theta, where, err))) return s;
    const cJSON *type = get(block, "rope_type");
    if (!type) type = get(block, "type");
    if (type && !cJSON_IsString(type)) return cn_fail(err, CN_ERR_FORMAT, "%s: rope type must be a string", where);
    const char *name = type ? type->valuestring : "default";
    if (strcmp(name, "default") == 0) return CN_OK;
    if (strcmp(name, "yarn") != 0)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "%s: rope type \"%s\" is not supported (default or yarn)", where, name);
    rope->yarn = true;
    int64_t orig;
    if ((s = read_float(block, "factor", 1.0, &rope->yarn_factor, where, err))) return s;
    if ((s = read_int(block, "original_max_position_embeddings", 0, true, &orig, where, err))) return s;
    rope->yarn_original_max_position = orig;
    if ((s = read_float(block, "beta_fast", 32.0, &rope->yarn_beta_fast, where, err))) return s;
    if ((s = read_float(block, "beta_slow", 1.0, &rope->yarn_beta_slow, where, err))) return s;
    float attention_factor = 1.0f;
    if ((s = read_float(block, "attention_factor", 1.0, &attention_factor, where, err))) return s;
    if (attention_factor != 1.0f)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "%s: YaRN attention_factor %g is not supported (V4 uses 1.0)", where,
                       attention_factor);
    return CN_OK;
}

static cn_status read_schedule(const cJSON *root, cn_model_config *cfg, const char *where, cn_error *err) {
    const int L = cfg->n_layers;
    const cJSON *layer_types = get(root, "layer_types");
    const cJSON *ratios = get(root, "compress_ratios");
    const cJSON *rates = get(root, "compress_rates");
    int64_t csa_rate = 4, hca_rate = 128;
    cn_status s;
    if (rates) {
        if ((s = read_int(rates, "compressed_sparse_attention", 4, false, &csa_rate, where, err))) return s;
        if ((s = read_int(rates, "heavily_compressed_attention", 128, false, &hca_rate, where, err))) return s;
    }
    if ((s = read_int(root, "compress_rate_csa", csa_rate, false, &csa_rate, where, err))) return s;
    if ((s = read_int(root, "compress_rate_hca", hca_rate, false, &hca_rate, where, err))) return s;

    if (layer_types) {
        if (!cJSON_IsArray(layer_types) || cJSON_GetArraySize(layer_types) < L)
            return cn_fail(err, CN_ERR_FORMAT, "%s: layer_types must list at least %d layers", where, L);
        for (int l = 0; l < L; l++) {
            const cJSON *t = cJSON_GetArrayItem(layer_types, l);
            const char *name = cJSON_IsString(t) ? t->valuestring : "";
            if (strcmp(name, "sliding_attention") == 0) cfg->compress_ratio[l] = 0;
            else if (strcmp(name, "compressed_sparse_attention") == 0) cfg->compress_ratio[l] = (int)csa_rate, cfg->has_indexer[l] = true;
            else if (strcmp(name, "heavily_compressed_attention") == 0) cfg->compress_ratio[l] = (int)hca_rate;
            else return cn_fail(err, CN_ERR_FORMAT, "%s: layer_types[%d] = \"%s\" is not a V4 layer type", where, l, name);
        }
    } else if (ratios) {
        if (!cJSON_IsArray(ratios) || cJSON_GetArraySize(ratios) < L)
            return cn_fail(err, CN_ERR_FORMAT, "%s: compress_ratios must list at least %d layers", where, L);
        for (int l = 0; l < L; l++) {
            const cJSON *r = cJSON_GetArrayItem(ratios, l);
            if (!cJSON_IsNumber(r) || (r->valueint != 0 && r->valueint != 4 && r->valueint != 128))
                return cn_fail(err, CN_ERR_FORMAT, "%s: compress_ratios[%d] must be 0, 4 or 128", where, l);
            cfg->compress_ratio[l] = r->valueint == 4 ? (int)csa_rate : r->valueint == 128 ? (int)hca_rate : 0;
            cfg->has_indexer[l] = r->valueint == 4;
        }
    } else {
        /* Without an explicit schedule HF's default differs from the released checkpoints;
         * refusing is safer than guessing (specs/deepseek-v4.md 1.2). */
        return cn_fail(err, CN_ERR_MISSING, "%s: neither layer_types nor compress_ratios is given", where);
    }
    /* The MTP block(s) use sliding-window attention. */
    cfg->compress_ratio[L] = 0;
    cfg->has_indexer[L] = false;

    const cJSON *mlp_types = get(root, "mlp_layer_types");
    if (mlp_types) {
        if (!cJSON_IsArray(mlp_types) || cJSON_GetArraySize(mlp_types) < L)
            return cn_fail(err, CN_ERR_FORMAT, "%s: mlp_layer_types must list at least %d layers", where, L);
        for (int l = 0; l < L; l++) {
            const cJSON *t = cJSON_GetArrayItem(mlp_types, l);
            const char *name = cJSON_IsString(t) ? t->valuestring : "";
            if (strcmp(name, "hash_moe") == 0) cfg->hash_moe[l] = true;
            else if (strcmp(name, "moe") == 0) cfg->hash_moe[l] = false;
            else return cn_fail(err, CN_ERR_FORMAT, "%s: mlp_layer_types[%d] = \"%s\" is not hash_moe or moe", where, l, name);
        }
    } else {
        int64_t n_hash;
        if ((s = read_int(root, "num_hash_layers", 3, false, &n_hash, where, err))) return s;
        for (int l = 0; l < L; l++) cfg->hash_moe[l] = l < n_hash;
    }
    cfg->hash_moe[L] = false;
    return CN_OK;
}

cn_status cn_model_config_from_json(const char *json_text, const char *where, cn_model_config *cfg, cn_error *err) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_Parse(json_text);
    if (!root) return cn_fail(err, CN_ERR_FORMAT, "%s: not valid JSON", where);
    cn_status s = CN_OK;
    if (!cJSON_IsObject(root)) {
        s = cn_fail(err, CN_ERR_FORMAT, "%s: expected a JSON object", where);
        goto done;
    }
    const cJSON *model_type = get(root, "model_type");
    if (model_type && (!cJSON_IsString(model_type) ||
                       (strcmp(model_type->valuestring, "deepseek_v4") && strcmp(model_type->valuestring, "deepseek4")))) {
        s = cn_fail(err, CN_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not DeepSeek-V4", where,
                    cJSON_IsString(model_type) ? model_type->valuestring : "?");
        goto done;
    }
    int64_t n_layers = 0, hc_iters = 0, n_mtp = 0;
#define INT(key, field, fallback, required) \
    if ((s = read_int(root, key, fallback, required, &cfg->field, where, err))) goto done
    INT("vocab_size", vocab_size, 0, true);
    INT("hidden_size", hidden_size, 0, true);
    if ((s = read_int(root, "num_hidden_layers", 0, true, &n_layers, where, err))) goto done;
    INT("num_attention_heads", n_heads, 0, true);
    INT("head_dim", head_dim, 512, false);
    INT("q_lora_rank", q_lora_rank, 0, true);
    INT("o_groups", o_groups, 0, true);
    INT("o_lora_rank", o_lora_rank, 0, true);
    INT("sliding_window", sliding_window, 128, false);
    INT("index_n_heads", index_n_heads, 64, false);
    INT("index_head_dim", index_head_dim, 128, false);
    INT("index_topk", index_topk, 512, false);
    INT("n_routed_experts", n_routed_experts, 0, true);
    INT("num_experts_per_tok", n_experts_per_tok, 0, true);
    INT("n_shared_experts", n_shared_experts, 1, false);
    INT("moe_intermediate_size", moe_intermediate_size, 0, true);
    INT("hc_mult", hc_mult, 4, false);
    INT("max_position_embeddings", max_position_embeddings, 1048576, false);
    INT("bos_token_id", bos_token_id, 0, false);
    INT("eos_token_id", eos_token_id, 1, false);
#undef INT
    if ((s = read_int(root, "hc_sinkhorn_iters", 20, false, &hc_iters, where, err))) goto done;
    if ((s = read_int(root, "num_nextn_predict_layers", 0, false, &n_mtp, where, err))) goto done;
    if (n_layers < 1 || n_layers > CN_MAX_LAYERS) {
        s = cn_fail(err, CN_ERR_UNSUPPORTED, "%s: num_hidden_layers %lld outside 1..%d", where, (long long)n_layers,
                    CN_MAX_LAYERS);
        goto done;
    }
    cfg->n_layers = (int)n_layers;
    cfg->hc_sinkhorn_iters = (int)hc_iters;
    cfg->n_mtp_layers = (int)n_mtp;
    if ((s = read_float(root, "routed_scaling_factor", 1.0, &cfg->routed_scaling_factor, where, err))) goto done;
    if ((s = read_float(root, "swiglu_limit", 0.0, &cfg->swiglu_limit, where, err))) goto done;
    if ((s = read_float(root, "hc_eps", 1e-6, &cfg->hc_eps, where, err))) goto done;
    if ((s = read_float(root, "rms_norm_eps", 1e-6, &cfg->rms_norm_eps, where, err))) goto done;
    if ((s = read_bool(root, "norm_topk_prob", true, &cfg->norm_topk_prob, where, err))) goto done;

    const cJSON *scoring = get(root, "scoring_func");
    if (scoring && (!cJSON_IsString(scoring) || strcmp(scoring->valuestring, "sqrtsoftplus") != 0)) {
        s = cn_fail(err, CN_ERR_UNSUPPORTED, "%s: scoring_func \"%s\" is not supported (V4 uses sqrtsoftplus)", where,
                    cJSON_IsString(scoring) ? scoring->valuestring : "?");
        goto done;
    }

    /* Rotary dims: partial_rotary_factor (transformers) or qk_rope_head_dim (legacy). */
    int64_t rope_dim = 0;
    if ((s = read_int(root, "qk_rope_head_dim", 0, false, &rope_dim, where, err))) goto done;
    float partial = 0.0f;
    if ((s = read_float(root, "partial_rotary_factor", 0.0, &partial, where, err))) goto done;
    if (partial > 0.0f) rope_dim = (int64_t)((double)cfg->head_dim * partial + 1e-6);
    if (rope_dim == 0) rope_dim = 64;
    cfg->rope_dim = rope_dim;

    float rope_theta, compress_theta;
    if ((s = read_float(root, "rope_theta", 10000.0, &rope_theta, where, err))) goto done;
    if ((s = read_float(root, "compress_rope_theta", 160000.0, &compress_theta, where, err))) goto done;
    const cJSON *rope_params = get(root, "rope_parameters");
    const cJSON *main_block = rope_params ? get(rope_params, "main") : NULL;
    const cJSON *compress_block = rope_params ? get(rope_params, "compress") : NULL;
    if (main_block && compress_block) {
        if ((s = read_rope(main_block, rope_theta, &cfg->rope_main, where, err))) goto done;
        if ((s = read_rope(compress_block, compress_theta, &cfg->rope_compress, where, err))) goto done;
    } else {
        /* Flat form: the yarn block (rope_parameters or legacy rope_scaling) applies to the
         * compressed layers only; the main rope is plain. */
        const cJSON *yarn = rope_params ? rope_params : get(root, "rope_scaling");
        if ((s = read_rope(NULL, rope_theta, &cfg->rope_main, where, err))) goto done;
        if ((s = read_rope(yarn, compress_theta, &cfg->rope_compress, where, err))) goto done;
        cfg->rope_compress.theta = compress_theta;
    }
    if ((s = read_schedule(root, cfg, where, err))) goto done;
    s = cn_model_config_validate(cfg, err);
    if (s) cn_error_prefix(err, "%s", where);
done:
    cJSON_Delete(root);
    return s;
}

cn_status cn_model_config_from_file(const char *path, cn_model_config *cfg, cn_error *err) {
    char *text;
    cn_status s = cn_read_text_file(path, &text, NULL, err);
    if (s) return s;
    s = cn_model_config_from_json(text, path, cfg, err);
    free(text);
    return s;
}

cn_status cn_model_config_validate(const cn_model_config *c, cn_error *err) {
#define REQUIRE(cond, ...) \
    if (!(cond)) return cn_fail(err, CN_ERR_FORMAT, __VA_ARGS__)
    REQUIRE(c->n_layers >= 1 && c->n_layers <= CN_MAX_LAYERS, "num_hidden_layers %d outside 1..%d", c->n_layers, CN_MAX_LAYERS);
    REQUIRE(c->vocab_size > 0 && c->vocab_size < (1 << 30), "vocab_size %lld is invalid", (long long)c->vocab_size);
    REQUIRE(c->hidden_size > 0 && c->hidden_size <= 65536, "hidden_size %lld is invalid", (long long)c->hidden_size);
    REQUIRE(c->n_heads > 0 && c->n_heads <= 1024, "num_attention_heads %lld is invalid", (long long)c->n_heads);
    REQUIRE(c->head_dim > 0 && c->head_dim <= 4096, "head_dim %lld is invalid", (long long)c->head_dim);
    REQUIRE(c->rope_dim > 0 && c->rope_dim % 2 == 0 && c->rope_dim <= c->head_dim,
            "rotary dims %lld must be even and at most head_dim %lld", (long long)c->rope_dim, (long long)c->head_dim);
    REQUIRE(c->q_lora_rank > 0 && c->q_lora_rank <= 65536, "q_lora_rank %lld is invalid", (long long)c->q_lora_rank);
    REQUIRE(c->o_groups > 0 && c->n_heads % c->o_groups == 0, "o_groups %lld must divide num_attention_heads %lld",
            (long long)c->o_groups, (long long)c->n_heads);
    REQUIRE(c->o_lora_rank > 0 && c->o_lora_rank <= 65536, "o_lora_rank %lld is invalid", (long long)c->o_lora_rank);
    REQUIRE(c->sliding_window > 0 && c->sliding_window <= 1 << 20, "sliding_window %lld is invalid", (long long)c->sliding_window);
    REQUIRE(c->n_routed_experts > 0 && c->n_routed_experts <= 4096, "n_routed_experts %lld is invalid", (long long)c->n_routed_experts);
    REQUIRE(c->n_experts_per_tok > 0 && c->n_experts_per_tok <= c->n_routed_experts,
            "num_experts_per_tok %lld must be in 1..n_routed_experts", (long long)c->n_experts_per_tok);
    REQUIRE(c->n_shared_experts >= 0 && c->n_shared_experts <= 1, "n_shared_experts %lld: only 0 or 1 supported",
            (long long)c->n_shared_experts);
    REQUIRE(c->moe_intermediate_size > 0 && c->moe_intermediate_size <= 65536, "moe_intermediate_size %lld is invalid",
            (long long)c->moe_intermediate_size);
    REQUIRE(c->hc_mult >= 1 && c->hc_mult <= 16, "hc_mult %lld is invalid", (long long)c->hc_mult);
    REQUIRE(c->hc_sinkhorn_iters >= 1 && c->hc_sinkhorn_iters <= 1000, "hc_sinkhorn_iters %d is invalid", c->hc_sinkhorn_iters);
    REQUIRE(c->swiglu_limit >= 0.0f, "swiglu_limit must not be negative");
    REQUIRE(c->n_mtp_layers >= 0 && c->n_mtp_layers <= 1, "num_nextn_predict_layers %d: at most 1 supported", c->n_mtp_layers);
    bool any_indexer = false;
    for (int l = 0; l < c->n_layers; l++) {
        REQUIRE(c->compress_ratio[l] >= 0 && c->compress_ratio[l] <= 1 << 16, "layer %d: compress ratio %d is invalid", l,
                c->compress_ratio[l]);
        REQUIRE(!c->has_indexer[l] || c->compress_ratio[l] > 0, "layer %d: an indexer needs a compressed layer", l);
        any_indexer |= c->has_indexer[l];
    }
    if (any_indexer) {
        REQUIRE(c->index_n_heads > 0 && c->index_n_heads <= 1024, "index_n_heads %lld is invalid", (long long)c->index_n_heads);
        REQUIRE(c->index_head_dim >= c->rope_dim && c->index_head_dim <= 4096,
                "index_head_dim %lld must be at least the rotary dims %lld", (long long)c->index_head_dim, (long long)c->rope_dim);
        REQUIRE(c->index_topk > 0, "index_topk must be positive");
    }
    const cn_rope_config *ropes[2] = {&c->rope_main, &c->rope_compress};
    for (int i = 0; i < 2; i++) {
        REQUIRE(ropes[i]->theta > 1.0f, "rope theta %g is invalid", ropes[i]->theta);
        if (ropes[i]->yarn)
            REQUIRE(ropes[i]->yarn_factor >= 1.0f && ropes[i]->yarn_original_max_position > 0,
                    "YaRN needs factor >= 1 and original_max_position_embeddings > 0");
    }
#undef REQUIRE
    return CN_OK;
}

static void print_rope(FILE *f, const char *name, const cn_rope_config *r) {
    fprintf(f, "%-28s theta %g", name, r->theta);
    if (r->yarn)
        fprintf(f, ", yarn factor %g, original %lld, beta_fast %g, beta_slow %g", r->yarn_factor,
                (long long)r->yarn_original_max_position, r->yarn_beta_fast, r->yarn_beta_slow);
    fputc('\n', f);
}

void cn_model_config_print(const cn_model_config *c, void *file) {
    FILE *f = file;
    fprintf(f, "%-28s %lld\n", "vocab_size", (long long)c->vocab_size);
    fprintf(f, "%-28s %lld\n", "hidden_size", (long long)c->hidden_size);
    fprintf(f, "%-28s %d\n", "num_hidden_layers", c->n_layers);
    fprintf(f, "%-28s %lld x %lld (rope %lld)\n", "attention heads x head_dim", (long long)c->n_heads,
            (long long)c->head_dim, (long long)c->rope_dim);
    fprintf(f, "%-28s %lld\n", "q_lora_rank", (long long)c->q_lora_rank);
    fprintf(f, "%-28s %lld groups x %lld\n", "output projection", (long long)c->o_groups, (long long)c->o_lora_rank);
    fprintf(f, "%-28s %lld\n", "sliding_window", (long long)c->sliding_window);
    fprintf(f, "%-28s %lld heads x %lld, top-%lld\n", "indexer", (long long)c->index_n_heads,
            (long long)c->index_head_dim, (long long)c->index_topk);
    fprintf(f, "%-28s %lld routed (top-%lld) + %lld shared, width %lld, scale %g, swiglu limit %g\n", "experts",
            (long long)c->n_routed_experts, (long long)c->n_experts_per_tok, (long long)c->n_shared_experts,
            (long long)c->moe_intermediate_size, c->routed_scaling_factor, c->swiglu_limit);
    fprintf(f, "%-28s %lld streams, %d Sinkhorn iterations, eps %g\n", "mHC", (long long)c->hc_mult,
            c->hc_sinkhorn_iters, c->hc_eps);
    print_rope(f, "rope (sliding layers)", &c->rope_main);
    print_rope(f, "rope (compressed layers)", &c->rope_compress);
    fprintf(f, "%-28s %d\n", "MTP blocks", c->n_mtp_layers);
    fprintf(f, "%-28s", "layer schedule");
    for (int l = 0; l < c->n_layers; l++)
        fprintf(f, " %d:%s%s", l, c->compress_ratio[l] == 0 ? "SWA" : c->has_indexer[l] ? "CSA" : "HCA",
                c->hash_moe[l] ? "/hash" : "");
    fputc('\n', f);
}
