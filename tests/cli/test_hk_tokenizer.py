#!/usr/bin/env python3
"""The Hong Kong tokenizer (models/hk-tiny/tokenizer.json, scripts/train_hk_tokenizer.py) against
its oracles: DeepSeek-V4's tokenizer.json for the pipeline and the added tokens, HF tokenizers for
the ids. ClawNet's tokenizer must run it unchanged:

1. its pipeline (normalizer, pre-tokenizer, post-processor, decoder) and tokenizer_config.json are
   DeepSeek-V4's; its added tokens are DeepSeek-V4's minus the reserved placeholders, same strings
   and flags, BOS/EOS/pad at ids 0-2; 16k-32k entries;
2. `clawnet tokenize` gives HF's ids on the held-out text of each language (data/hk_corpus when
   built, else the committed sample tests/fixtures/hk_tokenizer/heldout_sample.json), in mode all,
   and `--decode` gives the text back; added tokens in text in modes all and none;
3. Cantonese needs clearly fewer tokens than with DeepSeek-V4's tokenizer (HF counts of both), and
   佢 嗰 噉 啲 喺 咗 嘅 are one token each;
4. the chat encoding works with it: on a random checkpoint with its vocabulary size, `clawnet chat`
   prompt ids equal HF's encode of the reference renderings (tests/fixtures/chat/cases.json);
5. written into GGUF metadata as llama.cpp's converter does (scripts/make_tokenizer_gguf.py), it
   tokenizes exactly as the tokenizer.json in all three added-token modes.

Usage: test_hk_tokenizer.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402

CLAWNET = sys.argv[1]
ROOT = real_vocab.ROOT
HK_DIR = os.path.join(ROOT, "models", "hk-tiny")
HK_JSON = os.path.join(HK_DIR, "tokenizer.json")
DS_JSON = real_vocab.TOKENIZER_JSON
LANGS = ("en", "zh_hant", "yue")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def clawnet(args, data):
    return subprocess.run([CLAWNET, *args], input=data, capture_output=True, timeout=600)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_placeholder(content):
    return "place▁holder" in content or "place_holder" in content


hk_json, ds_json = load_json(HK_JSON), load_json(DS_JSON)
hk, ds = Tokenizer.from_file(HK_JSON), Tokenizer.from_file(DS_JSON)

# 1. Pipeline, added tokens, size, config.
for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
    check(hk_json[key] == ds_json[key], f"{key} differs from DeepSeek-V4's")
options = {k: v for k, v in hk_json["model"].items() if k not in ("vocab", "merges")}
check(options == {k: v for k, v in ds_json["model"].items() if k not in ("vocab", "merges")},
      f"BPE options differ from DeepSeek-V4's: {options}")
size = hk.get_vocab_size(with_added_tokens=True)
check(16000 <= size <= 32000, f"{size} entries, not 16k-32k")
check(sorted(hk.get_vocab(with_added_tokens=True).values()) == list(range(size)), "ids are not 0..size-1")
want_added = [{k: a[k] for k in ("content", "special", "normalized", "lstrip", "rstrip", "single_word")}
              for a in ds_json["added_tokens"] if not is_placeholder(a["content"])]
have_added = [{k: a[k] for k in ("content", "special", "normalized", "lstrip", "rstrip", "single_word")}
              for a in hk_json["added_tokens"]]
check(have_added == want_added, f"added tokens differ from DeepSeek-V4's non-placeholder ones "
                                f"({len(have_added)} vs {len(want_added)})")
check([hk.token_to_id(t) for t in ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>")] == [0, 1, 2],
      "BOS/EOS/pad are not ids 0-2")
check(load_json(os.path.join(HK_DIR, "tokenizer_config.json")) ==
      load_json(os.path.join(os.path.dirname(DS_JSON), "tokenizer_config.json")), "tokenizer_config.json is not DeepSeek-V4's")

# 2. Held-out text of each language through clawnet tokenize, against HF.
corpus = os.environ.get("HK_CORPUS", os.path.join(ROOT, "data", "hk_corpus"))
texts = {}
if all(os.path.exists(os.path.join(corpus, f"{lang}.heldout.jsonl")) for lang in LANGS):
    for lang in LANGS:
        with open(os.path.join(corpus, f"{lang}.heldout.jsonl"), encoding="utf-8") as f:
            texts[lang] = [json.loads(line)["text"] for line in f]
    where = corpus
else:
    sample = load_json(os.path.join(ROOT, "tests", "fixtures", "hk_tokenizer", "heldout_sample.json"))["records"]
    texts = {lang: [r["text"] for r in sample[lang]] for lang in LANGS}
    where = "the committed sample (no data/hk_corpus)"

counts = {}
for lang in LANGS:
    records = texts[lang]
    check(len(records) > 50, f"{lang}: only {len(records)} held-out records")
    want = [e.ids for e in hk.encode_batch(records, add_special_tokens=False)]
    r = clawnet(["tokenize", "--tokenizer", HK_DIR, "-z"], "".join(t + "\0" for t in records).encode("utf-8"))
    check(r.returncode == 0, f"{lang}: clawnet tokenize failed: {r.stderr.decode(errors='replace')}")
    got = [[int(x) for x in line.split()] for line in r.stdout.decode().split("\n")[:-1]]
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    check(len(got) == len(want) and not bad,
          f"{lang}: {len(bad)} of {len(want)} records differ from HF (first {bad[:1]}: {records[bad[0]][:80]!r})"
          if bad else f"{lang}: {len(got)} id lists for {len(want)} records")
    r = clawnet(["tokenize", "--tokenizer", HK_JSON, "--decode", "-z"],
                "".join(" ".join(map(str, ids)) + "\0" for ids in want).encode("utf-8"))
    decoded = r.stdout.decode("utf-8").split("\0")[:-1]
    check(r.returncode == 0 and decoded == records, f"{lang}: --decode does not give the text back")
    counts[lang] = (sum(map(len, records)), sum(map(len, want)),
                    sum(len(e.ids) for e in ds.encode_batch(records, add_special_tokens=False)))
    print(f"{lang}: {len(records)} records, {counts[lang][0]} chars: {counts[lang][1]} tokens "
          f"(DeepSeek-V4 {counts[lang][2]}), identical to HF", file=sys.stderr)
print(f"held-out text from {where}", file=sys.stderr)

# Added tokens in text: mode all as HF; mode none as HF without added tokens.
no_added = json.loads(json.dumps(hk_json))
no_added["added_tokens"] = []
hk_plain = Tokenizer.from_str(json.dumps(no_added))
SPECIAL_TEXTS = ["<｜begin▁of▁sentence｜><｜User｜>你好，佢喺邊度？<｜Assistant｜><think>嗯</think>佢喺度。<｜end▁of▁sentence｜>",
                 "a<｜tool▁calls▁begin｜>b<｜DSML｜x｜DSML｜>c<dsml:invoke name=\"f\"></dsml:invoke>",
                 "<｜▁pad▁｜><｜latest_reminder｜>Hello 香港<｜/table>｜<|EOT|>"]
for mode, oracle in (("all", hk), ("none", hk_plain)):
    r = clawnet(["tokenize", "--tokenizer", HK_JSON, "--added", mode], "".join(t + "\n" for t in SPECIAL_TEXTS).encode())
    got = [[int(x) for x in line.split()] for line in r.stdout.decode().split("\n")[:-1]]
    want = [oracle.encode(t, add_special_tokens=False).ids for t in SPECIAL_TEXTS]
    check(r.returncode == 0 and got == want, f"added tokens, mode {mode}: {got} != HF {want}")

# 3. Cantonese cost against DeepSeek-V4's tokenizer.
chars, hk_tokens, ds_tokens = counts["yue"]
check(hk_tokens <= 0.85 * ds_tokens, f"Cantonese: {hk_tokens} tokens, not clearly fewer than DeepSeek-V4's {ds_tokens}")
for ch in "佢嗰噉啲喺咗嘅":
    check(len(hk.encode(ch, add_special_tokens=False).ids) == 1, f"{ch} is not one token")
print(f"Cantonese: {chars / hk_tokens:.3f} chars/token vs DeepSeek-V4 {chars / ds_tokens:.3f}", file=sys.stderr)

# 4. The chat encoding with this tokenizer: a random checkpoint with its vocabulary size.
with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "model")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_real_vocab_checkpoint.py"), model,
                    "--tokenizer", HK_JSON, "--vocab-size", str(size)], check=True)
    added = [a["content"] for a in hk_json["added_tokens"]]
    compared = 0
    for case in load_json(os.path.join(ROOT, "tests", "fixtures", "chat", "cases.json")):
        # The cases the command line can express, as test_cli_chat picks them: [system], user;
        # thinking or not; an effort in thinking mode.
        if "expected" not in case:
            continue
        msgs, opts = case["messages"], case.get("options", {})
        roles = [m["role"] for m in msgs]
        if set(opts) - {"thinking", "reasoning_effort"} or roles not in (["user"], ["system", "user"]) or any(set(m) != {"role", "content"} for m in msgs):
            continue
        contents = [m["content"] for m in msgs]
        if not all(isinstance(t, str) and t and "\n" not in t and "\r" not in t and not t.startswith("/")
                   and not any(a in t for a in added) for t in contents):
            continue
        if opts.get("reasoning_effort") and not opts.get("thinking"):
            continue
        args = ["--think"] if opts.get("thinking") else []
        args += ["--effort", opts["reasoning_effort"]] if opts.get("reasoning_effort") else []
        args += ["--system", contents[0]] if roles[0] == "system" else []
        r = subprocess.run([CLAWNET, "chat", "-m", model, "-t", "2", "-n", "1", "--print-prompt-ids", *args],
                           capture_output=True, text=True, timeout=300, input=contents[-1] + "\n")
        got = [[int(x) for x in line.split(":", 1)[1].split()] for line in r.stderr.splitlines()
               if line.startswith("prompt ids:")]
        want = hk.encode(case["expected"], add_special_tokens=False).ids
        check(r.returncode == 0 and got[:1] == [want], f"chat {case['name']}: prompt ids {got[:1]} != HF {want}: {r.stderr}")
        compared += 1
    check(compared >= 8, f"only {compared} chat cases compared")
    print(f"{compared} chat cases: prompt ids equal HF's encode of the reference rendering", file=sys.stderr)

# 5. The same tokenizer from GGUF metadata, as llama.cpp's converter writes it
# (scripts/make_tokenizer_gguf.py: PyPI gguf + SpecialVocab), which is how the model ships:
# clawnet tokenize with the GGUF equals the tokenizer.json in all three added-token modes.
with tempfile.TemporaryDirectory() as tmp:
    gguf_path = os.path.join(tmp, "hk-vocab.gguf")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_tokenizer_gguf.py"), gguf_path,
                    "--pre", "deepseek-v3", "--tokenizer-dir", HK_DIR], check=True, capture_output=True)
    records = [t for lang in LANGS for t in texts[lang]] + SPECIAL_TEXTS
    data = "".join(t + "\0" for t in records).encode("utf-8")
    for mode in ("all", "special", "none"):
        a = clawnet(["tokenize", "--tokenizer", HK_JSON, "-z", "--added", mode], data)
        b = clawnet(["tokenize", "--tokenizer", gguf_path, "-z", "--added", mode], data)
        check(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout,
              f"GGUF tokenizer differs from tokenizer.json in mode {mode}: {b.stderr.decode(errors='replace')}")
    print(f"GGUF metadata tokenizer = tokenizer.json on {len(records)} records in modes all/special/none",
          file=sys.stderr)

if failures:
    print(f"{len(failures)} failures", file=sys.stderr)
    sys.exit(1)
print("test_hk_tokenizer: ok", file=sys.stderr)
