/* A `deepseek4` GGUF as a checkpoint: the model configuration from the metadata and every
 * tensor under its canonical name, viewed in place in the mapped file.
 *
 * Metadata keys are llama.cpp's (src/llama-arch.cpp LLM_KV_NAMES; read by
 * src/models/deepseek4.cpp load_arch_hparams), which antirez/ds4 shares (specs/deepseek-v4.md
 * 10.4). Keys llama.cpp requires are required here too; the few it treats as optional get the
 * V4 defaults. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

#define ARCH "deepseek4"

/* "deepseek4.<suffix>" */
static const char *arch_key(char *buf, size_t size, const char *suffix) {
    snprintf(buf, size, ARCH ".%s", suffix);
    return buf;
}

static cn_status get_int(const cn_gguf *g, const char *suffix, int64_t *out, cn_error *err) {
    char key[128];
    return cn_gguf_get_int(g, arch_key(key, sizeof key, suffix), out, err);
}

static cn_status get_float(const cn_gguf *g, const char *suffix, double *out, cn_error *err) {
    char key[128];
    return cn_gguf_get_float(g, arch_key(key, sizeof key, suffix), out, err);
}

static bool has_key(const cn_gguf *g, const char *suffix) {
    char key[128];
    return cn_gguf_find(g, arch_key(key, sizeof key, suffix)) != NULL;
}

static cn_status get_int_or(const cn_gguf *g, const char *suffix, int64_t fallback, int64_t *out, cn_error *err) {
    if (!has_key(g, suffix)) {
        *out = fallback;
        return CN_OK;
    }
    return get_int(g, suffix, out, err);
}

static cn_status get_float_or(const cn_gguf *g, const char *suffix, double fallback, double *out, cn_error *err) {
    if (!has_key(g, suffix)) {
        *out = fallback;
        return CN_OK;
    }
    return get_float(g, suffix, out, err);
}

/* A value llama.cpp may store either as a scalar or as a per-layer array (get_key_or_arr):
 * ClawNet's config holds one value, so the first n entries of an array must all agree. */
static cn_status get_uniform_float(const cn_gguf *g, const char *suffix, int n, double *out, cn_error *err) {
    char key[128];
    const cn_gguf_kv *kv = cn_gguf_find(g, arch_key(key, sizeof key, suffix));
    if (!kv || kv->type != CN_GGUF_ARRAY) return cn_gguf_get_float(g, key, out, err);
    cn_status s = cn_gguf_array_float(kv, 0, out, err);
    for (int l = 1; l < n && !s; l++) {
        double v;
        if ((s = cn_gguf_array_float(kv, (uint64_t)l, &v, err))) break;
        if (v != *out)
            s = cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata %s differs between layers (%g at layer 0, %g at layer %d)",
                        key, *out, v, l);
    }
    return s;
}

/* Integers that must fit the config's int fields and be non-negative. */
static cn_status check_count(const char *what, int64_t v, int64_t max, cn_error *err) {
    if (v < 0 || v > max)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata " ARCH ".%s = %" PRId64 " is outside 0..%" PRId64, what, v, max);
    return CN_OK;
}

/* ---- layer count ------------------------------------------------------------------------------ */

/* llama.cpp-style converters put the MTP block(s) after the main layers as extra `blk.N`
 * (whether block_count includes them differs between converters), and every MTP block has
 * NextN tensors, so the first block with `blk.N.nextn.*` is where the main layers end. */
static int first_nextn_block(const cn_gguf *g, int64_t block_count) {
    int64_t first = block_count;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const cn_gguf_string n = g->tensors[i].name;
        if (n.len < 5 || memcmp(n.ptr, "blk.", 4) != 0) continue;
        int64_t block = 0;
        size_t p = 4;
        while (p < n.len && p < 12 && n.ptr[p] >= '0' && n.ptr[p] <= '9') block = block * 10 + (n.ptr[p++] - '0');
        static const char nextn[] = ".nextn.";
        if (p > 4 && n.len - p > sizeof nextn - 1 && memcmp(n.ptr + p, nextn, sizeof nextn - 1) == 0 && block < first)
            first = block;
    }
    return (int)first;
}

/* ---- configuration ---------------------------------------------------------------------------- */

static cn_status read_schedule(const cn_gguf *g, cn_model_config *c, cn_error *err) {
    char key[128];
    const cn_gguf_kv *ratios = cn_gguf_find(g, arch_key(key, sizeof key, "attention.compress_ratios"));
    if (!ratios) return cn_fail(err, CN_ERR_MISSING, "GGUF metadata %s is missing", key);
    if (ratios->type != CN_GGUF_ARRAY || ratios->count < (uint64_t)c->n_layers)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s must be an array of at least %d ratios", key, c->n_layers);
    int64_t n_hash = 0;
    cn_status s = get_int(g, "hash_layer_count", &n_hash, err);
    if (s || (s = check_count("hash_layer_count", n_hash, c->n_layers, err))) return s;
    /* Entry n_layers, when present, is the MTP block's (HF's compress_ratios has L+1 entries). */
    for (int l = 0; l <= c->n_layers; l++) {
        int64_t ratio = 0;
        if ((uint64_t)l < ratios->count && (s = cn_gguf_array_int(ratios, (uint64_t)l, &ratio, err))) return s;
        if (ratio < 0 || ratio > (1 << 16))
            return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s[%d] = %" PRId64 " is not a compression ratio", key, l, ratio);
        c->compress_ratio[l] = (int)ratio;
        /* Ratio 4 is CSA, the only layer type with a lightning indexer (llama.cpp loads the
         * indexer tensors exactly for ratio 4; specs/deepseek-v4.md 1.2). */
        c->has_indexer[l] = ratio == 4;
        c->hash_moe[l] = l < c->n_layers && l < n_hash;
    }
    return CN_OK;
}

/* Main rope: rope.freq_base, never YaRN. Compressed layers: attention.compress_rope_freq_base
 * with the rope.scaling.* YaRN parameters (specs/deepseek-v4.md 1.1). */
static cn_status read_rope(const cn_gguf *g, cn_model_config *c, cn_error *err) {
    double theta = 0, compress_theta = 0;
    cn_status s;
    if ((s = get_float_or(g, "rope.freq_base", 10000.0, &theta, err))) return s;
    if ((s = get_float(g, "attention.compress_rope_freq_base", &compress_theta, err))) return s;
    c->rope_main = (cn_rope_config){.theta = (float)theta};
    c->rope_compress = (cn_rope_config){.theta = (float)compress_theta};

    char key[128];
    bool yarn = has_key(g, "rope.scaling.factor");
    if (has_key(g, "rope.scaling.type")) {
        cn_gguf_string type;
        if ((s = cn_gguf_get_string(g, arch_key(key, sizeof key, "rope.scaling.type"), &type, err))) return s;
        if (cn_gguf_string_equals(type, "none")) yarn = false;
        else if (cn_gguf_string_equals(type, "yarn")) yarn = true;
        else
            return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata %s = \"%.*s\": only yarn scaling is supported", key,
                           (int)(type.len > 64 ? 64 : type.len), type.ptr);
    }
    if (!yarn) return CN_OK;
    double factor = 0, beta_fast = 0, beta_slow = 0;
    int64_t original = 0;
    if ((s = get_float(g, "rope.scaling.factor", &factor, err))) return s;
    if ((s = get_int(g, "rope.scaling.original_context_length", &original, err))) return s;
    if ((s = get_float_or(g, "rope.scaling.yarn_beta_fast", 32.0, &beta_fast, err))) return s;
    if ((s = get_float_or(g, "rope.scaling.yarn_beta_slow", 1.0, &beta_slow, err))) return s;
    c->rope_compress.yarn = true;
    c->rope_compress.yarn_factor = (float)factor;
    c->rope_compress.yarn_original_max_position = original;
    c->rope_compress.yarn_beta_fast = (float)beta_fast;
    c->rope_compress.yarn_beta_slow = (float)beta_slow;
    return CN_OK;
}

static cn_status read_vocab_size(const cn_gguf *g, int64_t *out, cn_error *err) {
    if (has_key(g, "vocab_size")) return get_int(g, "vocab_size", out, err);
    /* llama.cpp's converters usually leave vocab_size out and let the tokenizer define it. */
    const cn_gguf_kv *tokens = cn_gguf_find(g, "tokenizer.ggml.tokens");
    if (tokens && tokens->type == CN_GGUF_ARRAY && tokens->count <= INT64_MAX) {
        *out = (int64_t)tokens->count;
        return CN_OK;
    }
    for (size_t i = 0; i < g->n_tensors; i++)
        if (cn_gguf_string_equals(g->tensors[i].name, "token_embd.weight") && g->tensors[i].n_dims == 2) {
            *out = g->tensors[i].ne[1];
            return CN_OK;
        }
    return cn_fail(err, CN_ERR_MISSING, "GGUF file gives no vocabulary size (no " ARCH ".vocab_size, "
                                        "tokenizer.ggml.tokens or token_embd.weight)");
}

static cn_status read_config(const cn_gguf *g, int n_layers, cn_model_config *c, cn_error *err) {
    memset(c, 0, sizeof *c);
    c->n_layers = n_layers;
    cn_status s;
    int64_t v = 0, nextn = 0, key_length = 0;
    double f = 0;
#define INT_KEY(suffix, field) \
    if ((s = get_int(g, suffix, &c->field, err))) return s
    if ((s = read_vocab_size(g, &c->vocab_size, err))) return s;
    INT_KEY("embedding_length", hidden_size);
    INT_KEY("attention.q_lora_rank", q_lora_rank);
    INT_KEY("attention.output_group_count", o_groups);
    INT_KEY("attention.output_lora_rank", o_lora_rank);
    INT_KEY("attention.sliding_window", sliding_window);
    INT_KEY("rope.dimension_count", rope_dim);
    INT_KEY("attention.indexer.head_count", index_n_heads);
    INT_KEY("attention.indexer.key_length", index_head_dim);
    INT_KEY("attention.indexer.top_k", index_topk);
    INT_KEY("expert_count", n_routed_experts);
    INT_KEY("expert_used_count", n_experts_per_tok);
    INT_KEY("expert_shared_count", n_shared_experts);
    INT_KEY("expert_feed_forward_length", moe_intermediate_size);
    INT_KEY("hyper_connection.count", hc_mult);
    INT_KEY("context_length", max_position_embeddings);
#undef INT_KEY
    /* head_count may be per-layer in llama.cpp; V4 has one value. */
    if ((s = get_uniform_float(g, "attention.head_count", n_layers, &f, err))) return s;
    if (f < 1 || f > 1e6 || f != (double)(int64_t)f)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata " ARCH ".attention.head_count = %g is invalid", f);
    c->n_heads = (int64_t)f;
    if ((s = get_int(g, "attention.key_length", &key_length, err))) return s;
    c->head_dim = key_length;
    if (has_key(g, "attention.value_length")) {
        if ((s = get_int(g, "attention.value_length", &v, err))) return s;
        if (v != key_length)
            return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata: value_length %" PRId64 " differs from key_length %" PRId64
                                               " (V4 shares K and V)", v, key_length);
    }
    if ((s = get_int(g, "hyper_connection.sinkhorn_iterations", &v, err))) return s;
    if ((s = check_count("hyper_connection.sinkhorn_iterations", v, 1 << 20, err))) return s;
    c->hc_sinkhorn_iters = (int)v;
    if ((s = get_int_or(g, "nextn_predict_layers", 0, &nextn, err))) return s;
    if ((s = check_count("nextn_predict_layers", nextn, 16, err))) return s;
    c->n_mtp_layers = (int)nextn;
    /* V4 routes without expert groups (specs/deepseek-v4.md 1.1, topk_method noaux_tc). */
    if ((s = get_int_or(g, "expert_group_count", 0, &v, err))) return s;
    if (v > 1) return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata " ARCH ".expert_group_count = %" PRId64 ": group-limited routing is not V4", v);

    /* llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE_SQRT_SOFTPLUS = 4; its deepseek4 loader requires the key,
     * older files may lack it. V4 scores with sqrt(softplus) (specs/deepseek-v4.md 7). */
    if ((s = get_int_or(g, "expert_gating_func", 4, &v, err))) return s;
    if (v != 4)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata " ARCH ".expert_gating_func = %" PRId64
                                                ": only 4 (sqrtsoftplus) is V4's scoring", v);
    if ((s = get_float(g, "expert_weights_scale", &f, err))) return s;
    c->routed_scaling_factor = (float)f;
    {
        char key[128];
        if ((s = cn_gguf_get_bool(g, arch_key(key, sizeof key, "expert_weights_norm"), &c->norm_topk_prob, err))) return s;
    }
    if ((s = get_uniform_float(g, "swiglu_clamp_exp", n_layers, &f, err))) return s;
    c->swiglu_limit = (float)f;
    if (has_key(g, "swiglu_clamp_shexp")) {
        double shared = 0;
        if ((s = get_uniform_float(g, "swiglu_clamp_shexp", n_layers, &shared, err))) return s;
        if (shared != f)
            return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata: shared-expert SwiGLU limit %g differs from the routed "
                                                    "one %g (V4 uses one swiglu_limit)", shared, f);
    }
    if ((s = get_float(g, "hyper_connection.epsilon", &f, err))) return s;
    c->hc_eps = (float)f;
    if ((s = get_float(g, "attention.layer_norm_rms_epsilon", &f, err))) return s;
    c->rms_norm_eps = (float)f;
    if ((s = read_rope(g, c, err))) return s;
    if ((s = read_schedule(g, c, err))) return s;

    c->bos_token_id = 0;
    c->eos_token_id = 1;
    if (cn_gguf_find(g, "tokenizer.ggml.bos_token_id") &&
        (s = cn_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &c->bos_token_id, err)))
        return s;
    if (cn_gguf_find(g, "tokenizer.ggml.eos_token_id") &&
        (s = cn_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &c->eos_token_id, err)))
        return s;
    return CN_OK;
}

/* ---- tensors ---------------------------------------------------------------------------------- */

static cn_status add_tensor(cn_checkpoint *ckpt, const cn_gguf_tensor_info *t, int n_main_layers, int file_index,
                            int *n_mtp_blocks, cn_error *err) {
    char gguf_name[CN_GGUF_MAX_NAME + 1], name[CN_GGUF_MAX_NAME + 64];
    memcpy(gguf_name, t->name.ptr, t->name.len); /* the parser bounds the length and rules out NUL */
    gguf_name[t->name.len] = 0;
    cn_dtype dtype;
    if (!cn_ggml_type_to_dtype(t->ggml_type, &dtype))
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "tensor %s has ggml type %s (%u), which ClawNet cannot read yet "
                       "(supported: F32, F16, BF16, Q8_0, Q2_K..Q6_K, IQ2_XXS, MXFP4, I8, I32, I64)",
                       gguf_name, cn_ggml_type_name(t->ggml_type), t->ggml_type);
    /* GGUF lists dims innermost first; checkpoints hold them outermost first. */
    int64_t shape[CN_MAX_DIMS];
    for (int d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
    /* Names outside the V4 layout keep their GGUF spelling, which cannot collide with a
     * canonical name (those never start with blk., token_embd or output). */
    if (!cn_gguf_canonical_name(gguf_name, n_main_layers, name, sizeof name)) strcpy(name, gguf_name);
    long mtp_block;
    if (sscanf(name, "mtp.%ld.", &mtp_block) == 1 && mtp_block + 1 > *n_mtp_blocks) *n_mtp_blocks = (int)mtp_block + 1;
    return cn_checkpoint_add(ckpt, name, gguf_name, dtype, t->n_dims, shape, t->data, (size_t)t->n_bytes, file_index,
                             err);
}

cn_status cn_checkpoint_add_gguf(cn_checkpoint *ckpt, const cn_gguf *g, int file_index, cn_error *err) {
    cn_gguf_string arch;
    cn_status s = cn_gguf_get_string(g, "general.architecture", &arch, err);
    if (s) return s;
    if (!cn_gguf_string_equals(arch, ARCH))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF architecture is \"%.*s\", expected \"" ARCH "\" (DeepSeek-V4)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    int64_t block_count = 0;
    if ((s = get_int(g, "block_count", &block_count, err))) return s;
    if (block_count < 1 || block_count > CN_MAX_LAYERS + 16)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF metadata " ARCH ".block_count = %" PRId64 " is outside 1..%d",
                       block_count, CN_MAX_LAYERS + 16);
    const int n_main_layers = first_nextn_block(g, block_count);
    if (n_main_layers < 1 || n_main_layers > CN_MAX_LAYERS)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF file has %d main layers (1..%d supported)", n_main_layers,
                       CN_MAX_LAYERS);
    if ((s = read_config(g, n_main_layers, &ckpt->config, err))) return s;

    int n_mtp_blocks = 0;
    for (size_t i = 0; i < g->n_tensors; i++)
        if ((s = add_tensor(ckpt, &g->tensors[i], n_main_layers, file_index, &n_mtp_blocks, err))) return s;
    if (n_mtp_blocks > ckpt->config.n_mtp_layers) ckpt->config.n_mtp_layers = n_mtp_blocks;
    ckpt->naming = CN_NAMES_GGUF;
    if ((s = cn_model_config_validate(&ckpt->config, err))) {
        cn_error_prefix(err, "GGUF metadata");
        return s;
    }
    return CN_OK;
}

/* ---- file ------------------------------------------------------------------------------------- */

cn_status cn_checkpoint_open_gguf(const char *path, cn_checkpoint *ckpt, cn_error *err) {
    memset(ckpt, 0, sizeof *ckpt);
    ckpt->files = calloc(1, sizeof *ckpt->files);
    if (!ckpt->files) return cn_fail(err, CN_ERR_NOMEM, "out of memory opening %s", path);
    cn_status s = cn_mapped_file_open(path, &ckpt->files[0], err);
    if (s) {
        cn_checkpoint_close(ckpt);
        return s;
    }
    ckpt->n_files = 1;
    cn_gguf g;
    s = cn_gguf_parse(ckpt->files[0].data, ckpt->files[0].size, &g, err);
    if (!s) {
        s = cn_checkpoint_add_gguf(ckpt, &g, 0, err);
        cn_gguf_free(&g);
    }
    if (s) {
        cn_error_prefix(err, "%s", path);
        cn_checkpoint_close(ckpt);
    }
    return s;
}
