#!/usr/bin/env python3
"""Records transformers' output of the trained hk-tiny model (float32, the checkpoint that
scripts/train_hk_model.py exports) for tests/cli/test_hk_tiny.py, which checks that the GGUF shipped
in models/hk-tiny (converted by `clawnet quantize`) still predicts what the trained model predicts.

For a few prompts (a text in each language, a chat turn, and one long held-out text so that the CSA
layers' lightning indexer chooses index_topk of more compressed entries than that) it stores the
prompt ids (HF tokenizers),
and per position the log-sum-exp of the logits and the 16 most likely ids with their logits, from
`DeepseekV4ForCausalLM` in float32 with eager attention. The float32 checkpoint (114 MB) is not
committed; the fixture names its sha256 and the GGUF's, so a test run against a different GGUF says so.

    /work/oracle-venv/bin/python scripts/make_hk_tiny_fixture.py --hf /work/train/hk-tiny-hf \\
        --gguf models/hk-tiny/hk-tiny.gguf --out tests/fixtures/hk_tiny/reference.json
"""
import argparse
import hashlib
import json
import os
import platform

PROMPTS = {
    "en": "The Debian system is a free operating system, and",
    "zh_hant": "香港是一個國際城市，",
    "yue": "佢哋琴日喺度食咗飯，",
    "chat": "<｜begin▁of▁sentence｜><｜User｜>你係邊個？<｜Assistant｜></think>",
    # A held-out Cantonese record of the corpus (docs/hk_corpus.md; yue.heldout.jsonl record 5209,
    # pycantonese CTCPC), 333 tokens with BOS: a CSA layer (compress rate 4) has up to 83 compressed
    # entries and the indexer picks 16 of them for every position from 67 on.
    "long_yue": (
        "黃竹坑道，一條位於黃竹坑的主要道路，部分路段屬香港1號幹線。黃竹坑站，港鐵南港島綫的一個中途車站，"
        "位於黃竹坑工業區旁。黃竹坑車廠（港鐵），港鐵南港島綫的車廠，前身為黃竹坑邨。黃竹坑車廠（城巴／新巴），"
        "城巴及新巴共用的車廠。黃竹坑明渠，位於香葉道旁的一條主要明渠，源於班納山附近。黃竹坑選區，"
        "南區區議會下轄的一個選區，現任區議員為徐遠華。黃竹坑舊圍，古時亦稱香港村、香港圍，"
        "位於香港仔隧道黃竹坑入口附近的一條鄉村。黃竹坑新圍，是黃竹坑舊圍嘅擴建部分，"
        "位於香港仔隧道黃竹坑入口東南方的一條鄉村。黃竹坑新圍舊民居，位於黃竹坑新圍10號，"
        "於2009年被正式列為咗二級歷史建築。黃竹坑醫院，由醫院管理局管理嘅一間醫院，"
        "屬於黃竹坑老人服務綜合大樓嘅一部分，位於南風道西方入口附近。黃竹坑巴士總站，"
        "位於南朗山道同警校道交界處附近嘅一個露天巴士總站。黃竹坑谷，即係壽臣山，一座位於深水灣附近嘅小山丘。"
        "黃竹坑石刻，由史前時期遺留低嘅石刻，近南風道，已被列為法定古蹟。黃竹坑天主教小學，"
        "係昔日嘅一間政府資助學校，因香港政府於2005年宣佈清拆黃竹坑邨而被迫停辦。"
    ),
}
LONG_MIN_TOKENS = 300  # the long prompt must give the indexer more than index_topk candidates
TOP = 16


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hf", required=True, help="the float32 transformers checkpoint")
    ap.add_argument("--gguf", required=True, help="the GGUF converted from it")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    import transformers
    from tokenizers import Tokenizer
    from transformers import DeepseekV4ForCausalLM

    tokenizer = Tokenizer.from_file(os.path.join(args.hf, "tokenizer.json"))
    bos = tokenizer.token_to_id("<｜begin▁of▁sentence｜>")
    model = DeepseekV4ForCausalLM.from_pretrained(args.hf, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    cases = []
    for name, text in PROMPTS.items():
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if name != "chat":
            ids = [bos] + ids
        if name.startswith("long") and len(ids) < LONG_MIN_TOKENS:
            raise SystemExit(f"{name}: {len(ids)} tokens, fewer than {LONG_MIN_TOKENS}")
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].double()
        top = logits.topk(TOP, dim=-1)
        cases.append({
            "name": name, "text": text, "ids": ids,
            "logsumexp": [round(v, 6) for v in torch.logsumexp(logits, -1).tolist()],
            "top_ids": top.indices.tolist(),
            "top_logits": [[round(v, 6) for v in row] for row in top.values.tolist()],
        })
    out = {
        "made_by": "scripts/make_hk_tiny_fixture.py",
        "oracle": f"transformers {transformers.__version__} DeepseekV4ForCausalLM, float32, eager; "
                  f"torch {torch.__version__}; python {platform.python_version()}",
        "hf_model_sha256": sha256(os.path.join(args.hf, "model.safetensors")),
        "gguf": os.path.basename(args.gguf),
        "gguf_sha256": sha256(args.gguf),
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
