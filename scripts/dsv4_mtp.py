"""DeepSeek-V4's MTP block (specs/deepseek-v4.md section 9) built from transformers' own DeepSeek-V4
modules, and the tables that name its tensors the way DeepSeek's official checkpoints (and ClawNet's
loader, src/model/weights.c bind_mtp) do.

transformers 5.23.0 builds no MTP head (`num_nextn_predict_layers` is "not instantiated" and `mtp.*`
keys are ignored on load), so the block is assembled here: a DeepseekV4DecoderLayer at layer index L
(sliding-window attention with the main RoPE, learned top-k MoE with a correction bias: section 1.2
gives the MTP entry compress ratio 0 and only the first layers hash routing), a DeepseekV4HyperHead,
enorm/hnorm/norm RMSNorms and the e_proj/h_proj projections; embedding and LM head are the main
model's. Used as the oracle of the tiny_official fixture (scripts/make_oracle_fixtures.py) and as the
module that scripts/train_hk_mtp.py trains.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import DeepseekV4Config
from transformers.masking_utils import create_sliding_window_causal_mask
from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4

# Official name (relative to layers.N. / mtp.0.) -> (HF name suffix, storage kind)
LAYER_MAP = [
    ("attn.wq_a", "self_attn.q_a_proj.weight", "fp8"),
    ("attn.q_norm.weight", "self_attn.q_a_norm.weight", "bf16"),
    ("attn.wq_b", "self_attn.q_b_proj.weight", "fp8"),
    ("attn.wkv", "self_attn.kv_proj.weight", "fp8"),
    ("attn.kv_norm.weight", "self_attn.kv_norm.weight", "bf16"),
    ("attn.wo_a", "self_attn.o_a_proj.weight", "fp8"),
    ("attn.wo_b", "self_attn.o_b_proj.weight", "fp8"),
    ("attn.attn_sink", "self_attn.sinks", "f32"),
    ("attn.compressor.wkv.weight", "self_attn.compressor.kv_proj.weight", "bf16"),
    ("attn.compressor.wgate.weight", "self_attn.compressor.gate_proj.weight", "bf16"),
    ("attn.compressor.ape", "self_attn.compressor.position_bias", "f32"),
    ("attn.compressor.norm.weight", "self_attn.compressor.kv_norm.weight", "bf16"),
    ("attn.indexer.wq_b", "self_attn.compressor.indexer.q_b_proj.weight", "fp8"),
    ("attn.indexer.weights_proj.weight", "self_attn.compressor.indexer.scorer.weights_proj.weight", "bf16"),
    ("attn.indexer.compressor.wkv.weight", "self_attn.compressor.indexer.kv_proj.weight", "bf16"),
    ("attn.indexer.compressor.wgate.weight", "self_attn.compressor.indexer.gate_proj.weight", "bf16"),
    ("attn.indexer.compressor.ape", "self_attn.compressor.indexer.position_bias", "f32"),
    ("attn.indexer.compressor.norm.weight", "self_attn.compressor.indexer.kv_norm.weight", "bf16"),
    ("ffn.gate.weight", "mlp.gate.weight", "bf16"),
    ("ffn.gate.bias", "mlp.gate.e_score_correction_bias", "f32"),
    ("ffn.gate.tid2eid", "mlp.gate.tid2eid", "i64"),
    ("ffn.experts", "mlp.experts.gate_up_proj", "mxfp4_w1w3"),
    ("ffn.experts", "mlp.experts.down_proj", "mxfp4_w2"),
    ("ffn.shared_experts.w1", "mlp.shared_experts.gate_proj.weight", "fp8"),
    ("ffn.shared_experts.w3", "mlp.shared_experts.up_proj.weight", "fp8"),
    ("ffn.shared_experts.w2", "mlp.shared_experts.down_proj.weight", "fp8"),
    ("attn_norm.weight", "input_layernorm.weight", "bf16"),
    ("ffn_norm.weight", "post_attention_layernorm.weight", "bf16"),
    ("hc_attn_fn", "attn_hc.fn", "f32"),
    ("hc_attn_base", "attn_hc.base", "f32"),
    ("hc_attn_scale", "attn_hc.scale", "f32"),
    ("hc_ffn_fn", "ffn_hc.fn", "f32"),
    ("hc_ffn_base", "ffn_hc.base", "f32"),
    ("hc_ffn_scale", "ffn_hc.scale", "f32"),
]
TOP_MAP = [
    ("embed.weight", "model.embed_tokens.weight", "bf16"),
    ("head.weight", "lm_head.weight", "bf16"),
    ("norm.weight", "model.norm.weight", "bf16"),
    ("hc_head_fn", "model.hc_head.hc_fn", "f32"),
    ("hc_head_base", "model.hc_head.hc_base", "f32"),
    ("hc_head_scale", "model.hc_head.hc_scale", "f32"),
]
MTP_EXTRA_MAP = [  # official (under mtp.0.) -> MTPOracle attribute name
    ("e_proj", "e_proj.weight", "fp8"),
    ("h_proj", "h_proj.weight", "fp8"),
    ("enorm.weight", "enorm.weight", "bf16"),
    ("hnorm.weight", "hnorm.weight", "bf16"),
    ("norm.weight", "norm.weight", "bf16"),
    ("hc_head_fn", "hc_head.hc_fn", "f32"),
    ("hc_head_base", "hc_head.hc_base", "f32"),
    ("hc_head_scale", "hc_head.hc_scale", "f32"),
]


def official_name(hf_layer_name: str) -> tuple[str, str]:
    """(official name relative to layers.N. / mtp.0., storage kind) of a DeepseekV4DecoderLayer
    parameter or buffer named hf_layer_name (e.g. self_attn.q_a_proj.weight)."""
    for off, hf, kind in LAYER_MAP:
        if hf_layer_name == hf:
            return off, kind
    raise KeyError(hf_layer_name)


def f32_names(official: str, kind: str) -> str:
    """The name under which ClawNet reads a tensor stored unquantised (f32, or i64 for tid2eid):
    FP8 matrices drop their .scale and are `<name>.weight`; the routed experts keep transformers'
    fused 3-D layout as ffn.experts.w13.weight [E, 2I, D] (gate rows, then up) and
    ffn.experts.w2.weight [E, D, I], the fused forms src/model/weights.c bind_expert accepts."""
    if kind == "fp8":
        return official + ".weight"
    if kind == "mxfp4_w1w3":
        return official + ".w13.weight"
    if kind == "mxfp4_w2":
        return official + ".w2.weight"
    return official


def mtp_config(cfg: DeepseekV4Config) -> DeepseekV4Config:
    """cfg with one more layer, index L = num_hidden_layers: the MTP block's layer, a sliding-window
    attention layer with learned top-k MoE (section 1.2: its compress ratio is 0; section 9)."""
    L = cfg.num_hidden_layers
    md = cfg.to_dict()
    for k in ("layer_types", "mlp_layer_types", "num_hidden_layers"):
        md.pop(k, None)
    mcfg = DeepseekV4Config(**{**md, "num_hidden_layers": L + 1,
                               "layer_types": list(cfg.layer_types) + ["sliding_attention"],
                               "mlp_layer_types": list(cfg.mlp_layer_types) + ["moe"]})
    mcfg._attn_implementation = "eager"
    mcfg._experts_implementation = "eager"
    assert mcfg.layer_types[L] == "sliding_attention" and mcfg.mlp_layer_types[L] == "moe"
    return mcfg


class MTPOracle(nn.Module):
    """The MTP block of spec section 9 assembled from transformers' own DeepSeek-V4 modules."""

    def __init__(self, mcfg: DeepseekV4Config, layer_idx: int):
        super().__init__()
        D = mcfg.hidden_size
        self.e_proj = nn.Linear(D, D, bias=False)
        self.h_proj = nn.Linear(D, D, bias=False)
        self.enorm = dsv4.DeepseekV4RMSNorm(D, eps=mcfg.rms_norm_eps)
        self.hnorm = dsv4.DeepseekV4RMSNorm(D, eps=mcfg.rms_norm_eps)
        self.norm = dsv4.DeepseekV4RMSNorm(D, eps=mcfg.rms_norm_eps)
        self.layer = dsv4.DeepseekV4DecoderLayer(mcfg, layer_idx)
        self.hc_head = dsv4.DeepseekV4HyperHead(mcfg)
        self.mcfg = mcfg

    def forward(self, main, streams: torch.Tensor, next_ids: torch.Tensor) -> torch.Tensor:
        """streams [B, S', n, D] = main final residual streams (the input of model.hc_head) at positions
        0..S'-1; next_ids [B, S'] = t[s+1]. Returns logits [B, S', V] predicting t[s+2]. The block runs
        stateless over the S' positions (sliding-window causal mask, positions 0..S'-1). Gradients
        flow when the caller enables them (scripts/train_hk_mtp.py); oracles call it under no_grad."""
        Sp = next_ids.shape[1]
        e = self.enorm(main.model.embed_tokens(next_ids))  # [B, S', D]
        x = self.e_proj(e).unsqueeze(2) + self.h_proj(self.hnorm(streams))  # [B, S', n, D]
        pos = torch.arange(Sp).unsqueeze(0)
        pe = {
            "main": main.model.rotary_emb(e, position_ids=pos, layer_type="main"),
            "compress": main.model.rotary_emb(e, position_ids=pos, layer_type="compress"),
        }
        mask = create_sliding_window_causal_mask(config=self.mcfg, inputs_embeds=e, attention_mask=None,
                                                 past_key_values=None, position_ids=pos)
        y = self.layer(x, position_embeddings=pe, position_ids=pos, attention_mask=mask, input_ids=next_ids,
                       past_key_values=None)
        return main.lm_head(self.norm(self.hc_head(y)))


def canonical_state(mtp: MTPOracle) -> dict[str, torch.Tensor]:
    """The block's tensors under the canonical names ClawNet binds (mtp.0.*), unquantised: f32
    (integers stay integers), contiguous, CPU."""
    out = {}
    for name, t in mtp.state_dict().items():
        for off, attr, kind in MTP_EXTRA_MAP:
            if name == attr:
                canonical = f32_names(off, kind)
                break
        else:
            assert name.startswith("layer."), name
            canonical = f32_names(*official_name(name[len("layer."):]))
        t = t.detach().cpu()
        out["mtp.0." + canonical] = (t.float() if t.is_floating_point() else t).contiguous()
    return out


def load_canonical(mtp: MTPOracle, tensors: dict[str, torch.Tensor]) -> None:
    """The inverse of canonical_state: fills the block from tensors named mtp.0.* (strict)."""
    names = canonical_state(mtp)  # canonical name for each state_dict entry, in state_dict order
    missing = [c for c in names if c not in tensors]
    if missing:
        raise KeyError(f"MTP tensors missing: {missing[:3]}")
    mtp.load_state_dict({sd: tensors[c] for sd, c in zip(mtp.state_dict(), names)})
