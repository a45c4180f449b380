#!/usr/bin/env python3
"""OUTLINE, NOT YET RUN: trains the small trilingual model of issue 7 (models/hk-tiny) with
transformers' DeepseekV4ForCausalLM on the Hong Kong corpus, with the Hong Kong tokenizer.

Status: written against the source of transformers 5.23.0 (the version pip offers; checked by
`pip download --no-deps transformers` and reading transformers/models/deepseek_v4/), but never
executed: torch was not installed where it was written. Everything below that says CHECK is an
assumption to verify on the first run. What was verified in that source:
- `DeepseekV4Config` / `DeepseekV4ForCausalLM` exist; `forward(input_ids, labels=...)` returns the
  shifted cross-entropy loss (`self.loss_function`), plus the Switch-style aux loss when
  `output_router_logits=True`;
- `layer_types` take "sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention";
  `mlp_layer_types` "hash_moe" / "moe"; `compress_rates` per type;
- the hash routers' `tid2eid` buffer is initialised to zeros (every token to expert 0): it must be
  filled (below, a seeded random table) before training, and it is saved with the weights;
- the top-k routers' `e_score_correction_bias` buffer is not trained by backprop: DeepSeek's
  aux-loss-free balancing updates it by hand (below);
- **the MTP head is not built by transformers** (`num_nextn_predict_layers` is "not instantiated
  here", and `mtp.*` weights are ignored on load): this script trains no MTP head. Issue 7 asks for
  one; it needs its own module per shared/specs/deepseek-v4.md (MTP section) and ClawNet's names.

    pip install torch transformers==5.23.0 safetensors      # plus scripts/requirements-train.txt
    python scripts/hk_corpus.py && python scripts/train_hk_model.py --out build/hk-tiny-ckpt [--device cuda]
    build/clawnet quantize ...                                # CHECK: options, to models/hk-tiny/*.gguf

Writes OUT/model.safetensors (transformers names, float32), OUT/config.json (every field
explicit, as scripts/make_oracle_fixtures.py writes it), the tokenizer files, and OUT/train_log.json
(loss curve, held-out bits per byte per language).
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

LANGS = ("en", "zh_hant", "yue")


def model_config(vocab_size, seq_len):
    """About 30 M parameters: every V4 part at small width (window, CSA + indexer, HCA; hash and
    learned MoE with a shared expert; mHC with 4 streams). Embedding and head are 2 x 32k x 256."""
    from transformers import DeepseekV4Config
    return DeepseekV4Config(
        vocab_size=vocab_size, hidden_size=256, num_hidden_layers=6,
        num_attention_heads=4, num_key_value_heads=1, head_dim=64, partial_rotary_factor=16 / 64,
        q_lora_rank=128, o_groups=2, o_lora_rank=64,
        layer_types=["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                     "compressed_sparse_attention", "heavily_compressed_attention", "compressed_sparse_attention"],
        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 32},
        mlp_layer_types=["hash_moe", "hash_moe", "moe", "moe", "moe", "moe"],
        sliding_window=64, index_n_heads=2, index_head_dim=32, index_topk=16,
        n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=256,
        scoring_func="sqrtsoftplus", routed_scaling_factor=1.5, norm_topk_prob=True, swiglu_limit=10.0,
        hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, rms_norm_eps=1e-6,
        rope_theta=10000.0, compress_rope_theta=160000.0,
        # CHECK: that ClawNet's config reader takes this rope form for a model trained at seq_len.
        rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": seq_len,
                         "beta_fast": 32, "beta_slow": 1},
        max_position_embeddings=4 * seq_len, num_nextn_predict_layers=0, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=1, output_router_logits=False,
    )


def fill_tid2eid(model, seed):
    """Hash routing: each token id gets top_k distinct experts, seeded (DeepSeek's table is fixed
    before training too)."""
    import torch
    from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, dsv4.DeepseekV4HashRouter):
            vocab, k = module.tid2eid.shape
            table = torch.stack([torch.randperm(module.num_experts, generator=g)[:k] for _ in range(vocab)])
            module.tid2eid.copy_(table)


class BiasBalancer:
    """DeepSeek's aux-loss-free balancing: after each step, each top-k router's correction bias
    moves by +-rate towards equal expert load (counted from the chosen indices by a forward hook)."""

    def __init__(self, model, rate=1e-3):
        import torch
        from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
        self.rate, self.loads, self.hooks = rate, {}, []
        for module in model.modules():
            if isinstance(module, dsv4.DeepseekV4TopKRouter):
                self.loads[module] = torch.zeros(module.num_experts)
                self.hooks.append(module.register_forward_hook(self._count))

    def _count(self, module, inputs, outputs):
        indices = outputs[2].detach().reshape(-1).cpu()
        self.loads[module] += indices.bincount(minlength=module.num_experts).float()

    def step(self):
        import torch
        with torch.no_grad():
            for module, load in self.loads.items():
                module.e_score_correction_bias += self.rate * torch.sign(load.mean() - load).to(
                    module.e_score_correction_bias.device)
                load.zero_()


def load_split(corpus, lang, split):
    with open(os.path.join(corpus, f"{lang}.{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def token_stream(tokenizer, texts, bos, eos):
    """BOS text EOS per record, concatenated (ids only)."""
    ids = []
    for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
        ids += [bos] + enc.ids + [eos]
    return ids


def batches(streams, weights, seq_len, batch, rng):
    """Random windows of seq_len tokens, the language drawn by weight."""
    import torch
    langs = list(streams)
    while True:
        rows = []
        for _ in range(batch):
            s = streams[rng.choices(langs, weights=[weights[l] for l in langs])[0]]
            start = rng.randrange(0, len(s) - seq_len)
            rows.append(s[start:start + seq_len])
        yield torch.tensor(rows, dtype=torch.long)


def heldout_bits_per_byte(model, tokenizer, texts, bos, eos, seq_len, device):
    """Sum of -log2 p(token) over each record (BOS as context, EOS predicted), over UTF-8 bytes."""
    import torch
    total_nats, total_bytes = 0.0, 0
    model.eval()
    with torch.no_grad():
        for text, enc in zip(texts, tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = ([bos] + enc.ids + [eos])[: seq_len + 1]
            x = torch.tensor([ids], device=device)
            logits = model(input_ids=x[:, :-1]).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum")
            total_nats += nll.item()
            total_bytes += len(text.encode("utf-8"))  # CHECK: records longer than seq_len are cut
    model.train()
    return total_nats / math.log(2) / max(1, total_bytes)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--tokenizer", default="models/hk-tiny")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--heldout-records", type=int, default=300, help="per language, for the curve")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import DeepseekV4ForCausalLM

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = Tokenizer.from_file(os.path.join(args.tokenizer, "tokenizer.json"))
    bos, eos = tokenizer.token_to_id("<｜begin▁of▁sentence｜>"), tokenizer.token_to_id("<｜end▁of▁sentence｜>")
    streams = {lang: token_stream(tokenizer, load_split(args.corpus, lang, "train"), bos, eos) for lang in LANGS}
    heldout = {lang: load_split(args.corpus, lang, "heldout")[: args.heldout_records] for lang in LANGS}
    weights = {lang: 1.0 for lang in LANGS}  # equal mix per batch row, whatever the stream sizes
    print({lang: len(s) for lang, s in streams.items()}, "training tokens per language", file=sys.stderr)

    cfg = model_config(tokenizer.get_vocab_size(with_added_tokens=True), args.seq_len)
    cfg._attn_implementation = "eager"  # CHECK: sdpa may be faster on GPU and still exact enough
    cfg._experts_implementation = "eager"
    model = DeepseekV4ForCausalLM(cfg).to(args.device)
    fill_tid2eid(model, args.seed)
    balancer = BiasBalancer(model)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters", file=sys.stderr)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup) *
                                              0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    log = {"config": cfg.to_dict(), "args": vars(args), "steps": [], "heldout_bpb": []}
    data = batches(streams, weights, args.seq_len, args.batch, rng)
    start = time.time()
    model.train()
    for step in range(1, args.steps + 1):
        x = next(data).to(args.device)
        with torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16,
                            enabled=args.device.startswith("cuda")):
            loss = model(input_ids=x, labels=x).loss  # ForCausalLMLoss shifts the labels (checked in 5.23.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        balancer.step()
        if step % 50 == 0:
            log["steps"].append({"step": step, "loss": loss.item(), "seconds": time.time() - start})
            print(f"step {step} loss {loss.item():.3f} ({time.time() - start:.0f} s)", file=sys.stderr)
        if step % args.eval_every == 0 or step == args.steps:
            bpb = {lang: heldout_bits_per_byte(model, tokenizer, heldout[lang], bos, eos, args.seq_len, args.device)
                   for lang in LANGS}
            log["heldout_bpb"].append({"step": step, **bpb})
            print(f"step {step} held-out bits/byte {bpb}", file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(args.out, "model.safetensors"))
    cfg.architectures = ["DeepseekV4ForCausalLM"]
    cfg.dtype = torch.float32
    cfg.to_json_file(os.path.join(args.out, "config.json"), use_diff=False)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1, default=str)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
