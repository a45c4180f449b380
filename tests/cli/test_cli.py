#!/usr/bin/env python3
"""The clawnet command end to end, against transformers' recorded logits (and MTPOracle's for --mtp),
with --act f32 --kv-type f32 (the exact path: f32 activations and KV rows) where logits meet the
oracle; the fixtures are F32, which 8-bit
activations leave alone anyway (test_cli_activations.py checks that and the formats they change).

Usage: test_cli.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import os
import tempfile

import numpy as np

from cli_test_support import CliTest

T = CliTest("test_cli")
check, run = T.check, T.run
FIXTURE = "tests/fixtures/tiny"


prompt = open(f"{FIXTURE}/prompt.txt").read().split()
ids = " ".join(prompt)
ref = np.fromfile(f"{FIXTURE}/logits_prefill.f32", dtype="<f4").reshape(len(prompt), -1)

with tempfile.TemporaryDirectory() as tmp:
    for chunk in (None, 1, 7):
        out = os.path.join(tmp, f"logits{chunk}.f32")
        extra = ["--chunk", str(chunk)] if chunk else []
        r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", out, "-t", "2", "--act", "f32", "--kv-type", "f32", *extra)
        check(r.returncode == 0, f"logits --chunk {chunk} exits 0: {r.stderr}")
        if r.returncode == 0:
            got = np.fromfile(out, dtype="<f4")
            check(got.size == ref.size, f"logits file has {got.size} floats, expected {ref.size}")
            got = got.reshape(ref.shape)
            rel = (np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)).max()
            check(rel <= 1e-4, f"logits --chunk {chunk}: max relative error {rel:.3g}")
            check((got.argmax(1) == ref.argmax(1)).all(), f"logits --chunk {chunk}: argmax differs")

    # --kv-type: bf16 / fp8 rows give the same logits for every split, close to f32 (test_kv_types
    # bounds them), and the bench reports bytes per token of the chosen type.
    for kv in ("bf16", "fp8"):
        outs = []
        for chunk in (None, 1, 3):
            out = os.path.join(tmp, f"logits_{kv}_{chunk}.f32")
            extra = ["--chunk", str(chunk)] if chunk else []
            r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", out, "-t", "2", "--kv-type", kv, *extra)
            check(r.returncode == 0, f"logits --kv-type {kv} --chunk {chunk} exits 0: {r.stderr}")
            outs.append(open(out, "rb").read() if r.returncode == 0 else b"")
        check(outs[0] == outs[1] == outs[2] and len(outs[0]) == ref.size * 4, f"--kv-type {kv}: every split, same bytes")
        kv_bytes = outs[0]
    # The default is fp8 rows (kv_bytes is the fp8 run's), not the f32 rows the oracle needs.
    out = os.path.join(tmp, "logits_default.f32")
    r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", out, "-t", "2")
    default_bytes = open(out, "rb").read() if r.returncode == 0 else b""
    check(default_bytes == kv_bytes and default_bytes != open(os.path.join(tmp, "logitsNone.f32"), "rb").read(),
          "the default KV rows are fp8: logits equal --kv-type fp8's and differ from f32's")
    # --kv-index-type fp4 (with f32 rows): FP4 indexer keys (test_kv_fp4 measures the effect), every
    # split the same bytes; the logits differ from f32 keys' only through the top-k selection.
    outs = []
    for chunk in (None, 1, 3):
        out = os.path.join(tmp, f"logits_fp4idx_{chunk}.f32")
        extra = ["--chunk", str(chunk)] if chunk else []
        r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", out, "-t", "2", "--kv-type", "f32", "--kv-index-type", "fp4",
                *extra)
        check(r.returncode == 0, f"logits --kv-index-type fp4 --chunk {chunk} exits 0: {r.stderr}")
        outs.append(open(out, "rb").read() if r.returncode == 0 else b"")
    check(outs[0] == outs[1] == outs[2] and len(outs[0]) == ref.size * 4, "--kv-index-type fp4: every split, same bytes")
    r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", os.path.join(tmp, "x.f32"), "--kv-type", "fp4")
    check(r.returncode == 2 and "fp4 is for indexer keys only; use --kv-index-type fp4" in r.stderr,
          f"--kv-type fp4 refused: {r.stderr!r}")
    r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", os.path.join(tmp, "x.f32"), "--kv-type", "fp6")
    check(r.returncode == 2 and "--kv-type takes f32, bf16 or fp8" in r.stderr, f"bad --kv-type refused: {r.stderr!r}")
    r = run("logits", "-m", FIXTURE, "--ids", ids, "-o", os.path.join(tmp, "x.f32"), "--kv-index-type", "int4")
    check(r.returncode == 2 and "--kv-index-type takes f32, bf16, fp8 or fp4" in r.stderr,
          f"bad --kv-index-type refused: {r.stderr!r}")

# logits --mtp: the MTP block's logits against MTPOracle's (scripts/dsv4_mtp.py) on tiny_mtp, a
# checkpoint laid out as scripts/train_hk_mtp.py writes one; every split gives the same bytes.
MTP_FIXTURE = "tests/fixtures/tiny_mtp"
mtp_prompt = open(f"{MTP_FIXTURE}/prompt.txt").read().split()
mtp_ids = " ".join(mtp_prompt)
mtp_ref = np.fromfile(f"{MTP_FIXTURE}/mtp_logits_prefill.f32", dtype="<f4").reshape(len(mtp_prompt) - 1, -1)
with tempfile.TemporaryDirectory() as tmp:
    outs = []
    for chunk in (None, 1, 6):
        out = os.path.join(tmp, f"mtp{chunk}.f32")
        extra = ["--chunk", str(chunk)] if chunk else []
        r = run("logits", "-m", MTP_FIXTURE, "--ids", mtp_ids, "-o", out, "-t", "2", "--mtp", "--act", "f32", "--kv-type", "f32", *extra)
        check(r.returncode == 0, f"logits --mtp --chunk {chunk} exits 0: {r.stderr}")
        if r.returncode != 0:
            continue
        got = np.fromfile(out, dtype="<f4")
        check(got.size == mtp_ref.size, f"logits --mtp file has {got.size} floats, expected {mtp_ref.size}")
        if got.size == mtp_ref.size:
            got = got.reshape(mtp_ref.shape)
            rel = (np.abs(got - mtp_ref).max(axis=1) / np.abs(mtp_ref).max(axis=1)).max()
            check(rel <= 1e-4, f"logits --mtp --chunk {chunk}: max relative error {rel:.3g}")
            check((got.argmax(1) == mtp_ref.argmax(1)).all(), f"logits --mtp --chunk {chunk}: argmax differs")
        outs.append(open(out, "rb").read())
    check(len(outs) == 3 and outs[0] == outs[1] == outs[2], "logits --mtp: every split, same bytes")
    for model, prompt_ids, needle in [(FIXTURE, ids, "has no MTP block"), (MTP_FIXTURE, "5", "at least 2 prompt tokens")]:
        r = run("logits", "-m", model, "--ids", prompt_ids, "-o", os.path.join(tmp, "x.f32"), "--mtp")
        check(r.returncode == 1 and needle in r.stderr, f"logits --mtp refused ({needle}): {r.returncode} {r.stderr!r}")

# Greedy generation: the first generated id is the argmax of the last prompt position.
r = run("run", "-m", FIXTURE, "--ids", ids, "-n", "1", "--act", "f32", "--kv-type", "f32")
check(r.returncode == 0 and r.stdout.split() == [str(ref[-1].argmax())], f"run -n 1 prints the argmax: {r.stdout!r}")
r = run("run", "-m", FIXTURE, "--ids", ids, "-n", "12")
check(r.returncode == 0 and len(r.stdout.split()) == 12, f"run -n 12 prints 12 ids: {r.stdout!r}")
# Sampling is reproducible from the seed.
a = run("run", "-m", FIXTURE, "--ids", ids, "-n", "12", "--temp", "1", "--top-p", "0.9", "--seed", "5")
b = run("run", "-m", FIXTURE, "--ids", ids, "-n", "12", "--temp", "1", "--top-p", "0.9", "--seed", "5")
check(a.returncode == 0 and a.stdout == b.stdout, "same seed, same sample")

# Bad input: clear errors, non-zero exit, nothing on stdout.
for args, needle in [
    (["run", "-m", FIXTURE, "--ids", "0 1 99999"], "outside the vocabulary"),
    (["run", "-m", FIXTURE, "--ids", "0 x 2"], "not a list of token ids"),
    (["run", "-m", "/nonexistent", "--ids", "1"], "does not exist"),
    (["run", "--ids", "1"], "required"),
    (["run", "-m", FIXTURE, "--ids", "1", "--temp", "-1"], "--temp"),
    (["logits", "-m", FIXTURE, "--ids", "1"], "-o FILE"),
    (["frobnicate"], "unknown command"),
]:
    r = run(*args)
    check(r.returncode != 0 and needle in r.stderr and r.stdout == "", f"{args}: expected an error with {needle!r}, got {r.returncode} {r.stderr!r}")
for cmd in ("run", "logits", "info"):
    r = run(cmd, "--help")
    check(r.returncode == 0 and "usage" in r.stdout, f"{cmd} --help")

T.finish()
