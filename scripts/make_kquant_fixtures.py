#!/usr/bin/env python3
"""Fixtures for tests/test_kquants.c: random blocks of each ggml block format ClawNet reads and
their values as the PyPI `gguf` package's numpy dequantisers (gguf.quants.dequantize, the
oracle) give them, plus a tiny GGUF holding Q4_K and Q6_K tensors for the loader round trip.

Writes tests/fixtures/kquants/:
  <type>.blocks   N raw blocks (every bit pattern of these formats is valid: the quants, scale
                  and sign bytes are random; the f16 super-block scales are random finite values
                  with zeros, signed zeros, subnormals and the largest f16 among them); IQ2_XXS's
                  grid and sign indices run through all 256 grid rows and 128 sign patterns
  <type>.f32      gguf.quants.dequantize of those blocks, little-endian float32
  roundtrip.gguf  tensors `w.q4_k` [3 x 512] Q4_K, `w.q6_k` [2 x 768] Q6_K (raw blocks, since the
                  package cannot quantise K-quants), and `<name>.dequant` F32 tensors with the
                  oracle's values

Usage: .venv/bin/python scripts/make_kquant_fixtures.py [OUT_DIR]   (gguf 0.19.0, numpy 2.x)
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/kquants"

# type -> (number of blocks, byte offsets of f16 scales inside a block)
FORMATS = {
    Q.Q4_K: (12, [0, 2]),
    Q.Q6_K: (12, [208]),
    Q.Q5_K: (12, [0, 2]),
    Q.Q3_K: (12, [108]),
    Q.Q2_K: (12, [80, 82]),
    Q.IQ2_XXS: (12, [0]),
    Q.MXFP4: (48, []),
}

SPECIAL_F16 = np.array([0.0, -0.0, 6e-8, -3e-6, 65504.0, 1.0, -1.0], dtype=np.float16)


def random_f16(rng, n):
    v = (rng.standard_normal(n) * 0.01).astype(np.float16)
    k = min(n, len(SPECIAL_F16))
    v[rng.choice(n, size=k, replace=False)] = SPECIAL_F16[:k]
    return v


def make_blocks(rng, qtype, n_blocks, scale_offsets):
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in scale_offsets:
        blocks[:, off:off + 2] = random_f16(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
    if qtype == Q.MXFP4:  # every E8M0 byte, 0/1 (subnormal half scale) and 254/255 among them
        blocks[:4, 0] = [0, 1, 254, 255]
    if qtype == Q.IQ2_XXS and n_blocks >= 8:  # every grid row and every sign index, in order
        slot = 0
        for b in range(n_blocks):
            for g in range(8):
                q = blocks[b, 2 + 8 * g: 10 + 8 * g]
                aux1 = int.from_bytes(bytes(q[4:8]), "little") & 0xF0000000  # keep the random 4-bit scale
                for l in range(4):
                    q[l] = slot % 256
                    aux1 |= (slot % 128) << (7 * l)
                    slot += 1
                q[4:8] = np.frombuffer(aux1.to_bytes(4, "little"), dtype=np.uint8)
    return blocks


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20260521)
    for qtype, (n_blocks, offs) in FORMATS.items():
        blocks = make_blocks(rng, qtype, n_blocks, offs)
        with np.errstate(over="ignore"):  # MXFP4 scale 255 times code 12 overflows to inf, as in ggml
            values = dequantize(blocks.reshape(-1), qtype).astype("<f4")
        assert values.size == n_blocks * gguf.GGML_QUANT_SIZES[qtype][0]
        name = qtype.name.lower()
        blocks.tofile(os.path.join(OUT, f"{name}.blocks"))
        values.tofile(os.path.join(OUT, f"{name}.f32"))

    w = gguf.GGUFWriter(os.path.join(OUT, "roundtrip.gguf"), "clawnet-kquant-test")
    for qtype, rows, cols in [(Q.Q4_K, 3, 512), (Q.Q6_K, 2, 768)]:
        be, bb = gguf.GGML_QUANT_SIZES[qtype]
        raw = make_blocks(rng, qtype, rows * cols // be, FORMATS[qtype][1]).reshape(rows, cols // be * bb)
        name = f"w.{qtype.name.lower()}"
        w.add_tensor(name, raw, raw_dtype=qtype)  # shape given in bytes; the writer stores elements
        w.add_tensor(name + ".dequant", dequantize(raw, qtype).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
