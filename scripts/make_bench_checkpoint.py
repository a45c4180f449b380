#!/usr/bin/env python3
"""Synthetic DeepSeek-V4 checkpoints with V4-Flash widths, for `clawnet bench` (numpy only).

The real model does not fit a small machine, so speed is measured on a few layers of the real
shapes: hidden 4096, 64 heads of 512, q rank 1024, 8 output groups of 1024, 256 experts of 2048
(top 6) plus a shared expert, indexer 64x128, the real layer schedule (SWA, SWA, CSA, HCA, ...;
hash routing on the first three layers) and the real vocabulary. Values are random but finite and
of sensible magnitude; they are for timing, not for text.

  python3 scripts/make_bench_checkpoint.py OUT_DIR [--layers 4] [--format fp8|bf16] [--experts 256]

--format fp8 stores what DeepSeek ships: FP8 E4M3 weights with E8M0 128x128 block scales, MXFP4
routed experts, BF16 embeddings/norms/router/compressors, F32 mHC and sinks. --format bf16 stores
every weight matrix as BF16.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

FLASH = dict(vocab_size=129280, hidden_size=4096, num_attention_heads=64, head_dim=512, qk_rope_head_dim=64,
             q_lora_rank=1024, o_groups=8, o_lora_rank=1024, sliding_window=128, index_n_heads=64,
             index_head_dim=128, index_topk=512, n_routed_experts=256, num_experts_per_tok=6, n_shared_experts=1,
             moe_intermediate_size=2048, num_hash_layers=3, routed_scaling_factor=1.5, swiglu_limit=10.0,
             hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, rms_norm_eps=1e-6, rope_theta=10000.0,
             compress_rope_theta=160000.0, max_position_embeddings=1048576, scoring_func="sqrtsoftplus",
             norm_topk_prob=True, num_nextn_predict_layers=0, bos_token_id=0, eos_token_id=1,
             rope_scaling={"type": "yarn", "factor": 16, "original_max_position_embeddings": 65536,
                           "beta_fast": 32, "beta_slow": 1})

rng = np.random.default_rng(0)


def bf16(shape, scale):
    x = (rng.standard_normal(shape, dtype=np.float32) * scale).view(np.uint32)
    return ((x + 0x7FFF + ((x >> 16) & 1)) >> 16).astype(np.uint16)


def e4m3(shape):
    # Codes with exponent field 6..8 (|v| in [0.5, 4)) and random sign and mantissa: no NaNs.
    n = int(np.prod(shape))
    man = rng.integers(0, 8, n, dtype=np.uint8)
    exp = rng.integers(6, 9, n, dtype=np.uint8)
    sign = rng.integers(0, 2, n, dtype=np.uint8) << 7
    return (sign | (exp << 3) | man).reshape(shape)


def e8m0(shape, log2_scale):
    return np.full(shape, 127 + log2_scale, dtype=np.uint8)


class Writer:
    """Streams tensors into safetensors shards (one per layer) with an index."""

    def __init__(self, out):
        self.out, self.weight_map = out, {}

    def shard(self, name, tensors):
        header, offset, blobs = {}, 0, []
        for key, (dtype, shape, data) in tensors.items():
            raw = data.tobytes()
            header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
            offset += len(raw)
            blobs.append(raw)
            self.weight_map[key] = name
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in blobs:
                f.write(raw)

    def finish(self):
        with open(os.path.join(self.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": self.weight_map}, f, indent=1)


def linear(t, name, rows, cols, fmt):
    if fmt == "bf16":
        t[name + ".weight"] = ("BF16", (rows, cols), bf16((rows, cols), cols ** -0.5))
    else:
        t[name + ".weight"] = ("F8_E4M3", (rows, cols), e4m3((rows, cols)))
        # |code| ~ 1.5 on average: a 2^-k scale brings the row norm near 1.
        k = int(round(np.log2(cols) / 2)) + 1
        t[name + ".scale"] = ("F8_E8M0", (-(-rows // 128), -(-cols // 128)), e8m0((-(-rows // 128), -(-cols // 128)), -k))


def expert(t, name, rows, cols, fmt):
    if fmt == "bf16":
        t[name + ".weight"] = ("BF16", (rows, cols), bf16((rows, cols), cols ** -0.5))
    else:
        t[name + ".weight"] = ("I8", (rows, cols // 2), rng.integers(0, 256, (rows, cols // 2), dtype=np.uint8))
        k = int(round(np.log2(cols) / 2)) + 1
        t[name + ".scale"] = ("F8_E8M0", (rows, cols // 32), e8m0((rows, cols // 32), -k))


def f32(shape, scale, offset=0.0):
    return ("F32", shape, (rng.standard_normal(shape, dtype=np.float32) * scale + offset).astype(np.float32))



def ones_bf16(d):
    return ("BF16", (d,), np.full(d, 0x3F80, dtype=np.uint16))


def layer_tensors(cfg, layer, ratio, fmt):
    D, H, d, E, I = cfg["hidden_size"], cfg["num_attention_heads"], cfg["head_dim"], cfg["n_routed_experts"], cfg["moe_intermediate_size"]
    n, mix = cfg["hc_mult"], (2 + cfg["hc_mult"]) * cfg["hc_mult"]
    p, t = f"layers.{layer}.", {}
    for site in ("attn", "ffn"):
        t[p + f"hc_{site}_fn"] = f32((mix, n * D), 0.02)
        t[p + f"hc_{site}_base"] = f32((mix,), 0.1)
        t[p + f"hc_{site}_scale"] = f32((3,), 0.1, 1.0)
    t[p + "attn_norm.weight"] = ones_bf16(D)
    t[p + "ffn_norm.weight"] = ones_bf16(D)
    a = p + "attn."
    linear(t, a + "wq_a", cfg["q_lora_rank"], D, fmt)
    t[a + "q_norm.weight"] = ones_bf16(cfg["q_lora_rank"])
    linear(t, a + "wq_b", H * d, cfg["q_lora_rank"], fmt)
    linear(t, a + "wkv", d, D, fmt)
    t[a + "kv_norm.weight"] = ones_bf16(d)
    linear(t, a + "wo_a", cfg["o_groups"] * cfg["o_lora_rank"], H * d // cfg["o_groups"], fmt)
    linear(t, a + "wo_b", D, cfg["o_groups"] * cfg["o_lora_rank"], fmt)
    t[a + "attn_sink"] = f32((H,), 1.0)
    if ratio:
        coff = 2 if ratio == 4 else 1
        for prefix, dc in [(a + "compressor.", d)] + ([(a + "indexer.compressor.", cfg["index_head_dim"])] if ratio == 4 else []):
            t[prefix + "wkv.weight"] = ("BF16", (coff * dc, D), bf16((coff * dc, D), D ** -0.5))
            t[prefix + "wgate.weight"] = ("BF16", (coff * dc, D), bf16((coff * dc, D), D ** -0.5))
            t[prefix + "ape"] = f32((ratio, coff * dc), 0.5)
            t[prefix + "norm.weight"] = ones_bf16(dc)
        if ratio == 4:
            linear(t, a + "indexer.wq_b", cfg["index_n_heads"] * cfg["index_head_dim"], cfg["q_lora_rank"], fmt)
            t[a + "indexer.weights_proj.weight"] = ("BF16", (cfg["index_n_heads"], D), bf16((cfg["index_n_heads"], D), D ** -0.5))
    f = p + "ffn."
    t[f + "gate.weight"] = ("BF16", (E, D), bf16((E, D), D ** -0.5))
    if layer < cfg["num_hash_layers"]:
        rows = np.stack([rng.permutation(E)[: cfg["num_experts_per_tok"]] for _ in range(cfg["vocab_size"])])
        t[f + "gate.tid2eid"] = ("I64", rows.shape, rows.astype(np.int64))
    else:
        t[f + "gate.bias"] = f32((E,), 0.1)
    for e in range(E):
        expert(t, f + f"experts.{e}.w1", I, D, fmt)
        expert(t, f + f"experts.{e}.w3", I, D, fmt)
        expert(t, f + f"experts.{e}.w2", D, I, fmt)
    linear(t, f + "shared_experts.w1", I, D, fmt)
    linear(t, f + "shared_experts.w3", I, D, fmt)
    linear(t, f + "shared_experts.w2", D, I, fmt)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--format", choices=["fp8", "bf16"], default="fp8")
    ap.add_argument("--experts", type=int, default=256, help="routed experts per layer (256 in V4-Flash)")
    args = ap.parse_args()
    cfg = dict(FLASH, num_hidden_layers=args.layers, n_routed_experts=args.experts)
    # The real schedule: two sliding-window layers, then CSA / HCA alternating (spec 1.2).
    ratios = [0 if i < 2 else (4 if i % 2 == 0 else 128) for i in range(args.layers)] + [0]
    cfg["compress_ratios"] = ratios
    cfg["model_type"] = "deepseek_v4"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    w = Writer(args.out)
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    top = {"embed.weight": ("BF16", (V, D), bf16((V, D), 1.0)), "head.weight": ("BF16", (V, D), bf16((V, D), D ** -0.5)),
           "norm.weight": ones_bf16(D), "hc_head_fn": f32((4, 4 * D), 0.02), "hc_head_base": f32((4,), 0.1),
           "hc_head_scale": f32((1,), 0.1, 1.0)}
    w.shard("model-embed-head.safetensors", top)
    for layer in range(args.layers):
        print(f"layer {layer + 1}/{args.layers} (ratio {ratios[layer]})", file=sys.stderr, flush=True)
        w.shard(f"model-layer-{layer:02d}.safetensors", layer_tensors(cfg, layer, ratios[layer], args.format))
    w.finish()
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
