#!/usr/bin/env python3
"""clawnet quantize writes what llama.cpp's `deepseek4` loader asks for, no more and no less.

llama.cpp is not in Debian, so this test cannot run it (scripts/llama_cpp_side_by_side.sh does, by
hand; docs/llama_cpp.md). Instead it holds the written files against facts read from llama.cpp's
loader (llama-cpp-python 0.3.36's vendored llama.cpp, src/models/deepseek4.cpp load_arch_hparams and
load_arch_tensors, src/llama-model.cpp load_hparams, src/llama-vocab.cpp), with the PyPI gguf
package's reader as the oracle for what is in the file:

- every metadata key the loader reads without a default is there, with the right type;
  expert_gating_func is 4 (sqrtsoftplus; the loader throws otherwise); the compress_ratios array
  covers block_count; tokenizer.ggml.model is there (the vocabulary loader throws without it;
  "none" when the checkpoint has no tokenizer);
- the set of tensors is exactly the set the loader creates (llama.cpp throws "wrong number of
  tensors" on any extra one), each with the dims create_tensor expects (ne0 first): no router
  bias on hash-routed layers, tid2eid {K, V} I32 on them, compressor/indexer tensors only where the
  ratio asks for them, no MTP block unless --keep-mtp.

Usage: test_quantize_llama_cpp_layout.py CLAWNET_BINARY   (from the repository root; CTest does this)
"""
import os
import subprocess
import sys
import tempfile

import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402
import wide_expert_checkpoint  # noqa: E402

CLAWNET = sys.argv[1]
failures = []
ARCH = "deepseek4"
T = gguf.GGUFValueType


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    if f.types[0] == T.ARRAY:
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == T.STRING:
        return bytes(f.parts[f.data[0]]).decode()
    return f.parts[f.data[0]].tolist()[0]


# Keys llama.cpp reads with ml.get_key(...) / get_arr(...) and no default (required=true), and the
# GGUF types its get_key accepts for them (integers may be any unsigned type of the right width;
# the writer uses UINT32, the float keys FLOAT32, the bools BOOL).
REQUIRED = {
    "context_length": T.UINT32, "embedding_length": T.UINT32, "block_count": T.UINT32,
    "attention.layer_norm_rms_epsilon": T.FLOAT32, "attention.q_lora_rank": T.UINT32,
    "attention.sliding_window": T.UINT32, "expert_feed_forward_length": T.UINT32,
    "expert_shared_count": T.UINT32, "expert_weights_scale": T.FLOAT32, "expert_weights_norm": T.BOOL,
    "swiglu_clamp_exp": None, "attention.indexer.head_count": T.UINT32,
    "attention.indexer.key_length": T.UINT32, "attention.indexer.top_k": T.UINT32,
    "attention.output_group_count": T.UINT32, "attention.output_lora_rank": T.UINT32,
    "attention.compress_rope_freq_base": T.FLOAT32, "hyper_connection.count": T.UINT32,
    "hyper_connection.sinkhorn_iterations": T.UINT32, "hyper_connection.epsilon": T.FLOAT32,
    "hash_layer_count": T.UINT32, "attention.compress_ratios": T.ARRAY, "expert_gating_func": T.UINT32,
}


def expected_tensors(r):
    """The loader's create_tensor calls (names and ne dims) for this file's metadata."""
    g = lambda k: field(r, f"{ARCH}.{k}")  # noqa: E731
    n_layer_all, n_nextn = g("block_count"), g("nextn_predict_layers") or 0
    D, V = g("embedding_length"), g("vocab_size")
    H, hd = g("attention.head_count"), g("attention.key_length")
    q_rank, og, o_rank = g("attention.q_lora_rank"), g("attention.output_group_count"), g("attention.output_lora_rank")
    hc = g("hyper_connection.count")
    mix = (2 + hc) * hc
    E, K, I, n_sh = g("expert_count"), g("expert_used_count"), g("expert_feed_forward_length"), g("expert_shared_count")
    ratios, n_hash = g("attention.compress_ratios"), g("hash_layer_count")
    ih, ik = g("attention.indexer.head_count"), g("attention.indexer.key_length")
    t = {"token_embd.weight": [D, V], "output_norm.weight": [D], "output.weight": [D, V],
         "output_hc_fn.weight": [hc * D, hc], "output_hc_base.weight": [hc], "output_hc_scale.weight": [1]}
    for i in range(n_layer_all):
        b = f"blk.{i}."
        t.update({b + "attn_norm.weight": [D], b + "attn_sinks.weight": [H], b + "attn_q_a.weight": [D, q_rank],
                  b + "attn_q_a_norm.weight": [q_rank], b + "attn_q_b.weight": [q_rank, H * hd],
                  b + "attn_kv.weight": [D, hd], b + "attn_kv_a_norm.weight": [hd],
                  # wo_a is created {H*hd/og, o_rank, og} with TENSOR_ALLOW_RESHAPE: the file holds it 2-D
                  b + "attn_output_a.weight": [H * hd // og, o_rank * og], b + "attn_output_b.weight": [og * o_rank, D]})
        for part in ("attn", "ffn"):
            t.update({b + f"hc_{part}_fn.weight": [hc * D, mix], b + f"hc_{part}_base.weight": [mix],
                      b + f"hc_{part}_scale.weight": [3]})
        ratio = ratios[i]
        if ratio:
            coff = 2 if ratio == 4 else 1
            t.update({b + "attn_compressor_kv.weight": [D, coff * hd], b + "attn_compressor_gate.weight": [D, coff * hd],
                      b + "attn_compressor_ape.weight": [coff * hd, ratio], b + "attn_compressor_norm.weight": [hd]})
            if ratio == 4:
                t.update({b + "indexer.proj.weight": [D, ih], b + "indexer.attn_q_b.weight": [q_rank, ih * ik],
                          b + "indexer_compressor_kv.weight": [D, 2 * ik],
                          b + "indexer_compressor_gate.weight": [D, 2 * ik],
                          b + "indexer_compressor_ape.weight": [2 * ik, ratio],
                          b + "indexer_compressor_norm.weight": [ik]})
        t[b + "ffn_gate_inp.weight"] = [D, E]
        if i < n_hash:
            t[b + "ffn_gate_tid2eid.weight"] = [K, V]
        else:
            t[b + "exp_probs_b.bias"] = [E]
        t.update({b + "ffn_norm.weight": [D], b + "ffn_gate_exps.weight": [D, I, E], b + "ffn_down_exps.weight": [I, D, E],
                  b + "ffn_up_exps.weight": [D, I, E], b + "ffn_gate_shexp.weight": [D, I * n_sh],
                  b + "ffn_down_shexp.weight": [I * n_sh, D], b + "ffn_up_shexp.weight": [D, I * n_sh]})
        if i >= n_layer_all - n_nextn:
            t.update({b + "nextn.eh_proj.weight": [2 * D, D], b + "nextn.enorm.weight": [D], b + "nextn.hnorm.weight": [D]})
    return t


def check_file(path, what, tokenizer):
    r = gguf.GGUFReader(path)
    check(field(r, "general.architecture") == ARCH, f"{what}: architecture")
    for key, typ in REQUIRED.items():
        f = r.fields.get(f"{ARCH}.{key}")
        check(f is not None, f"{what}: {ARCH}.{key} missing (llama.cpp requires it)")
        if f is not None and typ is not None:
            check(f.types[0] == typ, f"{what}: {ARCH}.{key} has type {f.types[0].name}, want {typ.name}")
    check(field(r, f"{ARCH}.expert_gating_func") == 4, f"{what}: expert_gating_func must be 4 (sqrtsoftplus)")
    ratios = field(r, f"{ARCH}.attention.compress_ratios") or []
    check(len(ratios) >= field(r, f"{ARCH}.block_count"), f"{what}: compress_ratios shorter than block_count")
    model = field(r, "tokenizer.ggml.model")
    check(model == ("gpt2" if tokenizer else "none"), f"{what}: tokenizer.ggml.model {model!r}")
    if tokenizer:
        check(field(r, "tokenizer.ggml.pre") == "deepseek-v3", f"{what}: tokenizer.ggml.pre")
        check(len(r.fields["tokenizer.ggml.tokens"].data) == field(r, f"{ARCH}.vocab_size"),
              f"{what}: token count differs from vocab_size")
    want = expected_tensors(r)
    have = {t.name: [int(x) for x in t.shape] for t in r.tensors}
    for name in sorted(set(have) - set(want)):
        check(False, f"{what}: {name} is not created by llama.cpp's loader (it would refuse the file)")
    for name in sorted(set(want) - set(have)):
        check(False, f"{what}: {name} missing (llama.cpp's loader requires it)")
    for name in sorted(set(want) & set(have)):
        check(have[name] == want[name], f"{what}: {name} dims {have[name]}, llama.cpp expects {want[name]}")
    tid = [t for t in r.tensors if t.name.endswith("ffn_gate_tid2eid.weight")]
    check(all(t.tensor_type == gguf.GGMLQuantizationType.I32 for t in tid), f"{what}: tid2eid must be I32")
    return r


def quantize(src, out, *extra):
    p = subprocess.run([CLAWNET, "quantize", src, out, *extra], capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, f"quantize {src} {extra}: rc {p.returncode} {p.stderr[-2000:]}")
    return p


with tempfile.TemporaryDirectory() as tmp:
    for fixture in ("tests/fixtures/tiny", "tests/fixtures/tiny_official"):
        for policy in ("default", "q8", "bf16", "q2"):
            out = os.path.join(tmp, "out.gguf")
            quantize(fixture, out, "--policy", policy)
            if os.path.exists(out):
                r = check_file(out, f"{fixture} {policy}", tokenizer=False)
                check(field(r, f"{ARCH}.nextn_predict_layers") is None, f"{fixture}: MTP written without --keep-mtp")
    # tiny_official has an MTP block and hash layers; its official checkpoint layout is what DeepSeek ships.
    out = os.path.join(tmp, "mtp.gguf")
    p = quantize("tests/fixtures/tiny_official", out, "--keep-mtp")
    if os.path.exists(out):
        r = gguf.GGUFReader(out)
        check(field(r, f"{ARCH}.nextn_predict_layers") == 1, "--keep-mtp: nextn_predict_layers")
        check(any(t.name.startswith("blk.5.nextn.") for t in r.tensors), "--keep-mtp: no MTP tensors")
        check("--keep-mtp" not in p.stderr, "--keep-mtp: still reports the MTP block as left out")
    # --policy q2 where the experts really are Q2_K (the fixtures' 32/64-wide experts fall back to
    # Q8_0): 256-wide experts; llama.cpp's Q2_K is ggml type 10 and file type 10 (LLAMA_FTYPE_MOSTLY_Q2_K).
    wide = os.path.join(tmp, "wide")
    wide_expert_checkpoint.make(wide)
    out = os.path.join(tmp, "wide-q2.gguf")
    quantize(wide, out, "--policy", "q2")
    if os.path.exists(out):
        r = check_file(out, "wide q2", tokenizer=False)
        check(field(r, "general.file_type") == 10, "q2: general.file_type is not 10")
        exps = [t for t in r.tensors if "_exps." in t.name]
        check(exps and all(t.tensor_type == gguf.GGMLQuantizationType.Q2_K for t in exps), "q2: experts not Q2_K")
    # The real vocabulary: tokenizer keys as llama.cpp's converter writes them.
    rv = real_vocab.make_checkpoint(os.path.join(tmp, "rv"))
    if True:
        out = os.path.join(tmp, "rv.gguf")
        quantize(rv, out)
        if os.path.exists(out):
            check_file(out, "real-vocab default", tokenizer=True)
            # A GGUF input (with "none" or a real tokenizer) requantises to a file of the same layout.
            out2 = os.path.join(tmp, "rv2.gguf")
            quantize(out, out2, "--policy", "q8")
            if os.path.exists(out2):
                check_file(out2, "real-vocab from GGUF", tokenizer=True)
    out = os.path.join(tmp, "tiny.gguf")
    quantize("tests/fixtures/tiny", out)
    out2 = os.path.join(tmp, "tiny2.gguf")
    quantize(out, out2)  # a "none" tokenizer is no tokenizer, not an error
    if os.path.exists(out2):
        check_file(out2, "tiny from GGUF", tokenizer=False)

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("ok")
