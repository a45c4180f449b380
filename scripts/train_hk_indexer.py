#!/usr/bin/env python3
"""Trains the lightning indexers of a trained hk-tiny checkpoint with the trunk frozen (docs/hk_indexer.md).

The indexer of a CSA layer only returns top-k indices, so scripts/train_hk_model.py's LM loss leaves its
parameters at their initialisation. This script trains them, and only them, with DeepSeek-V3.2's
indexer loss (scripts/dsv4_indexer_kl.py): for each CSA layer, KL(main attention over the visible
compressed entries, summed over heads and L1-normalised || softmax of the indexer's scores), the
indexer's inputs detached, averaged over the valid queries and the CSA layers. The trunk is frozen, so
the model's attention targets do not move while the indexer learns them.

Batches are scripts/train_hk_model.py's (random windows of --seq-len tokens of one language's training
stream, --batch rows; its functions are imported, not copied). Before and after training it measures on
held-out text:
  - the mean KL (the loss) and recall@k: for queries with more than index_topk visible compressed entries,
    the fraction of the target's index_topk most likely entries that the indexer's index_topk picks
    contain; on the first --heldout-rows non-overlapping windows of --seq-len tokens of each language's
    held-out stream (BOS text EOS per record, joined);
  - tie@k: the share of those queries whose indexer scores at places k and k+1 are exactly equal (a tie
    at the cut, which ClawNet and torch.topk may break differently);
  - held-out bits per byte (train_hk_model.heldout_bits_per_byte, the first --heldout-records records of
    each language), i.e. what the trunk predicts with the indexer's picks before and after.

    /work/oracle-venv/bin/python scripts/train_hk_indexer.py --in /work/train/hk-tiny-hf \\
        --out /tmp/hk-tiny-hf-indexer --corpus /work/train/hk_corpus --minutes 5 --threads 1

OUT = IN's files with model.safetensors' indexer tensors (model.layers.L.self_attn.compressor.indexer.*)
replaced by the trained ones (every other tensor, mtp.* included, is IN's, bit for bit), plus
indexer_train_log.json (loss curve, the before/after numbers). OUT is loaded back with transformers and
its logits on a held-out row compared with the trained model's in memory.
"""
import argparse
import json
import os
import random
import shutil
import sys
import time

import train_hk_model as hk
from dsv4_indexer_kl import IndexerKL, indexer_parameters


def load_model(path):
    import torch
    from transformers import DeepseekV4ForCausalLM
    model = DeepseekV4ForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager",
                                                  experts_implementation="eager")
    for p in model.parameters():
        p.requires_grad_(False)
    for p in indexer_parameters(model):
        p.requires_grad_(True)
    return model


def heldout_rows(tokenizer, texts, bos, eos, seq_len, n):
    """The first n non-overlapping windows of seq_len tokens of the held-out stream."""
    stream = hk.token_stream(tokenizer, texts, bos, eos)
    return [stream[i * seq_len:(i + 1) * seq_len] for i in range(min(n, len(stream) // seq_len))]


def heldout_kl(model, kl, rows, k):
    """Mean KL over valid queries (all CSA layers and rows pooled per layer, then averaged over the
    layers), per-layer means, and recall@k over the queries with more than k visible entries."""
    import torch
    n_layers = len(kl.layers)
    sums, counts = [0.0] * n_layers, [0] * n_layers
    hits = total = ties = tie_total = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for row in rows:
            with kl.capture():
                model.model(input_ids=torch.tensor([row]), use_cache=False)
            for i, (scores, target, visible) in enumerate(kl.results):
                rows_kl, _ = IndexerKL.kl_rows(scores, target, visible)
                sums[i] += float(rows_kl.sum())
                counts[i] += rows_kl.numel()
            h, t = kl.recall(k)
            hits, total = hits + h, total + t
            h, t = kl.ties_at_k(k)
            ties, tie_total = ties + h, tie_total + t
    model.train(was_training)
    per_layer = [s / max(1, c) for s, c in zip(sums, counts)]
    return {"kl": round(sum(per_layer) / n_layers, 4), "kl_per_layer": [round(v, 4) for v in per_layer],
            f"recall_at_{k}": round(hits / max(1, total), 4), "recall_queries": total // max(1, k),
            f"tie_at_{k}": round(ties / max(1, tie_total), 4), "rows": len(rows)}


def evaluate(model, kl, tokenizer, heldout, bos, eos, args):
    k = model.config.index_topk
    out = {}
    for lang in hk.LANGS:
        rows = heldout_rows(tokenizer, heldout[lang], bos, eos, args.seq_len, args.heldout_rows)
        out[lang] = heldout_kl(model, kl, rows, k)
        out[lang]["bits_per_byte"] = round(hk.heldout_bits_per_byte(
            model, tokenizer, heldout[lang][: args.heldout_records], bos, eos, args.seq_len), 4)
    model.train()  # heldout_bits_per_byte leaves train mode on; kept explicit
    out["mean"] = {key: round(sum(out[lang][key] for lang in hk.LANGS) / len(hk.LANGS), 4)
                   for key in ("kl", f"recall_at_{k}", f"tie_at_{k}", "bits_per_byte")}
    return out


def write_out(args, model, log):
    """OUT = IN's files; model.safetensors = IN's tensors with the indexer tensors replaced."""
    from safetensors.torch import load_file, save_file
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.inp):
        src = os.path.join(args.inp, name)
        if os.path.isfile(src) and name != "model.safetensors":
            shutil.copyfile(src, os.path.join(args.out, name))
    tensors = load_file(os.path.join(args.inp, "model.safetensors"))
    state = model.state_dict()
    trained = {name: state[name].detach().float().contiguous() for name in state if ".indexer." in name
               and not name.endswith("inv_freq") and "rotary_emb" not in name}
    missing = sorted(set(trained) - set(tensors))
    if missing:
        raise SystemExit(f"{args.inp}/model.safetensors has no {missing[0]} (not a train_hk_model.py export?)")
    for name, value in trained.items():
        if tensors[name].shape != value.shape:
            raise SystemExit(f"{name}: {tuple(tensors[name].shape)} in {args.inp}, {tuple(value.shape)} trained")
        tensors[name] = value
    tmp = os.path.join(args.out, "model.safetensors.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.chmod(tmp, 0o644)  # save_file's temp file is owner-only
    os.replace(tmp, os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.out, "indexer_train_log.json"), "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)
    print(f"wrote {args.out} ({len(trained)} indexer tensors replaced)", file=sys.stderr, flush=True)
    return sorted(trained)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inp", required=True, help="trained checkpoint (scripts/train_hk_model.py export)")
    ap.add_argument("--out", required=True, help="IN with the trained indexers")
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json's directory (default: IN)")
    ap.add_argument("--minutes", type=float, default=5, help="training time budget (evaluation not counted)")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3, help="DeepSeek-V3.2's indexer warm-up used 1e-3")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--heldout-rows", type=int, default=4, help="per language, for the KL and recall")
    ap.add_argument("--heldout-records", type=int, default=60, help="per language, for the bits per byte")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer, bos, eos = hk.open_tokenizer(args.tokenizer or args.inp)

    model = load_model(args.inp)
    model.train()  # no dropout in V4 attention (attention_dropout 0); kept as in the trunk's training
    kl = IndexerKL(model)
    params = indexer_parameters(model)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    print(f"indexers of CSA layers {[i for i, _ in kl.layers]}: {sum(p.numel() for p in params) / 1e3:.1f} k "
          "trainable parameters, the rest frozen", file=sys.stderr, flush=True)

    streams = hk.train_streams(tokenizer, args.corpus, bos, eos)
    heldout = {lang: hk.load_split(args.corpus, lang, "heldout") for lang in hk.LANGS}
    log = {"in": os.path.abspath(args.inp), "args": vars(args), "steps": []}

    t0 = time.time()
    log["heldout_before"] = evaluate(model, kl, tokenizer, heldout, bos, eos, args)
    print(f"held-out before ({time.time() - t0:.0f} s): {json.dumps(log['heldout_before'])}",
          file=sys.stderr, flush=True)

    step, elapsed, budget = 0, 0.0, args.minutes * 60
    while elapsed < budget:
        t0 = time.time()
        x = torch.tensor([hk.pretrain_row(streams[rng.choice(hk.LANGS)], args.seq_len, rng)[0]
                          for _ in range(args.batch)])
        # warm-up, then linear decay to 10% over the time budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (1.0 - 0.9 * min(1.0, elapsed / budget))
        for group in opt.param_groups:
            group["lr"] = lr
        with kl.capture():
            model.model(input_ids=x, use_cache=False)  # the LM head's logits are not needed
        loss = kl.loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        if step % 10 == 0 or step == 1:
            recall_hits, recall_total = kl.recall(model.config.index_topk)
            log["steps"].append({"step": step, "kl": round(loss.item(), 4), "minutes": round(elapsed / 60, 2),
                                 "lr": lr, "recall": round(recall_hits / max(1, recall_total), 4)})
            print(f"step {step} indexer kl {loss.item():.4f} recall@{model.config.index_topk} "
                  f"{recall_hits / max(1, recall_total):.3f} lr {lr:.2e} {elapsed / 60:.1f}/{args.minutes:g} min "
                  f"({elapsed / step:.1f} s/step)", file=sys.stderr, flush=True)

    t0 = time.time()
    log["steps_total"], log["train_minutes"] = step, round(elapsed / 60, 2)
    log["heldout_after"] = evaluate(model, kl, tokenizer, heldout, bos, eos, args)
    print(f"held-out after ({time.time() - t0:.0f} s): {json.dumps(log['heldout_after'])}", file=sys.stderr, flush=True)
    log["replaced"] = write_out(args, model, log)

    # OUT must load with transformers and give the trained model's logits.
    row = heldout_rows(tokenizer, heldout[hk.LANGS[0]], bos, eos, args.seq_len, 1)[0]
    model.eval()
    with torch.no_grad():
        mine = model(input_ids=torch.tensor([row])).logits
        back = load_model(args.out).eval()(input_ids=torch.tensor([row])).logits
    log["reload_logits_equal"] = bool(torch.equal(mine, back))
    with open(os.path.join(args.out, "indexer_train_log.json"), "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)
    if not log["reload_logits_equal"]:
        raise SystemExit(f"{args.out} loaded back gives other logits (max diff {float((mine - back).abs().max()):.3g})")
    print(f"{args.out} loads back with the same logits", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
