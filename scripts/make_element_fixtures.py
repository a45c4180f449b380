#!/usr/bin/env python3
"""Reference tables for ClawNet's scalar element conversions, produced by torch's own dtypes.

Writes tests/fixtures/elements/:
  e4m3_decode.f32   256 float32: torch.float8_e4m3fn code i -> float32 (NaN codes included)
  e8m0_decode.f32   256 float32: torch.float8_e8m0fnu code i -> float32
  bf16_decode.f32   65536 float32: bfloat16 bit pattern i -> float32
  f16_decode.f32    65536 float32: float16 bit pattern i -> float32
  round_inputs.f32  N float32 probe values (edges, ties, random spread)
  round_e4m3.u8     torch's float32 -> float8_e4m3fn codes for the probes (saturated to +-448 first,
                    as the reference act_quant clamps before casting)
  round_bf16.u16, round_f16.u16  torch's round-to-nearest-even codes for the probes
Run with the oracle environment: python scripts/make_element_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/elements"
os.makedirs(out, exist_ok=True)

codes8 = torch.arange(256, dtype=torch.int32).to(torch.uint8)
codes8.view(torch.float8_e4m3fn).float().numpy().astype("<f4").tofile(f"{out}/e4m3_decode.f32")
codes8.view(torch.float8_e8m0fnu).float().numpy().astype("<f4").tofile(f"{out}/e8m0_decode.f32")
codes16 = torch.arange(65536, dtype=torch.int32).to(torch.int16)
codes16.view(torch.bfloat16).float().numpy().astype("<f4").tofile(f"{out}/bf16_decode.f32")
codes16.view(torch.float16).float().numpy().astype("<f4").tofile(f"{out}/f16_decode.f32")

rng = np.random.default_rng(7)
probes = [0.0, -0.0, 1.0, -1.0, 448.0, 449.0, 464.0, 1e6, -1e6, 2.0**-6, 2.0**-7, 2.0**-9, 2.0**-10,
          1.5 * 2.0**-9, 0.5 * 2.0**-9, 65504.0, 65520.0, 1e-8, 6e-8, 3e-8]
# Exact midpoints between neighbouring e4m3 values (ties to even) and random magnitudes.
grid = np.unique(np.abs(codes8.view(torch.float8_e4m3fn).float().numpy()))
grid = grid[np.isfinite(grid)]
probes += list((grid[:-1] + grid[1:]) / 2)
probes += list(rng.standard_normal(2000) * np.exp(rng.uniform(-12, 8, 2000)))
x = torch.tensor(np.array(probes, dtype=np.float32))
x.numpy().astype("<f4").tofile(f"{out}/round_inputs.f32")
x.clamp(-448, 448).to(torch.float8_e4m3fn).view(torch.uint8).numpy().tofile(f"{out}/round_e4m3.u8")
x.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tofile(f"{out}/round_bf16.u16")
x.to(torch.float16).view(torch.int16).numpy().astype("<i2").tofile(f"{out}/round_f16.u16")
with open(f"{out}/manifest.json", "w") as f:
    json.dump({"probes": len(probes), "torch": torch.__version__, "numpy": np.__version__}, f, indent=1)
print(f"wrote {len(probes)} probes to {out}")
