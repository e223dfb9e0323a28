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
        rotate q and k by position pos (RoPE); append k, v to layer l's cache
        each query head h: softmax(q_h · k_t / √hd over t ≤ pos), then Σ_t p_t v_t
        x  += Wo (heads side by side)
        xn  = RMSNorm(x) ⊙ ffn_norm[l]
        x  += W2 (silu(W1 xn) ⊙ W3 xn)        W1 and W3 as one product with [W1; W3]
    logits = W_out RMSNorm(x)

A step reads every weight once (19.5 MB for the `shakespeare` preset), so its speed is the
speed of streaming the weights from cache or memory: the matrix-vector loop runs over each
weight row contiguously, which LLVM vectorises, and splits the rows among the Numba threads.
With two threads that doubles the speed, but only if idle threads spin for a moment before
they sleep (OpenMP's default): a thread that sleeps at once takes ~0.1 ms to wake, ~25 times
per token. generate.py therefore runs this on one thread when OMP_WAIT_POLICY=PASSIVE (the
setting training wants), and on all of them otherwise (`python -m tinyllm generate`).

The prompt itself is not fed through here one token at a time: the model's batched forward
(start_pos=0) processes the whole prompt at once and fills its KV cache, which `Decoder.prefill`
copies over. tests/test_decode.py checks that these logits equal the model's own, position by
position.
"""
import math

import numpy as np
from numba import njit, prange

from autograd.kernels import FMA_SUM, _exp


# ---------------------------------------------------------------------------- the pieces
@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec(W, x, out):
    """out = W x for W (n, d): one dot product per row, over the row's contiguous d floats.
    The rows are shared among the Numba threads (the only parallel loop of a step)."""
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
def _attend(q, keys, values, n, scale, scores, out):
    """One query head over the first n cached positions: out = Σ_t softmax(scale q·k_t)_t v_t.
    q, out (hd,); keys, values (max_seq, hd); scores is scratch of at least n floats."""
    m = -np.inf
    for t in range(n):
        kt = keys[t]
        s = q.dtype.type(0.0)
        for d in range(q.shape[0]):
            s += q[d] * kt[d]
        s *= scale
        scores[t] = s
        m = max(m, s)
    total = q.dtype.type(0.0)
    for t in range(n):
        e = _exp(scores[t] - m)
        scores[t] = e
        total += e
    out[:] = 0.0
    for t in range(n):
        p, vt = scores[t] / total, values[t]
        for d in range(out.shape[0]):
            out[d] += p * vt[d]


# ---------------------------------------------------------------------------- one step
@njit(cache=True, fastmath=FMA_SUM)
def _decode_step(token, pos, emb, attn_norm, wqkv, wo, ffn_norm, w13, w2, final_norm, head,
                 cos, sin, k_cache, v_cache, n_heads, n_kv_heads, eps, logits):
    """Logits (V,) of the position after `token`, which sits at position pos.

    Per layer l (all stacked on axis 0): attn_norm, ffn_norm (L, D); wqkv (L, (H+2Hkv)·hd, D);
    wo (L, D, H·hd); w13 (L, 2F, D); w2 (L, D, F). k_cache, v_cache (L, Hkv, max_seq, hd)
    get this position's keys and values. cos, sin (max_seq, hd/2).
    """
    D = emb.shape[1]
    hd = k_cache.shape[3]
    F = w2.shape[2]
    G = n_heads // n_kv_heads                          # query heads per kv head
    scale = emb.dtype.type(1.0 / math.sqrt(hd))
    x = emb[token].copy()                              # (D,) the residual stream
    xn = np.empty(D, dtype=emb.dtype)                  # (D,) normalised
    qkv = np.empty(wqkv.shape[1], dtype=emb.dtype)     # (H·hd + 2·Hkv·hd,)
    att = np.empty(n_heads * hd, dtype=emb.dtype)      # (H·hd,) heads side by side
    h13 = np.empty(2 * F, dtype=emb.dtype)             # (2F,) gate and up
    delta = np.empty(D, dtype=emb.dtype)               # (D,) what a sub-layer adds to x
    scores = np.empty(pos + 1, dtype=emb.dtype)
    one = emb.dtype.type(1.0)
    for l in range(wqkv.shape[0]):
        # attention
        _rmsnorm(x, attn_norm[l], eps, xn)
        _matvec(wqkv[l], xn, qkv)
        for h in range(n_heads + n_kv_heads):          # RoPE on the query and key heads
            _rope(qkv[h * hd:(h + 1) * hd], cos[pos], sin[pos])
        k_at = n_heads * hd
        v_at = (n_heads + n_kv_heads) * hd
        for kh in range(n_kv_heads):                   # this position's k, v into the cache
            k_cache[l, kh, pos] = qkv[k_at + kh * hd:k_at + (kh + 1) * hd]
            v_cache[l, kh, pos] = qkv[v_at + kh * hd:v_at + (kh + 1) * hd]
        for h in range(n_heads):
            _attend(qkv[h * hd:(h + 1) * hd], k_cache[l, h // G], v_cache[l, h // G], pos + 1,
                    scale, scores, att[h * hd:(h + 1) * hd])
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
class Decoder:
    """A Transformer's weights laid out for one-token steps, and a KV cache of batch 1.

        dec = Decoder(model)
        logits = dec.prefill(prompt_ids)         # (V,) after the last prompt token
        logits = dec.step(next_id)               # (V,) after next_id, at the next position
        logits = dec.feed(more_ids)              # (V,) after several more (a chat's new turn)

    The weights are copied (q, k, v and the two SwiGLU inputs concatenated), so a Decoder
    sees the model as it was when built: build a new one after training further.
    """

    def __init__(self, model):
        cfg = model.cfg
        self.model, self.cfg = model, cfg
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
        self.final_norm = model.norm.weight.data.copy()                         # (D,)
        self.emb = model.tok_embeddings.weight.data.copy()                      # (V, D)
        tied = model.output is model.tok_embeddings
        self.head = self.emb if tied else model.output.weight.data.copy()       # (V, D)
        self.cos, self.sin = model.rope_cos, model.rope_sin                     # (max_seq, hd/2)
        shape = (cfg.n_layers, cfg.n_kv_heads, cfg.max_seq_len, cfg.head_dim)
        self.k_cache = np.zeros(shape, dtype=self.emb.dtype)
        self.v_cache = np.zeros(shape, dtype=self.emb.dtype)
        self.pos = 0                                     # the next position to fill

    def prefill(self, ids):
        """Run the prompt through the model's batched forward (one pass, filling its KV cache),
        take that cache over, and return the logits (V,) after the last prompt token."""
        ids = np.asarray(ids).reshape(1, -1)
        logits = self.model(ids, start_pos=0).data[0, -1]                       # (V,)
        n = ids.shape[1]
        for l, block in enumerate(self.model.layers):
            self.k_cache[l, :, :n] = block.attention.cache_k[0, :, :n]
            self.v_cache[l, :, :n] = block.attention.cache_v[0, :, :n]
        self.pos = n
        return logits

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
        cfg = self.cfg
        if self.pos >= cfg.max_seq_len:
            raise ValueError(f"the KV cache is full ({cfg.max_seq_len} positions): prefill again")
        if not 0 <= token < cfg.vocab_size:
            raise ValueError(f"token id {token} is not in [0, {cfg.vocab_size})")
        logits = np.empty(cfg.vocab_size, dtype=self.emb.dtype)
        _decode_step(int(token), self.pos, self.emb, self.attn_norm, self.wqkv, self.wo,
                     self.ffn_norm, self.w13, self.w2, self.final_norm, self.head, self.cos, self.sin,
                     self.k_cache, self.v_cache, cfg.n_heads, cfg.n_kv_heads, cfg.norm_eps, logits)
        self.pos += 1
        return logits
