#!/usr/bin/env python3
"""Trains hk-tiny's MTP head (specs/deepseek-v4.md section 9) on top of a trained, frozen trunk.

transformers' DeepseekV4ForCausalLM builds no MTP block, so scripts/train_hk_model.py trains the trunk
alone; this script adds the block afterwards. IN is that script's export (a transformers checkpoint
dir); the block is scripts/dsv4_mtp.py's MTPOracle (transformers' own DeepSeek-V4 modules, the oracle
ClawNet's MTP forward is checked against) with layer index L: sliding-window attention, learned top-k
MoE with a shared expert and a correction bias (section 1.2: the MTP entry has compress ratio 0 and
is not a hash layer).

Inputs, exactly as section 9: for each position s, Hm[s] = the trunk's final residual streams (the
input of model.hc_head) and t[s+1], the token that follows; the block predicts t[s+2]. Embedding and
LM head are the trunk's, shared and frozen with the rest of the trunk; only the block is trained.

Initialisation: the decoder layer's attention half (attention, attn_norm, attention mHC) is copied
from the trunk's last sliding-window layer and its MoE half (router, bias, experts, shared expert,
ffn_norm, FFN mHC) from the trunk's last learned-MoE layer: the trunk has no layer that is both, and
every width matches. hc_head and norm are copied from the trunk's head, enorm/hnorm start at 1 and
e_proj = h_proj = identity, so at step 0 the block reads the embedding of t[s+1] plus the trunk's
state, the two kinds of input the copied weights were trained on, instead of a random mix of them.

Batches are scripts/train_hk_model.py's (random windows of --seq-len tokens of one language's training
stream, --batch rows; optional chat rows); the router's bias is balanced the same way (BiasBalancer).
The budget is --minutes of training; held-out top-1 accuracy is measured before and after.

    /work/oracle-venv/bin/python scripts/train_hk_mtp.py --in /work/train/hk-tiny-hf \\
        --out /work/train/hk-tiny-hf-mtp --minutes 8 --threads 2 --verify build/clawnet
    build/clawnet quantize /work/train/hk-tiny-hf-mtp models/hk-tiny/hk-tiny.gguf

OUT = IN's files, with config.json declaring num_nextn_predict_layers 1 (read by ClawNet,
src/format/model_config.c; transformers accepts it and ignores the mtp.* tensors) and model.safetensors
holding IN's tensors plus the block's under ClawNet's canonical names (mtp.0.*, f32, section 10.2), and
mtp_train_log.json (loss curve, held-out accuracies, verification). --verify runs `clawnet logits` and
`clawnet logits --mtp` on OUT and compares both with transformers + MTPOracle loaded from OUT's files.
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import train_hk_model as hk


def load_trunk(path):
    import torch
    from transformers import DeepseekV4ForCausalLM
    model = DeepseekV4ForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager",
                                                  experts_implementation="eager").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class FinalStreams:
    """Forward hook on model.hc_head: its input is Hm, the final residual streams [B, S, n, D]."""

    def __init__(self, model):
        self.value = None
        self.handle = model.model.hc_head.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.value = inputs[0]


def build_mtp(model):
    from dsv4_mtp import MTPOracle, mtp_config
    cfg = model.config
    return MTPOracle(mtp_config(cfg), cfg.num_hidden_layers).float()


def init_from_trunk(mtp, model):
    """See the module docstring. Returns a description of what was copied from where."""
    import torch
    cfg = model.config
    layers = model.model.layers
    sliding = max(i for i, t in enumerate(cfg.layer_types) if t == "sliding_attention")
    learned = max(i for i, t in enumerate(cfg.mlp_layer_types) if t == "moe")
    copied = {}
    with torch.no_grad():
        for part, src in (("self_attn", sliding), ("input_layernorm", sliding), ("attn_hc", sliding),
                          ("mlp", learned), ("post_attention_layernorm", learned), ("ffn_hc", learned)):
            dst_sd = getattr(mtp.layer, part).state_dict()
            src_sd = getattr(layers[src], part).state_dict()
            if set(dst_sd) != set(src_sd) or any(dst_sd[k].shape != src_sd[k].shape for k in dst_sd):
                raise SystemExit(f"MTP init: layer {src}'s {part} does not match the MTP layer's")
            getattr(mtp.layer, part).load_state_dict(src_sd)
            copied[part] = src
        mtp.hc_head.load_state_dict(model.model.hc_head.state_dict())
        mtp.norm.load_state_dict(model.model.norm.state_dict())
        D = cfg.hidden_size
        mtp.e_proj.weight.copy_(torch.eye(D))
        mtp.h_proj.weight.copy_(torch.eye(D))
        mtp.enorm.weight.fill_(1.0)
        mtp.hnorm.weight.fill_(1.0)
    return {"layer_parts_from_trunk_layer": copied, "hc_head": "model.hc_head", "norm": "model.norm",
            "e_proj": "identity", "h_proj": "identity", "enorm": "ones", "hnorm": "ones"}


def mtp_logits(mtp, model, hook, x):
    """Trunk (frozen, no grad) then the block: logits [B, S-1, V] predicting x[:, s+2] at s."""
    import torch
    with torch.no_grad():
        model.model(input_ids=x)
    return mtp(model, hook.value[:, :-1], x[:, 1:])


def heldout_accuracy(mtp, model, hook, tokenizer, texts, bos, eos, seq_len):
    """Top-1 accuracy of the trunk at t+1 and of the MTP block at t+2 over each held-out record
    (BOS text EOS, first seq_len tokens), the MTP's mean cross-entropy in nats, and how often the MTP's
    top-1 at s equals the trunk's own top-1 at s+1 (what a greedy self-speculative step would accept)."""
    import torch
    hits = {"trunk": 0, "mtp": 0, "agree": 0}
    counts = {"trunk": 0, "mtp": 0}
    nats = 0.0
    mtp.eval()
    with torch.no_grad():
        for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
            ids = ([bos] + enc.ids + [eos])[:seq_len]
            if len(ids) < 3:
                continue
            x = torch.tensor([ids])
            trunk = model(input_ids=x).logits[0]
            streams = hook.value
            m = mtp(model, streams[:, :-1], x[:, 1:])[0][:-1]  # rows predicting ids[2:]
            hits["trunk"] += int((trunk[:-1].argmax(-1) == x[0, 1:]).sum())
            counts["trunk"] += len(ids) - 1
            hits["mtp"] += int((m.argmax(-1) == x[0, 2:]).sum())
            hits["agree"] += int((m.argmax(-1) == trunk[1:-1].argmax(-1)).sum())
            counts["mtp"] += len(ids) - 2
            nats += torch.nn.functional.cross_entropy(m, x[0, 2:], reduction="sum").item()
    mtp.train()
    return {"trunk_top1_next": round(hits["trunk"] / max(1, counts["trunk"]), 4),
            "mtp_top1_next_but_one": round(hits["mtp"] / max(1, counts["mtp"]), 4),
            "mtp_nats_per_token": round(nats / max(1, counts["mtp"]), 4),
            "mtp_top1_equals_trunk_top1_at_next": round(hits["agree"] / max(1, counts["mtp"]), 4),
            "tokens": counts["mtp"]}


def evaluate(mtp, model, hook, tokenizer, heldout, bos, eos, seq_len):
    out = {lang: heldout_accuracy(mtp, model, hook, tokenizer, texts, bos, eos, seq_len)
           for lang, texts in heldout.items()}
    total = sum(r["tokens"] for r in out.values())
    out["all"] = {k: round(sum(r[k] * r["tokens"] for r in out.values()) / max(1, total), 4)
                  for k in ("trunk_top1_next", "mtp_top1_next_but_one", "mtp_nats_per_token",
                            "mtp_top1_equals_trunk_top1_at_next")}
    return out


def write_out(args, mtp, log):
    """OUT = IN's files; config.json declares one MTP layer; model.safetensors gains mtp.0.*."""
    from safetensors.torch import load_file, save_file
    from dsv4_mtp import canonical_state
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.inp):
        src = os.path.join(args.inp, name)
        if os.path.isfile(src) and name not in ("model.safetensors", "config.json"):
            shutil.copyfile(src, os.path.join(args.out, name))
    tensors = load_file(os.path.join(args.inp, "model.safetensors"))
    extra = canonical_state(mtp)
    clash = sorted(set(tensors) & set(extra))
    if clash:
        raise SystemExit(f"{args.inp} already holds MTP tensors ({clash[0]} ...)")
    tensors.update(extra)
    tmp = os.path.join(args.out, "model.safetensors.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.chmod(tmp, 0o644)  # save_file's temp file is owner-only
    os.replace(tmp, os.path.join(args.out, "model.safetensors"))
    with open(os.path.join(args.inp, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["num_nextn_predict_layers"] = 1
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "mtp_train_log.json"), "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)
    print(f"wrote {args.out} ({len(extra)} mtp.0.* tensors, "
          f"{sum(t.numel() for t in extra.values()) / 1e6:.2f} M values)", file=sys.stderr, flush=True)


def rel_error(a, ref):
    """max over rows of |a - ref| / |ref| (L2 per row), the measure of tests/oracle_check.c."""
    import torch
    return float(((a - ref).norm(dim=-1) / ref.norm(dim=-1).clamp(min=1e-30)).max())


def verify(args, tokenizer, heldout, bos, eos):
    """ClawNet on OUT against transformers (trunk) and MTPOracle, both loaded from OUT's files, on
    --verify-tokens tokens: the start of each language's held-out records (BOS text EOS ...), joined."""
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from dsv4_mtp import load_canonical
    ids = []
    for lang in hk.LANGS:  # an equal share of each language
        ids += hk.token_stream(tokenizer, heldout[lang][:8], bos, eos)[: args.verify_tokens // len(hk.LANGS)]
    model = load_trunk(args.out)  # transformers must load OUT, ignoring mtp.*
    hook = FinalStreams(model)
    mtp = build_mtp(model).eval()
    load_canonical(mtp, load_file(os.path.join(args.out, "model.safetensors")))
    x = torch.tensor([ids])
    with torch.no_grad():
        ref_main = model(input_ids=x).logits[0]
        ref_mtp = mtp(model, hook.value[:, :-1], x[:, 1:])[0]
    V, S = ref_main.shape[1], len(ids)
    # From position (index_topk + 1) * m - 1 on, a CSA layer's indexer picks index_topk of more compressed
    # entries; hk-tiny's 2 index heads with ReLU leave exact ties (zero scores) at the k-th place, which
    # torch.topk and ClawNet may break differently. Rows before that are compared on their own as well.
    cfg = model.config
    exact = min([(cfg.index_topk + 1) * cfg.compress_rates[t] - 1 for t in cfg.layer_types
                 if t == "compressed_sparse_attention"], default=S)
    result = {"tokens": S, "rows_before_indexer_selection": exact}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra, ref in (("main", [], ref_main), ("mtp", ["--mtp"], ref_mtp)):
            path = os.path.join(tmp, label + ".f32")
            cmd = [args.verify, "logits", "-m", args.out, "--ids", " ".join(map(str, ids)), "-o", path,
                   "-t", str(args.threads), "--act", "f32"] + extra  # the exact path meets the oracle
            subprocess.run(cmd, check=True)
            got = torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(-1, V))
            if got.shape != ref.shape:
                raise SystemExit(f"clawnet {label} logits {tuple(got.shape)}, oracle {tuple(ref.shape)}")
            result[f"{label}_max_rel_error"] = rel_error(got, ref)
            result[f"{label}_max_rel_error_before_indexer_selection"] = rel_error(got[:exact], ref[:exact])
            result[f"{label}_argmax_agreement"] = float((got.argmax(-1) == ref.argmax(-1)).float().mean())
    print(f"verify ({S} tokens): {result}", file=sys.stderr, flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inp", required=True, help="trained trunk (scripts/train_hk_model.py export)")
    ap.add_argument("--out", required=True, help="IN plus the MTP block")
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json's directory (default: IN)")
    ap.add_argument("--minutes", type=float, default=8, help="training time budget (evaluation not counted)")
    ap.add_argument("--chat", action="append", default=[], help="chat JSONL rows mixed in (as train_hk_model.py)")
    ap.add_argument("--chat-weight", type=float, default=0.3)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--balance-rate", type=float, default=1e-2)
    ap.add_argument("--heldout-records", type=int, default=60, help="per language, for the accuracy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", metavar="CLAWNET", help="clawnet binary: check its logits on OUT against the oracle")
    ap.add_argument("--verify-tokens", type=int, default=256)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer, bos, eos = hk.open_tokenizer(args.tokenizer or args.inp)

    model = load_trunk(args.inp)
    if model.config.num_nextn_predict_layers:
        print(f"note: {args.inp} declares num_nextn_predict_layers {model.config.num_nextn_predict_layers}; "
              "a fresh block is trained", file=sys.stderr)
    hook = FinalStreams(model)
    mtp = build_mtp(model)
    init = init_from_trunk(mtp, model)
    mtp.train()
    balancer = hk.BiasBalancer(mtp, args.balance_rate)
    params = [p for p in mtp.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    print(f"MTP block: {sum(p.numel() for p in params) / 1e6:.2f} M trainable parameters; init {init}",
          file=sys.stderr, flush=True)

    streams = hk.train_streams(tokenizer, args.corpus, bos, eos)
    heldout = {lang: hk.load_split(args.corpus, lang, "heldout")[: args.heldout_records] for lang in hk.LANGS}
    chat = hk.load_chat(tokenizer, args.chat, bos)
    log = {"in": os.path.abspath(args.inp), "args": vars(args), "init": init, "steps": []}

    t0 = time.time()
    log["heldout_before"] = evaluate(mtp, model, hook, tokenizer, heldout, bos, eos, args.seq_len)
    print(f"held-out before ({time.time() - t0:.0f} s): {log['heldout_before']['all']}", file=sys.stderr, flush=True)

    step, elapsed, budget = 0, 0.0, args.minutes * 60
    while elapsed < budget:
        t0 = time.time()
        rows = []
        for _ in range(args.batch):
            if chat and rng.random() < args.chat_weight:
                rows.append(hk.chat_row(chat, args.seq_len, rng, eos))
            else:
                rows.append(hk.pretrain_row(streams[rng.choice(hk.LANGS)], args.seq_len, rng))
        x = torch.tensor([r[0] for r in rows])
        y = torch.tensor([r[1] for r in rows])
        # warm-up, then linear decay to 10% over the time budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (1.0 - 0.9 * min(1.0, elapsed / budget))
        for group in opt.param_groups:
            group["lr"] = lr
        logits = mtp_logits(mtp, model, hook, x)[:, :-1]  # position s predicts y[s+2]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[:, 2:].reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        if step % 10 == 0 or step == 1:
            imbalance = balancer.imbalance()
            log["steps"].append({"step": step, "loss": round(loss.item(), 4), "minutes": round(elapsed / 60, 2),
                                 "lr": lr, "expert_imbalance": imbalance})
            print(f"step {step} mtp loss {loss.item():.3f} lr {lr:.2e} {elapsed / 60:.1f}/{args.minutes:g} min "
                  f"({elapsed / step:.1f} s/step) imbalance {imbalance}", file=sys.stderr, flush=True)
        balancer.step()

    t0 = time.time()
    log["steps_total"], log["train_minutes"] = step, round(elapsed / 60, 2)
    log["heldout_after"] = evaluate(mtp, model, hook, tokenizer, heldout, bos, eos, args.seq_len)
    print(f"held-out after ({time.time() - t0:.0f} s): {json.dumps(log['heldout_after'])}", file=sys.stderr, flush=True)
    write_out(args, mtp, log)
    if args.verify:
        log["verify"] = verify(args, tokenizer, heldout, bos, eos)
        with open(os.path.join(args.out, "mtp_train_log.json"), "w", encoding="utf-8") as f:
            json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
