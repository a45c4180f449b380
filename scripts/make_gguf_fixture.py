#!/usr/bin/env python3
"""Writes the GGUF test fixtures for tests/test_gguf.c with the PyPI `gguf` package (the oracle
for the container, Q8_0 quantisation and dequantisation).

  tests/fixtures/gguf/tiny-v4.gguf       a tiny DeepSeek-V4 (specs/deepseek-v4.md 13.1) in a GGUF
                                         of architecture `deepseek4` with llama.cpp's tensor names
                                         and metadata keys, tensors in F32, F16, BF16, Q8_0 and I32
  tests/fixtures/gguf/tiny-v4.ref.gguf   reference values for tiny-v4.gguf: for some tensors the
                                         f32 values before conversion (`<name>.original`) and, for
                                         Q8_0 ones, gguf.quants.dequantize's result (`<name>.dequant`)
  tests/fixtures/gguf/mtp-nextn.gguf     an MTP block stored llama.cpp-style as an extra block
                                         `blk.5` with `blk.5.nextn.*` tensors (names only matter)
  tests/fixtures/gguf/mtp-ds4.gguf       an MTP block stored ds4-style as `mtp.0.*`

The weights come from the tiny transformers checkpoint at tests/fixtures/tiny/ (config.json +
model.safetensors, transformers names) when it exists, else from a seeded random generator with
the same shapes. Names and keys follow ggml-org/llama.cpp src/llama-arch.cpp and
src/models/deepseek4.cpp (see src/format/gguf_names.c).

Usage: /work/oracle-venv/bin/python scripts/make_gguf_fixture.py [--random] [--out DIR] [--tiny DIR]
Tested with gguf 0.19.0, numpy 2.4.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

ARCH = "deepseek4"

# specs/deepseek-v4.md 13.1, in the official (ModelArgs-like) terms the writer needs.
TINY = dict(
    vocab_size=256, dim=64, n_layers=5, n_heads=4, head_dim=32, rope_dim=8, q_lora_rank=32, o_groups=2,
    o_lora_rank=16, window=8, compress_ratios=[0, 8, 4, 8, 4], n_hash_layers=2, index_n_heads=2,
    index_head_dim=16, index_topk=2, n_experts=8, n_active=2, n_shared=1, moe_dim=32, route_scale=1.5,
    norm_topk_prob=True, swiglu_limit=10.0, hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, norm_eps=1e-6,
    rope_theta=10000.0, compress_rope_theta=160000.0, yarn_factor=4.0, yarn_original=16, beta_fast=32.0,
    beta_slow=1.0, max_position=64, bos=0, eos=1, n_mtp=0,
)


# ---- weights (official names, float32; tid2eid int32) -------------------------------------------

def layer_shapes(c: dict, ratio: int, hash_layer: bool) -> dict[str, tuple[int, ...]]:
    D, hc, mix = c["dim"], c["hc_mult"], (2 + c["hc_mult"]) * c["hc_mult"]
    H, d, Rq = c["n_heads"], c["head_dim"], c["q_lora_rank"]
    G, Ro, E, I = c["o_groups"], c["o_lora_rank"], c["n_experts"], c["moe_dim"]
    s = {
        "hc_attn_fn": (mix, hc * D), "hc_attn_base": (mix,), "hc_attn_scale": (3,),
        "hc_ffn_fn": (mix, hc * D), "hc_ffn_base": (mix,), "hc_ffn_scale": (3,),
        "attn_norm.weight": (D,), "ffn_norm.weight": (D,),
        "attn.wq_a.weight": (Rq, D), "attn.q_norm.weight": (Rq,), "attn.wq_b.weight": (H * d, Rq),
        "attn.wkv.weight": (d, D), "attn.kv_norm.weight": (d,),
        "attn.wo_a.weight": (G * Ro, H * d // G), "attn.wo_b.weight": (D, G * Ro), "attn.attn_sink": (H,),
        "ffn.gate.weight": (E, D),
        "ffn.experts.w1.weight": (E, I, D), "ffn.experts.w3.weight": (E, I, D), "ffn.experts.w2.weight": (E, D, I),
        "ffn.shared_experts.w1.weight": (I, D), "ffn.shared_experts.w3.weight": (I, D),
        "ffn.shared_experts.w2.weight": (D, I),
    }
    if hash_layer:
        s["ffn.gate.tid2eid"] = (c["vocab_size"], c["n_active"])
    else:
        s["ffn.gate.bias"] = (E,)
    if ratio:
        coff = 2 if ratio == 4 else 1  # CSA compressors overlap two windows (spec 5.3)
        s |= {"attn.compressor.wkv.weight": (coff * d, D), "attn.compressor.wgate.weight": (coff * d, D),
              "attn.compressor.ape": (ratio, coff * d), "attn.compressor.norm.weight": (d,)}
    if ratio == 4:
        n, k = c["index_n_heads"], c["index_head_dim"]
        s |= {"attn.indexer.wq_b.weight": (n * k, Rq), "attn.indexer.weights_proj.weight": (n, D),
              "attn.indexer.compressor.wkv.weight": (2 * k, D), "attn.indexer.compressor.wgate.weight": (2 * k, D),
              "attn.indexer.compressor.ape": (ratio, 2 * k), "attn.indexer.compressor.norm.weight": (k,)}
    return s


def random_weights(c: dict, seed: int = 20260411) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    D, V, hc = c["dim"], c["vocab_size"], c["hc_mult"]
    shapes = {"embed.weight": (V, D), "head.weight": (V, D), "norm.weight": (D,),
              "hc_head_fn": (hc, hc * D), "hc_head_base": (hc,), "hc_head_scale": (1,)}
    for l in range(c["n_layers"]):
        for k, v in layer_shapes(c, c["compress_ratios"][l], l < c["n_hash_layers"]).items():
            shapes[f"layers.{l}.{k}"] = v
    w = {}
    for name, shape in shapes.items():
        if name.endswith("tid2eid"):
            # K distinct experts per token (spec 13.2)
            w[name] = np.stack([rng.permutation(c["n_experts"])[: shape[1]] for _ in range(shape[0])]).astype(np.int32)
        elif "norm" in name or name.endswith("_scale"):
            w[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            w[name] = (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
    return w


# transformers -> official names (specs/deepseek-v4.md 10.3, inverted)
HF_LAYER_RENAMES = [
    ("self_attn.q_a_proj.", "attn.wq_a."), ("self_attn.q_a_norm.", "attn.q_norm."),
    ("self_attn.q_b_proj.", "attn.wq_b."), ("self_attn.kv_proj.", "attn.wkv."),
    ("self_attn.kv_norm.", "attn.kv_norm."), ("self_attn.o_a_proj.", "attn.wo_a."),
    ("self_attn.o_b_proj.", "attn.wo_b."), ("self_attn.sinks", "attn.attn_sink"),
    ("self_attn.compressor.indexer.scorer.weights_proj.", "attn.indexer.weights_proj."),
    ("self_attn.compressor.indexer.q_b_proj.", "attn.indexer.wq_b."),
    ("self_attn.compressor.indexer.kv_proj.", "attn.indexer.compressor.wkv."),
    ("self_attn.compressor.indexer.gate_proj.", "attn.indexer.compressor.wgate."),
    ("self_attn.compressor.indexer.position_bias", "attn.indexer.compressor.ape"),
    ("self_attn.compressor.indexer.kv_norm.", "attn.indexer.compressor.norm."),
    ("self_attn.compressor.kv_proj.", "attn.compressor.wkv."),
    ("self_attn.compressor.gate_proj.", "attn.compressor.wgate."),
    ("self_attn.compressor.position_bias", "attn.compressor.ape"),
    ("self_attn.compressor.kv_norm.", "attn.compressor.norm."),
    ("input_layernorm.", "attn_norm."), ("post_attention_layernorm.", "ffn_norm."),
    ("attn_hc.fn", "hc_attn_fn"), ("attn_hc.base", "hc_attn_base"), ("attn_hc.scale", "hc_attn_scale"),
    ("ffn_hc.fn", "hc_ffn_fn"), ("ffn_hc.base", "hc_ffn_base"), ("ffn_hc.scale", "hc_ffn_scale"),
    ("mlp.gate.e_score_correction_bias", "ffn.gate.bias"), ("mlp.gate.tid2eid", "ffn.gate.tid2eid"),
    ("mlp.gate.weight", "ffn.gate.weight"),
    ("mlp.shared_experts.gate_proj.", "ffn.shared_experts.w1."),
    ("mlp.shared_experts.up_proj.", "ffn.shared_experts.w3."),
    ("mlp.shared_experts.down_proj.", "ffn.shared_experts.w2."),
]
HF_TOP_RENAMES = {"model.embed_tokens.weight": "embed.weight", "lm_head.weight": "head.weight",
                  "model.norm.weight": "norm.weight", "model.hc_head.hc_fn": "hc_head_fn",
                  "model.hc_head.hc_base": "hc_head_base", "model.hc_head.hc_scale": "hc_head_scale"}


def tiny_weights(tiny_dir: str, c: dict) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    hf = load_file(os.path.join(tiny_dir, "model.safetensors"))
    w = {}
    for name, t in hf.items():
        t = np.ascontiguousarray(t)
        if name in HF_TOP_RENAMES:
            w[HF_TOP_RENAMES[name]] = t.astype(np.float32)
            continue
        m = re.match(r"model\.layers\.(\d+)\.(.+)$", name)
        if not m:
            raise SystemExit(f"unexpected tensor {name} in {tiny_dir}")
        l, rest = int(m.group(1)), m.group(2)
        if rest in ("mlp.experts.gate_up_proj", "mlp.experts.gate_up_proj.weight"):
            I = t.shape[1] // 2  # [E, 2I, D]: w1 rows, then w3 rows
            w[f"layers.{l}.ffn.experts.w1.weight"] = t[:, :I].astype(np.float32)
            w[f"layers.{l}.ffn.experts.w3.weight"] = t[:, I:].astype(np.float32)
            continue
        if rest in ("mlp.experts.down_proj", "mlp.experts.down_proj.weight"):
            w[f"layers.{l}.ffn.experts.w2.weight"] = t.astype(np.float32)
            continue
        for hf_part, official in HF_LAYER_RENAMES:
            if rest.startswith(hf_part):
                rest = official + rest[len(hf_part):]
                break
        else:
            raise SystemExit(f"no official name for {name}")
        w[f"layers.{l}.{rest}"] = t.astype(np.int32 if rest.endswith("tid2eid") else np.float32)
    return w


def tiny_config(tiny_dir: str) -> dict:
    hf = json.load(open(os.path.join(tiny_dir, "config.json")))
    c = dict(TINY)
    rates = hf.get("compress_rates", {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128})
    kind = {"sliding_attention": 0, "compressed_sparse_attention": rates["compressed_sparse_attention"],
            "heavily_compressed_attention": rates["heavily_compressed_attention"]}
    c.update(vocab_size=hf["vocab_size"], dim=hf["hidden_size"], n_layers=hf["num_hidden_layers"],
             n_heads=hf["num_attention_heads"], head_dim=hf["head_dim"], q_lora_rank=hf["q_lora_rank"],
             o_groups=hf["o_groups"], o_lora_rank=hf["o_lora_rank"], window=hf["sliding_window"],
             compress_ratios=[kind[t] for t in hf["layer_types"]],
             n_hash_layers=sum(t == "hash_moe" for t in hf["mlp_layer_types"]),
             index_n_heads=hf["index_n_heads"], index_head_dim=hf["index_head_dim"], index_topk=hf["index_topk"],
             n_experts=hf["n_routed_experts"], n_active=hf["num_experts_per_tok"], n_shared=hf["n_shared_experts"],
             moe_dim=hf["moe_intermediate_size"], route_scale=hf["routed_scaling_factor"],
             norm_topk_prob=hf["norm_topk_prob"], swiglu_limit=hf["swiglu_limit"], hc_mult=hf["hc_mult"],
             hc_sinkhorn_iters=hf["hc_sinkhorn_iters"], hc_eps=hf["hc_eps"], norm_eps=hf["rms_norm_eps"],
             max_position=hf["max_position_embeddings"], n_mtp=hf.get("num_nextn_predict_layers", 0))
    rp = hf.get("rope_parameters", {})
    main, comp = rp.get("main", {}), rp.get("compress", rp)
    c["rope_dim"] = int(round(c["head_dim"] * float(hf.get("partial_rotary_factor",
                                                          main.get("partial_rotary_factor", 0.125)))))
    c["rope_theta"] = float(main.get("rope_theta", hf.get("rope_theta", 10000.0)))
    c["compress_rope_theta"] = float(comp.get("rope_theta", hf.get("compress_rope_theta", 160000.0)))
    c["yarn_factor"] = float(comp.get("factor", 4.0))
    c["yarn_original"] = int(comp.get("original_max_position_embeddings", 16))
    c["beta_fast"] = float(comp.get("beta_fast", 32.0))
    c["beta_slow"] = float(comp.get("beta_slow", 1.0))
    return c


# ---- official -> GGUF (llama.cpp) names and the storage type of each ------------------------------

TOP_GGUF = {"embed.weight": "token_embd.weight", "head.weight": "output.weight", "norm.weight": "output_norm.weight",
            "hc_head_fn": "output_hc_fn.weight", "hc_head_base": "output_hc_base.weight",
            "hc_head_scale": "output_hc_scale.weight"}
LAYER_GGUF = {
    "attn_norm.weight": "attn_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
    "hc_attn_fn": "hc_attn_fn.weight", "hc_attn_base": "hc_attn_base.weight", "hc_attn_scale": "hc_attn_scale.weight",
    "hc_ffn_fn": "hc_ffn_fn.weight", "hc_ffn_base": "hc_ffn_base.weight", "hc_ffn_scale": "hc_ffn_scale.weight",
    "attn.wq_a.weight": "attn_q_a.weight", "attn.q_norm.weight": "attn_q_a_norm.weight",
    "attn.wq_b.weight": "attn_q_b.weight", "attn.wkv.weight": "attn_kv.weight",
    "attn.kv_norm.weight": "attn_kv_a_norm.weight", "attn.wo_a.weight": "attn_output_a.weight",
    "attn.wo_b.weight": "attn_output_b.weight", "attn.attn_sink": "attn_sinks.weight",
    "attn.compressor.wkv.weight": "attn_compressor_kv.weight",
    "attn.compressor.wgate.weight": "attn_compressor_gate.weight",
    "attn.compressor.ape": "attn_compressor_ape.weight", "attn.compressor.norm.weight": "attn_compressor_norm.weight",
    "attn.indexer.wq_b.weight": "indexer.attn_q_b.weight", "attn.indexer.weights_proj.weight": "indexer.proj.weight",
    "attn.indexer.compressor.wkv.weight": "indexer_compressor_kv.weight",
    "attn.indexer.compressor.wgate.weight": "indexer_compressor_gate.weight",
    "attn.indexer.compressor.ape": "indexer_compressor_ape.weight",
    "attn.indexer.compressor.norm.weight": "indexer_compressor_norm.weight",
    "ffn.gate.weight": "ffn_gate_inp.weight", "ffn.gate.bias": "exp_probs_b.bias",
    "ffn.gate.tid2eid": "ffn_gate_tid2eid.weight",
    "ffn.experts.w1.weight": "ffn_gate_exps.weight", "ffn.experts.w3.weight": "ffn_up_exps.weight",
    "ffn.experts.w2.weight": "ffn_down_exps.weight",
    "ffn.shared_experts.w1.weight": "ffn_gate_shexp.weight", "ffn.shared_experts.w3.weight": "ffn_up_shexp.weight",
    "ffn.shared_experts.w2.weight": "ffn_down_shexp.weight",
}


def gguf_name(official: str) -> str:
    if official in TOP_GGUF:
        return TOP_GGUF[official]
    m = re.match(r"layers\.(\d+)\.(.+)$", official)
    return f"blk.{m.group(1)}.{LAYER_GGUF[m.group(2)]}"


def storage_type(official: str) -> Q:
    """A mix like a llama.cpp Q8_0 conversion (big matrices Q8_0, small and fp32-sensitive tensors
    F32) with ds4's F16/BF16 choices (spec 10.4), so that every readable type is exercised."""
    if official.endswith("tid2eid"):
        return Q.I32
    if official in ("embed.weight", "hc_head_fn") or re.search(r"ffn\.gate\.weight$|hc_ffn_fn$", official):
        return Q.F16
    if re.search(r"compressor\.(wkv|wgate)\.weight$|weights_proj\.weight$", official):
        return Q.BF16
    if re.search(r"(wq_a|wq_b|wkv|wo_a|wo_b|experts\.w\d|shared_experts\.w\d)\.weight$|^head\.weight$", official):
        return Q.Q8_0
    return Q.F32


def stored(w: np.ndarray, qtype: Q) -> np.ndarray:
    """The array handed to GGUFWriter for storage type qtype: float32/float16/int32 arrays, or the
    uint8 bytes gguf.quants.quantize makes for BF16 and Q8_0 (shape [..., row bytes])."""
    return w.astype(np.int32) if qtype == Q.I32 else gguf.quants.quantize(w, qtype)


def add_metadata(wr: gguf.GGUFWriter, c: dict, block_count: int, ratios: list[int], vocab_key: bool) -> None:
    """The keys llama.cpp's converter writes for DeepSeek-V4 (LLM_KV_NAMES in src/llama-arch.cpp),
    with the value types it writes them in."""
    a = ARCH
    wr.add_block_count(block_count)
    wr.add_context_length(c["max_position"])
    wr.add_embedding_length(c["dim"])
    wr.add_head_count(c["n_heads"])
    wr.add_head_count_kv(1)
    wr.add_key_length(c["head_dim"])
    wr.add_value_length(c["head_dim"])
    wr.add_rope_dimension_count(c["rope_dim"])
    wr.add_rope_freq_base(c["rope_theta"])
    wr.add_layer_norm_rms_eps(c["norm_eps"])
    wr.add_q_lora_rank(c["q_lora_rank"])
    wr.add_sliding_window(c["window"])
    wr.add_expert_count(c["n_experts"])
    wr.add_expert_used_count(c["n_active"])
    wr.add_expert_shared_count(c["n_shared"])
    wr.add_expert_feed_forward_length(c["moe_dim"])
    wr.add_expert_weights_scale(c["route_scale"])
    wr.add_expert_weights_norm(c["norm_topk_prob"])
    wr.add_swiglu_clamp_exp([c["swiglu_limit"]] * block_count)
    wr.add_swiglu_clamp_shexp([c["swiglu_limit"]] * block_count)
    wr.add_indexer_head_count(c["index_n_heads"])
    wr.add_indexer_key_length(c["index_head_dim"])
    wr.add_indexer_top_k(c["index_topk"])
    if vocab_key:
        wr.add_vocab_size(c["vocab_size"])
    # V4 keys gguf 0.19 has no helpers for (names from llama.cpp's LLM_KV_NAMES)
    wr.add_uint32(f"{a}.attention.output_group_count", c["o_groups"])
    wr.add_uint32(f"{a}.attention.output_lora_rank", c["o_lora_rank"])
    wr.add_array(f"{a}.attention.compress_ratios", ratios)
    wr.add_float32(f"{a}.attention.compress_rope_freq_base", c["compress_rope_theta"])
    wr.add_uint32(f"{a}.hyper_connection.count", c["hc_mult"])
    wr.add_uint32(f"{a}.hyper_connection.sinkhorn_iterations", c["hc_sinkhorn_iters"])
    wr.add_float32(f"{a}.hyper_connection.epsilon", c["hc_eps"])
    wr.add_uint32(f"{a}.hash_layer_count", c["n_hash_layers"])
    wr.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    wr.add_rope_scaling_factor(c["yarn_factor"])
    wr.add_rope_scaling_orig_ctx_len(c["yarn_original"])
    wr.add_rope_scaling_yarn_beta_fast(c["beta_fast"])
    wr.add_rope_scaling_yarn_beta_slow(c["beta_slow"])


def add_tokenizer(wr: gguf.GGUFWriter, c: dict) -> None:
    # A stand-in vocabulary: enough to exercise string arrays and the vocab-size fallback.
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("joyai-llm")
    wr.add_token_list([f"<t{i}>" for i in range(c["vocab_size"])])
    wr.add_token_types([1] * c["vocab_size"])
    wr.add_token_merges(["< t", "<t 1", "<t 2"])
    wr.add_bos_token_id(c["bos"])
    wr.add_eos_token_id(c["eos"])


def write_main(path: str, ref_path: str, c: dict, w: dict[str, np.ndarray], source: str) -> None:
    wr = gguf.GGUFWriter(path, ARCH)
    wr.add_name("clawnet tiny DeepSeek-V4 test fixture")
    # Where the weights came from: a checkpoint directory the C test compares every tensor with,
    # or "random".
    wr.add_string("clawnet.fixture.source", source)
    add_metadata(wr, c, c["n_layers"], list(c["compress_ratios"]) + [0], vocab_key=False)
    add_tokenizer(wr, c)
    # Reference values: one tensor per stored type, Q8_0 with the oracle's dequantisation.
    reference = {"layers.1.ffn.experts.w3.weight", "layers.3.attn.wq_b.weight", "embed.weight",
                 "layers.2.attn.compressor.wkv.weight", "layers.0.hc_attn_fn", "layers.0.ffn.gate.tid2eid"}
    ref = gguf.GGUFWriter(ref_path, "clawnet-reference")
    for name, value in w.items():
        qtype = storage_type(name)
        data = stored(value, qtype)
        wr.add_tensor(gguf_name(name), data, raw_dtype=qtype if data.dtype == np.uint8 else None)
        if name in reference:
            ref.add_tensor(name + ".original", value)
            if qtype == Q.Q8_0:
                ref.add_tensor(name + ".dequant", gguf.quants.dequantize(data, qtype).astype(np.float32))
    for writer in (wr, ref):
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def write_mtp(path: str, c: dict, ds4_style: bool) -> None:
    """Only the tensors whose names matter (the loader does not require a complete model)."""
    rng = np.random.default_rng(7)
    L, D, hc = c["n_layers"], c["dim"], c["hc_mult"]
    wr = gguf.GGUFWriter(path, ARCH)
    if not ds4_style:
        wr.add_custom_alignment(64)
    # llama.cpp counts the NextN block in block_count (as for DeepSeek-V3); ds4 does not.
    add_metadata(wr, c, L if ds4_style else L + 1, list(c["compress_ratios"]) + [0], vocab_key=True)
    wr.add_nextn_predict_layers(1)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    tensors = {"output_norm.weight": f32(D), "blk.0.attn_norm.weight": f32(D),
               "blk.4.attn_norm.weight": f32(D)}
    if ds4_style:
        tensors |= {"mtp.0.attn_norm.weight": f32(D), "mtp.0.e_proj.weight": f32(D, D), "mtp.0.norm.weight": f32(D),
                    "mtp.0.hc_head_fn.weight": f32(hc, hc * D), "mtp.0.ffn_gate_exps.weight": f32(8, 4, D)}
    else:
        tensors |= {f"blk.{L}.attn_norm.weight": f32(D), f"blk.{L}.nextn.e_proj.weight": f32(D, D),
                    f"blk.{L}.nextn.shared_head_norm.weight": f32(D),
                    f"blk.{L}.nextn.hc_head_fn.weight": f32(hc, hc * D), f"blk.{L}.ffn_gate_exps.weight": f32(8, 4, D)}
    for name, value in tensors.items():
        wr.add_tensor(name, value)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", default=os.path.join(root, "tests/fixtures/tiny"))
    ap.add_argument("--out", default=os.path.join(root, "tests/fixtures/gguf"))
    ap.add_argument("--random", action="store_true", help="ignore the tiny checkpoint, use random weights")
    args = ap.parse_args()
    use_tiny = not args.random and os.path.exists(os.path.join(args.tiny, "model.safetensors"))
    c = tiny_config(args.tiny) if use_tiny else dict(TINY)
    w = tiny_weights(args.tiny, c) if use_tiny else random_weights(c)
    os.makedirs(args.out, exist_ok=True)
    source = "random"
    if use_tiny:
        source = os.path.relpath(os.path.abspath(args.tiny), root)
        if source.startswith(".."):
            source = os.path.abspath(args.tiny)
    write_main(os.path.join(args.out, "tiny-v4.gguf"), os.path.join(args.out, "tiny-v4.ref.gguf"), c, w, source)
    write_mtp(os.path.join(args.out, "mtp-nextn.gguf"), c, ds4_style=False)
    write_mtp(os.path.join(args.out, "mtp-ds4.gguf"), c, ds4_style=True)
    with open(os.path.join(args.out, "SOURCE"), "w") as f:
        f.write(f"weights: {source + ' (transformers checkpoint)' if use_tiny else 'random (seed 20260411)'}\n"
                f"written by scripts/make_gguf_fixture.py with gguf {importlib.metadata.version('gguf')}, "
                f"numpy {np.__version__}\n")
    for f in sorted(os.listdir(args.out)):
        print(f, os.path.getsize(os.path.join(args.out, f)))


if __name__ == "__main__":
    sys.exit(main())
