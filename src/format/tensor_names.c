#include "format/tensor_names.h"

#include <stdio.h>
#include <string.h>

/* transformers name fragment -> official fragment, for the part after "model.layers.N."
 * (specs/deepseek-v4.md 10.3). Longest, most specific prefixes first. */
static const struct {
    const char *hf, *official;
} layer_map[] = {
    {"self_attn.compressor.indexer.scorer.weights_proj.weight", "attn.indexer.weights_proj.weight"},
    {"self_attn.compressor.indexer.q_b_proj.weight", "attn.indexer.wq_b.weight"},
    {"self_attn.compressor.indexer.kv_proj.weight", "attn.indexer.compressor.wkv.weight"},
    {"self_attn.compressor.indexer.gate_proj.weight", "attn.indexer.compressor.wgate.weight"},
    {"self_attn.compressor.indexer.position_bias", "attn.indexer.compressor.ape"},
    {"self_attn.compressor.indexer.kv_norm.weight", "attn.indexer.compressor.norm.weight"},
    {"self_attn.compressor.kv_proj.weight", "attn.compressor.wkv.weight"},
    {"self_attn.compressor.gate_proj.weight", "attn.compressor.wgate.weight"},
    {"self_attn.compressor.position_bias", "attn.compressor.ape"},
    {"self_attn.compressor.kv_norm.weight", "attn.compressor.norm.weight"},
    {"self_attn.q_a_proj.weight", "attn.wq_a.weight"},
    {"self_attn.q_a_norm.weight", "attn.q_norm.weight"},
    {"self_attn.q_b_proj.weight", "attn.wq_b.weight"},
    {"self_attn.kv_proj.weight", "attn.wkv.weight"},
    {"self_attn.kv_norm.weight", "attn.kv_norm.weight"},
    {"self_attn.o_a_proj.weight", "attn.wo_a.weight"},
    {"self_attn.o_b_proj.weight", "attn.wo_b.weight"},
    {"self_attn.sinks", "attn.attn_sink"},
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"attn_hc.fn", "hc_attn_fn"},
    {"attn_hc.base", "hc_attn_base"},
    {"attn_hc.scale", "hc_attn_scale"},
    {"ffn_hc.fn", "hc_ffn_fn"},
    {"ffn_hc.base", "hc_ffn_base"},
    {"ffn_hc.scale", "hc_ffn_scale"},
    {"mlp.gate.weight", "ffn.gate.weight"},
    {"mlp.gate.e_score_correction_bias", "ffn.gate.bias"},
    {"mlp.gate.tid2eid", "ffn.gate.tid2eid"},
    {"mlp.experts.gate_up_proj", "ffn.experts.w13.weight"},
    {"mlp.experts.down_proj", "ffn.experts.w2.weight"},
    {"mlp.shared_experts.gate_proj.weight", "ffn.shared_experts.w1.weight"},
    {"mlp.shared_experts.up_proj.weight", "ffn.shared_experts.w3.weight"},
    {"mlp.shared_experts.down_proj.weight", "ffn.shared_experts.w2.weight"},
};

static const struct {
    const char *hf, *official;
} top_map[] = {
    {"model.embed_tokens.weight", "embed.weight"},
    {"lm_head.weight", "head.weight"},
    {"model.norm.weight", "norm.weight"},
    {"model.hc_head.hc_fn", "hc_head_fn"},
    {"model.hc_head.hc_base", "hc_head_base"},
    {"model.hc_head.hc_scale", "hc_head_scale"},
};

bool cn_tensor_name_is_transformers(const char *name) {
    return strncmp(name, "model.", 6) == 0 || strcmp(name, "lm_head.weight") == 0;
}

bool cn_tensor_name_from_transformers(const char *hf_name, char *out, size_t out_size) {
    for (size_t i = 0; i < sizeof top_map / sizeof top_map[0]; i++)
        if (strcmp(hf_name, top_map[i].hf) == 0)
            return (size_t)snprintf(out, out_size, "%s", top_map[i].official) < out_size;
    const char *prefix = "model.layers.";
    if (strncmp(hf_name, prefix, strlen(prefix)) != 0) return false;
    const char *p = hf_name + strlen(prefix);
    unsigned layer = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 6) layer = layer * 10 + (unsigned)(*p++ - '0'), digits++;
    if (digits == 0 || *p != '.') return false;
    p++;
    for (size_t i = 0; i < sizeof layer_map / sizeof layer_map[0]; i++)
        if (strcmp(p, layer_map[i].hf) == 0)
            return (size_t)snprintf(out, out_size, "layers.%u.%s", layer, layer_map[i].official) < out_size;
    /* transformers' save_pretrained writes the official names back under "model.", except
     * that its reverse of the ".norm." -> ".kv_norm." load rule also renames the attention's
     * own kv_norm to "attn.norm" (conversion_mapping.py, deepseek_v4). */
    if (strcmp(p, "attn.norm.weight") == 0)
        return (size_t)snprintf(out, out_size, "layers.%u.attn.kv_norm.weight", layer) < out_size;
    if (strstr(p, "self_attn.") || strstr(p, "mlp.")) return false;
    return (size_t)snprintf(out, out_size, "layers.%u.%s", layer, p) < out_size;
}
