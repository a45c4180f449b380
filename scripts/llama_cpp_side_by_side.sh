#!/usr/bin/env bash
# llama.cpp and ClawNet on the same GGUF, in the same session (docs/llama_cpp.md).
#
#   scripts/llama_cpp_side_by_side.sh SDIST CHECKPOINT [POLICY] [THREADS]
#
#   SDIST       llama-cpp-python's sdist (e.g. llama_cpp_python-0.3.36.tar.gz from PyPI: it vendors a
#               llama.cpp with the deepseek4 architecture) or an unpacked llama.cpp source tree
#   CHECKPOINT  anything `clawnet quantize` reads (scripts/make_bench_checkpoint.py OUT --layers 2)
#   POLICY      clawnet quantize --policy (default: default = Q8_0 dense + Q4_K experts)
#   THREADS     threads for both (default: all CPUs)
#
# llama.cpp is unpacked and built (CPU only) under $LLAMA_WORK (default /tmp/llama-cpp-side), outside
# the repository: it is not a ClawNet dependency and nothing of it is committed. Then:
#   1. clawnet quantize CHECKPOINT -> $LLAMA_WORK/model-POLICY.gguf
#   2. logits of 64 seeded token ids from llama.cpp (scripts/llama_cpp_logits.c) and `clawnet logits`,
#      compared: max |diff|, top-1 agreement, mean KL(clawnet || llama.cpp)
#   3. llama-bench pp512 / tg128 and `clawnet bench -p 512 -n 128` (same threads), and the ratio
# Speed needs a quiet machine: nothing else running. Set SKIP_BENCH=1 to compare logits only.
# ClawNet runs with --act $ACT in 2 and 3: q8 (default: 8-bit activations, as llama.cpp always uses
# for these formats) or f32 (exact activations).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: llama_cpp_side_by_side.sh SDIST CHECKPOINT [POLICY] [THREADS]}
ckpt=${2:?usage: llama_cpp_side_by_side.sh SDIST CHECKPOINT [POLICY] [THREADS]}
policy=${3:-default}
threads=${4:-$(nproc)}
work=${LLAMA_WORK:-/tmp/llama-cpp-side}
jobs=${JOBS:-$(nproc)}
clawnet=${CLAWNET:-$repo/build/clawnet}
act=${ACT:-q8}
python=${PYTHON:-$repo/.venv/bin/python}
mkdir -p "$work"

# ---- llama.cpp source and build ------------------------------------------------------------------
if [ -d "$src" ]; then
  llama=$src
else
  llama=$(find "$work" -maxdepth 4 -type f -path '*vendor/llama.cpp/CMakeLists.txt' 2>/dev/null | head -1 || true)
  if [ -z "$llama" ]; then
    tar -xzf "$src" -C "$work"
    llama=$(find "$work" -maxdepth 4 -type f -path '*vendor/llama.cpp/CMakeLists.txt' | head -1)
  fi
  llama=$(dirname "$llama")
fi
grep -q '"deepseek4"' "$llama/src/llama-arch.cpp" || { echo "$llama has no deepseek4 architecture" >&2; exit 1; }
build=$work/build
if [ ! -x "$build/bin/llama-bench" ]; then
  cmake -S "$llama" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  ninja -C "$build" -j "$jobs" llama-bench llama
fi
dumper=$work/llama_cpp_logits
if [ ! -x "$dumper" ] || [ "$repo/scripts/llama_cpp_logits.c" -nt "$dumper" ]; then
  libs=$(find "$build" -name 'libllama.a' -o -name 'libggml*.a' | tr '\n' ' ')
  cc -O2 "$repo/scripts/llama_cpp_logits.c" -I "$llama/include" -I "$llama/ggml/include" \
     -Wl,--start-group $libs -Wl,--end-group -lstdc++ -lm -fopenmp -lpthread -o "$dumper"
fi

# ---- quantise ----------------------------------------------------------------------------------------
gguf=$work/model-$policy.gguf
"$clawnet" quantize "$ckpt" "$gguf" --policy "$policy" -t "$threads"

# ---- logits --------------------------------------------------------------------------------------------
vocab=$("$python" -c "import gguf,sys; r=gguf.GGUFReader(sys.argv[1]); f=r.fields['deepseek4.vocab_size']; print(int(f.parts[f.data[0]][0]))" "$gguf")
ids=$("$python" -c "import numpy as np,sys; print(' '.join(map(str, np.random.default_rng(7).integers(2, int(sys.argv[1]), 64))))" "$vocab")
"$dumper" "$gguf" "$ids" "$work/llama.f32" "$threads"
"$clawnet" logits -m "$gguf" --ids "$ids" -o "$work/clawnet.f32" -t "$threads" --act "$act"
"$python" - "$work/clawnet.f32" "$work/llama.f32" "$vocab" <<'EOF'
import sys
import numpy as np
a = np.fromfile(sys.argv[1], np.float32).reshape(-1, int(sys.argv[3])).astype(np.float64)
b = np.fromfile(sys.argv[2], np.float32).reshape(-1, int(sys.argv[3])).astype(np.float64)
def logp(x):
    x = x - x.max(1, keepdims=True)
    return x - np.log(np.exp(x).sum(1, keepdims=True))
la, lb = logp(a), logp(b)
kl = (np.exp(la) * (la - lb)).sum(1)
print(f"logits: {len(a)} positions, max |diff| {np.abs(a - b).max():.4g} (max |logit| {np.abs(a).max():.4g}), "
      f"top-1 agreement {(a.argmax(1) == b.argmax(1)).mean():.3f}, KL(clawnet||llama.cpp) mean {kl.mean():.3g} max {kl.max():.3g}")
EOF

# ---- speed ------------------------------------------------------------------------------------------
[ "${SKIP_BENCH:-0}" = 1 ] && exit 0
"$build/bin/llama-bench" -m "$gguf" -p 512 -n 128 -t "$threads" -r 3 -o json > "$work/llama-bench.json"
"$clawnet" bench -m "$gguf" -p 512 -n 128 -r 3 -t "$threads" --act "$act" --json "$work/clawnet-bench.json"
"$python" - "$work/llama-bench.json" "$work/clawnet-bench.json" <<'EOF'
import json, sys
llama = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
def llama_ts(pp, tg):
    return next(r["avg_ts"] for r in llama if r["n_prompt"] == pp and r["n_gen"] == tg)
def ours_ts(test):
    rows = [r for r in ours.get("results", ours.get("rows", [])) if r.get("test") == test]
    return rows[0]["tok_s_median"] if rows else float("nan")
for name, l, c in (("pp512", llama_ts(512, 0), ours_ts("prefill")), ("tg128", llama_ts(0, 128), ours_ts("decode"))):
    print(f"{name}: llama.cpp {l:.2f} tok/s, clawnet {c:.2f} tok/s, clawnet/llama.cpp {c / l:.2f}x")
EOF
