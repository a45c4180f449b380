#!/usr/bin/env python3
"""Records transformers' output of the trained hk-tiny model (float32, the checkpoint that
scripts/train_hk_model.py exports) for tests/cli/test_hk_tiny.py, which checks that the GGUF shipped
in models/hk-tiny (converted by `clawnet quantize`) still predicts what the trained model predicts.

For a few prompts (a text in each language and a chat turn) it stores the prompt ids (HF tokenizers),
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
}
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
