"""Quantised weights for the one-token decoder: Q8_0 and Q4_1 blocks, kept quantised, in Numba.

Decoding reads every weight once per token, so its speed is the speed of streaming the weights
from memory. Store each weight in fewer bits and there are fewer bytes to stream. The two formats
are llama.cpp's (GGUF's), in blocks of 32 consecutive numbers of a row, each block with its own
scale (tinyllm/gguf.py reads and writes their bytes):

    Q8_0  absmax:       d = max|x| / 127,            q = round(x / d) ∈ −127..127    x ≈ d·q
    Q4_1  scale + min:  m = min x, d = (max − min)/15, q = round((x − m) / d) ∈ 0..15   x ≈ d·q + m
          (byte j of a block holds element j in its low nibble and element j + 16 in its high one)

In memory a quantised matrix W (N, K) is a tuple (qs, d, m) of three arrays, the GGUF blocks split
field by field so that Numba can read them (it has no float16): qs keeps the GGUF bytes as they
are, (N, K) int8 for Q8_0 or (N, K/2) uint8 nibble pairs for Q4_1, and d, m (N, K/32)
are the block's float16 scale and minimum widened to float32 (exactly). Q8_0 has no minimum; its
m is d again, never read. That is 36 bytes per 32 weights for Q8_0 (GGUF: 34) and 24 for Q4_1
(GGUF: 20), against 128 in float32.

The matrix-vector product y = W x never dequantises W. The activations x stay float32 (not
quantised per block as llama.cpp does for its integer dot products); per block b, over its 32
columns c:

    Q8_0  y_r = Σ_b d_rb · Σ_c q_rbc x_bc
    Q4_1  y_r = Σ_b (d_rb · Σ_c q_rbc x_bc + m_rb · Σ_c x_bc)          Σ_c x_bc once per block

so the inner loop is a plain integer-times-float dot product, and the result equals
"dequantise, then float32 matvec" up to float32 round-off (tests/test_quant.py).

QuantizedDecoder is the Decoder (tinyllm/decode.py) with these matrices: every linear layer of
every block and the output head quantised, the embedding a quantised matrix of which one row is
dequantised per token. Built from a float model (QuantizedDecoder.from_model(model, "q8_0")) or
straight from a GGUF file whose blocks it keeps as they are (from_gguf), with no float32 copy
of the weights ever made; its prompt goes through the same jitted step one token at a time.
"""
import math

import numpy as np
from numba import njit, prange

from autograd import kernels
from autograd.kernels import FMA_SUM, _exp
from tinyllm import gguf
from tinyllm.decode import _attend_heads, _rmsnorm, _rope
from tinyllm.kv_cache import KVCache

FORMATS = {"q8_0": gguf.Q8_0, "q4_1": gguf.Q4_1}
BLOCK = 32


# ---------------------------------------------------------------------------- blocks ↔ arrays
def from_gguf_bytes(raw, ggml_type, shape):
    """GGUF bytes of a Q8_0 or Q4_1 matrix of shape (N, K) → (qs, d, m), no dequantisation."""
    N, K = shape
    if K % BLOCK:
        raise ValueError(f"rows of {K} numbers are not whole blocks of {BLOCK}")
    if ggml_type == gguf.Q8_0:
        b = np.frombuffer(raw, gguf.Q8_0_BLOCK).reshape(N, K // BLOCK)
        d = b["d"].astype(np.float32)
        return np.ascontiguousarray(b["qs"]).reshape(N, K), d, d
    if ggml_type == gguf.Q4_1:
        b = np.frombuffer(raw, gguf.Q4_1_BLOCK).reshape(N, K // BLOCK)
        return (np.ascontiguousarray(b["qs"]).reshape(N, K // 2), b["d"].astype(np.float32),
                b["m"].astype(np.float32))
    raise ValueError(f"ggml type {ggml_type} is not Q8_0 or Q4_1")


def quantize(W, fmt):
    """A float matrix (N, K) → (qs, d, m) in fmt "q8_0" or "q4_1" (gguf.py's quantisers). Rows
    whose length is not a multiple of 32 get zero columns up to one (the vector they multiply
    must then be padded with zeros too: the decoder does so for W2's input of ffn_dim numbers)."""
    W = np.asarray(W, dtype=np.float32)
    if fmt not in FORMATS:
        raise ValueError(f"unknown quantisation {fmt!r} (choose from {', '.join(FORMATS)})")
    if W.ndim != 2:
        raise ValueError(f"quantize takes a matrix, not an array of shape {W.shape}")
    if W.shape[1] % BLOCK:
        W = np.pad(W, ((0, 0), (0, -W.shape[1] % BLOCK)))
    encode = gguf.quantize_q8_0 if fmt == "q8_0" else gguf.quantize_q4_1
    return from_gguf_bytes(encode(W), FORMATS[fmt], W.shape)


def fmt_of(w):
    """'q8_0' or 'q4_1' for a (qs, d, m) tuple."""
    return "q8_0" if w[0].dtype == np.int8 else "q4_1"


def dequantize(w):
    """(qs, d, m) → the float32 matrix (N, K) it stands for (the NumPy reference)."""
    qs, d, m = w
    blocks = qs.reshape(*d.shape, -1)                                      # (..., N, nb, 32 or 16)
    if fmt_of(w) == "q8_0":
        x = blocks.astype(np.float32) * d[..., None]                      # x = d·q
    else:
        q = np.concatenate([blocks & 0x0F, blocks >> 4], axis=-1).astype(np.float32)
        x = q * d[..., None] + m[..., None]                                # x = d·q + m
    return x.reshape(*d.shape[:-1], -1)


def nbytes(w):
    return sum(a.nbytes for a in {id(a): a for a in w}.values())


# ---------------------------------------------------------------------------- matrix × vector
def matvec_reference(w, x):
    """y = W x block by block, as the kernel computes it, in NumPy: (N,) float32."""
    qs, d, m = w
    qs = qs.reshape(*d.shape, -1)                                          # (N, nb, 32 or 16)
    xb = np.asarray(x, np.float32).reshape(-1, BLOCK)                      # (nb, 32)
    if fmt_of(w) == "q8_0":
        dots = np.einsum("rbc,bc->rb", qs.astype(np.float32), xb)          # Σ_c q x per block
        return (d * dots).sum(axis=1, dtype=np.float32)
    lo, hi = (qs & 0x0F).astype(np.float32), (qs >> 4).astype(np.float32)  # (N, nb, 16) each
    dots = np.einsum("rbc,bc->rb", lo, xb[:, :16]) + np.einsum("rbc,bc->rb", hi, xb[:, 16:])
    return (d * dots + m * xb.sum(axis=1)).sum(axis=1, dtype=np.float32)


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec_q8_0(qs, d, x, out):
    """out = W x for W as Q8_0: qs (N, K) int8, d (N, K/32); x (K,) float32. The loop runs over a
    whole row with each number's block scale d[r, c // 32], which LLVM vectorises (a loop of 32
    per block is unrolled instead, and is several times slower). Rows are shared among threads."""
    for r in prange(qs.shape[0]):
        q, dr = qs[r], d[r]
        acc = np.float32(0.0)
        for c in range(x.shape[0]):
            acc += dr[c >> 5] * np.float32(q[c]) * x[c]
        out[r] = acc


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec_q4_1(qs, d, m, x, out):
    """out = W x for W as Q4_1: qs (N, K/2) uint8 nibble pairs, d, m (N, K/32); x (K,) float32.
    Byte i of a row (block b = i // 16, j = i mod 16) holds columns 32b + j (low nibble) and
    32b + 16 + j (high); x is first split into those two orders (xlo, xhi) so the row loop reads
    both contiguously. The high nibble is read in place, q & 0xF0 = 16·(q >> 4), against xhi/16
    (both exact): a shift would widen the bytes to 64 bits and halve the speed. The minimum's
    term Σ_b m_rb Σ_c x_bc uses the block sums of x."""
    nb, half = d.shape[1], qs.shape[1]
    xlo = np.empty(half, dtype=np.float32)
    xhi = np.empty(half, dtype=np.float32)             # x of the high nibbles, divided by 16
    xsum = np.zeros(nb, dtype=np.float32)
    for i in range(half):
        b, j = i >> 4, i & 15
        xlo[i], xhi[i] = x[b * BLOCK + j], x[b * BLOCK + 16 + j]
        xsum[b] += xlo[i] + xhi[i]
        xhi[i] *= np.float32(1.0 / 16.0)
    lo, hi = np.uint8(0x0F), np.uint8(0xF0)          # uint8 masks: an int64 one would not vectorise
    for r in prange(qs.shape[0]):
        q, dr, mr = qs[r], d[r], m[r]
        acc = np.float32(0.0)
        for i in range(half):
            acc += dr[i >> 4] * (np.float32(q[i] & lo) * xlo[i] + np.float32(q[i] & hi) * xhi[i])
        for b in range(nb):
            acc += mr[b] * xsum[b]
        out[r] = acc


@njit(cache=True)
def _qmatvec(qs, d, m, x, out):
    """out = W x for either format (Q8_0 has one byte per column, Q4_1 half a byte)."""
    if qs.shape[1] == x.shape[0]:
        _matvec_q8_0(qs, d, x, out)
    else:
        _matvec_q4_1(qs, d, m, x, out)


def matvec(w, x):
    """y = W x with the Numba kernel: (N,) float32."""
    out = np.empty(w[0].shape[0], np.float32)
    _qmatvec(w[0], w[1], w[2], np.ascontiguousarray(x, dtype=np.float32), out)
    return out


@njit(cache=True)
def _dequantize_row(qs, d, m, r, out):
    """out = row r of W, dequantised (the embedding lookup)."""
    q8 = qs.shape[1] == out.shape[0]
    for b in range(d.shape[1]):
        if q8:
            for c in range(BLOCK):
                out[b * BLOCK + c] = d[r, b] * np.float32(qs[r, b * BLOCK + c])
        else:
            for j in range(BLOCK // 2):
                byte = qs[r, b * 16 + j]
                out[b * BLOCK + j] = d[r, b] * np.float32(byte & np.uint8(15)) + m[r, b]
                out[b * BLOCK + 16 + j] = d[r, b] * np.float32(byte >> np.uint8(4)) + m[r, b]


# ---------------------------------------------------------------------------- one step
@njit(cache=True, fastmath=FMA_SUM)
def _decode_step_q(token, pos, emb, attn_norm, wqkv, wo, ffn_norm, w13, w2, final_norm, head,
                   cos, sin, k_cache, v_cache, window, n_heads, n_kv_heads, eps, logits):
    """decode._decode_step with quantised matrices: each of emb, wqkv, wo, w13, w2, head is a
    (qs, d, m) tuple, the four layer ones stacked over the layers on axis 0."""
    D = emb[1].shape[1] * BLOCK
    hd = k_cache.shape[3]
    F = w13[1].shape[1] // 2                          # ffn_dim (W2's rows may be padded past it)
    scale = np.float32(1.0 / math.sqrt(hd))
    x = np.empty(D, dtype=np.float32)
    _dequantize_row(emb[0], emb[1], emb[2], token, x)  # (D,) the residual stream
    xn = np.empty(D, dtype=np.float32)
    qkv = np.empty(wqkv[0].shape[1], dtype=np.float32)
    att = np.empty(n_heads * hd, dtype=np.float32)
    h13 = np.empty(2 * F, dtype=np.float32)
    g = np.zeros(w2[1].shape[2] * BLOCK, dtype=np.float32)  # silu(gate) ⊙ up, zero-padded to blocks
    delta = np.empty(D, dtype=np.float32)
    first = max(0, pos - window + 1)
    slot = pos % k_cache.shape[2]
    scores = np.empty((n_heads, pos - first + 1), dtype=np.float32)
    one = np.float32(1.0)
    for l in range(wqkv[0].shape[0]):
        _rmsnorm(x, attn_norm[l], eps, xn)
        _qmatvec(wqkv[0][l], wqkv[1][l], wqkv[2][l], xn, qkv)
        for h in range(n_heads + n_kv_heads):
            _rope(qkv[h * hd:(h + 1) * hd], cos, sin)
        k_at = n_heads * hd
        v_at = (n_heads + n_kv_heads) * hd
        for kh in range(n_kv_heads):
            k_cache[l, kh, slot] = qkv[k_at + kh * hd:k_at + (kh + 1) * hd]
            v_cache[l, kh, slot] = qkv[v_at + kh * hd:v_at + (kh + 1) * hd]
        _attend_heads(qkv[:k_at], k_cache[l], v_cache[l], first, pos, scale, scores, att)
        _qmatvec(wo[0][l], wo[1][l], wo[2][l], att, delta)
        for j in range(D):
            x[j] += delta[j]
        _rmsnorm(x, ffn_norm[l], eps, xn)
        _qmatvec(w13[0][l], w13[1][l], w13[2][l], xn, h13)
        for j in range(F):
            a = h13[j]
            g[j] = a / (one + _exp(-a)) * h13[F + j]
        _qmatvec(w2[0][l], w2[1][l], w2[2][l], g, delta)
        for j in range(D):
            x[j] += delta[j]
    _rmsnorm(x, final_norm, eps, xn)
    _qmatvec(head[0], head[1], head[2], xn, logits)


# ---------------------------------------------------------------------------- the wrapper
def _stack(ws):
    """Quantised matrices of the layers → one (qs, d, m) with the layers on axis 0."""
    qs = np.ascontiguousarray(np.stack([w[0] for w in ws]))
    d = np.ascontiguousarray(np.stack([w[1] for w in ws]))
    m = d if fmt_of(ws[0]) == "q8_0" else np.ascontiguousarray(np.stack([w[2] for w in ws]))
    return qs, d, m


def _concat(ws):
    """[Wq; Wk; Wv] (or [W1; W3]) of quantised matrices: their rows, one after the other."""
    qs = np.concatenate([w[0] for w in ws])
    d = np.concatenate([w[1] for w in ws])
    return qs, d, (d if fmt_of(ws[0]) == "q8_0" else np.concatenate([w[2] for w in ws]))


class QuantizedDecoder:
    """The Decoder's interface (prefill, step, feed, pos, cache, cfg) over quantised weights.

        dec = QuantizedDecoder.from_model(model, "q4_1")     # quantise a float model
        dec = QuantizedDecoder.from_gguf(path)               # keep a GGUF file's blocks
        logits = dec.prefill(prompt_ids); logits = dec.step(next_id)

    weights: {"emb", "head", "wqkv", "wo", "w13", "w2": (qs, d, m); "attn_norm", "ffn_norm" (L, D)
    and "final_norm" (D,): float32}. The prompt is fed one step at a time (no float weights here
    for a batched forward), so prefill costs as many steps as the prompt has tokens.
    """

    def __init__(self, cfg, weights):
        self.cfg, self.w = cfg, weights
        self.cache = KVCache(cfg, batch=1, dtype=np.float32)
        self.rope_cos, self.rope_sin = kernels.rope_tables(
            cfg.max_seq_len, cfg.head_dim, cfg.rope_theta, dtype=np.float32, scaling=cfg.rope_scaling)

    @classmethod
    def from_model(cls, model, fmt, embedding_fmt="q8_0"):
        """Quantise a float Transformer's weights: every linear layer in fmt; the embedding (and
        output head) in embedding_fmt (Q8_0 by default, as llama.cpp's 4-bit files keep it)."""
        if fmt not in FORMATS or embedding_fmt not in FORMATS:
            raise ValueError(f"unknown quantisation {fmt!r} (choose from {', '.join(FORMATS)})")
        cfg = model.cfg
        if cfg.dim % BLOCK:
            raise ValueError(f"dim {cfg.dim} must be a multiple of {BLOCK} to quantise in blocks of "
                             f"{BLOCK}")
        q = lambda p: quantize(p.weight.data, fmt)                               # noqa: E731
        layers = model.layers
        emb = quantize(model.tok_embeddings.weight.data, embedding_fmt)
        weights = {
            "emb": emb,
            "head": emb if model.output is model.tok_embeddings
            else quantize(model.output.weight.data, embedding_fmt),
            "wqkv": _stack([_concat([q(b.attention.wq), q(b.attention.wk), q(b.attention.wv)])
                            for b in layers]),
            "wo": _stack([q(b.attention.wo) for b in layers]),
            "w13": _stack([_concat([q(b.feed_forward.w1), q(b.feed_forward.w3)]) for b in layers]),
            "w2": _stack([q(b.feed_forward.w2) for b in layers]),
            "attn_norm": np.stack([b.attention_norm.weight.data for b in layers]).astype(np.float32),
            "ffn_norm": np.stack([b.ffn_norm.weight.data for b in layers]).astype(np.float32),
            "final_norm": model.norm.weight.data.astype(np.float32)}
        return cls(cfg, weights)

    @classmethod
    def from_gguf(cls, path, fmt=None, max_seq_len=2048):
        """(QuantizedDecoder, Tokenizer or None) from a GGUF file. Matrices stored as Q8_0 or Q4_1 are kept
        as they are when fmt is None (or already fmt); others (F32, F16, ...) are quantised to fmt
        (Q8_0 when fmt is None), one tensor at a time, so no float copy of the model is made."""
        from dataclasses import replace
        from tinyllm.tokenizer import Tokenizer
        if fmt is not None and fmt not in FORMATS:
            raise ValueError(f"unknown quantisation {fmt!r} (choose from {', '.join(FORMATS)})")
        f = gguf.read_gguf(path)
        cfg = gguf.config_from_metadata(f.metadata, path, max_seq_len)
        cfg = replace(cfg, tie_embeddings="output.weight" not in f.tensors)
        wanted = gguf.parameter_shapes(cfg)
        for name, shape in wanted.items():
            if name not in f.tensors:
                raise gguf.GGUFError(f"{path}: missing tensor {name!r}")
            if f.tensors[name].shape != shape:
                raise gguf.GGUFError(f"{path}: tensor {name!r} has shape {f.tensors[name].shape}, "
                                     f"the config from the metadata needs {shape}")

        def matrix(name, target):
            t = f.tensors[name]
            kept = target if target is not None else ("q8_0" if t.ggml_type == gguf.Q8_0 else
                                                      "q4_1" if t.ggml_type == gguf.Q4_1 else "q8_0")
            if t.ggml_type == FORMATS[kept]:
                return from_gguf_bytes(f.raw(name), t.ggml_type, t.shape)
            return quantize(f.array(name), kept)

        L = cfg.n_layers
        blk = lambda i, n: matrix(f"blk.{i}.{n}.weight", fmt)                    # noqa: E731
        emb = matrix("token_embd.weight", None if fmt is None else "q8_0")
        weights = {
            "emb": emb,
            "head": emb if cfg.tie_embeddings else matrix("output.weight", None if fmt is None else "q8_0"),
            "wqkv": _stack([_concat([blk(i, "attn_q"), blk(i, "attn_k"), blk(i, "attn_v")]) for i in range(L)]),
            "wo": _stack([blk(i, "attn_output") for i in range(L)]),
            "w13": _stack([_concat([blk(i, "ffn_gate"), blk(i, "ffn_up")]) for i in range(L)]),
            "w2": _stack([blk(i, "ffn_down") for i in range(L)]),
            "attn_norm": np.stack([f.array(f"blk.{i}.attn_norm.weight") for i in range(L)]),
            "ffn_norm": np.stack([f.array(f"blk.{i}.ffn_norm.weight") for i in range(L)]),
            "final_norm": f.array("output_norm.weight").copy()}
        fmts = {fmt_of(weights[k]) for k in ("wqkv", "wo", "w13", "w2")}
        if len(fmts) != 1:
            raise gguf.GGUFError(f"{path}: the layers mix {sorted(fmts)}; give fmt to requantise them")
        tokenizer = (Tokenizer.from_gguf_metadata(f.metadata, source=path)
                     if "tokenizer.ggml.model" in f.metadata else None)
        return cls(cfg, weights), tokenizer

    @property
    def pos(self):
        return self.cache.pos

    @property
    def fmt(self):
        return fmt_of(self.w["wqkv"])

    def nbytes(self):
        """Bytes of weights a step reads (the embedding only one row of)."""
        w = self.w
        total = sum(nbytes(w[k]) for k in ("wqkv", "wo", "w13", "w2", "head"))
        return total + w["attn_norm"].nbytes + w["ffn_norm"].nbytes + w["final_norm"].nbytes

    def rope_at(self, first):
        if first < self.cfg.max_seq_len:
            return self.rope_cos[first], self.rope_sin[first]
        cfg = self.cfg
        cos, sin = kernels.rope_tables(1, cfg.head_dim, cfg.rope_theta, start=first, dtype=np.float32,
                                       scaling=cfg.rope_scaling)
        return cos[0], sin[0]

    def prefill(self, ids):
        """A new sequence: the prompt one step at a time; the logits (V,) after its last token."""
        self.cache.reset()
        return self.feed(ids)

    def feed(self, ids):
        """Logits (V,) after feeding ids from the current position on (one step per token)."""
        if not len(ids):
            raise ValueError("feed needs at least one token")
        for token in ids:
            logits = self.step(token)
        return logits

    def step(self, token):
        """Logits (V,) after feeding `token` at the next position."""
        cfg, cache, w = self.cfg, self.cache, self.w
        if not cache.rolling and cache.pos >= cache.n_slots:
            raise ValueError(f"the KV cache is full ({cache.n_slots} positions): prefill again")
        if not 0 <= token < cfg.vocab_size:
            raise ValueError(f"token id {token} is not in [0, {cfg.vocab_size})")
        cos, sin = self.rope_at(cache.pos)
        logits = np.empty(cfg.vocab_size, dtype=np.float32)
        _decode_step_q(int(token), cache.pos, w["emb"], w["attn_norm"], w["wqkv"], w["wo"],
                       w["ffn_norm"], w["w13"], w["w2"], w["final_norm"], w["head"], cos, sin,
                       cache.k[:, 0], cache.v[:, 0], cache.window or cache.n_slots,
                       cfg.n_heads, cfg.n_kv_heads, cfg.norm_eps, logits)
        cache.advance(1)
        return logits
