#!/usr/bin/env python3
"""Trains hk-tiny, the small trilingual DeepSeek-V4-architecture model of issue 7, with transformers'
DeepseekV4ForCausalLM on the Hong Kong corpus (docs/hk_corpus.md) and tokenizer (models/hk-tiny).

Every V4 part is present at small width: mHC with 4 streams, sliding window + CSA with the lightning
indexer + HCA, hash-routed and learned-routed MoE with a shared expert. transformers builds no MTP
head (`num_nextn_predict_layers` is "not instantiated" in 5.23.0), so this script trains none.

Training is resumable and time-budgeted, because on a 2-core CPU it spans sessions:
  - the learning rate is warm-up, then constant ("stable"), then a linear decay over the last
    --decay-minutes of the --until-minutes budget (a warmup-stable-decay schedule: the budget can be
    raised later by resuming from CKPT/stable.pt, the state saved just before the decay started);
  - during the decay, --chat-weight of the batch rows are chat examples (JSONL of {"messages": [...]},
    rendered in DeepSeek-V4's chat format with loss on the assistant replies only), so the model learns
    the turn format at the end, as a fine-tune would;
  - CKPT/last.pt (model, optimiser, step, elapsed seconds, RNG states, log) is written every
    --checkpoint-minutes by temp file and rename; the run resumes from it when it exists.

The lightning indexer only returns top-k indices, so the LM loss leaves its parameters untrained.
--indexer-kl WEIGHT adds DeepSeek-V3.2's indexer loss (scripts/dsv4_indexer_kl.py, docs/hk_indexer.md):
loss = LM loss + WEIGHT * mean over the CSA layers of KL(main attention || indexer), the indexer's
inputs detached, so the two terms train disjoint parameters; the two parameter sets are gradient-clipped
separately, so the trunk's update is the one it would get without the flag. A checkpoint written
without the flag resumes with it (the indexer's parameters just have no optimiser state yet).

    /work/oracle-venv/bin/pip install -r scripts/requirements-oracle.txt -r scripts/requirements-train.txt
    python scripts/hk_corpus.py --out /work/train/hk_corpus
    python scripts/train_hk_model.py --corpus /work/train/hk_corpus --ckpt /work/train/ckpt \\
        --out /work/train/hk-tiny-hf --until-minutes 120 --decay-minutes 25 --chat data/hk_chat.jsonl
    build/clawnet quantize /work/train/hk-tiny-hf models/hk-tiny/hk-tiny.gguf

OUT gets model.safetensors (transformers names, float32), config.json (every field explicit), the
tokenizer files and train_log.json (loss curve, held-out bits per byte per language).
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
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT, NO_THINK = "<｜User｜>", "<｜Assistant｜>", "</think>"


def model_config(vocab_size, seq_len):
    """About 28 M parameters, 16 M of them the 32k x 256 embedding and head."""
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
        rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": seq_len,
                         "beta_fast": 32, "beta_slow": 1},
        max_position_embeddings=4 * seq_len, num_nextn_predict_layers=0, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=1, output_router_logits=False,
    )


def fill_tid2eid(model, seed):
    """Hash routing: each token id gets top_k distinct experts from a seeded table (DeepSeek's table
    is fixed before training too). transformers initialises it to zeros: every token to expert 0."""
    import torch
    from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, dsv4.DeepseekV4HashRouter):
            vocab, k = module.tid2eid.shape
            table = torch.stack([torch.randperm(module.num_experts, generator=g)[:k] for _ in range(vocab)])
            module.tid2eid.copy_(table)


class BiasBalancer:
    """DeepSeek's aux-loss-free balancing: after each step, each learned router's correction bias
    moves by +-rate towards equal expert load, counted from the chosen experts by a forward hook."""

    def __init__(self, model, rate):
        import torch
        from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
        self.rate, self.loads = rate, {}
        for module in model.modules():
            if isinstance(module, dsv4.DeepseekV4TopKRouter):
                self.loads[module] = torch.zeros(module.num_experts)
                module.register_forward_hook(self._count)

    def _count(self, module, inputs, outputs):
        if module.training:
            self.loads[module] += outputs[2].detach().reshape(-1).cpu().bincount(
                minlength=module.num_experts).float()

    def imbalance(self):
        """max load / mean load per router, for the log."""
        return [round((l.max() / l.mean().clamp(min=1)).item(), 2) for l in self.loads.values()]

    def step(self):
        import torch
        with torch.no_grad():
            for module, load in self.loads.items():
                module.e_score_correction_bias += self.rate * torch.sign(load.mean() - load)
                load.zero_()


def load_split(corpus, lang, split):
    with open(os.path.join(corpus, f"{lang}.{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def open_tokenizer(directory):
    """The Hong Kong tokenizer in DIRECTORY/tokenizer.json, with its BOS and EOS ids."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    return tokenizer, tokenizer.token_to_id(BOS), tokenizer.token_to_id(EOS)


def train_streams(tokenizer, corpus, bos, eos):
    """Every language's training split as one token stream each (token_stream)."""
    return {lang: token_stream(tokenizer, load_split(corpus, lang, "train"), bos, eos) for lang in LANGS}


def token_stream(tokenizer, texts, bos, eos):
    """BOS text EOS per record, concatenated."""
    ids = []
    for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
        ids += [bos] + enc.ids + [eos]
    return ids


def render_chat(tokenizer, messages, bos):
    """DeepSeek-V4 chat format, non-thinking (docs/chat.md): BOS [system] then per turn
    <｜User｜>text or <｜Assistant｜></think>reply<｜end▁of▁sentence｜>. Returns (ids, labels) with
    labels -100 outside the assistant replies (the reply and its EOS are learned)."""
    ids, labels = [bos], [-100]
    for m in messages:
        if m["role"] == "system":
            part, learn = m["content"], False
        elif m["role"] == "user":
            part, learn = USER + m["content"], False
        elif m["role"] == "assistant":
            head = tokenizer.encode(ASSISTANT + NO_THINK, add_special_tokens=False).ids
            ids += head
            labels += [-100] * len(head)
            part, learn = m["content"] + EOS, True
        else:
            raise ValueError(f"chat example: unknown role {m['role']!r}")
        enc = tokenizer.encode(part, add_special_tokens=False).ids
        ids += enc
        labels += enc if learn else [-100] * len(enc)
    return ids, labels


def load_chat(tokenizer, paths, bos):
    examples = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        examples.append(render_chat(tokenizer, json.loads(line)["messages"], bos))
                    except (ValueError, KeyError) as e:
                        sys.exit(f"{path}:{n}: {e}")
    return examples


def pretrain_row(stream, seq_len, rng):
    start = rng.randrange(0, len(stream) - seq_len)
    row = stream[start:start + seq_len]
    return row, row


def chat_row(examples, seq_len, rng, pad):
    """Whole chat examples packed into one row; the tail is padding that is not learned."""
    ids, labels = [], []
    while True:
        e_ids, e_labels = examples[rng.randrange(len(examples))]
        if len(ids) + len(e_ids) > seq_len:
            if ids:
                break
            e_ids, e_labels = e_ids[:seq_len], e_labels[:seq_len]
        ids += e_ids
        labels += e_labels
    return ids + [pad] * (seq_len - len(ids)), labels + [-100] * (seq_len - len(labels))


def heldout_bits_per_byte(model, tokenizer, texts, bos, eos, seq_len):
    """-log2 p over each record's tokens (BOS as context, EOS predicted) divided by the UTF-8 bytes
    those tokens cover (a record longer than seq_len counts only its covered prefix)."""
    import torch
    total_nats, total_bytes = 0.0, 0
    model.eval()
    with torch.no_grad():
        for text, enc in zip(texts, tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = [bos] + enc.ids + [eos]
            if len(ids) > seq_len + 1:
                ids = ids[: seq_len + 1]
                covered = text[: enc.offsets[seq_len - 1][1]]
            else:
                covered = text
            x = torch.tensor([ids])
            logits = model(input_ids=x[:, :-1]).logits.float()
            total_nats += torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum").item()
            total_bytes += len(covered.encode("utf-8"))
    model.train()
    return total_nats / math.log(2) / max(1, total_bytes)


def learning_rate(args, step, elapsed_s):
    warm = min(1.0, step / args.warmup)
    decay_start = (args.until_minutes - args.decay_minutes) * 60
    if elapsed_s <= decay_start:
        return args.lr * warm
    frac = min(1.0, (elapsed_s - decay_start) / max(1.0, args.decay_minutes * 60))
    return args.lr * warm * (1.0 - 0.9 * frac)


def save_atomic(obj, path):
    import torch
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model, cfg, args, log):
    import torch
    from safetensors.torch import save_file
    os.makedirs(args.out, exist_ok=True)
    state = {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous()
             for k, v in model.state_dict().items()}  # tid2eid stays integer
    save_file(state, os.path.join(args.out, "model.safetensors"))
    cfg.architectures = ["DeepseekV4ForCausalLM"]
    cfg.dtype = torch.float32
    cfg.to_json_file(os.path.join(args.out, "config.json"), use_diff=False)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1, default=str)
    print(f"wrote {args.out}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--tokenizer", default="models/hk-tiny")
    ap.add_argument("--out", required=True, help="export directory (transformers checkpoint)")
    ap.add_argument("--ckpt", required=True, help="directory of the resumable training state")
    ap.add_argument("--until-minutes", type=float, default=120, help="total training time (all resumes)")
    ap.add_argument("--decay-minutes", type=float, default=25)
    ap.add_argument("--chat", action="append", default=[], help="chat JSONL, mixed in during the decay")
    ap.add_argument("--chat-weight", type=float, default=0.3)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-minutes", type=float, default=20)
    ap.add_argument("--checkpoint-minutes", type=float, default=10)
    ap.add_argument("--heldout-records", type=int, default=150, help="per language, for the curve")
    ap.add_argument("--balance-rate", type=float, default=1e-2,
                    help="correction-bias step per update (DeepSeek-V3 used 1e-3 over far more steps)")
    ap.add_argument("--indexer-kl", type=float, default=0.0, metavar="WEIGHT",
                    help="train the lightning indexers with WEIGHT * KL(main attention || indexer) (0: off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export-only", action="store_true", help="write OUT from the checkpoint (or a fresh model)")
    args = ap.parse_args()

    import torch
    from transformers import DeepseekV4ForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer, bos, eos = open_tokenizer(args.tokenizer)

    cfg = model_config(tokenizer.get_vocab_size(with_added_tokens=True), args.seq_len)
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"
    model = DeepseekV4ForCausalLM(cfg)
    fill_tid2eid(model, args.seed)
    balancer = BiasBalancer(model, args.balance_rate)
    indexer_kl, indexer_ids = None, set()
    if args.indexer_kl > 0:
        from dsv4_indexer_kl import IndexerKL, indexer_parameters
        indexer_kl = IndexerKL(model)
        indexer_ids = {id(p) for p in indexer_parameters(model)}
    trunk_params = [p for p in model.parameters() if id(p) not in indexer_ids]
    indexer_params = [p for p in model.parameters() if id(p) in indexer_ids]
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    log = {"config": cfg.to_dict(), "args": vars(args), "steps": [], "heldout_bpb": [], "resumes": []}
    step, elapsed = 0, 0.0
    os.makedirs(args.ckpt, exist_ok=True)
    last = os.path.join(args.ckpt, "last.pt")
    if os.path.exists(last):
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, elapsed, log = state["step"], state["elapsed"], state["log"]
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        log["resumes"].append({"step": step, "elapsed": elapsed, "args": vars(args)})
        print(f"resumed at step {step}, {elapsed / 60:.1f} min trained", file=sys.stderr, flush=True)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters", file=sys.stderr, flush=True)
    if args.export_only:
        export(model, cfg, args, log)
        return

    streams = train_streams(tokenizer, args.corpus, bos, eos)
    heldout = {lang: load_split(args.corpus, lang, "heldout")[: args.heldout_records] for lang in LANGS}
    chat = load_chat(tokenizer, args.chat, bos)
    print({lang: len(s) for lang, s in streams.items()}, "training tokens per language;",
          len(chat), "chat examples", file=sys.stderr, flush=True)

    def checkpoint(path):
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
                     "log": log, "rng": rng.getstate(), "torch_rng": torch.get_rng_state()}, path)

    def evaluate():
        bpb = {lang: round(heldout_bits_per_byte(model, tokenizer, heldout[lang], bos, eos, args.seq_len), 4)
               for lang in LANGS}
        log["heldout_bpb"].append({"step": step, "minutes": round(elapsed / 60, 1), **bpb})
        print(f"step {step} held-out bits/byte {bpb}", file=sys.stderr, flush=True)

    decay_start = (args.until_minutes - args.decay_minutes) * 60
    # A run resumed before its decay starts saves the state at the decay start again (a longer run
    # moves the decay later); one resumed mid-decay keeps the stable.pt it already wrote.
    stable_saved = elapsed >= decay_start
    last_ckpt = last_eval = elapsed
    model.train()
    while elapsed < args.until_minutes * 60:
        if elapsed >= decay_start and not stable_saved:
            checkpoint(os.path.join(args.ckpt, "stable.pt"))
            stable_saved = True
        t0 = time.time()
        in_decay = elapsed >= decay_start
        rows = []
        for _ in range(args.batch):
            if in_decay and chat and rng.random() < args.chat_weight:
                rows.append(chat_row(chat, args.seq_len, rng, eos))
            else:
                rows.append(pretrain_row(streams[rng.choice(LANGS)], args.seq_len, rng))
        x = torch.tensor([r[0] for r in rows])
        y = torch.tensor([r[1] for r in rows])
        for group in opt.param_groups:
            group["lr"] = learning_rate(args, step, elapsed)
        kl = None
        if indexer_kl is not None:
            with indexer_kl.capture():
                loss = model(input_ids=x, labels=y).loss  # ForCausalLMLoss shifts the labels
            kl = indexer_kl.loss()
            total = loss + args.indexer_kl * kl
        else:
            loss = model(input_ids=x, labels=y).loss
            total = loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(trunk_params, 1.0)
        if indexer_params:  # clipped on their own: the KL's gradient norm does not scale the trunk's step
            torch.nn.utils.clip_grad_norm_(indexer_params, 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        if step % 25 == 0:
            imbalance = balancer.imbalance()
            entry = {"step": step, "loss": round(loss.item(), 4), "minutes": round(elapsed / 60, 2),
                     "lr": opt.param_groups[0]["lr"], "decay": in_decay, "expert_imbalance": imbalance}
            if kl is not None:
                entry["indexer_kl"] = round(kl.item(), 4)
            log["steps"].append(entry)
            kl_text = f" indexer_kl {kl.item():.3f}" if kl is not None else ""
            print(f"step {step} loss {loss.item():.3f}{kl_text} lr {opt.param_groups[0]['lr']:.2e} "
                  f"{elapsed / 60:.1f} min imbalance {imbalance}", file=sys.stderr, flush=True)
        balancer.step()
        if elapsed - last_eval >= args.eval_minutes * 60:
            evaluate()
            last_eval = elapsed
        if elapsed - last_ckpt >= args.checkpoint_minutes * 60:
            checkpoint(last)
            last_ckpt = elapsed
    evaluate()
    checkpoint(last)
    export(model, cfg, args, log)


if __name__ == "__main__":
    main()
