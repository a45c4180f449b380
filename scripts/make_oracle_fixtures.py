#!/usr/bin/env python3
"""Build small random DeepSeek-V4 checkpoints and record Hugging Face reference outputs.

The oracle is `transformers.DeepseekV4ForCausalLM` run in float32 with eager attention and the plain
per-expert MoE loop (specs/deepseek-v4.md section 13). Every parameter is drawn from the seeded
splitmix64 generator described in docs/fixtures.md, so a C test can regenerate the weights of the
fixtures that are too large to commit (flash_width) bit for bit.

Fixtures (each written to <out>/<name>/):
  tiny          spec 13.1 config, transformers names, f32 model.safetensors
  tiny_official small legacy-form config with one MTP block, DeepSeek's official names and dtypes
                (FP8 E4M3 + E8M0 128x128 block scales, MXFP4 routed experts, bf16, f32, i64), 2 shards
  tiny_mtp      tiny's config with one MTP block, f32: transformers names + canonical mtp.0.* names,
                the layout scripts/train_hk_mtp.py writes
  flash_width   V4-Flash attention widths with 4 experts and 2 layers; weights are NOT written, only the
                generator manifest tensors.txt (+ seed.json) and the reference outputs

Usage:
  /work/oracle-venv/bin/python scripts/make_oracle_fixtures.py --out tests/fixtures [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import tempfile
import time

import numpy as np
import torch
from torch import nn

import safetensors
import transformers
from safetensors.torch import load_file, save_file
from transformers import DeepseekV4Config, DeepseekV4ForCausalLM, DynamicCache
from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4

from dsv4_mtp import LAYER_MAP, MTP_EXTRA_MAP, TOP_MAP, MTPOracle, canonical_state, load_canonical, mtp_config

# ------------------------------------------------------------------------------------------------
# Seeded generator (docs/fixtures.md, "The seeded generator")
# ------------------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
GEN_CHUNK = 1 << 22


def fnv1a64(name: str) -> int:
    h = FNV_OFFSET
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def tensor_state(seed: int, name: str) -> int:
    return (seed ^ fnv1a64(name)) & MASK64


def splitmix_block(state0: int, start: int, count: int) -> np.ndarray:
    """Outputs start..start+count-1 of the splitmix64 stream whose state starts at state0.

    Output i uses state0 + (i+1)*GOLDEN (mod 2^64), i.e. the state is advanced before mixing."""
    i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        s = np.uint64(state0) + i * GOLDEN
        z = (s ^ (s >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
        z ^= z >> np.uint64(31)
    return z


def splitmix_scalar(state0: int, count: int) -> list[int]:
    """Plain-integer reference of splitmix_block (used by the self-check)."""
    out, state = [], state0
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def gen_uniform(seed: int, name: str, shape, scale, offset) -> np.ndarray:
    """recipe "uniform": value = f32(f32(2u-1) * scale) + offset, u = (z >> 40) * 2^-24, all in f32."""
    n = int(np.prod(shape)) if len(shape) else 1
    state = tensor_state(seed, name)
    sc, of = np.float32(scale), np.float32(offset)
    out = np.empty(n, dtype=np.float32)
    for a in range(0, n, GEN_CHUNK):
        cnt = min(GEN_CHUNK, n - a)
        z = splitmix_block(state, a, cnt)
        u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
        v = np.float32(2.0) * u - np.float32(1.0)  # exact
        v = v * sc  # one f32 rounding
        out[a : a + cnt] = v + of  # one f32 rounding (never fused)
    return out.reshape(shape)


def gen_tid2eid(seed: int, name: str, vocab: int, k: int, n_experts: int) -> np.ndarray:
    """recipe "tid2eid": per row, a partial Fisher-Yates shuffle of 0..E-1 keeping the first K."""
    state = tensor_state(seed, name)
    z = splitmix_block(state, 0, vocab * k).reshape(vocab, k)
    arr = np.tile(np.arange(n_experts, dtype=np.int64), (vocab, 1))
    rows = np.arange(vocab)
    for kk in range(k):
        j = kk + (z[:, kk] % np.uint64(n_experts - kk)).astype(np.int64)
        tmp = arr[rows, kk].copy()
        arr[rows, kk] = arr[rows, j]
        arr[rows, j] = tmp
    return arr[:, :k].copy()


def gen_prompt(seed: int, length: int, vocab: int) -> list[int]:
    z = splitmix_block(tensor_state(seed, "prompt"), 0, length)
    return [int(x) for x in (z % np.uint64(vocab))]


def f32hex(x) -> str:
    return float(np.float32(x)).hex()


def generator_selfcheck() -> dict:
    """Checks the vectorised generator against the scalar definition and known constants."""
    # splitmix64 with state 0: published first outputs of the reference splitmix64.c
    assert [int(v) for v in splitmix_block(0, 0, 3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    # FNV-1a 64 published vectors
    assert fnv1a64("") == 0xCBF29CE484222325 and fnv1a64("a") == 0xAF63DC4C8601EC8C
    assert fnv1a64("foobar") == 0x85944171F73967E8
    st = tensor_state(1, "test")
    zs = splitmix_scalar(st, 8)
    assert [int(v) for v in splitmix_block(st, 0, 8)] == zs
    assert [int(v) for v in splitmix_block(st, 5, 3)] == zs[5:8]
    vals = gen_uniform(1, "test", (8,), 1.0, 0.0)
    for z, v in zip(zs, vals):
        u = np.float32((z >> 40) * 2.0**-24)
        assert np.float32(np.float32(2 * u - 1) * np.float32(1.0)) + np.float32(0.0) == v
    v2 = gen_uniform(1, "test", (4,), 0.5, 1.0)
    t = gen_tid2eid(1, "test", 2, 3, 8)
    for row in t:
        assert len(set(row.tolist())) == 3 and row.max() < 8
    return {
        "seed": 1,
        "name": "test",
        "fnv1a64": f"0x{fnv1a64('test'):016x}",
        "state": f"0x{st:016x}",
        "z": [f"0x{z:016x}" for z in zs[:4]],
        "uniform_scale1_offset0": [float(x).hex() for x in vals[:4]],
        "uniform_scale1_offset0_dec": [repr(float(x)) for x in vals[:4]],
        "uniform_scale0.5_offset1": [float(x).hex() for x in v2],
        "tid2eid_V2_K3_E8": t.tolist(),
    }


# ------------------------------------------------------------------------------------------------
# Parameter recipes: (recipe, scale, offset) per transformers parameter name
# ------------------------------------------------------------------------------------------------

# Expert gain: gate/up pre-activations get std ~ EXPERT_GATE_UP_GAIN/sqrt(3) ~ 3.5, so the SwiGLU clamp
# at 10 is hit for a fraction of a percent of the elements; the down projection is scaled down so the
# MoE output stays comparable to the attention output.
EXPERT_GATE_UP_GAIN = 6.0
EXPERT_DOWN_GAIN = 0.1
# Tie avoidance for the lightning indexer. With 2 index heads and random weights, relu(q.k) is exactly 0
# for both heads on many entries, the scores tie at 0 and torch.topk's choice among them is arbitrary
# (it even differs between prefill and decode). For fixtures with few index heads, the indexer query
# projection is made antisymmetric: the rows of head h >= H/2 are the negated rows of head h - H/2, so
# for every entry exactly one head of each pair sees q.k > 0 and no score is exactly 0
# (recipe "uniform_antisym", docs/fixtures.md). flash_width (64 heads) does not need it.


def param_recipe(name: str, shape, cfg, antisym_indexer: bool) -> tuple[str, float, float]:
    D = cfg.hidden_size
    if name.endswith("tid2eid"):
        return ("tid2eid", float(cfg.n_routed_experts), 0.0)
    if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
        return ("uniform", 0.1, 1.0)
    if name.endswith("sinks"):
        return ("uniform", 1.0, 0.0)
    if name.endswith("position_bias"):
        return ("uniform", 0.5, 0.0)
    if name.endswith("hc.fn") or name.endswith("hc_fn"):
        return ("uniform", 1.5 / math.sqrt(cfg.hc_mult * D), 0.0)
    if name.endswith("hc.base") or name.endswith("hc_base"):
        return ("uniform", 0.1, 0.0)
    if name.endswith("hc.scale") or name.endswith("hc_scale"):
        return ("uniform", 0.5, 1.0)
    if name.endswith("e_score_correction_bias"):
        return ("uniform", 0.1, 0.0)
    if name.endswith("embed_tokens.weight"):
        return ("uniform", 1.0, 0.0)
    fan_in = shape[-1]
    if name.endswith("experts.gate_up_proj") or name.endswith("shared_experts.gate_proj.weight") or name.endswith(
        "shared_experts.up_proj.weight"
    ):
        return ("uniform", EXPERT_GATE_UP_GAIN / math.sqrt(fan_in), 0.0)
    if name.endswith("experts.down_proj") or name.endswith("shared_experts.down_proj.weight"):
        return ("uniform", EXPERT_DOWN_GAIN / math.sqrt(fan_in), 0.0)
    if len(shape) != 2:
        raise ValueError(f"no recipe for {name} {tuple(shape)}")
    if antisym_indexer and name.endswith("indexer.q_b_proj.weight"):
        return ("uniform_antisym", 1.0 / math.sqrt(fan_in), 0.0)
    return ("uniform", 1.0 / math.sqrt(fan_in), 0.0)


def generate_tensor(seed: int, name: str, shape, recipe, cfg) -> np.ndarray:
    kind, scale, offset = recipe
    if kind == "tid2eid":
        return gen_tid2eid(seed, name, shape[0], shape[1], int(scale))
    arr = gen_uniform(seed, name, tuple(shape), np.float32(scale), np.float32(offset))
    if kind == "uniform_antisym":  # indexer heads h >= H/2 are the negated heads h - H/2
        heads = arr.reshape(cfg.index_n_heads, cfg.index_head_dim, shape[-1])
        half = cfg.index_n_heads // 2
        heads[half : 2 * half] = -heads[:half]
        arr = heads.reshape(shape)
    return arr


def model_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters + persistent buffers (tid2eid, e_score_correction_bias), in state_dict order."""
    sd = module.state_dict()
    return {k: v for k, v in sd.items() if "inv_freq" not in k}


def fill_module(module: nn.Module, seed: int, cfg, antisym_indexer: bool, prefix: str = "",
                transform=None) -> list[tuple]:
    """Overwrites every tensor of `module` with generator values; returns manifest rows.

    `transform(name, array) -> array` may replace the values (used to load dequantised weights)."""
    rows = []
    live = dict(module.named_parameters())
    live.update(dict(module.named_buffers()))
    with torch.no_grad():
        for name, t in model_tensors(module).items():
            gname = prefix + name
            recipe = param_recipe(gname, tuple(t.shape), cfg, antisym_indexer)
            arr = generate_tensor(seed, gname, tuple(t.shape), recipe, cfg)
            if transform is not None:
                arr = transform(gname, arr)
            live[name].copy_(torch.from_numpy(np.ascontiguousarray(arr)))
            rows.append((gname, "i64" if t.dtype == torch.int64 else "f32", tuple(t.shape), recipe))
    return rows


# ------------------------------------------------------------------------------------------------
# Configurations
# ------------------------------------------------------------------------------------------------

def tiny_kwargs() -> dict:
    """specs/deepseek-v4.md section 13.1, verbatim."""
    return dict(
        vocab_size=256, hidden_size=64, num_hidden_layers=5,
        num_attention_heads=4, num_key_value_heads=1, head_dim=32, partial_rotary_factor=8 / 32,
        q_lora_rank=32, o_groups=2, o_lora_rank=16,
        layer_types=["sliding_attention", "heavily_compressed_attention", "compressed_sparse_attention",
                     "heavily_compressed_attention", "compressed_sparse_attention"],
        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 8},
        mlp_layer_types=["hash_moe", "hash_moe", "moe", "moe", "moe"],
        sliding_window=8, index_n_heads=2, index_head_dim=16, index_topk=2,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=32,
        scoring_func="sqrtsoftplus", routed_scaling_factor=1.5, norm_topk_prob=True, swiglu_limit=10.0,
        hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, rms_norm_eps=1e-6,
        rope_theta=10000.0, compress_rope_theta=160000.0,
        rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                         "beta_fast": 32, "beta_slow": 1},
        max_position_embeddings=64, num_nextn_predict_layers=0, tie_word_embeddings=False,
    )


def tiny_official_config_json() -> dict:
    """DeepSeek's legacy config.json form (as shipped with V4-Flash), scaled down.

    6 heads and q_lora_rank 144 make wq_a / wq_b / indexer wq_b span two 128-row or 128-column FP8
    blocks (one partial); hidden 64 and moe_intermediate 32 are multiples of the MXFP4 block of 32."""
    return {
        "architectures": ["DeepseekV4ForCausalLM"],
        "model_type": "deepseek_v4",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hc_eps": 1e-06,
        "hc_mult": 4,
        "hc_sinkhorn_iters": 20,
        "head_dim": 32,
        "hidden_act": "silu",
        "hidden_size": 64,
        "index_head_dim": 16,
        "index_n_heads": 2,
        "index_topk": 2,
        "initializer_range": 0.02,
        "max_position_embeddings": 1048576,
        "moe_intermediate_size": 32,
        "n_routed_experts": 8,
        "n_shared_experts": 1,
        "norm_topk_prob": True,
        "num_attention_heads": 6,
        "num_experts_per_tok": 2,
        "num_hidden_layers": 5,
        "num_hash_layers": 2,
        "num_key_value_heads": 1,
        "num_nextn_predict_layers": 1,
        "o_groups": 2,
        "o_lora_rank": 16,
        "q_lora_rank": 144,
        "qk_rope_head_dim": 8,
        "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "scale_fmt": "ue8m0",
            "weight_block_size": [128, 128],
        },
        "expert_dtype": "fp4",
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 16,
            "original_max_position_embeddings": 65536,
            "type": "yarn",
        },
        "rope_theta": 10000,
        "routed_scaling_factor": 1.5,
        "scoring_func": "sqrtsoftplus",
        "sliding_window": 8,
        "swiglu_limit": 10.0,
        "tie_word_embeddings": False,
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": 128,
        "compress_rope_theta": 160000,
        "compress_ratios": [0, 128, 4, 128, 4, 0],
    }


def flash_width_kwargs() -> dict:
    return dict(
        vocab_size=512, hidden_size=4096, num_hidden_layers=2,
        num_attention_heads=64, num_key_value_heads=1, head_dim=512, partial_rotary_factor=64 / 512,
        q_lora_rank=1024, o_groups=8, o_lora_rank=1024,
        layer_types=["compressed_sparse_attention", "heavily_compressed_attention"],
        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 128},
        mlp_layer_types=["hash_moe", "moe"],
        sliding_window=128, index_n_heads=64, index_head_dim=128, index_topk=16,
        n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=2048,
        scoring_func="sqrtsoftplus", routed_scaling_factor=1.5, norm_topk_prob=True, swiglu_limit=10.0,
        hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, rms_norm_eps=1e-6,
        rope_theta=10000.0, compress_rope_theta=160000.0,
        rope_parameters={"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 65536,
                         "beta_fast": 32, "beta_slow": 1},
        max_position_embeddings=16 * 65536, num_nextn_predict_layers=0, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=1,
    )


def prepare_config(cfg: DeepseekV4Config) -> DeepseekV4Config:
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"
    return cfg


def write_hf_config(cfg: DeepseekV4Config, path: str) -> None:
    """Every field explicit (use_diff=False), so a reader needs no transformers defaults."""
    cfg.architectures = ["DeepseekV4ForCausalLM"]
    cfg.dtype = torch.float32
    cfg.to_json_file(path, use_diff=False)


def build_model(cfg: DeepseekV4Config) -> DeepseekV4ForCausalLM:
    torch.manual_seed(0)  # the HF init is overwritten entirely; this only makes runs repeatable
    model = DeepseekV4ForCausalLM(cfg).float().eval()
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    assert model.config._experts_implementation == "eager", model.config._experts_implementation
    return model


# ------------------------------------------------------------------------------------------------
# Instrumentation: routed experts, indexer picks, selection margins, SwiGLU clamp counts
# ------------------------------------------------------------------------------------------------

class ClampCounter:
    """Counts pre-clamp elements beyond swiglu_limit (gate > limit, |up| > limit) in every expert."""

    def __init__(self):
        self.gate = 0
        self.up = 0
        self.total = 0
        self.enabled = False
        self._orig = dsv4.DeepseekV4Experts._apply_gate
        self._hooks = []

    def install(self, modules):
        counter = self
        orig = self._orig

        def apply_gate(self_, gate_up):
            if counter.enabled:
                g, u = gate_up.chunk(2, dim=-1)
                counter.gate += int((g > self_.limit).sum())
                counter.up += int((u.abs() > self_.limit).sum())
                counter.total += g.numel()
            return orig(self_, gate_up)

        dsv4.DeepseekV4Experts._apply_gate = apply_gate
        for mlp in modules:  # shared experts (DeepseekV4MLP)
            lim = mlp.limit

            def hook_g(mod, inp, out, lim=lim):
                if counter.enabled:
                    counter.gate += int((out > lim).sum())
                    counter.total += out.numel()

            def hook_u(mod, inp, out, lim=lim):
                if counter.enabled:
                    counter.up += int((out.abs() > lim).sum())

            self._hooks.append(mlp.gate_proj.register_forward_hook(hook_g))
            self._hooks.append(mlp.up_proj.register_forward_hook(hook_u))

    def remove(self):
        dsv4.DeepseekV4Experts._apply_gate = self._orig
        for h in self._hooks:
            h.remove()


class Recorder:
    """Forward hooks on the routers, the indexers and the final HC head of one DeepseekV4Model."""

    def __init__(self, model: DeepseekV4ForCausalLM, cfg):
        self.cfg = cfg
        self.layers = model.model.layers
        self.hooks = []
        self.reset()
        for i, layer in enumerate(self.layers):
            self.hooks.append(layer.mlp.gate.register_forward_hook(self._router_hook(i)))
            comp = layer.self_attn.compressor
            if comp is not None and hasattr(comp, "indexer"):
                self.hooks.append(comp.indexer.register_forward_hook(self._indexer_hook(i)))
                self.hooks.append(comp.indexer.scorer.register_forward_hook(self._scorer_hook(i)))
        self.hooks.append(model.model.hc_head.register_forward_hook(self._head_hook))

    def reset(self):
        self.experts = {}  # layer -> list of [S, K] int tensors (one per call)
        self.router_scores = {}  # layer -> list of [S, E] biased selection scores (learned layers)
        self.indexer = {}  # layer -> list of [S, k] picks (-1 = invalid)
        self.index_scores = {}  # layer -> list of [S, T] scores
        self.final_streams = []  # list of [S, n, D] residual streams before the HC head

    def _router_hook(self, i):
        def hook(mod, inp, out):
            logits, _, idx = out
            self.experts.setdefault(i, []).append(idx.detach().clone())
            if isinstance(mod, dsv4.DeepseekV4TopKRouter):
                sc = mod.score_fn(logits) + mod.e_score_correction_bias
                self.router_scores.setdefault(i, []).append(sc.detach().clone())

        return hook

    def _indexer_hook(self, i):
        def hook(mod, inp, out):
            self.indexer.setdefault(i, []).append(out[0].detach().clone())

        return hook

    def _scorer_hook(self, i):
        def hook(mod, inp, out):
            self.index_scores.setdefault(i, []).append(out[0].detach().clone())

        return hook

    def _head_hook(self, mod, inp, out):
        self.final_streams.append(inp[0][0].detach().clone())

    def remove(self):
        for h in self.hooks:
            h.remove()


def sorted_experts(rec: Recorder, n_layers: int, S: int, K: int) -> np.ndarray:
    out = np.zeros((n_layers, S, K), dtype=np.int32)
    for l in range(n_layers):
        idx = torch.cat([x.reshape(-1, K) for x in rec.experts[l]], dim=0)
        assert idx.shape[0] == S
        out[l] = np.sort(idx.numpy(), axis=1)
    return out


def sorted_indexer(rec: Recorder, csa_layers, S: int, topk: int) -> np.ndarray:
    m = rec.cfg.compress_rates["compressed_sparse_attention"]
    out = np.full((len(csa_layers), S, topk), -1, dtype=np.int32)
    for j, l in enumerate(csa_layers):
        rows = []
        for picks in rec.indexer[l]:
            rows.extend(picks.tolist())
        assert len(rows) == S
        for s, row in enumerate(rows):
            valid = sorted(v for v in row if v >= 0)
            nvis = (s + 1) // m  # every visible entry is picked when there are at most topk of them
            assert len(valid) == len(set(valid)) == min(topk, nvis) and all(v < nvis for v in valid), (l, s, row)
            out[j, s, : len(valid)] = valid
    return out


def indexer_margins(rec: Recorder, csa_layers, cfg, S: int) -> float:
    """Smallest relative gap between the k-th and (k+1)-th visible index score (prefill)."""
    m = cfg.compress_rates["compressed_sparse_attention"]
    k = cfg.index_topk
    worst = math.inf
    for l in csa_layers:
        sc = torch.cat(rec.index_scores[l], dim=0)
        for p in range(S):
            nvis = (p + 1) // m
            if nvis <= k:
                continue
            v = torch.sort(sc[p, :nvis].double(), descending=True).values
            gap = float(v[k - 1] - v[k]) / max(float(v.abs().max()), 1e-30)
            worst = min(worst, gap)
    return worst


def router_margin(scores_list, K: int) -> float:
    worst = math.inf
    for sc in scores_list:
        v = torch.sort(sc.double(), dim=-1, descending=True).values
        if v.shape[-1] > K:
            worst = min(worst, float((v[:, K - 1] - v[:, K]).min()))
    return worst


# ------------------------------------------------------------------------------------------------
# Running the oracle
# ------------------------------------------------------------------------------------------------

def rel_err_per_pos(a: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (a - ref).abs().amax(-1) / ref.abs().amax(-1)


def argmax_margin(logits: torch.Tensor) -> float:
    """Smallest (top1 - top2) / max|logit| over positions: how safe an argmax comparison is."""
    top = torch.topk(logits.double(), 2, dim=-1).values
    return float(((top[:, 0] - top[:, 1]) / logits.double().abs().amax(-1)).min())


@torch.no_grad()
def run_oracle(model, cfg, ids: torch.Tensor, chunk_sizes, log) -> dict:
    S = ids.shape[1]
    n_layers = cfg.num_hidden_layers
    K = cfg.num_experts_per_tok
    csa_layers = [i for i, t in enumerate(cfg.layer_types) if t == "compressed_sparse_attention"]
    rec = Recorder(model, cfg)
    clamp = ClampCounter()
    clamp.install([l.mlp.shared_experts for l in model.model.layers])
    rot = model.model.rotary_emb
    inv_freq = {k: [float(x).hex() for x in getattr(rot, f"{k}_inv_freq").tolist()] for k in ("main", "compress")}
    res = {"csa_layers": csa_layers, "inv_freq": inv_freq}
    try:
        t0 = time.time()
        clamp.enabled = True
        prefill = model(ids, use_cache=False).logits[0].float()
        clamp.enabled = False
        res["time_prefill"] = time.time() - t0
        res["clamp"] = {"gate_gt_limit": clamp.gate, "abs_up_gt_limit": clamp.up, "gate_elements": clamp.total}
        res["logits_prefill"] = prefill
        res["experts"] = sorted_experts(rec, n_layers, S, K)
        res["indexer"] = sorted_indexer(rec, csa_layers, S, cfg.index_topk)
        res["indexer_min_rel_gap"] = indexer_margins(rec, csa_layers, cfg, S) if csa_layers else None
        res["router_min_gap"] = min(
            [router_margin(v, K) for v in rec.router_scores.values()], default=math.inf
        )
        res["final_streams"] = rec.final_streams[0]
        log(f"  prefill {res['time_prefill']:.1f}s; clamp {res['clamp']}; "
            f"router min gap {res['router_min_gap']:.3g}; indexer min rel gap {res['indexer_min_rel_gap']}")

        consistency = {}
        runs = [("decode", 1)] + [(f"chunk{c}", c) for c in chunk_sizes]
        for label, c in runs:
            rec.reset()
            t0 = time.time()
            cache = DynamicCache(config=cfg)
            outs = []
            for s in range(0, S, c):
                outs.append(model(ids[:, s : s + c], past_key_values=cache, use_cache=True).logits[0].float())
            logits = torch.cat(outs, dim=0)
            err = rel_err_per_pos(logits, prefill)
            exp_same = bool((sorted_experts(rec, n_layers, S, K) == res["experts"]).all())
            idx_same = bool((sorted_indexer(rec, csa_layers, S, cfg.index_topk) == res["indexer"]).all())
            consistency[label] = {
                "max_rel_err_vs_prefill": float(err.max()),
                "positions_over_1e-5": [int(p) for p in torch.nonzero(err > 1e-5).flatten()],
                "experts_equal": exp_same,
                "indexer_equal": idx_same,
                "seconds": round(time.time() - t0, 2),
            }
            res[f"logits_{label}"] = logits
            log(f"  {label}: max rel err vs prefill {float(err.max()):.3g}, experts equal {exp_same}, "
                f"indexer equal {idx_same} ({time.time() - t0:.1f}s)")
        res["consistency"] = consistency
    finally:
        clamp.remove()
        rec.remove()
    return res


# ------------------------------------------------------------------------------------------------
# Output files
# ------------------------------------------------------------------------------------------------

def save_safetensors(tensors: dict, path: str) -> None:
    save_file(tensors, path, metadata={"format": "pt"})
    os.chmod(path, 0o644)


def write_raw(path: str, arr: np.ndarray, dtype) -> None:
    np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tofile(path)


def versions() -> dict:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": platform.python_version(),
    }


def write_outputs(fdir: str, cfg, ids: list[int], res: dict, chunk_sizes, seed: int, notes: dict,
                  extra_files: dict | None = None) -> dict:
    S, V = len(ids), cfg.vocab_size
    files = {}
    with open(os.path.join(fdir, "prompt.txt"), "w") as f:
        f.write(" ".join(str(t) for t in ids) + "\n")
    files["prompt.txt"] = {"desc": "prompt token ids, one line, space separated"}
    for label in ["prefill", "decode"] + [f"chunk{c}" for c in chunk_sizes]:
        fname = f"logits_{label}.f32"
        write_raw(os.path.join(fdir, fname), res[f"logits_{label}"].numpy(), np.float32)
        files[fname] = {"dtype": "f32", "shape": [S, V]}
    files["logits_prefill.f32"]["desc"] = "model(input_ids, use_cache=False)"
    files["logits_decode.f32"]["desc"] = "one DynamicCache, one token per call from position 0"
    for c in chunk_sizes:
        files[f"logits_chunk{c}.f32"]["desc"] = f"one DynamicCache, chunks of {c} tokens (last chunk shorter)"
    write_raw(os.path.join(fdir, "experts.i32"), res["experts"], np.int32)
    files["experts.i32"] = {
        "dtype": "i32", "shape": list(res["experts"].shape),
        "desc": "routed experts per layer and token in the prefill, each row sorted ascending",
    }
    write_raw(os.path.join(fdir, "indexer.i32"), res["indexer"], np.int32)
    files["indexer.i32"] = {
        "dtype": "i32", "shape": list(res["indexer"].shape),
        "desc": "CSA layers in order: selected compressed-entry indices per query in the prefill, "
                "sorted ascending, padded with -1",
        "csa_layers": res["csa_layers"],
    }
    if extra_files:
        files.update(extra_files)
    manifest = {
        "prompt_len": S,
        "vocab": V,
        "chunk_sizes": list(chunk_sizes),
        "files": files,
        **versions(),
        "seed": seed,
        "notes": notes,
    }
    with open(os.path.join(fdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest


def common_notes(cfg, res: dict) -> dict:
    return {
        "oracle": "transformers DeepseekV4ForCausalLM, float32, eager attention, experts_implementation=eager",
        "layer_types": list(cfg.layer_types),
        "mlp_layer_types": list(cfg.mlp_layer_types),
        "index_topk": cfg.index_topk,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "swiglu_clamp_counts_prefill": res["clamp"],
        "router_min_selection_gap": res["router_min_gap"],
        "indexer_min_relative_gap": res["indexer_min_rel_gap"],
        "argmax_min_relative_gap_prefill": argmax_margin(res["logits_prefill"]),
        "hf_self_consistency": res["consistency"],
        "rope_inv_freq_f32": res["inv_freq"],
        "timings_s": {"prefill": round(res["time_prefill"], 2)},
    }


def check_margins(res: dict, name: str, allow: bool, log) -> None:
    bad = []
    if res["router_min_gap"] < 1e-4:
        bad.append(f"router top-k gap {res['router_min_gap']:.3g} < 1e-4")
    g = res["indexer_min_rel_gap"]
    if g is not None and g < 1e-4:
        bad.append(f"indexer top-k relative gap {g:.3g} < 1e-4")
    if bad:
        msg = f"{name}: near-tied selections ({'; '.join(bad)}); choose another seed"
        if not allow:
            raise SystemExit(msg)
        log("WARNING " + msg)


# ------------------------------------------------------------------------------------------------
# Fixture: tiny (spec 13.1, transformers names, f32)
# ------------------------------------------------------------------------------------------------

TINY_SEED = 8
TINY_OFFICIAL_SEED = 22
FLASH_WIDTH_SEED = 2


def make_tiny(out: str, log, allow_ties: bool) -> None:
    name, seed, S, chunks = "tiny", TINY_SEED, 40, (3, 4, 5, 8)
    fdir = os.path.join(out, name)
    os.makedirs(fdir, exist_ok=True)
    cfg = prepare_config(DeepseekV4Config(**tiny_kwargs()))
    model = build_model(cfg)
    rows = fill_module(model, seed, cfg, antisym_indexer=True)
    ids = gen_prompt(seed, S, cfg.vocab_size)
    res = run_oracle(model, cfg, torch.tensor([ids]), chunks, log)
    check_margins(res, name, allow_ties, log)

    tensors = {k: v.detach().clone().contiguous() for k, v in model_tensors(model).items()}
    save_safetensors(tensors, os.path.join(fdir, "model.safetensors"))
    write_hf_config(cfg, os.path.join(fdir, "config.json"))

    # Round trip: the committed files must load in transformers and reproduce the prefill logits.
    re = DeepseekV4ForCausalLM.from_pretrained(fdir, dtype=torch.float32, attn_implementation="eager",
                                               experts_implementation="eager").eval()
    with torch.no_grad():
        again = re(torch.tensor([ids]), use_cache=False).logits[0]
    rt = float(rel_err_per_pos(again, res["logits_prefill"]).max())
    log(f"  reload check (from_pretrained of the fixture): max rel err {rt:.3g}")
    assert rt < 1e-5, rt  # not always bit-identical: BLAS paths differ with tensor alignment

    notes = common_notes(cfg, res)
    notes["weights"] = "model.safetensors: every parameter and persistent buffer under its transformers name, f32 " \
                       "(tid2eid int64); generated with the seeded generator, recipes in tensors.txt"
    notes["reload_max_rel_err"] = rt
    write_manifest_tensors(fdir, rows)
    write_outputs(fdir, cfg, ids, res, chunks, seed, notes,
                  {"model.safetensors": {"desc": "weights, transformers names"},
                   "config.json": {"desc": "DeepseekV4Config.to_json_file(use_diff=False)"},
                   "tensors.txt": {"desc": "generator manifest of model.safetensors"}})


def write_manifest_tensors(fdir: str, rows) -> None:
    with open(os.path.join(fdir, "tensors.txt"), "w") as f:
        f.write("# name dtype shape recipe scale offset  (docs/fixtures.md; scale/offset are exact f32 in C99 hex;\n")
        f.write("# for recipe tid2eid the scale column is the number of experts E and K = shape[1])\n")
        for name, dt, shape, (kind, scale, offset) in rows:
            shp = ",".join(str(s) for s in shape)
            if kind == "tid2eid":
                f.write(f"{name} {dt} {shp} tid2eid {int(scale)} 0\n")
            else:
                f.write(f"{name} {dt} {shp} uniform {f32hex(scale)} {f32hex(offset)}\n")


# ------------------------------------------------------------------------------------------------
# Fixture: tiny_official (legacy config, official names and dtypes, 2 shards, MTP)
# ------------------------------------------------------------------------------------------------

E4M3_MAX = 448.0
E2M1_MAX = 6.0
E2M1_GRID = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float32)


def pow2_ceil_exponent(t: np.ndarray) -> np.ndarray:
    """Smallest e with 2^e >= t (t > 0, normal f32): the ue8m0 rounding of spec 4.6."""
    bits = np.asarray(t, dtype=np.float32).view(np.uint32)
    exp = ((bits >> 23) & 0xFF).astype(np.int32) - 127
    return exp + ((bits & 0x7FFFFF) != 0).astype(np.int32)


def quant_fp8_block(w: np.ndarray):
    """128x128 block FP8 E4M3 with power-of-two (E8M0) scales. Returns (fp8 tensor, e8m0 tensor, dequant)."""
    out_f, in_f = w.shape
    bo, bi = -(-out_f // 128), -(-in_f // 128)
    exps = np.zeros((bo, bi), dtype=np.int32)
    scale_full = np.zeros_like(w)
    for r in range(bo):
        for c in range(bi):
            blk = w[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128]
            amax = max(float(np.abs(blk).max()), 1e-4)
            e = int(pow2_ceil_exponent(np.float32(amax) * np.float32(1.0 / E4M3_MAX)))
            exps[r, c] = e
            scale_full[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128] = np.float32(2.0**e)
    q = torch.from_numpy(w / scale_full).to(torch.float8_e4m3fn)  # exact division by 2^e, then RNE
    deq = q.float().numpy() * scale_full
    scale = torch.from_numpy((exps + 127).astype(np.uint8)).view(torch.float8_e8m0fnu)
    return q, scale, deq.astype(np.float32)


def e2m1_round(a: np.ndarray) -> np.ndarray:
    """Round |x| (already clamped to [0, 6]) to the E2M1 grid, ties to the even code (spec 13.4)."""
    step = np.where(a < 2.0, 0.5, np.where(a < 4.0, 1.0, 2.0)).astype(np.float32)
    return (np.rint(a / step) * step).astype(np.float32)


def quant_mxfp4(w: np.ndarray):
    """MXFP4: per row, blocks of 32 input elements share one E8M0 scale. Returns (I8 packed, e8m0, dequant)."""
    out_f, in_f = w.shape
    assert in_f % 32 == 0
    blocks = w.reshape(out_f, in_f // 32, 32)
    amax = np.maximum(np.abs(blocks).max(axis=-1), np.float32(6.0 * 2.0**-126))
    e = pow2_ceil_exponent((amax * np.float32(1.0 / E2M1_MAX)).astype(np.float32))
    s = np.ldexp(np.float32(1.0), e).astype(np.float32)[..., None]
    x = np.clip(blocks / s, -E2M1_MAX, E2M1_MAX)
    mag = e2m1_round(np.abs(x))
    code = np.searchsorted(E2M1_GRID, mag).astype(np.uint8)
    assert np.array_equal(E2M1_GRID[code], mag)
    code = code | np.where(x < 0, 8, 0).astype(np.uint8)  # sign bit (negative values that round to 0 give -0)
    deq = (np.where(code & 8, -1.0, 1.0) * E2M1_GRID[code & 7])[...] * s
    code = code.reshape(out_f, in_f)
    packed = (code[:, 0::2] | (code[:, 1::2] << 4)).astype(np.uint8)
    return (torch.from_numpy(packed.view(np.int8).copy()),
            torch.from_numpy((e + 127).astype(np.uint8)).view(torch.float8_e8m0fnu),
            deq.reshape(out_f, in_f).astype(np.float32))


def quantise_to_official(official: str, kind: str, arr: np.ndarray, n_experts: int, inter: int):
    """Returns ({official tensor name: torch tensor}, dequantised f32 array with the HF layout)."""
    if kind == "fp8":
        q, s, deq = quant_fp8_block(arr)
        return {official + ".weight": q, official + ".scale": s}, deq
    if kind == "bf16":
        t = torch.from_numpy(arr).to(torch.bfloat16)
        return {official: t}, t.float().numpy()
    if kind == "f32":
        return {official: torch.from_numpy(arr.copy())}, arr
    if kind == "i64":
        return {official: torch.from_numpy(arr.astype(np.int64))}, arr
    if kind == "mxfp4_w1w3":  # HF gate_up_proj [E, 2I, D] = concat(w1, w3) per expert
        out, deq = {}, np.empty_like(arr)
        for e in range(n_experts):
            for j, wname in enumerate(("w1", "w3")):
                q, s, d = quant_mxfp4(arr[e, j * inter : (j + 1) * inter])
                out[f"{official}.{e}.{wname}.weight"] = q
                out[f"{official}.{e}.{wname}.scale"] = s
                deq[e, j * inter : (j + 1) * inter] = d
        return out, deq
    if kind == "mxfp4_w2":  # HF down_proj [E, D, I]
        out, deq = {}, np.empty_like(arr)
        for e in range(n_experts):
            q, s, d = quant_mxfp4(arr[e])
            out[f"{official}.{e}.w2.weight"] = q
            out[f"{official}.{e}.w2.scale"] = s
            deq[e] = d
        return out, deq
    raise ValueError(kind)


def run_mtp_oracle(mtp: MTPOracle, model, cfg, ids: list[int], res: dict, log):
    """MTP logits [S-1, V] on the prefill's final streams (positions 0..S-2, tokens ids[1:]) and the
    block's router selection margin (also folded into res["router_min_gap"])."""
    S = len(ids)
    mrec_scores = []
    h = mtp.layer.mlp.gate.register_forward_hook(
        lambda mod, inp, o: mrec_scores.append(mod.score_fn(o[0]) + mod.e_score_correction_bias))
    hm = res["final_streams"][: S - 1].unsqueeze(0)
    with torch.no_grad():
        mtp_logits = mtp(model, hm, torch.tensor([ids[1:]]))[0]
    h.remove()
    mtp_gap = router_margin(mrec_scores, cfg.num_experts_per_tok)
    res["router_min_gap"] = min(res["router_min_gap"], mtp_gap)
    log(f"  MTP: logits {tuple(mtp_logits.shape)}, router min gap {mtp_gap:.3g}")
    return mtp_logits, mtp_gap


MTP_NOTE = ("MTP oracle assembled from transformers modules (scripts/dsv4_mtp.py MTPOracle: DeepseekV4DecoderLayer "
            "with layer type sliding_attention + learned moe at index L, DeepseekV4HyperHead, DeepseekV4RMSNorm "
            "enorm/hnorm/norm, nn.Linear e_proj/h_proj, shared embed_tokens and lm_head): Hm[s] = main final "
            "residual streams (input of model.hc_head) at s = 0..S-2, t'[s] = t[s+1]; x[s][k] = "
            "e_proj(enorm(E[t'[s]])) + h_proj(hnorm(Hm[s][k])); y = layer(x) run stateless over positions "
            "0..S-2 (sliding-window mask, main rope); logits = lm_head(norm(hc_head_mtp(y)))")


def make_tiny_official(out: str, log, allow_ties: bool) -> None:
    name, seed, S, chunks = "tiny_official", TINY_OFFICIAL_SEED, 140, (3, 5)
    fdir = os.path.join(out, name)
    os.makedirs(fdir, exist_ok=True)
    cjson = tiny_official_config_json()
    with open(os.path.join(fdir, "config.json"), "w") as f:
        json.dump(cjson, f, indent=2)
        f.write("\n")
    cfg = DeepseekV4Config.from_pretrained(fdir)
    expected_types = ["sliding_attention", "heavily_compressed_attention", "compressed_sparse_attention",
                      "heavily_compressed_attention", "compressed_sparse_attention"]
    assert cfg.layer_types == expected_types, cfg.layer_types
    assert cfg.mlp_layer_types == ["hash_moe", "hash_moe", "moe", "moe", "moe"], cfg.mlp_layer_types
    assert cfg.qk_rope_head_dim == 8 and cfg.compress_rates["heavily_compressed_attention"] == 128
    assert cfg.rope_parameters["compress"]["rope_type"] == "yarn", cfg.rope_parameters
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # the oracle runs on dequantised f32 values, never HF's FP8 path
    prepare_config(cfg)
    L, E, I = cfg.num_hidden_layers, cfg.n_routed_experts, cfg.moe_intermediate_size

    official: dict[str, torch.Tensor] = {}
    hf_to_official = {}

    def convert(hf_name: str, arr: np.ndarray, off_name: str, kind: str) -> np.ndarray:
        tensors, deq = quantise_to_official(off_name, kind, arr, E, I)
        for k, v in tensors.items():
            assert k not in official, k
            official[k] = v.contiguous()
        hf_to_official[hf_name] = sorted(tensors)
        return deq.astype(arr.dtype)

    def official_of(hf_name: str, prefix_off: str, hf_layer_name: str):
        for off, hf, kind in LAYER_MAP:
            if hf_layer_name == hf:
                return prefix_off + off, kind
        raise KeyError(hf_name)

    def main_transform(gname: str, arr: np.ndarray) -> np.ndarray:
        for off, hf, kind in TOP_MAP:
            if gname == hf:
                return convert(gname, arr, off, kind)
        assert gname.startswith("model.layers."), gname
        rest = gname[len("model.layers."):]
        idx, suffix = rest.split(".", 1)
        off, kind = official_of(gname, f"layers.{idx}.", suffix)
        return convert(gname, arr, off, kind)

    model = build_model(cfg)
    rows = fill_module(model, seed, cfg, antisym_indexer=True, transform=main_transform)

    # MTP block from transformers modules: layer index L is a sliding-window layer with learned top-k MoE
    mcfg = mtp_config(cfg)
    mtp = MTPOracle(mcfg, L).float().eval()

    def mtp_transform(gname: str, arr: np.ndarray) -> np.ndarray:
        local = gname[len("mtp.0."):]
        for off, attr, kind in MTP_EXTRA_MAP:
            if local == attr:
                return convert(gname, arr, "mtp.0." + off, kind)
        assert local.startswith("layer."), local
        off, kind = official_of(gname, "mtp.0.", local[len("layer."):])
        return convert(gname, arr, off, kind)

    rows += fill_module(mtp, seed, mcfg, antisym_indexer=True, prefix="mtp.0.", transform=mtp_transform)

    ids = gen_prompt(seed, S, cfg.vocab_size)
    res = run_oracle(model, cfg, torch.tensor([ids]), chunks, log)

    mtp_logits, mtp_gap = run_mtp_oracle(mtp, model, cfg, ids, res, log)
    check_margins(res, name, allow_ties, log)

    # Shards: layers 0..2 + embed in shard 1, everything else in shard 2
    def shard_of(k: str) -> int:
        if k.startswith("embed.") or any(k.startswith(f"layers.{i}.") for i in range(3)):
            return 1
        return 2

    names = [f"model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    weight_map, total = {}, 0
    for i in (1, 2):
        part = {k: v for k, v in official.items() if shard_of(k) == i}
        save_safetensors(part, os.path.join(fdir, names[i - 1]))
        for k, v in part.items():
            weight_map[k] = names[i - 1]
            total += v.numel() * v.element_size()
    with open(os.path.join(fdir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")

    # Cross-check the official -> transformers name mapping with transformers' own conversion
    # (conversion_mapping.py): dequantise every official tensor to f32, load with from_pretrained.
    xerr = crosscheck_official_names(official, cjson, model, log)

    write_raw(os.path.join(fdir, "mtp_logits_prefill.f32"), mtp_logits.numpy(), np.float32)
    notes = common_notes(cfg, res)
    notes.update({
        "weights": "2 safetensors shards with DeepSeek's official names and dtypes (spec 10.1/10.2); the oracle "
                   "was given exactly the dequantised values; pre-quantisation values come from the seeded "
                   "generator under the transformers names listed in tensors.txt (MTP: mtp.0.<module name>)",
        "config": "legacy DeepSeek form (compress_ratios with L+1 entries, num_hash_layers, qk_rope_head_dim, "
                  "rope_scaling type yarn); transformers parses it into layer_types "
                  f"{cfg.layer_types} and mlp_layer_types {cfg.mlp_layer_types}",
        "mtp": MTP_NOTE,
        "mtp_router_min_selection_gap": mtp_gap,
        "mtp_argmax_min_relative_gap": argmax_margin(mtp_logits),
        "official_name_crosscheck_max_abs_diff": xerr,
    })
    write_manifest_tensors(fdir, rows)
    write_outputs(fdir, cfg, ids, res, chunks, seed, notes, {
        "mtp_logits_prefill.f32": {"dtype": "f32", "shape": [S - 1, cfg.vocab_size],
                                   "desc": "MTP logits for positions 0..S-2 (predicting t[s+2])"},
        "config.json": {"desc": "legacy DeepSeek config.json"},
        "model.safetensors.index.json": {"desc": "weight_map of the two shards"},
        names[0]: {"desc": "shard 1"},
        names[1]: {"desc": "shard 2"},
        "tensors.txt": {"desc": "generator manifest of the pre-quantisation values (transformers names)"},
    })


# ------------------------------------------------------------------------------------------------
# Fixture: tiny_mtp (spec 13.1 + one MTP block, stored as scripts/train_hk_mtp.py stores hk-tiny's)
# ------------------------------------------------------------------------------------------------

TINY_MTP_SEED = 10


def make_tiny_mtp(out: str, log, allow_ties: bool) -> None:
    """The main model under transformers' names and the MTP block under ClawNet's canonical mtp.0.*
    names, all f32 in one model.safetensors, config num_nextn_predict_layers 1: the layout of
    scripts/train_hk_mtp.py's output (both name the block with dsv4_mtp.canonical_state)."""
    name, seed, S, chunks = "tiny_mtp", TINY_MTP_SEED, 40, (3,)
    fdir = os.path.join(out, name)
    os.makedirs(fdir, exist_ok=True)
    cfg = prepare_config(DeepseekV4Config(**{**tiny_kwargs(), "num_nextn_predict_layers": 1}))
    model = build_model(cfg)
    rows = fill_module(model, seed, cfg, antisym_indexer=True)
    mtp = MTPOracle(mtp_config(cfg), cfg.num_hidden_layers).float().eval()
    rows += fill_module(mtp, seed, mtp.mcfg, antisym_indexer=True, prefix="mtp.0.")
    ids = gen_prompt(seed, S, cfg.vocab_size)
    res = run_oracle(model, cfg, torch.tensor([ids]), chunks, log)
    mtp_logits, mtp_gap = run_mtp_oracle(mtp, model, cfg, ids, res, log)
    check_margins(res, name, allow_ties, log)

    tensors = {k: v.detach().clone().contiguous() for k, v in model_tensors(model).items()}
    tensors.update(canonical_state(mtp))
    save_safetensors(tensors, os.path.join(fdir, "model.safetensors"))
    write_hf_config(cfg, os.path.join(fdir, "config.json"))

    # Round trip: transformers loads the files (ignoring mtp.*) and reproduces the prefill logits;
    # the block reloaded from its canonical names reproduces the MTP logits.
    re = DeepseekV4ForCausalLM.from_pretrained(fdir, dtype=torch.float32, attn_implementation="eager",
                                               experts_implementation="eager").eval()
    again_mtp = MTPOracle(mtp_config(cfg), cfg.num_hidden_layers).float().eval()
    load_canonical(again_mtp, load_file(os.path.join(fdir, "model.safetensors")))
    with torch.no_grad():
        again = re(torch.tensor([ids]), use_cache=False).logits[0]
    rt = float(rel_err_per_pos(again, res["logits_prefill"]).max())
    rerun = run_mtp_oracle(again_mtp, model, cfg, ids, res, log)[0]
    rt_mtp = float(rel_err_per_pos(rerun, mtp_logits).max())
    log(f"  reload check: main max rel err {rt:.3g}, MTP max rel err {rt_mtp:.3g}")
    assert rt < 1e-5 and rt_mtp < 1e-5, (rt, rt_mtp)

    write_raw(os.path.join(fdir, "mtp_logits_prefill.f32"), mtp_logits.numpy(), np.float32)
    notes = common_notes(cfg, res)
    notes.update({
        "weights": "model.safetensors, f32 (tid2eid int64): the main model under transformers names, the MTP "
                   "block under ClawNet's canonical names (mtp.0.attn.wq_a.weight, mtp.0.ffn.experts.w13.weight "
                   "[E, 2I, D], mtp.0.e_proj.weight, ...: dsv4_mtp.canonical_state); generator recipes in "
                   "tensors.txt (MTP rows under mtp.0.<module name>)",
        "mtp": MTP_NOTE,
        "mtp_router_min_selection_gap": mtp_gap,
        "mtp_argmax_min_relative_gap": argmax_margin(mtp_logits),
        "reload_max_rel_err": {"main": rt, "mtp": rt_mtp},
    })
    write_manifest_tensors(fdir, rows)
    write_outputs(fdir, cfg, ids, res, chunks, seed, notes, {
        "mtp_logits_prefill.f32": {"dtype": "f32", "shape": [S - 1, cfg.vocab_size],
                                   "desc": "MTP logits for positions 0..S-2 (predicting t[s+2])"},
        "model.safetensors": {"desc": "weights: transformers names + canonical mtp.0.* names"},
        "config.json": {"desc": "DeepseekV4Config.to_json_file(use_diff=False), num_nextn_predict_layers 1"},
        "tensors.txt": {"desc": "generator manifest of model.safetensors (pre-renaming names)"},
    })


def crosscheck_official_names(official: dict, cjson: dict, model, log) -> float:
    def deq(k: str) -> torch.Tensor | None:
        v = official[k]
        if k.endswith(".scale"):
            return None
        if v.dtype == torch.float8_e4m3fn:
            s = official[k[: -len(".weight")] + ".scale"].view(torch.uint8).to(torch.int32) - 127
            w = v.float()
            full = torch.pow(2.0, s.float()).repeat_interleave(128, 0).repeat_interleave(128, 1)
            return w * full[: w.shape[0], : w.shape[1]]
        if v.dtype == torch.int8:
            codes = v.view(torch.uint8)
            lo, hi = codes & 15, codes >> 4
            c = torch.stack([lo, hi], dim=-1).reshape(v.shape[0], -1).long()
            grid = torch.tensor(E2M1_GRID)
            vals = grid[c & 7] * torch.where(c & 8 > 0, -1.0, 1.0)
            s = official[k[: -len(".weight")] + ".scale"].view(torch.uint8).to(torch.int32) - 127
            return vals * torch.pow(2.0, s.float()).repeat_interleave(32, 1)
        if v.dtype == torch.bfloat16:
            return v.float()
        return v.clone()

    tmp = tempfile.mkdtemp(prefix="dsv4_xcheck_")
    try:
        state = {}
        for k in official:
            if k.startswith("mtp."):
                continue
            d = deq(k)
            if d is not None:
                state[k] = d.contiguous()
        save_file(state, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        c = dict(cjson)
        c.pop("quantization_config", None)
        c.pop("expert_dtype", None)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(c, f)
        re = DeepseekV4ForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager",
                                                   experts_implementation="eager")
        mine = model_tensors(model)
        theirs = model_tensors(re)
        assert set(mine) == set(theirs), set(mine) ^ set(theirs)
        worst = 0.0
        for k in mine:
            worst = max(worst, float((mine[k].double() - theirs[k].double()).abs().max()))
        log(f"  official-name cross-check via transformers' conversion mapping: max abs diff {worst}")
        assert worst == 0.0, worst
        return worst
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Fixture: flash_width (V4-Flash widths, weights only as a generator manifest)
# ------------------------------------------------------------------------------------------------

def make_flash_width(out: str, log, allow_ties: bool, prompt_len: int = 140) -> None:
    name, seed, S, chunks = "flash_width", FLASH_WIDTH_SEED, prompt_len, (3, 5)
    fdir = os.path.join(out, name)
    os.makedirs(fdir, exist_ok=True)
    cfg = prepare_config(DeepseekV4Config(**flash_width_kwargs()))
    t0 = time.time()
    model = build_model(cfg)
    t1 = time.time()
    rows = fill_module(model, seed, cfg, antisym_indexer=False)
    t2 = time.time()
    nparams = sum(v.numel() for v in model_tensors(model).values())
    log(f"  {nparams / 1e6:.1f}M parameters; construct {t1 - t0:.1f}s, generate {t2 - t1:.1f}s")
    ids = gen_prompt(seed, S, cfg.vocab_size)
    res = run_oracle(model, cfg, torch.tensor([ids]), chunks, log)
    check_margins(res, name, allow_ties, log)
    write_hf_config(cfg, os.path.join(fdir, "config.json"))
    write_manifest_tensors(fdir, rows)
    with open(os.path.join(fdir, "seed.json"), "w") as f:
        json.dump({"seed": seed, "generator": "splitmix64/fnv1a64 v1 (docs/fixtures.md)",
                   "prompt": "prompt.txt (token[i] = z_i mod vocab of the stream named 'prompt')"}, f, indent=1)
        f.write("\n")
    notes = common_notes(cfg, res)
    notes.update({
        "weights": "not committed: regenerate every tensor of tensors.txt with the seeded generator "
                   f"(seed {seed}); {nparams} values",
        "timings_s": {**notes["timings_s"], "construct": round(t1 - t0, 1), "generate": round(t2 - t1, 1)},
    })
    write_outputs(fdir, cfg, ids, res, chunks, seed, notes, {
        "config.json": {"desc": "DeepseekV4Config.to_json_file(use_diff=False)"},
        "tensors.txt": {"desc": "generator manifest: every parameter and persistent buffer"},
        "seed.json": {"desc": "global generator seed"},
    })


# ------------------------------------------------------------------------------------------------

FIXTURES = {"tiny": make_tiny, "tiny_official": make_tiny_official, "tiny_mtp": make_tiny_mtp,
            "flash_width": make_flash_width}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures", help="fixtures root (default tests/fixtures)")
    ap.add_argument("--only", choices=sorted(FIXTURES), action="append", help="build only this fixture")
    ap.add_argument("--allow-ties", action="store_true", help="warn instead of failing on near-tied selections")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = ap.parse_args()

    torch.set_default_dtype(torch.float32)
    if args.threads:
        torch.set_num_threads(args.threads)
    check = generator_selfcheck()

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"generator self-check ok: {json.dumps(check)}")
    log(f"versions: {json.dumps(versions())}")
    for name in args.only or list(FIXTURES):
        t0 = time.time()
        log(f"[{name}]")
        FIXTURES[name](args.out, log, args.allow_ties)
        log(f"[{name}] done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
