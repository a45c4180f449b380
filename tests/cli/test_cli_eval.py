#!/usr/bin/env python3
"""clawnet eval end to end: KL, top-1 agreement and perplexity against numpy computed from the
`clawnet logits` outputs of both models.

Usage: test_cli_eval.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CLAWNET = sys.argv[1]
TINY = "tests/fixtures/tiny"
GGUF = "tests/fixtures/gguf/tiny-v4.gguf"  # the same weights, some tensors F16 / BF16 / Q8_0
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args, stdin=None):
    return subprocess.run([CLAWNET, *args], capture_output=True, text=True, timeout=300, input=stdin)


def close(got, want, rtol=1e-7, atol=1e-12):
    return got is not None and abs(got - want) <= atol + rtol * abs(want)


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def logits(model, ids, tmp, *extra):
    out = os.path.join(tmp, "logits.f32")
    r = run("logits", "-m", model, "--ids", " ".join(map(str, ids)), "-o", out, "-t", "2", *extra)
    check(r.returncode == 0, f"logits -m {model}: {r.stderr}")
    return np.fromfile(out, dtype="<f4").reshape(len(ids), -1)


def expected(model, ref, ids, ctx, tmp, model_args=()):
    """The summary computed in numpy from per-window `clawnet logits` of both models (the reference's
    with f32 activations and f32 KV rows, as eval runs it; the model's with model_args, by default
    8-bit activations and fp8 KV rows, as eval's and logits' defaults)."""
    kl, agree, nll_m, nll_r = [], [], [], []
    for w0 in range(0, len(ids), ctx):
        win = ids[w0:w0 + ctx]
        lq, lp = log_softmax(logits(model, win, tmp, *model_args)), log_softmax(logits(ref, win, tmp, "--act", "f32", "--kv-type", "f32"))
        kl += list((np.exp(lp) * (lp - lq)).sum(axis=1))
        agree += list(lp.argmax(1) == lq.argmax(1))
        nxt = np.array(win[1:])
        nll_m += list(-lq[np.arange(len(nxt)), nxt])
        nll_r += list(-lp[np.arange(len(nxt)), nxt])
    kl = np.array(kl)
    return dict(positions=len(kl), predicted=len(nll_m), kl_mean=kl.mean(), kl_median=np.median(kl),
                kl_p99=np.percentile(kl, 99), kl_max=kl.max(), top1_agreement=np.mean(agree),
                model_nll=np.mean(nll_m), ref_nll=np.mean(nll_r), model_ppl=np.exp(np.mean(nll_m)),
                ref_ppl=np.exp(np.mean(nll_r)))


def evaluate(tmp, *args, stdin=None):
    out = os.path.join(tmp, "eval.json")
    if os.path.exists(out):
        os.remove(out)
    r = run("eval", *args, "-t", "2", "--json", out, stdin=stdin)
    check(r.returncode == 0, f"eval {args}: exit {r.returncode}: {r.stderr}")
    return (json.load(open(out)) if r.returncode == 0 else {}), r


ids = [int(t) for t in open(f"{TINY}/prompt.txt").read().split()]

with tempfile.TemporaryDirectory() as tmp:
    # A model against itself with f32 KV rows (tiny's weights are F32, so --act changes nothing):
    # KL exactly 0, full agreement, equal perplexity.
    got, r = evaluate(tmp, "-m", TINY, "--ref", TINY, "--kv-type", "f32", "--tokens", f"{TINY}/prompt.txt")
    check(got.get("kl_mean") == 0 and got.get("kl_max") == 0, f"self KL is 0: {got}")
    check(got.get("top1_agreement") == 1, f"self top-1 agreement is 1: {got}")
    check(got.get("model_ppl") == got.get("ref_ppl") and got.get("ppl_ratio") == 1, f"self perplexity equal: {got}")
    check("KL(ref||model)" in r.stdout and "perplexity" in r.stdout, f"summary on stdout: {r.stdout!r}")
    want = expected(TINY, TINY, ids, 512, tmp, ("--kv-type", "f32"))
    check(close(got.get("ref_ppl"), want["ref_ppl"]), f"self perplexity {got.get('ref_ppl')} vs numpy {want['ref_ppl']}")
    check(got.get("kv_type") == "f32" and got.get("kv_index_type") == "f32" and got.get("reference_kv_type") == "f32"
          and "KV rows f32" in r.stdout, f"--kv-type f32 reported: {got} {r.stdout!r}")

    # The KV storage (default fp8 rows and keys, as clawnet run): only MODEL's state changes, the
    # reference keeps f32; every statistic as numpy computes it from `clawnet logits` (default, i.e.
    # fp8) against `clawnet logits --kv-type f32`.
    got, r = evaluate(tmp, "-m", TINY, "--ref", TINY, "--tokens", f"{TINY}/prompt.txt")
    want = expected(TINY, TINY, ids, 512, tmp)
    for key, value in want.items():
        check(close(got.get(key), float(value)), f"fp8 KV: {key}: clawnet {got.get(key)}, numpy {value}")
    check(0 < got.get("kl_mean", 0) < 5e-3 and got.get("kv_type") == "fp8" and got.get("kv_index_type") == "fp8"
          and "KV rows fp8, indexer keys fp8" in r.stdout, f"default fp8 KV: a small positive KL, reported: {got}")
    print(f"tiny fp8 KV vs f32: KL mean {got.get('kl_mean'):.3g}, top-1 {got.get('top1_agreement')}")
    got, r = evaluate(tmp, "-m", TINY, "--ref", TINY, "--kv-type", "bf16", "--kv-index-type", "fp4", "--tokens",
                      f"{TINY}/prompt.txt")
    want = expected(TINY, TINY, ids, 512, tmp, ("--kv-type", "bf16", "--kv-index-type", "fp4"))
    check(close(got.get("kl_mean"), want["kl_mean"]) and got.get("kv_type") == "bf16"
          and got.get("kv_index_type") == "fp4", f"--kv-type bf16 --kv-index-type fp4: {got} vs numpy {want}")

    # The GGUF (8/16-bit tensors) against the f32 checkpoint, in windows of 16 (16, 16, 8), ids on
    # stdin: a small positive KL, all statistics as numpy computes them from `clawnet logits`. --act f32
    # --kv-type f32: the weights' storage cost alone, exact activations and KV (the bound below was
    # measured so).
    got, r = evaluate(tmp, "-m", GGUF, "--ref", TINY, "--act", "f32", "--kv-type", "f32", "--tokens", "-", "--ctx",
                      "16", stdin=" ".join(map(str, ids)))
    want = expected(GGUF, TINY, ids, 16, tmp, ("--act", "f32", "--kv-type", "f32"))
    check(got.get("windows") == 3 and got.get("tokens") == 40, f"3 windows of 40 tokens: {got}")
    for key, value in want.items():
        check(close(got.get(key), float(value)), f"gguf vs tiny {key}: clawnet {got.get(key)}, numpy {value}")
    check(0 < got.get("kl_mean", 0) < 5e-3, f"small positive KL: {got.get('kl_mean')}")
    check(close(got.get("ppl_diff"), want["model_ppl"] - want["ref_ppl"], 1e-6, 1e-9), f"ppl_diff {got.get('ppl_diff')}")
    check(close(got.get("ppl_ratio"), want["model_ppl"] / want["ref_ppl"]), f"ppl_ratio {got.get('ppl_ratio')}")
    print(f"gguf vs tiny: KL mean {got.get('kl_mean'):.3g} p99 {got.get('kl_p99'):.3g}, top-1 "
          f"{got.get('top1_agreement')}, ppl {got.get('model_ppl'):.4f} vs {got.get('ref_ppl'):.4f}")

    # 8-bit activations (the default; --act q8 and --act-q8 say the same): the GGUF against itself
    # run exact (its Q8_0 projections and experts take the integer path): a small positive KL, all
    # statistics as numpy computes them from `clawnet logits --act q8` and `clawnet logits --act f32`;
    # the JSON and the summary say which activations ran.
    # --kv-type f32 throughout: the activations' cost alone.
    default, r_default = evaluate(tmp, "-m", GGUF, "--ref", GGUF, "--kv-type", "f32", "--tokens", f"{TINY}/prompt.txt",
                                  "--ctx", "16")
    got, r = evaluate(tmp, "-m", GGUF, "--ref", GGUF, "--act-q8", "--kv-type", "f32", "--tokens", f"{TINY}/prompt.txt",
                      "--ctx", "16")
    want = expected(GGUF, GGUF, ids, 16, tmp, ("--act", "q8", "--kv-type", "f32"))
    for key, value in want.items():
        check(close(got.get(key), float(value)), f"gguf --act-q8 vs gguf {key}: clawnet {got.get(key)}, numpy {value}")
    check(0 < got.get("kl_mean", 0) < 5e-3, f"--act-q8: small positive KL: {got.get('kl_mean')}")
    check(got.get("activations") == "q8" and got.get("act_q8") is True and got.get("reference_activations") == "f32"
          and 0 < got.get("int8_dot_share", 0) <= 1 and "8-bit activations" in r.stdout,
          f"--act-q8 reported: {got} {r.stdout!r}")
    check(default == got and r_default.stdout == r.stdout, f"the default is --act q8: {default} vs {got}")
    print(f"gguf --act q8 vs gguf: KL mean {got.get('kl_mean'):.3g} p99 {got.get('kl_p99'):.3g}, top-1 "
          f"{got.get('top1_agreement')}, ppl {got.get('model_ppl'):.4f} vs {got.get('ref_ppl'):.4f}")
    # --act f32 (and its alias --act-f32): the same GGUF against itself is exact, KL 0.
    for option in (("--act", "f32"), ("--act-f32",)):
        got, r = evaluate(tmp, "-m", GGUF, "--ref", GGUF, *option, "--kv-type", "f32", "--tokens", f"{TINY}/prompt.txt",
                          "--ctx", "16")
        check(got.get("kl_mean") == 0 and got.get("kl_max") == 0 and got.get("top1_agreement") == 1
              and got.get("activations") == "f32" and got.get("act_q8") is False and "(f32 activations;" in r.stdout,
              f"eval {option}: exact against itself: {got} {r.stdout!r}")

    # --max-tokens: the first N ids only, one window.
    got, r = evaluate(tmp, "-m", GGUF, "--ref", TINY, "--tokens", f"{TINY}/prompt.txt", "--max-tokens", "10")
    want = expected(GGUF, TINY, ids[:10], 512, tmp)
    check(got.get("positions") == 10 and close(got.get("kl_mean"), want["kl_mean"]), f"--max-tokens 10: {got}")

    # Bad inputs: clear errors, non-zero exit, nothing on stdout.
    empty = os.path.join(tmp, "empty.txt")
    open(empty, "w").write(" \n")
    for args, stdin, needle in [
        (["-m", TINY, "--ref", TINY, "--tokens", "/nonexistent/ids.txt"], None, "cannot open /nonexistent/ids.txt"),
        (["-m", "/nonexistent", "--ref", TINY, "--tokens", f"{TINY}/prompt.txt"], None, "does not exist"),
        (["-m", TINY, "--ref", "tests/fixtures/tiny_official", "--tokens", f"{TINY}/prompt.txt"], None,
         "vocabularies differ"),
        (["-m", TINY, "--ref", TINY, "--tokens", empty], None, "holds no token ids"),
        (["-m", TINY, "--ref", TINY, "--tokens", "-"], "0 1 256", "outside the vocabulary"),
        (["-m", TINY, "--ref", TINY, "--tokens", "-"], "0 1 x", "is not a token id"),
        (["-m", TINY, "--tokens", "-"], "1", "--ref REFERENCE are required"),
        (["-m", TINY, "--ref", TINY], None, "exactly one of --tokens"),
        (["-m", TINY, "--ref", TINY, "--tokens-text", empty], None, "needs --tokenizer"),
        (["-m", TINY, "--ref", TINY, "--tokens", "-", "--ctx", "0"], "1", "--ctx"),
        (["-m", TINY, "--ref", TINY, "--tokens", "-", "--act", "int8"], "1", "--act takes q8"),
    ]:
        r = run("eval", *args, stdin=stdin)
        check(r.returncode != 0 and needle in r.stderr and r.stdout == "",
              f"eval {args}: expected an error with {needle!r}, got {r.returncode} {r.stderr!r} {r.stdout!r}")
    r = run("eval", "--help")
    check(r.returncode == 0 and "usage" in r.stdout, "eval --help")

    # --tokens-text: UTF-8 text through the C tokenizer gives the same result as its ids, on a
    # random checkpoint with the real vocabulary (made here, as the text CLI tests do).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from real_vocab import TOKENIZER_JSON, hf_tokenizer, make_checkpoint  # noqa: E402
    real = make_checkpoint(os.path.join(tmp, "real"))
    text = "The capital of France is Paris. 日本語のテキストも少し。\n" * 3
    text_file = os.path.join(tmp, "text.txt")
    open(text_file, "w", encoding="utf-8").write(text)
    hf_ids = hf_tokenizer().encode(text, add_special_tokens=False).ids
    got_text, r = evaluate(tmp, "-m", real, "--ref", real, "--kv-type", "f32", "--tokens-text", text_file,
                           "--tokenizer", TOKENIZER_JSON, "--ctx", "8")
    got_ids, _ = evaluate(tmp, "-m", real, "--ref", real, "--kv-type", "f32", "--tokens", "-", "--ctx", "8",
                          stdin=" ".join(map(str, hf_ids)))
    check(got_text.get("tokens") == len(hf_ids), f"--tokens-text: {got_text.get('tokens')} tokens, HF {len(hf_ids)}")
    check(got_text.get("ref_ppl") == got_ids.get("ref_ppl") and got_text.get("kl_mean") == 0,
          f"--tokens-text equals --tokens with HF's ids: {got_text} {got_ids}")

print("test_cli_eval:", "ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
