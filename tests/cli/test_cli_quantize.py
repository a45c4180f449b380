#!/usr/bin/env python3
"""clawnet quantize end to end: the tiny fixtures (transformers and official names) quantised
with the default and q8 policies load in the C reader, `clawnet info` works and `clawnet eval`
against the source stays close; the PyPI gguf package reads the files, finds llama.cpp's
`deepseek4` names and keys, and its gguf.quants.dequantize of every Q8_0 / Q4_K tensor is
within the format's error of the source weights (the C decoders equal gguf.quants bit for bit:
tests/test_kquants.c); error paths. The tokenizer: a random checkpoint with DeepSeek's real
vocabulary and tokenizer.json (scripts/make_real_vocab_checkpoint.py) quantised gets llama.cpp's
tokenizer.ggml.* keys, equal to scripts/make_tokenizer_gguf.py's (PyPI gguf writer + SpecialVocab),
`clawnet tokenize` with the GGUF equals the tokenizer.json, `clawnet run -m OUT.gguf -p` needs no
--tokenizer, and a GGUF input carries its tokenizer over.

Usage: test_cli_quantize.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf

import real_vocab
from cli_test_support import CliTest

T = CliTest("test_cli_quantize")
check, run = T.check, T.run


# Measured on these fixtures (64 tokens, seed 7): q8 mean KL 2.1e-3 (tiny) / 5.0e-4 (official),
# top-1 0.92 / 0.97; with the mHC fn forced to Q4_K 3.1e-3 / 7.6e-4. default equals q8 here: the
# fixtures' expert rows (32 / 64 wide) cannot hold a 256-element Q4_K block and fall back to Q8_0.
# The tiny random models are more sensitive than a trained one (every weight matters), so the
# bounds are about twice the measured values.
BOUNDS = {"q8": (5e-3, 0.85), "default": (5e-3, 0.85), "q4hc": (1e-2, 0.85)}


def quantize(src, out, *extra):
    r = run("quantize", src, out, *extra)
    check(r.returncode == 0, f"quantize {src} {extra}: rc {r.returncode} {r.stderr}")
    return r


with tempfile.TemporaryDirectory() as tmp:
    ids = os.path.join(tmp, "ids.txt")
    for fixture in ("tests/fixtures/tiny", "tests/fixtures/tiny_official"):
        vocab = json.load(open(os.path.join(fixture, "config.json")))["vocab_size"]
        rng = np.random.default_rng(7)
        with open(ids, "w") as f:
            f.write(" ".join(str(x) for x in rng.integers(0, vocab, 64)))
        name = os.path.basename(fixture)
        for variant, extra in (("default", ()), ("q8", ("--policy", "q8")),
                               ("q4hc", ("--override", "*hc_*_fn=q4_k", "-t", "3"))):
            out = os.path.join(tmp, f"{name}-{variant}.gguf")
            quantize(fixture, out, *extra)
            check(not [p for p in os.listdir(tmp) if ".tmp." in p], "temp file left behind")
            r = run("info", out)
            check(r.returncode == 0 and "llama.cpp names" in r.stdout, f"info {out}: {r.stderr}")
            js = os.path.join(tmp, "eval.json")
            # --act f32 --kv-type f32: the policy's cost alone (BOUNDS were measured with exact
            # activations and KV rows).
            r = run("eval", "-m", out, "--ref", fixture, "--act", "f32", "--kv-type", "f32", "--tokens", ids, "--ctx", "64", "--json", js)
            check(r.returncode == 0, f"eval {out}: {r.stderr}")
            if r.returncode == 0:
                s = json.load(open(js))
                kl, top1 = BOUNDS[variant]
                print(f"{name} {variant}: KL mean {s['kl_mean']:.3g} p99 {s['kl_p99']:.3g} top-1 {s['top1_agreement']:.3f}")
                check(s["kl_mean"] < kl, f"{name} {variant}: KL mean {s['kl_mean']} >= {kl}")
                check(s["top1_agreement"] >= top1, f"{name} {variant}: top-1 {s['top1_agreement']} < {top1}")

            # The PyPI gguf reader: names, keys, and its dequantisation.
            reader = gguf.GGUFReader(out)
            arch = reader.fields["general.architecture"]
            check(bytes(arch.parts[arch.data[0]]).decode() == "deepseek4", "general.architecture")
            for k in ("deepseek4.block_count", "deepseek4.embedding_length", "deepseek4.expert_count",
                      "deepseek4.attention.compress_ratios", "deepseek4.hash_layer_count"):
                check(k in reader.fields, f"{name} {variant}: key {k} missing")
            names = {t.name: t for t in reader.tensors}
            for n in ("token_embd.weight", "output.weight", "blk.0.attn_q_a.weight", "blk.0.ffn_gate_exps.weight",
                      "blk.0.ffn_down_exps.weight", "blk.0.hc_attn_fn.weight", "blk.1.attn_compressor_kv.weight"):
                check(n in names, f"{name} {variant}: tensor {n} missing")
            types = {t.tensor_type for t in reader.tensors}
            if variant == "q8":
                check(gguf.GGMLQuantizationType.Q8_0 in types, "q8 file has Q8_0 tensors")
            if variant == "q4hc":
                check(gguf.GGMLQuantizationType.Q4_K in types, "override gives Q4_K tensors")
                # Q4_K of the mHC fn vs the source F32: within a few percent of the row's range.
                t = names["blk.0.hc_attn_fn.weight"]
                deq = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)
                ref = gguf.GGUFReader(os.path.join(tmp, f"{name}-default.gguf")).get_tensor(
                    [x.name for x in gguf.GGUFReader(os.path.join(tmp, f"{name}-default.gguf")).tensors].index(t.name))
                src = np.asarray(ref.data, dtype=np.float32).reshape(-1)
                err = np.abs(deq - src).max() / (np.abs(src).max() + 1e-30)
                check(err < 0.12, f"{name} Q4_K hc fn max error {err}")
            for t in reader.tensors:
                if t.tensor_type in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_K):
                    deq = gguf.quants.dequantize(t.data, t.tensor_type)
                    check(deq.shape == tuple(int(x) for x in reversed(t.shape.tolist())) and np.isfinite(deq).all(),
                          f"{t.name}: gguf dequantize shape {deq.shape} vs {t.shape}")

    # Errors: each exits non-zero with a message and leaves nothing under OUT's name.
    out = os.path.join(tmp, "x.gguf")
    for args, rc, words in (
            (("tests/fixtures/tiny", out, "--policy", "q3"), 2, "unknown policy"),
            (("tests/fixtures/tiny", out, "--override", "nopattern"), 2, "bad --override"),
            (("tests/fixtures/tiny", out, "--override", "*=q3_x"), 2, "bad --override"),
            (("tests/fixtures/tiny", os.path.join(tmp, "no", "such", "dir.gguf")), 1, "cannot create"),
            ((os.path.join(tmp, "missing"), out), 1, ""),
    ):
        r = run("quantize", *args)
        check(r.returncode == rc and words in r.stderr, f"quantize {args}: rc {r.returncode} {r.stderr!r}")
        check(not os.path.exists(out), f"quantize {args} left {out}")
    bad = os.path.join(tmp, "corrupt.gguf")
    good = open(os.path.join(tmp, "tiny-q8.gguf"), "rb").read()
    open(bad, "wb").write(good[: len(good) // 2])
    r = run("quantize", bad, out)
    check(r.returncode == 1 and "corrupt.gguf" in r.stderr and not os.path.exists(out), f"truncated input: {r.stderr!r}")
    # A GGUF input round-trips: quantising the q8 file again gives a loadable file.
    r = run("quantize", os.path.join(tmp, "tiny-q8.gguf"), out, "--policy", "bf16")
    check(r.returncode == 0 and run("info", out).returncode == 0, f"GGUF input: {r.stderr}")


def field_values(reader, key):
    f = reader.fields.get(key)
    return None if f is None else [bytes(f.parts[i]) for i in f.data]


TOKENIZER_KEYS = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                  "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")
LINES = ["Hello, world", "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜></think>ok<｜end▁of▁sentence｜>",
         "我今日去 shopping 同埋 lunch，好开心！", "emoji 🦀🎉 and tabs\t\tend  ", "<think>x</think>y ｜DSML｜ <dsml:a>"]

with tempfile.TemporaryDirectory() as tmp:
    model = real_vocab.make_checkpoint(os.path.join(tmp, "model"))
    out = os.path.join(tmp, "real.gguf")
    r = quantize(model, out)
    check("tokenizer: 129280 tokens" in r.stderr, f"quantize reports the tokenizer: {r.stderr!r}")
    # (2) the keys equal the oracle script's (llama.cpp's get_vocab_base rules, gguf's SpecialVocab).
    ref = os.path.join(tmp, "ref.gguf")
    subprocess.run([sys.executable, "scripts/make_tokenizer_gguf.py", ref, "--pre", "deepseek-v3",
                    "--tokenizer-dir", os.path.dirname(real_vocab.TOKENIZER_JSON)], check=True, capture_output=True)
    mine, theirs = gguf.GGUFReader(out), gguf.GGUFReader(ref)
    for k in TOKENIZER_KEYS:
        a, b = field_values(mine, k), field_values(theirs, k)
        check(a is not None and a == b, f"{k}: {'missing' if a is None else 'differs from make_tokenizer_gguf.py'}")
        check(a is None or mine.fields[k].types == theirs.fields[k].types, f"{k}: value types differ")
    # (1) clawnet tokenize: the GGUF's tokenizer gives tokenizer.json's ids (and HF's).
    text = "\n".join(LINES) + "\n"
    by_json = run("tokenize", "--tokenizer", real_vocab.TOKENIZER_JSON, input=text)
    by_gguf = run("tokenize", "--tokenizer", out, input=text)
    hf = real_vocab.hf_tokenizer()
    want = "".join(" ".join(map(str, hf.encode(x, add_special_tokens=False).ids)) + "\n" for x in LINES)
    check(by_gguf.returncode == 0 and by_gguf.stdout == by_json.stdout == want,
          f"tokenize with the GGUF {by_gguf.stdout!r} / tokenizer.json {by_json.stdout!r} / HF {want!r}")
    for mode in ("special", "none"):
        a = run("tokenize", "--added", mode, "--tokenizer", out, input=text)
        b = run("tokenize", "--added", mode, "--tokenizer", real_vocab.TOKENIZER_JSON, input=text)
        check(a.returncode == 0 and a.stdout == b.stdout, f"tokenize --added {mode}: GGUF and tokenizer.json differ")
    # (3) run -m OUT.gguf -p without --tokenizer, the same as from the directory.
    a = run("run", "-m", out, "-p", "hi", "-n", "2", "--print-prompt-ids")
    check(a.returncode == 0 and a.stdout.strip() != "", f"run -m real.gguf -p hi: {a.returncode} {a.stderr!r}")
    check("prompt ids: " + " ".join(map(str, hf.encode("hi", add_special_tokens=False).ids)) in a.stderr,
          f"run -m real.gguf prompt ids: {a.stderr!r}")
    # A GGUF input carries its tokenizer over unchanged.
    again = os.path.join(tmp, "again.gguf")
    quantize(out, again, "--policy", "q8")
    back = gguf.GGUFReader(again)
    for k in TOKENIZER_KEYS:
        check(field_values(back, k) == field_values(mine, k), f"GGUF input: {k} not carried over")
    # Without a tokenizer (tests/fixtures/tiny) none is written, and that is said: only
    # tokenizer.ggml.model "none", llama.cpp's spelling for no vocabulary (its loader requires the key).
    r = quantize("tests/fixtures/tiny", os.path.join(tmp, "tiny.gguf"))
    fields = gguf.GGUFReader(os.path.join(tmp, "tiny.gguf")).fields
    check("no tokenizer" in r.stderr and bytes(fields["tokenizer.ggml.model"].parts[-1]) == b"none"
          and "tokenizer.ggml.tokens" not in fields, f"no tokenizer: {r.stderr!r}")

T.finish()
