#!/usr/bin/env python3
"""A small random DeepSeek-V4 checkpoint with DeepSeek's real vocabulary (129,280 ids), so text
commands can be tested with the real tokenizer.json (the committed test models have tiny
vocabularies). Hidden size 64, three layers (sliding, CSA, HCA; hash routing on the first), BF16
weights; about 35 MB, made in a second or two with numpy. Random weights: the text is gibberish,
but deterministic (seeded), which is all the CLI tests need.

  python3 scripts/make_real_vocab_checkpoint.py OUT_DIR [--tokenizer tokenizer.json] [--vocab-size N]

With --tokenizer the file is copied into OUT_DIR, where `clawnet run -m OUT_DIR -p ...` finds it.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_bench_checkpoint as bench  # noqa: E402  (the tensor writers and the random generator)

SMALL = dict(hidden_size=64, num_attention_heads=4, head_dim=32, qk_rope_head_dim=8, q_lora_rank=32, o_groups=2,
             o_lora_rank=16, sliding_window=8, index_n_heads=2, index_head_dim=16, index_topk=2, n_routed_experts=8,
             num_experts_per_tok=2, moe_intermediate_size=32, num_hash_layers=1, num_hidden_layers=3,
             max_position_embeddings=65536)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="a tokenizer.json to copy into OUT")
    ap.add_argument("--vocab-size", type=int, default=bench.FLASH["vocab_size"],
                    help="embedding rows (default DeepSeek-V4's 129,280; 32,000 for models/hk-tiny's tokenizer)")
    args = ap.parse_args()
    cfg = dict(bench.FLASH, **SMALL, model_type="deepseek_v4")
    cfg["vocab_size"] = args.vocab_size
    ratios = [0, 4, 128, 0]  # sliding, CSA, HCA (ratio 128); the trailing 0 is the (absent) MTP layer's, as DeepSeek writes it
    cfg["compress_ratios"] = ratios
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    w = bench.Writer(args.out)
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    top = {"embed.weight": ("BF16", (V, D), bench.bf16((V, D), 1.0)),
           "head.weight": ("BF16", (V, D), bench.bf16((V, D), 4 * D ** -0.5)),
           "norm.weight": bench.ones_bf16(D), "hc_head_fn": bench.f32((4, 4 * D), 0.02),
           "hc_head_base": bench.f32((4,), 0.1), "hc_head_scale": bench.f32((1,), 0.1, 1.0)}
    w.shard("model-embed-head.safetensors", top)
    for layer in range(cfg["num_hidden_layers"]):
        w.shard(f"model-layer-{layer:02d}.safetensors", bench.layer_tensors(cfg, layer, ratios[layer], "bf16"))
    w.finish()
    if args.tokenizer:
        shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))


if __name__ == "__main__":
    main()
