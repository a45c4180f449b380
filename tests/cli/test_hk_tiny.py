#!/usr/bin/env python3
"""The shipped first-run model, models/hk-tiny/hk-tiny.gguf, against its oracle: transformers'
DeepseekV4ForCausalLM run in float32 on the checkpoint it was converted from
(tests/fixtures/hk_tiny/reference.json, written by scripts/make_hk_tiny_fixture.py).

1. the GGUF is the one the fixture was made for (sha256), at most 50 MiB, and it holds every V4 part:
   sliding-window, CSA (with the indexer) and HCA layers, hash-routed and learned-routed MoE with a
   shared expert, mHC;
2. `clawnet logits --act f32` (exact activations, so the bounds measure the Q8_0 weights alone) on
   it, for a text in each language and a chat turn: the most likely next token is the oracle's at
   >= 90 % of the positions, and over the oracle's 16 most likely tokens at each position the
   log-probabilities differ by less than 0.15 nat on average (hk-tiny ships with every matrix
   Q8_0: models/hk-tiny/README.md measures it); the default, 8-bit activations, gives other logits
   (every matrix takes the integer path), within KL 1e-3 of the exact ones per case (measured
   0.7-1.7e-4; docs/performance.md 3-7e-4 on longer texts) and within 0.15 nat of the oracle too;
3. `clawnet run -p` prints exactly HF tokenizers' decode of the ids `clawnet run --ids` generates
   for the same prompt (greedy; the EOS that ends the run is not printed), and `clawnet chat` answers
   a piped message.

The cases are whatever the fixture records (currently a text per language, a chat turn and one long
held-out text, long enough that the CSA indexer selects among more than index_topk entries).

Usage: test_hk_tiny.py CLAWNET_BINARY [FIXTURE]   (run from the repository root; CTest does this;
FIXTURE defaults to tests/fixtures/hk_tiny/reference.json, another one checks a fixture before it is
committed)
"""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from tokenizers import Tokenizer

CLAWNET = sys.argv[1]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fixtures", "hk_tiny", "reference.json")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, data=None):
    return subprocess.run([CLAWNET, *args], input=data, capture_output=True, timeout=300)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def logits(gguf, case, options):
    """`clawnet logits` of the case's ids as float64 [positions][vocab], or None (after a check)."""
    with tempfile.NamedTemporaryFile(suffix=".f32") as out:
        r = run(["logits", "-m", gguf, "--ids", " ".join(map(str, case["ids"])), "-o", out.name, *options])
        check(r.returncode == 0, f"{case['name']} {options}: clawnet logits: {r.stderr.decode(errors='replace')}")
        if r.returncode:
            return None
        return np.fromfile(out.name, dtype=np.float32).astype(np.float64).reshape(len(case["ids"]), -1)


def against_oracle(logits, case):
    """(top-1 agreement, mean and max |d logp| over the oracle's 16 most likely tokens)."""
    agree, diffs = 0, []
    for pos in range(len(case["ids"])):
        row = logits[pos]
        lse = row.max() + math.log(np.exp(row - row.max()).sum())
        agree += int(row.argmax()) == case["top_ids"][pos][0]
        for tid, tlogit in zip(case["top_ids"][pos], case["top_logits"][pos]):
            diffs.append(abs((row[tid] - lse) - (tlogit - case["logsumexp"][pos])))
    return agree / len(case["ids"]), sum(diffs) / len(diffs), max(diffs)


def kl_divergence(p_logits, q_logits):
    """KL(p || q) per position, in nats."""
    def log_softmax(x):
        m = x.max(axis=1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return (np.exp(lp) * (lp - lq)).sum(axis=1)


def main():
    with open(FIXTURE, encoding="utf-8") as f:
        ref = json.load(f)
    gguf = os.path.join(ROOT, "models", "hk-tiny", ref["gguf"])
    check(sha256(gguf) == ref["gguf_sha256"],
          f"{gguf} is not the file {FIXTURE} was made for: regenerate it with scripts/make_hk_tiny_fixture.py")
    size = os.path.getsize(gguf)
    check(size <= 50 * 1024 * 1024, f"{gguf} is {size} bytes, over 50 MiB")

    info = run(["info", "--summary", gguf])
    check(info.returncode == 0, f"clawnet info: {info.stderr.decode(errors='replace')}")
    text = info.stdout.decode()
    for part in ("swa", "csa", "hca", "hash", "shared", r"mhc\s+4 streams", r"mtp blocks\s+1\n"):
        check(re.search(part, text.lower()), f"clawnet info does not show {part!r}:\n{text}")

    for case in ref["cases"]:
        exact, default = (logits(gguf, case, option) for option in (["--act", "f32"], []))
        if exact is None or default is None:
            continue
        share, mean_diff, max_diff = against_oracle(exact, case)
        print(f"{case['name']}: top-1 agreement {share:.3f}, mean |d logp| over the oracle's top 16 "
              f"{mean_diff:.4f} nat, max {max_diff:.4f}")
        check(share >= 0.9, f"{case['name']}: top-1 agreement {share:.3f} < 0.9")
        check(mean_diff < 0.15, f"{case['name']}: mean |d logp| {mean_diff:.4f} >= 0.15 nat")
        kl = kl_divergence(exact, default)
        _, default_diff, _ = against_oracle(default, case)
        print(f"{case['name']}: 8-bit activations (the default): KL(exact || q8) mean {kl.mean():.3g} max "
              f"{kl.max():.3g}, mean |d logp| against the oracle {default_diff:.4f} nat")
        check(not np.array_equal(exact, default), f"{case['name']}: the default gives the exact logits: not 8-bit")
        check(kl.mean() < 1e-3, f"{case['name']}: KL(exact || q8) mean {kl.mean():.3g} >= 1e-3")
        check(default_diff < 0.15, f"{case['name']}: q8 mean |d logp| {default_diff:.4f} >= 0.15 nat")

    # Text streaming against HF's decode: the greedy ids of `run --ids` (stopping at EOS) decode to
    # exactly what `run -p` prints for the same prompt, the EOS that ends the run left unprinted.
    tokenizer = Tokenizer.from_file(os.path.join(ROOT, "models", "hk-tiny", "tokenizer.json"))
    eos = tokenizer.token_to_id("<｜end▁of▁sentence｜>")
    for case in ref["cases"]:
        r = run(["run", "-m", gguf, "--ids", " ".join(map(str, case["ids"])), "-n", "24", "--stop-at-eos"])
        check(r.returncode == 0, f"clawnet run --ids {case['name']}: {r.stderr.decode(errors='replace')}")
        ids = [int(t) for t in r.stdout.split()]
        prompt = case["text"] if case["name"] == "chat" else "<｜begin▁of▁sentence｜>" + case["text"]
        r = run(["run", "-m", gguf, "-p", prompt, "-n", "24"])
        out = r.stdout.decode("utf-8", errors="replace")
        print(f"run {case['name']}: {case['text']}|{out.rstrip()}")
        check(r.returncode == 0, f"clawnet run -p {case['name']}: {r.stderr.decode(errors='replace')}")
        expected = tokenizer.decode(ids[:-1] if ids and ids[-1] == eos else ids, skip_special_tokens=False)
        check(out == expected + "\n", f"run -p {case['name']} printed {out!r}, HF decodes its ids to {expected!r}")
    r = run(["chat", "-m", gguf, "-n", "64"], data="你係邊個？\n".encode())
    out = r.stdout.decode("utf-8", errors="replace")
    print("chat:", out)
    check(r.returncode == 0 and len(out.strip()) > 0, f"clawnet chat: {r.stderr.decode(errors='replace')}")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
