#!/usr/bin/env python3
"""clawnet bench --kernels end to end (no speed is asserted): the JSON lists every requested
format on every requested thread count with positive timings and bandwidth, the int8-activation
rows (Q8_0, Q6_K, Q5_K, Q4_K, Q3_K, Q2_K, IQ2_XXS and both MXFP4s x int8: cn_matmul with act_q8)
come with their measured difference from the f32 kernel, which must be of the size the activation rounding
gives (uniform inputs in [-1, 1]: about 3e-3 relative RMS; between 1e-4 and 2e-2 is accepted),
--tokens N runs N-token products (GFLOP/s = 2 x weights x tokens / time, from the same run's
milliseconds), and bad options are refused with exit status 2 and a message naming them.

Usage: test_bench_kernels.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import tempfile

from cli_test_support import CliTest

T = CliTest("test_bench_kernels", prefix=("bench", "--kernels"), timeout=600)
check, run = T.check, T.run


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "k.json")
    r = run("--types", "q4_k,Q6_K,iq2_xxs,mxfp4,q8_0,q2_k,mxfp4_ggml", "-t", "1,2", "--mb", "2", "-r", "3", "--json", out)
    check(r.returncode == 0, f"bench --kernels exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        data = json.load(open(out))
        check([run_["threads"] for run_ in data["results"]] == [1, 2], "thread counts")
        for run_ in data["results"]:
            names = [f["format"] for f in run_["formats"]]
            check(names == ["Q4_K", "Q4_K x int8", "Q6_K", "Q6_K x int8", "IQ2_XXS", "IQ2_XXS x int8", "MXFP4", "MXFP4 x int8",
                            "Q8_0", "Q8_0 x int8", "Q2_K", "Q2_K x int8", "MXFP4_GGML", "MXFP4_GGML x int8"], f"formats {names}")
            check(run_["read_bandwidth_gb_s"] > 0, "read bandwidth")
            for f in run_["formats"]:
                check(f["ms_median"] > 0 and f["gb_s_median"] > 0 and f["gb_s_best"] >= f["gb_s_median"] * 0.999,
                      f"timings of {f['format']}: {f}")
                check(f["weight_bytes"] >= 2e6 * 0.99, f"{f['format']} matrix smaller than --mb")
            for f in run_["formats"]:
                if f["format"].endswith(" x int8"):
                    rel = f["relative_rms_vs_f32"]
                    check(1e-4 < rel < 2e-2, f"{f['format']} relative RMS {rel}")
        check("| Q4_K x int8 |" in r.stdout and "read bandwidth" in r.stdout, "table output")

    r = run("--types", "q4_k,q8_0,bf16", "-t", "1", "--mb", "1", "-r", "3", "--tokens", "5", "--json", out)
    check(r.returncode == 0, f"bench --kernels --tokens 5 exit {r.returncode}: {r.stderr}")
    if r.returncode == 0:
        data = json.load(open(out))
        check(data["tokens"] == 5 and "5 tokens per call" in r.stdout, "tokens in JSON and heading")
        names = [f["format"] for f in data["results"][0]["formats"]]
        check(names == ["Q4_K", "Q4_K x int8", "Q8_0", "Q8_0 x int8", "BF16"], f"formats {names}")
        for f in data["results"][0]["formats"]:
            weights = f["weight_bytes"] / {"Q4_K": 144 / 256, "Q8_0": 34 / 32, "BF16": 2}[f["format"].split(" ")[0]]
            want = 2 * weights * 5 / (f["ms_median"] * 1e-3) / 1e9
            check(abs(f["gflop_s_median"] - want) <= 1e-6 * want, f"{f['format']} GFLOP/s {f['gflop_s_median']} vs {want}")
            if f["format"].endswith(" x int8"):
                check(1e-4 < f["relative_rms_vs_f32"] < 2e-2, f"{f['format']} relative RMS over 5 tokens")

for args, needle in [(["--types", "q9_k"], "q9_k"), (["--cols", "100"], "--cols"), (["-t", "0"], "-t"),
                     (["--bogus", "1"], "--bogus"), (["--tokens", "0"], "--tokens")]:
    r = run(*args)
    check(r.returncode == 2 and needle in r.stderr, f"{args}: exit {r.returncode}, stderr {r.stderr!r}")

T.finish()
