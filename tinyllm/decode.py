"""One new token through the whole model, fast: the decoding loop of llama2.c's run.c, in Numba.

Generating text is a loop of one-token forward passes. The Transformer in model.py can run
them (model(token, start_pos=pos)), but at batch 1 every op is a few microseconds of work, so
the ~80 NumPy calls, the kernel launches and the Tensor bookkeeping per layer cost more than the
arithmetic. Here the same forward pass for one position is a single jitted function with
explicit loops, as run.c writes it in C:

    x = embedding[token]                                         (D,)
    for each layer l:
        xn  = RMSNorm(x) ⊙ attention_norm[l]
        q, k, v = Wq xn, Wk xn, Wv xn          one matrix-vector product with [Wq; Wk; Wv]
        rotate q and k by position pos (RoPE); write k, v to layer l's cache slot for pos
        each query head h: softmax(q_h · k_t / √hd over the visible t ≤ pos), then Σ_t p_t v_t
        x  += Wo (heads side by side)
        xn  = RMSNorm(x) ⊙ ffn_norm[l]
        x  += W2 (silu(W1 xn) ⊙ W3 xn)        W1 and W3 as one product with [W1; W3]
    logits = W_out RMSNorm(x)

A step reads every weight once, so its speed is the speed of streaming the weights from cache
or memory: the matrix-vector loop runs over each weight row contiguously, which LLVM vectorises,
and splits the rows among the Numba threads. That pays only if idle threads spin for a moment
before they sleep, since a step hands them work five times a layer (four products and the
attention heads) and once more for the output head (autograd/runtime.py sets how long).

The keys and values live in one KVCache (tinyllm/kv_cache.py), the same object the model's
batched forward fills: the prompt goes through model(prompt, cache=cache) in one pass, then
each step here writes its position into the same arrays. With a sliding window the cache is a
ring of W slots (position t in slot t mod W) and a step attends over positions pos - W + 1 ..
pos, read from the ring in position order. tests/test_decode.py checks that these logits equal
the model's own forward, position by position, past the window and past max_seq_len.
"""
import math

import numpy as np
from numba import njit, prange

from autograd.kernels import FMA_SUM, _exp
from tinyllm.kv_cache import KVCache


# ---------------------------------------------------------------------------- the pieces
@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec(W, x, out):
    """out = W x for W (n, d): one dot product per row, over the row's contiguous d floats.
    The rows are shared among the Numba threads."""
    for r in prange(W.shape[0]):
        w = W[r]
        acc = x.dtype.type(0.0)
        for c in range(x.shape[0]):
            acc += w[c] * x[c]
        out[r] = acc


@njit(cache=True, fastmath=FMA_SUM)
def _rmsnorm(x, w, eps, out):
    """out = x / √(mean(x²) + eps) ⊙ w (the sum of squares in float64, as kernels.rmsnorm)."""
    ss = 0.0
    for j in range(x.shape[0]):
        ss += x[j] * x[j]
    rs = x.dtype.type(1.0 / math.sqrt(ss / x.shape[0] + eps))
    for j in range(x.shape[0]):
        out[j] = x[j] * rs * w[j]


@njit(cache=True, fastmath=FMA_SUM)
def _rope(v, cos, sin):
    """Rotate each pair (v[2j], v[2j+1]) of one head's vector by angle θ_j·pos, in place."""
    for j in range(v.shape[0] // 2):
        a, b = v[2 * j], v[2 * j + 1]
        v[2 * j] = a * cos[j] - b * sin[j]
        v[2 * j + 1] = a * sin[j] + b * cos[j]


@njit(cache=True, fastmath=FMA_SUM)
def _attend(q, keys, values, first, last, scale, scores, out):
    """One query head over the cached positions first..last, in position order:
    out = Σ_t softmax(scale q·k_t)_t v_t. Position t is in slot t mod n_slots (the ring buffer;
    in a full cache t < n_slots, so slot t). q, out (hd,); keys, values (n_slots, hd);
    scores is scratch of at least last - first + 1 floats. The softmax sums in the input dtype
    (as the attention kernels do), unlike _rmsnorm's float64 sum of squares."""
    n_slots = keys.shape[0]
    n = last - first + 1
    slot = first % n_slots
    for i in range(n):                                 # scores: scale q·k_t
        kt = keys[slot]
        s = q.dtype.type(0.0)
        for d in range(q.shape[0]):
            s += q[d] * kt[d]
        scores[i] = s * scale
        slot = slot + 1 if slot + 1 < n_slots else 0
    m = scores[:n].max()                               # (a loop of its own vectorises)
    total = q.dtype.type(0.0)
    for i in range(n):
        e = _exp(scores[i] - m)
        scores[i] = e
        total += e
    acc = np.zeros(out.shape[0], dtype=out.dtype)      # Σ_t e_t v_t, then one division
    slot = first % n_slots
    for i in range(n):
        p, vt = scores[i], values[slot]
        for d in range(acc.shape[0]):
            acc[d] += p * vt[d]
        slot = slot + 1 if slot + 1 < n_slots else 0
    for d in range(acc.shape[0]):
        out[d] = acc[d] / total


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _attend_heads(q, keys, values, first, last, scale, scores, out):
    """Every query head of one layer: out[h] = _attend(q[h], keys[h // G], values[h // G]).
    q, out (H·hd,); keys, values (Hkv, n_slots, hd); scores (H, at least last - first + 1)
    scratch. The heads are shared among the Numba threads (they are independent)."""
    hd = keys.shape[2]
    G = scores.shape[0] // keys.shape[0]              # query heads per kv head
    for h in prange(scores.shape[0]):
        _attend(q[h * hd:(h + 1) * hd], keys[h // G], values[h // G], first, last, scale,
                scores[h], out[h * hd:(h + 1) * hd])


# ---------------------------------------------------------------------------- one step
# error_model="numpy": a float division by zero gives inf, as in NumPy, instead of raising. Numba's
# default checks every division for zero, and that branch stops LLVM vectorising the SiLU loop below
# (8x slower; no division here can see a zero: 1 + e^-a ≥ 1).
@njit(cache=True, fastmath=FMA_SUM, error_model="numpy")
def _decode_step(token, pos, emb, attn_norm, wqkv, wo, ffn_norm, w13, w2, final_norm, head,
                 cos, sin, k_cache, v_cache, window, n_heads, n_kv_heads, eps, logits):
    """Logits (V,) of the position after `token`, which sits at position pos.

    Per layer l (all stacked on axis 0): attn_norm, ffn_norm (L, D); wqkv (L, (H+2Hkv)·hd, D);
    wo (L, D, H·hd); w13 (L, 2F, D); w2 (L, D, F). k_cache, v_cache (L, Hkv, n_slots, hd)
    get this position's keys and values in slot pos mod n_slots. cos, sin (hd/2,): RoPE at pos.
    The queries see positions max(0, pos - window + 1) .. pos (window = n_slots for a full cache).
    """
    D = emb.shape[1]
    hd = k_cache.shape[3]
    F = w2.shape[2]
    scale = emb.dtype.type(1.0 / math.sqrt(hd))
    x = emb[token].copy()                              # (D,) the residual stream
    xn = np.empty(D, dtype=emb.dtype)                  # (D,) normalised
    qkv = np.empty(wqkv.shape[1], dtype=emb.dtype)     # (H·hd + 2·Hkv·hd,)
    att = np.empty(n_heads * hd, dtype=emb.dtype)      # (H·hd,) heads side by side
    h13 = np.empty(2 * F, dtype=emb.dtype)             # (2F,) gate and up
    delta = np.empty(D, dtype=emb.dtype)               # (D,) what a sub-layer adds to x
    first = max(0, pos - window + 1)                   # the oldest position still visible
    slot = pos % k_cache.shape[2]
    scores = np.empty((n_heads, pos - first + 1), dtype=emb.dtype)
    one = emb.dtype.type(1.0)
    for l in range(wqkv.shape[0]):
        # attention
        _rmsnorm(x, attn_norm[l], eps, xn)
        _matvec(wqkv[l], xn, qkv)
        for h in range(n_heads + n_kv_heads):          # RoPE on the query and key heads
            _rope(qkv[h * hd:(h + 1) * hd], cos, sin)
        k_at = n_heads * hd
        v_at = (n_heads + n_kv_heads) * hd
        for kh in range(n_kv_heads):                   # this position's k, v into the cache
            k_cache[l, kh, slot] = qkv[k_at + kh * hd:k_at + (kh + 1) * hd]
            v_cache[l, kh, slot] = qkv[v_at + kh * hd:v_at + (kh + 1) * hd]
        _attend_heads(qkv[:k_at], k_cache[l], v_cache[l], first, pos, scale, scores, att)
        _matvec(wo[l], att, delta)
        for j in range(D):
            x[j] += delta[j]
        # feed-forward (SwiGLU)
        _rmsnorm(x, ffn_norm[l], eps, xn)
        _matvec(w13[l], xn, h13)
        for j in range(F):                             # silu(gate) ⊙ up, into the gate's half
            a = h13[j]
            h13[j] = a / (one + _exp(-a)) * h13[F + j]
        _matvec(w2[l], h13[:F], delta)
        for j in range(D):
            x[j] += delta[j]
    _rmsnorm(x, final_norm, eps, xn)
    _matvec(head, xn, logits)


# ---------------------------------------------------------------------------- the wrapper
def check_step(cfg, cache, token):
    """Before a step: room in the cache (a full, non-rolling one must be prefilled again) and a
    token id the model has."""
    if not cache.rolling and cache.pos >= cache.n_slots:
        raise ValueError(f"the KV cache is full ({cache.n_slots} positions): prefill again")
    if not 0 <= token < cfg.vocab_size:
        raise ValueError(f"token id {token} is not in [0, {cfg.vocab_size})")


class Decoder:
    """One-token steps of a Transformer, batch 1, over one KVCache.

        dec = Decoder(model)
        logits = dec.prefill(prompt_ids)         # (V,) after the last prompt token
        logits = dec.step(next_id)               # (V,) after next_id, at the next position
        logits = dec.feed(more_ids)              # (V,) after several more (a chat's new turn)

    The jitted step wants q, k, v (and SwiGLU's two inputs) as one matrix each, stacked over the
    layers. That layout is packed from the model's weights at every prefill, so a Decoder always
    starts a sequence with the model as it is now, trained further or not; the steps of that
    sequence use the same weights as its prefill did.
    """

    def __init__(self, model):
        self.model, self.cfg = model, model.cfg
        self.cache = KVCache(model.cfg, batch=1, dtype=model.dtype)
        self.pack_weights()

    @property
    def pos(self):
        return self.cache.pos                            # the next position to fill

    def pack_weights(self):
        """The model's current weights in the step's layout (copies: fused q/k/v, w1/w3)."""
        model = self.model
        layers = model.layers
        stack = lambda arrays: np.ascontiguousarray(np.stack(arrays))           # noqa: E731
        self.attn_norm = stack([b.attention_norm.weight.data for b in layers])  # (L, D)
        self.wqkv = stack([np.concatenate([b.attention.wq.weight.data, b.attention.wk.weight.data,
                                           b.attention.wv.weight.data]) for b in layers])
        self.wo = stack([b.attention.wo.weight.data for b in layers])           # (L, D, H·hd)
        self.ffn_norm = stack([b.ffn_norm.weight.data for b in layers])         # (L, D)
        self.w13 = stack([np.concatenate([b.feed_forward.w1.weight.data,
                                          b.feed_forward.w3.weight.data]) for b in layers])
        self.w2 = stack([b.feed_forward.w2.weight.data for b in layers])        # (L, D, F)
        self.final_norm = model.norm.weight.data                                # (D,), the model's own
        self.emb = model.tok_embeddings.weight.data                             # (V, D), the model's own
        self.head = model.output.weight.data                                    # (V, D), tied or not

    def prefill(self, ids):
        """A new sequence: pack the current weights, run the prompt through the model's batched
        forward (which fills the cache), return the logits (V,) after the last prompt token."""
        self.pack_weights()
        self.cache.reset()
        ids = np.asarray(ids).reshape(1, -1)
        return self.model(ids, cache=self.cache).data[0, -1]                    # (V,)

    def feed(self, ids):
        """Logits (V,) after feeding ids from the current position on, keeping what the cache
        holds (a chat's new turn). One step per token."""
        if not len(ids):
            raise ValueError("feed needs at least one token")
        for token in ids:
            logits = self.step(token)
        return logits

    def step(self, token):
        """Logits (V,) after feeding `token` at the next position."""
        cfg, cache = self.cfg, self.cache
        check_step(cfg, cache, token)
        cos, sin = self.model.rope_at(cache.pos, 1)                             # (1, hd/2) each
        logits = np.empty(cfg.vocab_size, dtype=self.emb.dtype)
        _decode_step(int(token), cache.pos, self.emb, self.attn_norm, self.wqkv, self.wo,
                     self.ffn_norm, self.w13, self.w2, self.final_norm, self.head, cos[0], sin[0],
                     cache.k[:, 0], cache.v[:, 0], cache.window or cache.n_slots,
                     cfg.n_heads, cfg.n_kv_heads, cfg.norm_eps, logits)
        cache.advance(1)
        return logits
