#!/usr/bin/env python3
"""The lightning indexer's training loss for transformers' DeepseekV4ForCausalLM (docs/hk_indexer.md).

The indexer of a CSA layer only returns top-k indices, so the LM loss sends no gradient to its
parameters (kv_proj, gate_proj, position_bias, kv_norm, q_b_proj, scorer.weights_proj): trained with
the LM loss alone it stays at its initialisation. DeepSeek-V3.2 (section 2.1, "dense warm-up") trains
it instead to imitate the main attention: for each query t, the target p[t,:] is the main attention's
probability over the (compressed) entries, summed over the heads and L1-normalised, and the loss is

    L_I = sum_t KL(p[t,:] || softmax(I[t,:]))

with I[t,s] the indexer's score. The indexer's input is detached from the computational graph, so
its only training signal is L_I and the main model's only one is the LM loss: the two losses optimise
disjoint parameters.

IndexerKL wraps an existing model instance with forward hooks on each CSA layer (nothing of
transformers is copied; the model's forward output does not change, see --self-check):

  - self_attn (pre-hook): the layer's "compress" RoPE (cos, sin) and position_ids;
  - self_attn.q_b_norm: the main queries [B, H, S, D] after their norm; RoPE is then applied with
    transformers' own apply_rotary_pos_emb and the layer's cos/sin, exactly as DeepseekV4Attention does;
  - self_attn.compressor: the layer's compressed KV [B, 1, T, D] (single KV head, K = V);
  - self_attn.compressor.indexer (pre-hook): hidden_states and q_residual are replaced by detached
    copies (same values, so the same top-k and the same logits);
  - self_attn.compressor.indexer.scorer: the indexer's scores [B, S, T] over all compressed entries,
    which now carry gradient to the indexer's own parameters only.

The target of a CSA layer: logits = q . kv * scaling (the attention's head_dim^-0.5) per head over the
entries the query may see (entry w is visible to position t when w < (t + 1) // compress_rate, the
compressor's causality rule), softmax per head over those, summed over heads, L1-normalised, detached.
This is the dense target over ALL visible compressed entries (V3.2's warm-up form), not just the top-k
the sparse attention used: it does not depend on the indexer's own picks. The sliding-window entries
and the attention sink are not candidates of the indexer and are left out.

Loss per layer = mean over valid queries (at least one visible entry) of KL(target || softmax(scores
over the visible entries)); IndexerKL.loss() is the mean over the CSA layers. Training forwards
are meant (DeepseekV4ForCausalLM makes a DynamicCache even then, unless use_cache=False: either works,
since a first forward's compressed entries start at position 0, the origin the visibility rule assumes).

    with kl.capture():
        out = model(input_ids=x, labels=y)
    loss = out.loss + weight * kl.loss()

    /work/oracle-venv/bin/python scripts/dsv4_indexer_kl.py --self-check
"""
import contextlib
import sys

CSA = "compressed_sparse_attention"


def indexer_parameters(model):
    """The parameters of every CSA layer's lightning indexer (the only ones L_I trains)."""
    from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
    params = []
    for module in model.modules():
        if isinstance(module, dsv4.DeepseekV4Indexer):
            params += list(module.parameters())
    return params


class _Record:
    __slots__ = ("cos_sin", "position_ids", "q", "kv", "scores")

    def __init__(self):
        self.cos_sin = self.position_ids = self.q = self.kv = self.scores = None


class IndexerKL:
    """Hooks on each CSA layer of `model` (a DeepseekV4ForCausalLM or DeepseekV4Model); see the module
    docstring. Inactive (pass-through, nothing kept) outside `capture()`."""

    def __init__(self, model):
        import torch
        self.active = False
        self.layers = []      # (layer index, attention module)
        self.results = []     # per captured CSA layer: (scores [B,S,T] with grad, target [B,S,T], visible [B,S,T])
        self._current = {}
        self._handles = []
        base = model.model if hasattr(model, "model") else model
        for idx, layer in enumerate(base.layers):
            attn = layer.self_attn
            if getattr(attn, "layer_type", None) != CSA:
                continue
            self.layers.append((idx, attn))
            indexer = attn.compressor.indexer
            self._handles += [
                attn.register_forward_pre_hook(self._attn_pre(attn), with_kwargs=True),
                attn.q_b_norm.register_forward_hook(self._keep(attn, "q")),
                attn.compressor.register_forward_hook(self._keep(attn, "kv")),
                indexer.register_forward_pre_hook(self._detach_inputs),
                indexer.scorer.register_forward_hook(self._keep(attn, "scores")),
                attn.register_forward_hook(self._attn_post(attn)),
            ]
        if not self.layers:
            raise ValueError("IndexerKL: the model has no compressed_sparse_attention layer")
        self._torch = torch

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    @contextlib.contextmanager
    def capture(self):
        """Forwards inside keep, per CSA layer, the indexer's scores and the target for loss()."""
        self.results, self._current, self.active = [], {}, True
        try:
            yield self
        finally:
            self.active, self._current = False, {}

    # -- hooks ----------------------------------------------------------------------------------

    def _attn_pre(self, attn):
        def hook(module, args, kwargs):
            if not self.active:
                return None
            rec = _Record()
            rec.cos_sin = kwargs["position_embeddings"][attn.rope_layer_type]
            rec.position_ids = kwargs["position_ids"]
            self._current[id(attn)] = rec
            return None
        return hook

    def _keep(self, attn, field):
        def hook(module, inputs, output):
            if not self.active:
                return None
            rec = self._current[id(attn)]
            if field == "q":
                setattr(rec, field, output.detach())
            elif field == "kv":
                setattr(rec, field, output[0].detach())  # (compressed_kv, block_bias)
            else:
                setattr(rec, field, output)  # grad w.r.t. the indexer's parameters only
            return None
        return hook

    def _detach_inputs(self, module, args):
        # DeepseekV4CSACompressor calls indexer(hidden_states, q_residual, position_ids, past_key_values,
        # layer_idx) positionally. Detached copies have the same values: same top-k, same logits.
        if not self.active:
            return None
        if len(args) < 2:
            raise ValueError("IndexerKL: the indexer was not called with (hidden_states, q_residual, ...)")
        return (args[0].detach(), args[1].detach(), *args[2:])

    def _attn_post(self, attn):
        def hook(module, inputs, output):
            if not self.active:
                return None
            rec = self._current.pop(id(attn))
            if rec.q is None or rec.kv is None or rec.scores is None:
                raise ValueError("IndexerKL: a CSA layer's forward did not run its q_b_norm/compressor/indexer")
            target, visible = self._target(attn, rec)
            self.results.append((rec.scores, target, visible))
            return None
        return hook

    def _target(self, attn, rec):
        """Main attention's distribution over the visible compressed entries, summed over heads,
        L1-normalised (rows of queries that see nothing are zero). Returns (target, visible)."""
        torch = self._torch
        from transformers.models.deepseek_v4 import modeling_deepseek_v4 as dsv4
        with torch.no_grad():
            cos, sin = rec.cos_sin
            q = dsv4.apply_rotary_pos_emb(rec.q, cos, sin).float()       # [B, H, S, D], as in the attention
            kv = rec.kv.float()                                          # [B, 1, T, D]
            logits = torch.matmul(q, kv.transpose(-1, -2)) * attn.scaling  # [B, H, S, T]
            visible = self.visible(attn.compressor.compress_rate, rec.position_ids, kv.shape[2])  # [B', S, T]
            visible = visible.expand(q.shape[0], -1, -1)
            logits = logits.masked_fill(~visible.unsqueeze(1), float("-inf"))
            probs = torch.softmax(logits, dim=-1).nan_to_num(0.0)        # all -inf rows -> 0
            target = probs.sum(dim=1)
            target = target / target.sum(dim=-1, keepdim=True).clamp(min=1e-30)
        return target, visible

    @staticmethod
    def visible(compress_rate, position_ids, n_entries):
        """[B, S, T] bool: entry w is visible to the query at position t iff w < (t + 1) // m
        (DeepseekV4CSACompressor / DeepseekV4Indexer's causal threshold)."""
        import torch
        threshold = (position_ids + 1) // compress_rate                  # [B, S]
        entries = torch.arange(n_entries, device=position_ids.device)
        return entries.view(1, 1, -1) < threshold.unsqueeze(-1)

    # -- loss -----------------------------------------------------------------------------------

    @staticmethod
    def kl_rows(scores, target, visible):
        """KL(target || softmax(scores over visible)) per query, for queries with a visible entry.
        Returns (kl [N], valid mask [B, S])."""
        import torch
        valid = visible.any(dim=-1)
        s = scores[valid].float().masked_fill(~visible[valid], float("-inf"))
        logq = torch.log_softmax(s, dim=-1)
        p = target[valid]
        # p log p - p log q over visible entries (0 log 0 = 0); invisible entries have p = 0, log q = -inf.
        terms = torch.xlogy(p, p) - p * logq.masked_fill(~visible[valid], 0.0)
        return terms.sum(dim=-1), valid

    def per_layer(self):
        """Mean KL per captured CSA layer (tensors with grad)."""
        out = []
        for scores, target, visible in self.results:
            kl, valid = self.kl_rows(scores, target, visible)
            if kl.numel() == 0:
                out.append(scores.sum() * 0.0)  # no query sees a compressed entry (sequence < m)
            else:
                out.append(kl.mean())
        return out

    def loss(self):
        """Mean over CSA layers of the per-layer mean KL of the last capture."""
        layers = self.per_layer()
        if not layers:
            raise ValueError("IndexerKL.loss: nothing captured (run the forward inside capture())")
        return sum(layers) / len(layers)

    def recall(self, k):
        """Over the last capture, for queries with more than k visible entries: the fraction of the
        target's top-k entries that the indexer's top-k (over visible entries) contains. Returns
        (hits, total) summed over layers and queries."""
        torch = self._torch
        hits = total = 0
        with torch.no_grad():
            for scores, target, visible in self.results:
                many = visible.sum(dim=-1) > k
                if not bool(many.any()):
                    continue
                s = scores[many].float().masked_fill(~visible[many], float("-inf"))
                t = target[many].masked_fill(~visible[many], -1.0)
                mine = s.topk(k, dim=-1).indices
                want = t.topk(k, dim=-1).indices
                hits += int((want.unsqueeze(-1) == mine.unsqueeze(-2)).any(dim=-1).sum())
                total += want.numel()
        return hits, total

    def ties_at_k(self, k):
        """Over the last capture, for queries with more than k visible entries: how many have the
        indexer's k-th and (k+1)-th best visible scores exactly equal (a tie at the cut, which two
        implementations may break differently: ReLU scores of an untrained indexer are often 0).
        Returns (ties, queries)."""
        torch = self._torch
        ties = total = 0
        with torch.no_grad():
            for scores, _, visible in self.results:
                many = visible.sum(dim=-1) > k
                if not bool(many.any()):
                    continue
                s = scores[many].float().masked_fill(~visible[many], float("-inf"))
                top = s.topk(k + 1, dim=-1).values
                ties += int((top[:, k - 1] == top[:, k]).sum())
                total += top.shape[0]
        return ties, total


# -- self-check ---------------------------------------------------------------------------------

def _tiny_model(index_topk, seed):
    import torch
    from transformers import DeepseekV4ForCausalLM
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    import train_hk_model as hk
    cfg = hk.model_config(vocab_size=300, seq_len=128)
    cfg.index_topk = index_topk
    cfg._attn_implementation = "eager"
    cfg._experts_implementation = "eager"
    torch.manual_seed(seed)
    model = DeepseekV4ForCausalLM(cfg)
    hk.fill_tid2eid(model, seed)
    with torch.no_grad():  # position biases and sinks start at 0: make them non-trivial
        for name, p in model.named_parameters():
            if name.endswith("position_bias") or name.endswith("sinks"):
                p.normal_(0.0, 0.5)
    return model


def self_check():
    """Checks on a small random DeepSeek-V4 model (hk-tiny's layout at 300 tokens of vocabulary):
    1. logits with the hooks capturing equal the logits without hooks (bitwise);
    2. the target equals the attention's own probabilities: with index_topk >= the number of
       compressed entries, the CSA attention attends every visible compressed entry, and its returned
       attn_weights restricted to the compressed columns, renormalised per head, summed over heads
       and L1-normalised must equal IndexerKL's target (an independent path: the model's masks,
       sinks and softmax);
    3. the captured scores are the ones the model selects with: each of the indexer's top-16 picks
       (index_topk 16, as in hk-tiny) scores at least the 16th best captured score over the visible
       entries (ties may be broken either way);
    4. gradients: the KL loss reaches exactly the indexer parameters (each gets a nonzero gradient,
       nothing else gets one); the LM loss reaches none of them;
    5. KL >= 0, and KL = 0 when the scores are log(target) (checked on kl_rows directly);
    6. an AdamW state saved after LM-only steps (indexer parameters without state) loads into a new
       optimiser and a step with LM + KL then updates the indexer parameters."""
    import torch
    torch.set_num_threads(1)
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what, file=sys.stderr)
        if not cond:
            failures.append(what)

    S = 96
    model = _tiny_model(index_topk=64, seed=1)
    model.train()
    g = torch.Generator().manual_seed(2)
    x = torch.randint(2, 300, (2, S), generator=g)

    # 1. logits unchanged
    with torch.no_grad():
        plain = model(input_ids=x).logits
    kl = IndexerKL(model)
    attn_w = {}
    hooks = [attn.register_forward_hook(lambda m, i, o, idx=idx: attn_w.__setitem__(idx, o[1].detach()))
             for idx, attn in kl.layers]
    with kl.capture():
        out = model(input_ids=x, labels=x)
    check(torch.equal(out.logits.detach(), plain), "logits with IndexerKL capturing == logits without hooks")
    check(len(kl.results) == 3, f"3 CSA layers captured ({len(kl.results)})")

    # 2. target vs the attention's own probabilities over compressed columns
    worst = 0.0
    for (idx, attn), (scores, target, visible) in zip(kl.layers, kl.results):
        w = attn_w[idx]                                   # [B, H, S, S + T]: sliding window, then compressed
        comp = w[..., -target.shape[-1]:].double()
        comp = comp / comp.sum(-1, keepdim=True).clamp(min=1e-300)
        ref = comp.sum(1)
        ref = ref / ref.sum(-1, keepdim=True).clamp(min=1e-300)
        worst = max(worst, float((ref - target.double()).abs().max()))
        check(bool((target.sum(-1)[visible.any(-1)] - 1).abs().max() < 1e-5), f"layer {idx}: target rows sum to 1")
    check(worst < 1e-5, f"target == attention's compressed-column probabilities (max diff {worst:.2e})")
    for h in hooks:
        h.remove()

    # 3. the model's top-k picks vs the captured scores (real hk-tiny topk 16 on S=96: T=24)
    small = _tiny_model(index_topk=16, seed=3)
    small.train()
    kls = IndexerKL(small)
    picks = {}
    ph = [attn.compressor.indexer.register_forward_hook(lambda m, i, o, idx=idx: picks.__setitem__(idx, o))
          for idx, attn in kls.layers]
    with kls.capture():
        small(input_ids=x)
    agree = 0
    total = 0
    for (idx, attn), (scores, target, visible) in zip(kls.layers, kls.results):
        s = scores.detach().masked_fill(~visible, float("-inf"))
        kth = s.topk(16, dim=-1).values[..., -1:]          # the 16th best visible score
        got = picks[idx]
        ok = got >= 0
        picked = torch.gather(s, -1, got.clamp(min=0))
        agree += int(((picked >= kth) | ~ok).all(dim=-1).sum())
        total += got.shape[0] * got.shape[1]
    for h in ph:
        h.remove()
    check(agree == total, f"the indexer's picks are top-16 of the captured scores ({agree}/{total} queries)")

    # 4. gradients
    idx_params = {id(p) for p in indexer_parameters(model)}
    model.zero_grad(set_to_none=True)
    with kl.capture():
        out = model(input_ids=x, labels=x)
    loss_kl = kl.loss()
    loss_kl.backward(retain_graph=True)
    named = list(model.named_parameters())
    with_grad = [n for n, p in named if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    want = [n for n, p in named if id(p) in idx_params]
    check(sorted(with_grad) == sorted(want),
          f"KL gradient reaches exactly the {len(want)} indexer tensors (got {len(with_grad)}: "
          f"{sorted(set(with_grad) ^ set(want))[:4]})")
    model.zero_grad(set_to_none=True)
    out.loss.backward()
    leaked = [n for n, p in named if id(p) in idx_params and p.grad is not None and bool(p.grad.abs().sum() > 0)]
    check(not leaked, f"the LM loss reaches no indexer parameter ({leaked[:3]})")

    # 5. KL properties
    scores, target, visible = kl.results[0]
    rows, valid = IndexerKL.kl_rows(scores.detach(), target, visible)
    check(bool((rows >= -1e-6).all()), f"KL >= 0 (min {float(rows.min()):.2e})")
    perfect, _ = IndexerKL.kl_rows(torch.log(target.clamp(min=1e-30)), target, visible)
    check(float(perfect.abs().max()) < 1e-4, f"KL(p || softmax(log p)) = 0 ({float(perfect.abs().max()):.2e})")
    check(int(valid.sum()) == 2 * (S - 3), f"valid queries are positions >= 3 ({int(valid.sum())})")

    # 6. optimiser state without indexer entries
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.zero_grad(set_to_none=True)
    model(input_ids=x, labels=x).loss.backward()
    opt.step()
    state = opt.state_dict()
    check(all(id(p) not in idx_params or p not in opt.state for p in model.parameters()),
          "after LM-only steps the indexer parameters have no optimiser state")
    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt2.load_state_dict(state)
    before = [p.detach().clone() for p in indexer_parameters(model)]
    opt2.zero_grad(set_to_none=True)
    with kl.capture():
        out = model(input_ids=x, labels=x)
    (out.loss + kl.loss()).backward()
    opt2.step()
    moved = sum(int(not torch.equal(b, p.detach())) for b, p in zip(before, indexer_parameters(model)))
    check(moved == len(before), f"after loading that state, an LM + KL step updates {moved}/{len(before)} indexer tensors")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-check"]:
        sys.exit(self_check())
    print(__doc__)
    sys.exit(2)
