"""A small random DeepSeek-V4 checkpoint whose routed experts are 256 wide on both sides (hidden
256, expert width 256), so `clawnet quantize` writes them as 256-element K-quant blocks instead of
falling back to Q8_0 as it must on the 32/64-wide test fixtures. The experts are F32, drawn per
layer from a chosen distribution (Gaussian, Student-t with 3 degrees of freedom, Laplace), all
with standard deviation hidden^-0.5, so quantisation error can be measured on known data; the
rest comes from scripts/make_bench_checkpoint.py (BF16, seeded). Three layers (sliding with hash
routing, CSA, HCA), 8 experts (top 2), a 512-id vocabulary, no tokenizer; about 22 MB.

make(out) writes it and returns {tensor name: F32 array} of the experts as written."""
import json
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_bench_checkpoint as bench  # noqa: E402
import make_real_vocab_checkpoint as small  # noqa: E402

DISTRIBUTIONS = ("gaussian", "student_t3", "laplace")  # layer i's experts


def draw(rng, kind, shape, std):
    if kind == "gaussian":
        x = rng.standard_normal(shape)
    elif kind == "student_t3":  # variance df / (df - 2) = 3
        x = rng.standard_t(3, shape) / np.sqrt(3.0)
    else:  # Laplace with scale b has variance 2 b^2
        x = rng.laplace(0.0, 1.0 / np.sqrt(2.0), shape)
    return (x * std).astype(np.float32)


def make(out, seed=11):
    cfg = dict(bench.FLASH, **small.SMALL, model_type="deepseek_v4")
    cfg.update(hidden_size=256, moe_intermediate_size=256, vocab_size=512, num_hidden_layers=len(DISTRIBUTIONS))
    ratios = [0, 4, 128, 0]
    cfg["compress_ratios"] = ratios
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    w = bench.Writer(out)
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    w.shard("model-embed-head.safetensors",
            {"embed.weight": ("BF16", (V, D), bench.bf16((V, D), 1.0)),
             "head.weight": ("BF16", (V, D), bench.bf16((V, D), 4 * D ** -0.5)),
             "norm.weight": bench.ones_bf16(D), "hc_head_fn": bench.f32((4, 4 * D), 0.02),
             "hc_head_base": bench.f32((4,), 0.1), "hc_head_scale": bench.f32((1,), 0.1, 1.0)})
    rng = np.random.default_rng(seed)
    experts = {}
    for layer, kind in enumerate(DISTRIBUTIONS):
        t = bench.layer_tensors(cfg, layer, ratios[layer], "bf16")
        for name, (dtype, shape, _) in list(t.items()):
            if ".ffn.experts." in name:
                x = draw(rng, kind, shape, D ** -0.5)
                t[name] = ("F32", shape, x)
                experts[name] = x
        w.shard(f"model-layer-{layer:02d}.safetensors", t)
    w.finish()
    return experts
