#!/usr/bin/env python3
"""Builds the Hong Kong trilingual corpus (English, Traditional Chinese, written Cantonese) from
text that installed Debian and PyPI packages ship; nothing is downloaded. Data card: docs/hk_corpus.md.

Install the sources first (Debian 12):
    apt-get install debian-reference-en debian-reference-zh-tw debian-handbook python3.11-doc \
        manpages-zh fortunes-zh
    .venv/bin/pip install -r scripts/requirements-train.txt     # pycantonese (data), opencc
Then:
    .venv/bin/python scripts/hk_corpus.py [--out data/hk_corpus]

Writes OUT/{en,zh_hant,yue}.{train,heldout}.jsonl (one {"text", "source"} object a line; a text may
hold newlines, e.g. a poem) and OUT/manifest.json (sources with package versions and licences,
record/character counts, sha256 of every file), and prints the sizes. Deterministic: the same
installed package versions give byte-identical files. Records are deduplicated per language; the
held-out split is a fixed function of the text alone (sha256 of its UTF-8, 5 %), so it does not move
when a source is added or reordered.
"""
import argparse
import glob
import gzip
import hashlib
import html
import html.parser
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys

HELDOUT_PER_MILLE = 50
LANGS = ("en", "zh_hant", "yue")

# Characters counted as Han for the share filters (basic block, Ext A, compatibility, Ext B+).
HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]")
CJK_OR_FULLWIDTH_RE = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U000323af]")
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def han_share(text):
    return len(HAN_RE.findall(text)) / max(1, len(text))


def collapse(text):
    return re.sub(r"\s+", " ", text).strip()


def heldout(text):
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 1000 < HELDOUT_PER_MILLE


# ---- package versions -------------------------------------------------------------------------

def deb_version(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", package], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def pypi_version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pycantonese_data():
    spec = importlib.util.find_spec("pycantonese")  # not imported: only its data files are read
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


# ---- extractors ---------------------------------------------------------------------------------

class ParagraphText(html.parser.HTMLParser):
    """Text of every paragraph: a <p> element (Debian Reference) or a <div class="para">
    (Publican, the Debian Handbook); nested ones count once; whitespace collapsed."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tag, self.depth, self.current, self.paragraphs = None, 0, [], []

    def handle_starttag(self, tag, attrs):
        if self.tag is None and (tag == "p" or (tag == "div" and ("class", "para") in attrs)):
            self.tag, self.depth = tag, 1
        elif tag == self.tag:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == self.tag:
            self.depth -= 1
            if self.depth == 0:
                self.paragraphs.append(collapse("".join(self.current)))
                self.tag, self.current = None, []

    def handle_data(self, data):
        if self.tag is not None:
            self.current.append(data)


def html_paragraphs(pattern, min_chars=20, min_han=0.0):
    out = []
    for path in sorted(glob.glob(pattern)):
        parser = ParagraphText()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        out += [p for p in parser.paragraphs if len(p) >= min_chars and han_share(p) >= min_han]
    return out


RST_SKIP = re.compile(r"^(\.\.|::|[=\-~^\"'`#*+]{3,}\s*$|>>>|\$ |\||[+][-=])")


def rst_paragraphs(root, subdirs, min_chars=40):
    """Prose paragraphs of reStructuredText sources: blank-line separated blocks that start at
    column 0 and are not directives, titles' underlines, tables, prompts or code (indented)."""
    out = []
    for sub in subdirs:
        for path in sorted(glob.glob(os.path.join(root, sub, "**", "*.txt"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                blocks = re.split(r"\n\s*\n", f.read())
            for block in blocks:
                lines = block.split("\n")
                if not lines[0] or lines[0][0].isspace() or any(RST_SKIP.match(l) for l in lines):
                    continue
                text = collapse(" ".join(lines))
                letters = sum(c.isalpha() for c in text)
                if len(text) >= min_chars and letters >= 0.6 * len(text) and not text.endswith("::"):
                    out.append(text)
    return out


TROFF_ESCAPES = [(re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\s[+-]?\d"), ""),
                 (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""), (re.compile(r"\\\(em|\\\(en"), "—"),
                 (re.compile(r"\\\((lq|rq|dq)"), '"'), (re.compile(r"\\\((oq|cq)"), "'"),
                 (re.compile(r"\\\(bu"), "•"), (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
                 (re.compile(r"\\[-]"), "-"), (re.compile(r"\\e"), "\\\\"), (re.compile(r"\\[&|^c%]"), ""),
                 (re.compile(r"\\ "), " "), (re.compile(r"\\/|\\,"), "")]
TROFF_TEXT_MACROS = re.compile(r"^\.(B|I|BR|BI|IB|IR|RB|RI|SM|SB)\s+(.*)$")


FULLWIDTH_PUNCT_RE = re.compile("[\u3000-\u303f\uff00-\uffef]")


def needs_space(left, right):
    """Whether two words are written with a space between them: none between CJK characters or
    next to full-width punctuation, one next to a Latin letter ("去 shopping"), none between a digit
    and a CJK character ("3個")."""
    if FULLWIDTH_PUNCT_RE.match(left) or FULLWIDTH_PUNCT_RE.match(right):
        return False
    if re.match("[A-Za-z]", left) or re.match("[A-Za-z]", right):
        return True
    return not (CJK_OR_FULLWIDTH_RE.match(left) or CJK_OR_FULLWIDTH_RE.match(right))


def join_cjk(parts):
    """Joins words or lines as written text (see needs_space)."""
    text = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if text and needs_space(text[-1], part[0]):
            text += " "
        text += part
    return collapse(text)


def troff_paragraphs(root, min_chars=20, min_han=0.25):
    """Paragraphs of man pages: comment lines dropped, macro lines end a paragraph (the text of
    font macros such as .B kept), inline escapes removed. Pages that are not UTF-8 are skipped."""
    out, skipped = [], 0
    for path in sorted(glob.glob(os.path.join(root, "man*", "*.gz"))):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (UnicodeDecodeError, OSError):
            skipped += 1
            continue
        current = []

        def flush():
            text = join_cjk(current)
            if len(text) >= min_chars and han_share(text) >= min_han:
                out.append(text)
            current.clear()

        for line in lines:
            if line.startswith(('.\\"', "'\\\"", '.\\}', "\\\"")):
                continue
            m = TROFF_TEXT_MACROS.match(line)
            if m:
                line = m.group(2).replace('"', "")
            elif line.startswith((".", "'")):
                flush()
                continue
            for pattern, repl in TROFF_ESCAPES:
                line = pattern.sub(repl, line)
            current.append(line.replace("\\", ""))
        flush()
    return out, skipped


ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def fortunes(path, converter):
    """Fortune entries (separated by a line holding only %), ANSI colours removed, converted from
    Simplified to Hong Kong Traditional characters by OpenCC s2hk; line breaks kept."""
    with open(path, encoding="utf-8") as f:
        entries = re.split(r"\n%\n", ANSI_RE.sub("", f.read()))
    out = []
    for entry in entries:
        lines = [l.strip() for l in entry.strip("\n%").split("\n")]
        text = "\n".join(l for l in lines if l)
        if len(text) >= 8:
            out.append(converter.convert(text))
    return out


def chat_utterances(pattern):
    """Main-tier utterances of CHAT files (HKCanCor, CantoMap): words joined as written Chinese
    (no space between CJK words, one space next to a Latin word), CHAT terminators . ? ! made
    full-width, pause (#) and interruption (-) marks and CantoMap's time stamps dropped."""
    out = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("*") or "\t" not in line:
                    continue
                words = [w for w in line.split("\t", 1)[1].split()
                         if w not in ("#", "-", "+", "xxx") and not re.fullmatch(r"\d+_\d+|\x15.*\x15", w)]
                words = [{".": "。", "?": "？", "!": "！", ",": "，"}.get(w, w) for w in words]
                text = join_cjk(words)
                if len(HAN_RE.findall(text)) >= 2:
                    out.append(text)
    return out


def desegment(text):
    """CTCPC's Cantonese side is word-segmented with spaces; rejoined as written text (join_cjk)."""
    return join_cjk(text.split())


def json_sentences(path):
    with open(path, encoding="utf-8") as f:
        return [t for t in json.load(f) if isinstance(t, str)]


# ---- the sources ----------------------------------------------------------------------------------

def sources(converter):
    """(id, language, kind, package, licence, extractor) per source, in a fixed order."""
    cantonese = pycantonese_data()
    pydoc = "/usr/share/doc/python3.11/html/_sources"
    handbook = "/usr/share/doc/debian-handbook/html"
    fortune_dir = "/usr/share/games/fortunes"
    return [
        ("debian-reference-en", "en", "deb", "debian-reference-en", "GPL-2+ (Osamu Aoki)",
         lambda: html_paragraphs("/usr/share/debian-reference/*.en.html")),
        ("debian-handbook-en", "en", "deb", "debian-handbook", "GPL-2+ or CC-BY-SA-3.0 (Raphaël Hertzog, Roland Mas)",
         lambda: html_paragraphs(os.path.join(handbook, "en-US", "*.html"))),
        ("python3.11-doc", "en", "deb", "python3.11-doc", "PSF-2.0 (Python Software Foundation)",
         lambda: rst_paragraphs(pydoc, ["tutorial", "faq", "howto", "reference", "using"])),
        ("debian-reference-zh-tw", "zh_hant", "deb", "debian-reference-zh-tw", "GPL-2+ (Osamu Aoki; zh-TW translators)",
         lambda: html_paragraphs("/usr/share/debian-reference/*.zh-tw.html", min_han=0.2)),
        ("debian-handbook-zh-tw", "zh_hant", "deb", "debian-handbook",
         "GPL-2+ or CC-BY-SA-3.0 (translated paragraphs only: Han >= 20 %)",
         lambda: html_paragraphs(os.path.join(handbook, "zh-TW", "*.html"), min_han=0.2)),
        ("manpages-zh-tw", "zh_hant", "deb", "manpages-zh", "GFDL-1.2+ (Chinese Man Pages Project)",
         lambda: troff_paragraphs("/usr/share/man/zh_TW")[0]),
        ("fortunes-zh-s2hk", "zh_hant", "deb", "fortunes-zh",
         "GPL-3.0+ (Yu Guanghui et al.); Simplified converted by OpenCC s2hk (Apache-2.0)",
         lambda: sum((fortunes(os.path.join(fortune_dir, n), converter) for n in ("chinese", "tang300", "song100")), [])),
        ("pycantonese-common_voice", "yue", "pypi", "pycantonese", "MPL-2.0 (Common Voice yue sentences)",
         lambda: json_sentences(os.path.join(cantonese, "common_voice", "sents.json"))),
        ("pycantonese-ctcpc", "yue", "pypi", "pycantonese", "CC0-1.0 (CTCPC, Cantonese side; spaces between CJK removed)",
         lambda: [desegment(t) for t in json_sentences(os.path.join(cantonese, "ctcpc", "sents.json"))]),
        ("pycantonese-hkcancor", "yue", "pypi", "pycantonese", "CC BY 4.0 (HKCanCor, Luke and Wong 2015)",
         lambda: chat_utterances(os.path.join(cantonese, "hkcancor", "*.cha"))),
        ("pycantonese-cantomap", "yue", "pypi", "pycantonese", "GPL-3.0 (CantoMap, Winterstein et al. 2020)",
         lambda: chat_utterances(os.path.join(cantonese, "cantomap", "extracted", "*.cha"))),
    ]


def clean(text):
    # Not NFC-normalised: DeepSeek's tokenizer does not normalise either, so text stays as shipped.
    text = CONTROL_RE.sub("", text).replace("\r", "")
    return "\n".join(collapse(l) for l in text.split("\n")).strip()


TEST_SAMPLE_RECORDS = {"en": 120, "zh_hant": 250, "yue": 600}


def write_test_sample(path, corpus):
    """The held-out records with the smallest sha256 of their text, per language: a fixed sample
    spread over the sources, small enough to commit (the tests' fallback when data/hk_corpus is
    not built)."""
    sample = {}
    for lang, n in TEST_SAMPLE_RECORDS.items():
        with open(os.path.join(corpus, f"{lang}.heldout.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        rows.sort(key=lambda r: hashlib.sha256(r["text"].encode("utf-8")).hexdigest())
        sample[lang] = rows[:n]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/hk_corpus.py --test-sample", "licences": "docs/hk_corpus.md",
                   "records": sample}, f, ensure_ascii=False, indent=0)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/hk_corpus")
    ap.add_argument("--test-sample", metavar="JSON",
                    help="also write a small held-out sample for test_hk_tokenizer "
                         "(tests/fixtures/hk_tokenizer/heldout_sample.json)")
    args = ap.parse_args()

    missing = [p for p in ("debian-reference-en", "debian-reference-zh-tw", "debian-handbook", "python3.11-doc",
                           "manpages-zh", "fortunes-zh") if deb_version(p) is None]
    missing += [p for p in ("pycantonese", "opencc") if pypi_version(p) is None]
    if missing:
        sys.exit(f"hk_corpus: not installed: {' '.join(missing)} (see the usage at the top of {sys.argv[0]})")
    import opencc  # noqa: E402 (checked above)
    converter = opencc.OpenCC("s2hk")

    os.makedirs(args.out, exist_ok=True)
    records = {lang: {} for lang in LANGS}  # text -> source, first source wins (dedup per language)
    manifest_sources = []
    for sid, lang, kind, package, licence, extract in sources(converter):
        texts = [clean(t) for t in extract()]
        kept = 0
        for t in texts:
            if len(t) >= 2 and t not in records[lang]:
                records[lang][t] = sid
                kept += 1
        version = deb_version(package) if kind == "deb" else pypi_version(package)
        manifest_sources.append({"id": sid, "language": lang, "package": f"{kind}:{package}", "version": version,
                                 "licence": licence, "extracted": len(texts), "kept_after_dedup": kept})
        print(f"  {sid:26s} {lang:8s} {kind}:{package} {version}: {len(texts)} records, {kept} new", file=sys.stderr)

    files, totals = {}, {}
    for lang in LANGS:
        split = {"train": [], "heldout": []}
        for text, sid in records[lang].items():
            split["heldout" if heldout(text) else "train"].append((text, sid))
        for name, rows in split.items():
            rows.sort(key=lambda r: (r[1], hashlib.sha256(r[0].encode("utf-8")).hexdigest()))
            path = os.path.join(args.out, f"{lang}.{name}.jsonl")
            data = "".join(json.dumps({"text": t, "source": s}, ensure_ascii=False) + "\n" for t, s in rows).encode("utf-8")
            with open(path, "wb") as f:
                f.write(data)
            chars = sum(len(t) for t, _ in rows)
            totals[f"{lang}.{name}"] = {"records": len(rows), "chars": chars, "utf8_bytes": sum(len(t.encode()) for t, _ in rows)}
            files[os.path.basename(path)] = hashlib.sha256(data).hexdigest()
    if args.test_sample:
        write_test_sample(args.test_sample, args.out)
    manifest = {"heldout_per_mille": HELDOUT_PER_MILLE, "sources": manifest_sources, "splits": totals, "sha256": files,
                "opencc": pypi_version("opencc")}
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")

    print(f"{'split':18s} {'records':>9s} {'chars':>11s} {'UTF-8 bytes':>12s}")
    for key, t in totals.items():
        print(f"{key:18s} {t['records']:9d} {t['chars']:11d} {t['utf8_bytes']:12d}")
    print(f"wrote {args.out}/{{{','.join(LANGS)}}}.{{train,heldout}}.jsonl and manifest.json")


if __name__ == "__main__":
    main()
