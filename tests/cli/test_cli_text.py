#!/usr/bin/env python3
"""clawnet run -p: text prompts through the tokenizer, against HF tokenizers, on a random
checkpoint with DeepSeek's real vocabulary made at test time.

Usage: test_cli_text.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args, stdin=None):
    return subprocess.run([CLAWNET, *args], capture_output=True, text=True, timeout=300, input=stdin)


def prompt_ids(stderr):
    for line in stderr.splitlines():
        if line.startswith("prompt ids:"):
            return [int(x) for x in line.split(":", 1)[1].split()]
    return None


hf = real_vocab.hf_tokenizer()
PROMPTS = ["Hello, world", "The capital of France is", "<｜User｜>hi<｜Assistant｜>", "我今日去 shopping 同埋 lunch",
           "emoji 🦀 and tabs\t\tend  ", "<think>x</think>y"]

with tempfile.TemporaryDirectory() as tmp:
    model = real_vocab.make_checkpoint(os.path.join(tmp, "model"))

    # The prompt ids are HF's encode (added tokens recognised: the prompt is the user's own).
    for p in PROMPTS:
        r = run("run", "-m", model, "-p", p, "-n", "1", "--print-prompt-ids", "-t", "2")
        want = hf.encode(p, add_special_tokens=False).ids
        check(r.returncode == 0, f"run -p {p!r} exits 0: {r.stderr}")
        check(prompt_ids(r.stderr) == want, f"run -p {p!r}: prompt ids {prompt_ids(r.stderr)} != HF {want}")
        check("prompt: " in r.stderr and "generated: 1 tokens" in r.stderr, f"statistics line: {r.stderr!r}")

    # Greedy text generation equals generation from HF's ids, decoded by HF.
    for p in PROMPTS[:3]:
        ids = hf.encode(p, add_special_tokens=False).ids
        text = run("run", "-m", model, "-p", p, "-n", "24", "--ignore-eos", "-t", "2")
        by_ids = run("run", "-m", model, "--ids", " ".join(map(str, ids)), "-n", "24", "-t", "2")
        check(text.returncode == 0 and by_ids.returncode == 0, f"{p!r}: both runs exit 0")
        gen = [int(x) for x in by_ids.stdout.split()]
        check(len(gen) == 24, f"{p!r}: --ids printed {len(gen)} ids")
        check(text.stdout == hf.decode(gen, skip_special_tokens=False) + "\n",
              f"{p!r}: streamed text {text.stdout!r} != HF decode of the --ids run {hf.decode(gen, skip_special_tokens=False)!r}")

    # The tokenizer from --tokenizer (a file or a directory) gives the same result.
    a = run("run", "-m", model, "-p", "Hello", "-n", "5", "--tokenizer", real_vocab.TOKENIZER_JSON)
    b = run("run", "-m", model, "-p", "Hello", "-n", "5", "--tokenizer", model)
    c = run("run", "-m", model, "-p", "Hello", "-n", "5")
    check(a.returncode == 0 and a.stdout == b.stdout == c.stdout, "--tokenizer file, directory and default agree")

    # Errors: non-zero exit, a clear message, nothing on stdout.
    bad_json = os.path.join(tmp, "bad.json")
    with open(bad_json, "w") as f:
        f.write('{"model": ')
    for args, needle in [
        (["run", "-m", "tests/fixtures/tiny", "-p", "hi"], "no tokenizer"),
        (["run", "-m", "tests/fixtures/tiny", "-p", "hi", "--tokenizer", real_vocab.TOKENIZER_JSON], "does not belong"),
        (["run", "-m", model, "-p", ""], "empty"),
        (["run", "-m", model, "-p", "hi", "--tokenizer", bad_json], "not valid JSON"),
        (["run", "-m", model, "-p", "hi", "--tokenizer", os.path.join(tmp, "none.json")], "does not exist"),
        (["run", "-m", model, "-p", "hi", "--ids", "1 2"], "not both"),
        (["run", "-p", "hi"], "required"),
    ]:
        r = run(*args)
        check(r.returncode != 0 and needle in r.stderr and r.stdout == "",
              f"{args}: expected an error with {needle!r}, got {r.returncode} {r.stderr!r} {r.stdout!r}")

print("test_cli_text:", "ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
