#!/usr/bin/env python3
"""clawnet quantize --policy q2: the Q2_K quantiser (src/tensor/quantize_q2_k.c) end to end, on a
random checkpoint whose 256-wide routed experts hold known F32 data (tests/cli/wide_expert_checkpoint.py:
Gaussian, Student-t(3) and Laplace experts, one distribution per layer).

(a) The bytes are ggml's block_q2_K: the PyPI gguf package's dequantiser of every Q2_K tensor equals
    ClawNet's own dequantisation of it bit for bit (quantising the Q2_K file again with the experts
    overridden to F32 writes cn_matrix_row_to_f32's values).
(b) The search pays: per distribution, the RMSE of quantise -> dequantise is no worse than that of
    a plain Q2_K quantiser written here in numpy (each 16-element sub-block's grid spans its
    [min(x, 0), max x], scales and mins coded against the block maxima, no search), and below a
    stated fraction of the data's standard deviation (measured values next to BOUNDS).
(c) The policy: routed experts Q2_K, everything else as the default policy; general.file_type 10
    (llama.cpp's MOSTLY_Q2_K); the file loads (`clawnet info`), runs (`clawnet eval` against the
    source, KL within a bound) and `--override PATTERN=q2_k` gives Q2_K too. The llama.cpp layout
    checks for a q2 file are in test_quantize_llama_cpp_layout.py.

Usage: test_cli_quantize_q2.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import tempfile

import numpy as np
import gguf

import wide_expert_checkpoint as wide
from cli_test_support import CliTest

T = CliTest("test_cli_quantize_q2", timeout=600)
check, run = T.check, T.run
Q2_K = gguf.GGMLQuantizationType.Q2_K


def f16(v):
    return np.asarray(v, dtype=np.float32).astype(np.float16).astype(np.float32)


def minmax_q2_k(x):
    """The plain Q2_K quantiser: per sub-block of 16 the grid from min(x, 0) to max x in 3 steps,
    the 16 scales and mins as 4-bit codes of the block maxima / 15 (f16), the codes rounded
    against the stored values. Returns the dequantised values."""
    b = x.reshape(-1, 16, 16).astype(np.float32)  # [block][sub-block][element]
    lo = np.minimum(b.min(axis=2), 0)
    scale, mins = (b.max(axis=2) - lo) / 3, -lo
    d = f16(scale.max(axis=1) / 15)[:, None]
    dmin = f16(mins.max(axis=1) / 15)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where(d > 0, np.clip(np.rint(scale / d), 0, 15), 0)
        mc = np.where(dmin > 0, np.clip(np.rint(mins / dmin), 0, 15), 0)
    dl, ml = (d * sc)[:, :, None], (dmin * mc)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(dl > 0, np.clip(np.rint((b + ml) / dl), 0, 3), 0)
    return (dl * q - ml).reshape(x.shape)


def rmse(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


# RMSE / std, measured on this checkpoint (seed 11, 1.57 M weights per distribution):
#   gaussian   Q2_K 0.2905, min/max reference 0.3283
#   student_t3 Q2_K 0.3537, min/max reference 0.3775
#   laplace    Q2_K 0.3364, min/max reference 0.3630
# (llama.cpp's quantize_row_q2_K_ref, no imatrix, on 1 M draws of each: 0.296, 0.354, 0.344.) The
# quantiser minimises the error weighted by x^2, not the plain RMSE: on a trained model that costs
# less KL (docs/performance.md). The bounds leave about 3 % of room above the measured values.
BOUNDS = {"gaussian": 0.30, "student_t3": 0.365, "laplace": 0.347}
# clawnet eval of the q2 file against the source (64 random ids): measured KL mean 1.44, top-1 0.33
# (the default policy's Q4_K experts: 0.17, 0.78). A random model with every expert at 2 bits is far
# more sensitive than a trained one (models/hk-tiny: docs/performance.md); the bound is about twice that.
KL_BOUND, TOP1_BOUND = 3.0, 0.15

with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src")
    experts = wide.make(src)
    q2 = os.path.join(tmp, "q2.gguf")
    r = run("quantize", src, q2, "--policy", "q2")
    check(r.returncode == 0 and "(0 fell back" in r.stderr, f"quantize --policy q2: rc {r.returncode} {r.stderr}")
    dflt = os.path.join(tmp, "default.gguf")
    r = run("quantize", src, dflt)
    check(r.returncode == 0, f"quantize (default): rc {r.returncode} {r.stderr}")

    # (c) the policy: types per tensor against the default policy's file.
    reader = gguf.GGUFReader(q2)
    ftype = reader.fields["general.file_type"]
    check(int(ftype.parts[ftype.data[0]][0]) == 10, "general.file_type is not 10 (MOSTLY_Q2_K)")
    default_types = {t.name: t.tensor_type for t in gguf.GGUFReader(dflt).tensors}
    q2_tensors = {t.name: t for t in reader.tensors}
    check(set(q2_tensors) == set(default_types), "q2 and default files hold different tensors")
    n_exps = 0
    for name, t in q2_tensors.items():
        if "_exps." in name:
            n_exps += 1
            check(t.tensor_type == Q2_K, f"{name}: {t.tensor_type.name}, want Q2_K")
        else:
            check(t.tensor_type == default_types.get(name), f"{name}: {t.tensor_type.name}, default policy writes "
                  f"{default_types.get(name)}")
    check(n_exps == 3 * len(wide.DISTRIBUTIONS), f"{n_exps} routed expert tensors")

    # (a) gguf's dequantiser against ClawNet's, bit for bit.
    back = os.path.join(tmp, "f32.gguf")
    r = run("quantize", q2, back, "--override", "*_exps.weight=f32")
    check(r.returncode == 0, f"requantise to F32: rc {r.returncode} {r.stderr}")
    clawnet_f32 = {t.name: t for t in gguf.GGUFReader(back).tensors}
    deq = {}
    for name, t in q2_tensors.items():
        if t.tensor_type != Q2_K:
            continue
        ours = clawnet_f32[name]
        check(ours.tensor_type == gguf.GGMLQuantizationType.F32, f"{name}: not F32 after the override")
        theirs = gguf.quants.dequantize(t.data, t.tensor_type)
        mine = np.asarray(ours.data, dtype=np.float32).reshape(theirs.shape)
        bad = int(np.count_nonzero(theirs.view(np.uint32) != mine.view(np.uint32)))
        check(bad == 0, f"{name}: {bad} of {theirs.size} values differ between gguf.quants and ClawNet")
        deq[name] = theirs

    # (b) error against the source and against the plain quantiser.
    for layer, kind in enumerate(wide.DISTRIBUTIONS):
        x_all, q_all = [], []
        for part, k in (("gate", 1), ("up", 3), ("down", 2)):
            t = deq.get(f"blk.{layer}.ffn_{part}_exps.weight")
            if t is None:
                continue
            src_w = np.stack([experts[f"layers.{layer}.ffn.experts.{e}.w{k}.weight"] for e in range(t.shape[0])])
            x_all.append(src_w.reshape(-1))
            q_all.append(t.reshape(-1))
        if not x_all:
            check(False, f"layer {layer}: no Q2_K experts")
            continue
        x, q = np.concatenate(x_all), np.concatenate(q_all)
        std = float(x.std())
        ours, ref = rmse(q, x) / std, rmse(minmax_q2_k(x), x) / std
        print(f"{kind}: Q2_K RMSE/std {ours:.4f}, min/max reference {ref:.4f}")
        check(ours <= ref, f"{kind}: RMSE/std {ours:.4f} worse than the min/max reference's {ref:.4f}")
        check(ours <= BOUNDS[kind], f"{kind}: RMSE/std {ours:.4f} > {BOUNDS[kind]}")

    # (c) it loads and runs.
    r = run("info", q2)
    check(r.returncode == 0 and "Q2_K" in r.stdout, f"info: rc {r.returncode} {r.stderr}")
    ids = os.path.join(tmp, "ids.txt")
    with open(ids, "w") as f:
        f.write(" ".join(str(x) for x in np.random.default_rng(7).integers(0, 512, 64)))
    for name, path, bounds in (("q2", q2, (KL_BOUND, TOP1_BOUND)), ("default", dflt, None)):
        js = os.path.join(tmp, f"{name}.json")
        # --act f32: the quantiser's cost alone (KL_BOUND was measured with exact activations).
        r = run("eval", "-m", path, "--ref", src, "--act", "f32", "--kv-type", "f32", "--tokens", ids, "--ctx", "64", "--json", js)
        check(r.returncode == 0, f"eval {name}: rc {r.returncode} {r.stderr}")
        if r.returncode == 0:
            s = json.load(open(js))
            print(f"eval {name}: KL mean {s['kl_mean']:.4g} p99 {s['kl_p99']:.4g} top-1 {s['top1_agreement']:.3f}")
            if bounds:
                check(s["kl_mean"] < bounds[0], f"eval q2: KL mean {s['kl_mean']} >= {bounds[0]}")
                check(s["top1_agreement"] >= bounds[1], f"eval q2: top-1 {s['top1_agreement']} < {bounds[1]}")
    r = run("run", "-m", q2, "--ids", "1 2 3", "-n", "4")
    check(r.returncode == 0 and len(r.stdout.split()) >= 1, f"run -m q2.gguf: rc {r.returncode} {r.stderr}")

    # --override PATTERN=q2_k, on a tensor the policy makes Q8_0.
    ov = os.path.join(tmp, "override.gguf")
    r = run("quantize", src, ov, "--override", "blk.*.ffn_up_shexp.weight=q2_k")
    check(r.returncode == 0, f"--override =q2_k: rc {r.returncode} {r.stderr}")
    if r.returncode == 0:
        types = {t.name: t.tensor_type for t in gguf.GGUFReader(ov).tensors}
        check(all(v == Q2_K for k, v in types.items() if k.endswith("ffn_up_shexp.weight")), "override to q2_k")
        check(types["blk.0.ffn_gate_exps.weight"] == gguf.GGMLQuantizationType.Q4_K, "default policy experts Q4_K")
    r = run("quantize", src, os.path.join(tmp, "x.gguf"), "--override", "*=q2_x")
    check(r.returncode == 2 and "q2_k" in r.stderr, f"bad override type: rc {r.returncode} {r.stderr!r}")

T.finish()
