#!/usr/bin/env python3
"""Builds the small chat set that teaches hk-tiny DeepSeek-V4's turn format (issue 7), from text that
installed Debian and PyPI packages ship plus the team-written conversations in
models/hk-tiny/chat_seed.jsonl. Nothing is downloaded; the output is deterministic.

Sources (the same packages as the corpus, docs/hk_corpus.md):
  seed       models/hk-tiny/chat_seed.jsonl: greetings, who-are-you, Hong Kong and Debian basics in
             English, Traditional Chinese and Cantonese, written for this model (repeated --seed-repeat
             times, so the few hand-written turns weigh more than the templated ones)
  man-en     the NAME line of the English man pages in /usr/share/man/man1, as "what does X do?"
  man-zh     the NAME line of manpages-zh's zh_TW pages, asked in Standard Written Chinese and in
             Cantonese (the answer quotes the page's own description)
  py-faq     Python's FAQ (python3.11-doc): each question heading with its first paragraph
  hkcancor   consecutive utterances of two different speakers in HKCanCor (pycantonese), as a
             user turn and its reply; pairs that touch the corpus's held-out split are left out

    python scripts/hk_chat_data.py --corpus /work/train/hk_corpus --out /work/train/hk_chat.jsonl

Writes one {"messages": [...], "source": NAME} object a line and prints the count per source.
"""
import argparse
import glob
import gzip
import html.parser
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hk_corpus  # noqa: E402  (same directory; shares the corpus's cleaning and held-out rule)

MAN_NAME_RE = re.compile(r"^\.SH\s+\"?(NAME|名稱)\"?\s*$")


def man_name_line(path):
    """The NAME section's first text line, `cmd \\- description`, as (cmd, description)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8", errors="strict") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    for i, line in enumerate(lines):
        if MAN_NAME_RE.match(line):
            for text in lines[i + 1:i + 4]:
                if text.startswith(".") or "\\-" not in text:
                    continue
                name, _, desc = text.partition("\\-")
                for pattern, repl in hk_corpus.TROFF_ESCAPES:
                    name, desc = pattern.sub(repl, name), pattern.sub(repl, desc)
                name, desc = name.strip().split(",")[0].strip(), desc.strip().rstrip("。.")
                if re.fullmatch(r"[A-Za-z0-9_.+-]{1,40}", name) and 3 <= len(desc) <= 120:
                    return name, desc
            return None
    return None


def man_pages(root):
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "*.1.gz"))):
        got = man_name_line(path)
        if got and got[0] not in out:
            out[got[0]] = got[1]
    return out


def qa(question, answer):
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


EN_Q = ["What does the {c} command do?", "What is {c}?", "What is the {c} command for?", "Explain {c} briefly."]
EN_A = ["{c}: {d}.", "The {c} command is used to {d_lower}.", "{c} is a command: {d}."]
ZH_Q = ["{c} 命令有什麼用途？", "{c} 是什麼？", "請簡單說明 {c} 命令。"]
ZH_A = ["{c}：{d}。", "{c} 命令的用途是：{d}。"]
YUE_Q = ["{c} 呢個指令係做咩㗎？", "{c} 係咩嚟㗎？", "我想知 {c} 有咩用。"]
YUE_A = ["{c} 係用嚟「{d}」嘅指令。", "{c} 呢個指令嘅用途係：{d}。"]


def man_examples(rng):
    en = man_pages("/usr/share/man/man1")
    zh = man_pages("/usr/share/man/zh_TW/man1")
    out = []
    for c, d in en.items():
        a = rng.choice(EN_A)
        if "{d_lower}" in a and not re.match(r"^[A-Za-z]", d):
            a = EN_A[0]
        out.append(("man-en", qa(rng.choice(EN_Q).format(c=c), a.format(c=c, d=d, d_lower=d[:1].lower() + d[1:]))))
    for c, d in zh.items():
        if hk_corpus.han_share(d) < 0.3:
            continue
        out.append(("man-zh", qa(rng.choice(ZH_Q).format(c=c), rng.choice(ZH_A).format(c=c, d=d))))
        out.append(("man-zh", qa(rng.choice(YUE_Q).format(c=c), rng.choice(YUE_A).format(c=c, d=d))))
    return out


class FaqParser(html.parser.HTMLParser):
    """Collects (heading text, first paragraph after it) from Sphinx HTML."""

    def __init__(self):
        super().__init__()
        self.pairs, self.mode, self.heading, self.text = [], None, None, []

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3", "h4"):
            self.mode, self.text = "h", []
        elif tag == "p" and self.heading is not None and self.mode is None:
            self.mode, self.text = "p", []
        elif tag == "a" and self.mode == "h" and ("class", "headerlink") in attrs:
            self.mode = "skip"

    def handle_endtag(self, tag):
        if tag == "a" and self.mode == "skip":
            self.mode = "h"
        elif tag in ("h2", "h3", "h4") and self.mode == "h":
            self.heading, self.mode = hk_corpus.collapse("".join(self.text)), None
        elif tag == "p" and self.mode == "p":
            self.pairs.append((self.heading, hk_corpus.collapse("".join(self.text))))
            self.heading, self.mode = None, None

    def handle_data(self, data):
        if self.mode in ("h", "p"):
            self.text.append(data)


def python_faq():
    out = []
    for path in sorted(glob.glob("/usr/share/doc/python3.11/html/faq/*.html")):
        parser = FaqParser()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        for q, a in parser.pairs:
            if q.endswith("?") and 20 <= len(a) <= 600:
                out.append(("py-faq", qa(q, a)))
    return out


def hkcancor_pairs(corpus_dir):
    """(user, reply) from consecutive main-tier lines of different speakers in one file."""
    heldout = set()
    with open(os.path.join(corpus_dir, "yue.heldout.jsonl"), encoding="utf-8") as f:
        heldout = {json.loads(line)["text"] for line in f}
    root = os.path.join(hk_corpus.pycantonese_data(), "hkcancor")
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*.cha"))):
        turns = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("*") or "\t" not in line:
                    continue
                speaker, words = line[1:].split("\t", 1)
                words = [w for w in words.split() if w not in ("#", "-", "+", "xxx")]
                words = [{".": "。", "?": "？", "!": "！", ",": "，"}.get(w, w) for w in words]
                text = hk_corpus.join_cjk(words)
                turns.append((speaker.rstrip(":"), text))
        for (s1, t1), (s2, t2) in zip(turns, turns[1:]):
            if (s1 != s2 and len(hk_corpus.HAN_RE.findall(t1)) >= 3 and len(hk_corpus.HAN_RE.findall(t2)) >= 3
                    and t1 not in heldout and t2 not in heldout):
                out.append(("hkcancor", qa(t1, t2)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/hk_corpus", help="hk_corpus.py output (for the held-out split)")
    ap.add_argument("--seed-file", default=os.path.join(os.path.dirname(__file__), "..", "models", "hk-tiny",
                                                        "chat_seed.jsonl"))
    ap.add_argument("--seed-repeat", type=int, default=20)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(0)

    examples = []
    with open(args.seed_file, encoding="utf-8") as f:
        seed = [json.loads(line)["messages"] for line in f if line.strip()]
    examples += [("seed", m) for m in seed] * args.seed_repeat
    examples += man_examples(rng)
    examples += python_faq()
    examples += hkcancor_pairs(args.corpus)
    rng.shuffle(examples)
    counts = {}
    with open(args.out, "w", encoding="utf-8") as f:
        for source, messages in examples:
            counts[source] = counts.get(source, 0) + 1
            f.write(json.dumps({"messages": messages, "source": source}, ensure_ascii=False) + "\n")
    print(counts, "->", args.out)


if __name__ == "__main__":
    main()
