#!/usr/bin/env python3
"""Oracle for ClawNet's FP4 indexer-key encoding (src/kv/row_codec.h, CN_KV_FP4), written apart
from the C code: numpy picks each E2M1 code by nearest-value search over the grid (ties to the even
code), the scale by frexp (specs/deepseek-v4.md 4.6: s = 2^ceil(log2(max(amax, 6*2^-126) / 6))),
and the PyPI gguf package's MXFP4 dequantiser decodes the codes after they are re-laid into ggml's
block_mxfp4 (E8M0 byte, then element l in the low nibble of byte l and element l+16 in its high
nibble; our rows put element 2j in the low nibble of byte j).

Writes tests/fixtures/fp4/:
  inputs.f32    R x 128 float32 keys (edges, exact ties, random spreads)
  encoded.u8    R x 68 bytes, numpy's encoding in ClawNet's layout (64 code bytes, 4 scale bytes)
  decoded.f32   R x 128 float32, gguf's dequantisation of those codes and scales
  manifest.json rows, versions
Run with the project venv: .venv/bin/python scripts/make_fp4_fixtures.py
"""
import importlib.metadata
import json
import os
import sys

import numpy as np
from gguf.quants import dequantize
from gguf.constants import GGMLQuantizationType

WIDTH, BLOCK = 128, 32
GRID = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float64)


def e2m1_code(v):
    """Nearest grid magnitude; an exact tie goes to the even code (the index, bit 0 clear)."""
    a = min(abs(float(v)), 6.0)
    d = np.abs(GRID - a)
    best = np.flatnonzero(d == d.min())
    code = int(best[0]) if len(best) == 1 else int(next(i for i in best if i % 2 == 0))
    return code | (8 if np.signbit(v) else 0)


def scale_exponent(amax):
    amax = np.float32(max(np.float32(amax), np.float32(6.0 * 2.0**-126)))
    t = np.float32(amax * np.float32(1.0 / 6.0))  # fp32 product, as the reference computes it
    m, e = np.frexp(np.float64(t))  # t = m * 2^e, m in [0.5, 1)
    k = e - 1 if m == 0.5 else e  # ceil(log2 t)
    return k


def encode(row):
    codes = np.zeros(WIDTH, dtype=np.uint8)
    scales = np.zeros(WIDTH // BLOCK, dtype=np.uint8)
    for b in range(WIDTH // BLOCK):
        blk = row[b * BLOCK:(b + 1) * BLOCK]
        k = scale_exponent(np.max(np.abs(blk)))
        scales[b] = k + 127
        for i, v in enumerate(blk):
            codes[b * BLOCK + i] = e2m1_code(np.float64(v) / 2.0**k)
    packed = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)
    return np.concatenate([packed, scales]), codes, scales


def gguf_decode(codes, scales):
    blocks = []
    for b in range(WIDTH // BLOCK):
        c = codes[b * BLOCK:(b + 1) * BLOCK]
        blocks.append(np.concatenate([[scales[b]], c[:16] | (c[16:] << 4)]).astype(np.uint8))
    return dequantize(np.concatenate(blocks), GGMLQuantizationType.MXFP4).astype(np.float32).reshape(WIDTH)


def probe_rows(rng):
    rows = []
    # Exact ties at a known scale: the block max 6*s pins s; then every midpoint of the grid.
    for k in (-3, 0, 5):
        s = 2.0**k
        r = np.zeros(WIDTH, dtype=np.float32)
        mids = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0]
        for b in range(WIDTH // BLOCK):
            r[b * BLOCK] = 6.0 * s
            r[b * BLOCK + 1:b * BLOCK + 1 + len(mids)] = np.array(mids) * s
            r[b * BLOCK + 16:b * BLOCK + 24] = GRID * s  # grid points: exact
            r[b * BLOCK + 24] = -0.0
        rows.append(r)
    # Block maxima exactly at 6 * 2^k (no round-up) and just above (round-up), per block.
    r = np.zeros(WIDTH, dtype=np.float32)
    for b, top in enumerate([6.0, np.nextafter(np.float32(6.0), np.float32(7)), 3.0, 12.0 * 1.0001]):
        r[b * BLOCK:(b + 1) * BLOCK] = np.linspace(-top, top, BLOCK, dtype=np.float32)
    rows.append(r)
    rows.append(np.zeros(WIDTH, dtype=np.float32))  # all zero: the amax floor
    rows.append((rng.standard_normal(WIDTH) * 1e-39).astype(np.float32))  # below the floor
    rows.append((rng.standard_normal(WIDTH) * 1e30).astype(np.float32))  # huge
    # An outlier in one block only, like an unrotated key.
    r = rng.standard_normal(WIDTH).astype(np.float32)
    r[40] = 50.0
    rows.append(r)
    for _ in range(56):  # random spreads of magnitude
        rows.append((rng.standard_normal(WIDTH) * np.exp(rng.uniform(-20, 20))).astype(np.float32))
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/fp4"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(4)
    rows = probe_rows(rng)
    enc, dec = [], []
    for row in rows:
        packed, codes, scales = encode(row)
        d = gguf_decode(codes, scales)
        # Self-check: gguf's values are the grid values times the scale.
        mags = GRID[codes & 7] * np.where(codes & 8, -1.0, 1.0) * (2.0 ** (scales.astype(np.float64) - 127)).repeat(BLOCK)
        assert np.array_equal(d.astype(np.float64), mags), "gguf disagrees with the grid"
        enc.append(packed)
        dec.append(d)
    np.array(rows, dtype="<f4").tofile(f"{out}/inputs.f32")
    np.array(enc, dtype=np.uint8).tofile(f"{out}/encoded.u8")
    np.array(dec, dtype="<f4").tofile(f"{out}/decoded.f32")
    with open(f"{out}/manifest.json", "w") as f:
        json.dump({"rows": len(rows), "width": WIDTH, "row_bytes": WIDTH // 2 + WIDTH // BLOCK,
                   "numpy": np.__version__, "gguf": importlib.metadata.version("gguf")},
                  f, indent=1)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
