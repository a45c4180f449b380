/* GGUF tensor names of architecture `deepseek4` -> canonical (DeepSeek official) names.
 *
 * Source of the GGUF names: llama.cpp's LLM_TENSOR_NAMES (src/llama-arch.cpp, ggml-org/llama.cpp
 * at 00395eb2) and its loader src/models/deepseek4.cpp (at 7b2b731e); antirez/ds4 uses the same
 * names (specs/deepseek-v4.md 10.4). The two differ only for the MTP block:
 *   - ds4 ships it as a separate GGUF whose tensors are `mtp.K.<per-layer name>` plus
 *     `mtp.K.{e_proj,h_proj,enorm,hnorm,norm,hc_head_fn,hc_head_base,hc_head_scale}.weight`;
 *   - llama.cpp-style converters append it as an extra block `blk.N` (N >= main layer count)
 *     with the NextN tensors under `blk.N.nextn.*` (`shared_head_norm` is the final norm).
 * Both are accepted and map to `mtp.K.*`.
 *
 * No tensor is transposed or reshaped by the converters: GGUF dims are the torch shape reversed,
 * so reversing them back gives the official outermost-first shape, e.g. hc_attn_fn [4D,24] ->
 * [24][4D], attn_compressor_ape [coff*d, m] -> [m][coff*d], ffn_gate_tid2eid [K,V] -> [V][K]
 * (I32 in GGUF, I64 in the official files), ffn_gate_exps [D,I,E] -> [E][I][D]. */
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"

typedef struct {
    const char *gguf, *canonical;
} name_pair;

static const name_pair top_level_names[] = {
    {"token_embd.weight", "embed.weight"},
    {"output.weight", "head.weight"},
    {"output_norm.weight", "norm.weight"},
    {"output_hc_fn.weight", "hc_head_fn"},
    {"output_hc_base.weight", "hc_head_base"},
    {"output_hc_scale.weight", "hc_head_scale"},
};

/* Tensors of every block (main layers and MTP), after the `blk.N.` / `mtp.K.` prefix. */
static const name_pair block_names[] = {
    {"attn_norm.weight", "attn_norm.weight"},
    {"ffn_norm.weight", "ffn_norm.weight"},
    {"hc_attn_fn.weight", "hc_attn_fn"},
    {"hc_attn_base.weight", "hc_attn_base"},
    {"hc_attn_scale.weight", "hc_attn_scale"},
    {"hc_ffn_fn.weight", "hc_ffn_fn"},
    {"hc_ffn_base.weight", "hc_ffn_base"},
    {"hc_ffn_scale.weight", "hc_ffn_scale"},
    {"attn_q_a.weight", "attn.wq_a.weight"},
    {"attn_q_a_norm.weight", "attn.q_norm.weight"},
    {"attn_q_b.weight", "attn.wq_b.weight"},
    {"attn_kv.weight", "attn.wkv.weight"},
    {"attn_kv_a_norm.weight", "attn.kv_norm.weight"}, /* LLM_TENSOR_ATTN_KV_NORM's string */
    {"attn_output_a.weight", "attn.wo_a.weight"},
    {"attn_output_b.weight", "attn.wo_b.weight"},
    {"attn_sinks.weight", "attn.attn_sink"},
    {"attn_compressor_kv.weight", "attn.compressor.wkv.weight"},
    {"attn_compressor_gate.weight", "attn.compressor.wgate.weight"},
    {"attn_compressor_ape.weight", "attn.compressor.ape"},
    {"attn_compressor_norm.weight", "attn.compressor.norm.weight"},
    {"indexer.attn_q_b.weight", "attn.indexer.wq_b.weight"},
    {"indexer.proj.weight", "attn.indexer.weights_proj.weight"},
    {"indexer_compressor_kv.weight", "attn.indexer.compressor.wkv.weight"},
    {"indexer_compressor_gate.weight", "attn.indexer.compressor.wgate.weight"},
    {"indexer_compressor_ape.weight", "attn.indexer.compressor.ape"},
    {"indexer_compressor_norm.weight", "attn.indexer.compressor.norm.weight"},
    {"ffn_gate_inp.weight", "ffn.gate.weight"},
    {"exp_probs_b.bias", "ffn.gate.bias"},
    {"ffn_gate_tid2eid.weight", "ffn.gate.tid2eid"},
    /* Routed experts are stored fused, [E][out][in] once reversed (see checkpoint.h). */
    {"ffn_gate_exps.weight", "ffn.experts.w1.weight"},
    {"ffn_up_exps.weight", "ffn.experts.w3.weight"},
    {"ffn_down_exps.weight", "ffn.experts.w2.weight"},
    {"ffn_gate_shexp.weight", "ffn.shared_experts.w1.weight"},
    {"ffn_up_shexp.weight", "ffn.shared_experts.w3.weight"},
    {"ffn_down_shexp.weight", "ffn.shared_experts.w2.weight"},
};

/* MTP-only tensors as ds4 names them (after `mtp.K.`). */
static const name_pair mtp_names[] = {
    {"e_proj.weight", "e_proj.weight"},
    {"h_proj.weight", "h_proj.weight"},
    {"enorm.weight", "enorm.weight"},
    {"hnorm.weight", "hnorm.weight"},
    {"norm.weight", "norm.weight"},
    {"hc_head_fn.weight", "hc_head_fn"},
    {"hc_head_base.weight", "hc_head_base"},
    {"hc_head_scale.weight", "hc_head_scale"},
};

/* MTP-only tensors as llama.cpp-style converters name them (after `blk.N.`). */
static const name_pair nextn_names[] = {
    {"nextn.e_proj.weight", "e_proj.weight"},
    {"nextn.h_proj.weight", "h_proj.weight"},
    {"nextn.enorm.weight", "enorm.weight"},
    {"nextn.hnorm.weight", "hnorm.weight"},
    {"nextn.shared_head_norm.weight", "norm.weight"},
    {"nextn.hc_head_fn.weight", "hc_head_fn"},
    {"nextn.hc_head_base.weight", "hc_head_base"},
    {"nextn.hc_head_scale.weight", "hc_head_scale"},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup(const name_pair *table, size_t n, const char *gguf) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].gguf, gguf) == 0) return table[i].canonical;
    return NULL;
}

/* Parses "<digits>." at s: a block number without sign or leading zeros (so that every block
 * has exactly one spelling). Returns the text after the dot, or NULL. */
static const char *parse_block_number(const char *s, long *number) {
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9')) return NULL;
    long n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > 100000) return NULL; /* far beyond any real layer count */
        n = n * 10 + (*p - '0');
    }
    if (*p != '.') return NULL;
    *number = n;
    return p + 1;
}

static bool emit(char *out, size_t out_size, const char *prefix, long block, const char *suffix) {
    int n = block < 0 ? snprintf(out, out_size, "%s", suffix) : snprintf(out, out_size, "%s%ld.%s", prefix, block, suffix);
    return n > 0 && (size_t)n < out_size;
}

bool cn_gguf_canonical_name(const char *gguf_name, int n_main_layers, char *out, size_t out_size) {
    const char *canonical = lookup(top_level_names, N_OF(top_level_names), gguf_name);
    if (canonical) return emit(out, out_size, "", -1, canonical);

    long block;
    const char *rest;
    if (strncmp(gguf_name, "blk.", 4) == 0 && (rest = parse_block_number(gguf_name + 4, &block))) {
        canonical = lookup(block_names, N_OF(block_names), rest);
        if (block < n_main_layers) return canonical && emit(out, out_size, "layers.", block, canonical);
        if (!canonical) canonical = lookup(nextn_names, N_OF(nextn_names), rest);
        return canonical && emit(out, out_size, "mtp.", block - n_main_layers, canonical);
    }
    if (strncmp(gguf_name, "mtp.", 4) == 0 && (rest = parse_block_number(gguf_name + 4, &block))) {
        canonical = lookup(block_names, N_OF(block_names), rest);
        if (!canonical) canonical = lookup(mtp_names, N_OF(mtp_names), rest);
        return canonical && emit(out, out_size, "mtp.", block, canonical);
    }
    return false;
}

static const char *reverse_lookup(const name_pair *table, size_t n, const char *canonical) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].canonical, canonical) == 0) return table[i].gguf;
    return NULL;
}

bool cn_gguf_name_from_canonical(const char *canonical, int n_main_layers, char *out, size_t out_size) {
    const char *gguf = reverse_lookup(top_level_names, N_OF(top_level_names), canonical);
    if (gguf) return emit(out, out_size, "", -1, gguf);
    long block;
    const char *rest;
    if (strncmp(canonical, "layers.", 7) == 0 && (rest = parse_block_number(canonical + 7, &block))) {
        gguf = reverse_lookup(block_names, N_OF(block_names), rest);
        return gguf && block < n_main_layers && emit(out, out_size, "blk.", block, gguf);
    }
    if (strncmp(canonical, "mtp.", 4) == 0 && (rest = parse_block_number(canonical + 4, &block))) {
        gguf = reverse_lookup(block_names, N_OF(block_names), rest);
        if (!gguf) gguf = reverse_lookup(nextn_names, N_OF(nextn_names), rest);
        return gguf && emit(out, out_size, "blk.", block + n_main_layers, gguf);
    }
    return false;
}
