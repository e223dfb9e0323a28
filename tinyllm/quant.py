"""Quantised weights for the one-token decoder: Q8_0 and Q4_1 blocks, kept quantised, in Numba.

Decoding reads every weight once per token, so its speed is the speed of streaming the weights
from memory. Store each weight in fewer bits and there are fewer bytes to stream. The two formats
are llama.cpp's (GGUF's), in blocks of 32 consecutive numbers of a row, each block with its own
scale (tinyllm/gguf.py reads and writes their bytes):

    Q8_0  absmax:       d = max|x| / 127,            q = round(x / d) ∈ −127..127    x ≈ d·q
    Q4_1  scale + min:  m = min x, d = (max − min)/15, q = round((x − m) / d) ∈ 0..15   x ≈ d·q + m
          (byte j of a block holds element j in its low nibble and element j + 16 in its high one)

In memory a quantised matrix W (N, K) is a pair (qs, scales) of arrays holding exactly the bytes
of its GGUF blocks, split field by field and reordered: 64 rows side by side (the rows in groups
of ROWS = 64, the last padded with zero rows; a group's bytes ordered block b, byte j, row l), so
that one vector instruction works on many rows at once (llama.cpp repacks its blocks the same way
on CPUs). The scales stay float16, kept as their 16 bits (Numba has no float16) and widened to
float32 (exactly) where they are used:

    Q8_0  qs (N/64, K·64) int8 with qs[g, (32b + j)·64 + l] = number j of block b of row 64g + l;
          scales (N/64, K/32·64) uint16: [g, 64b + l] = d of that block. 34 bytes per 32 weights.
    Q4_1  qs (N/64, K/2·64) uint8 with qs[g, (16b + j)·64 + l] = byte j of block b of row 64g + l
          (low nibble: column 32b + j, high: 32b + 16 + j); scales (N/64, K/32·2·64) uint16:
          [g, 128b + l] = d, [g, 128b + 64 + l] = m. 20 bytes per 32 weights.

The matrix-vector product y = W x never dequantises W. Per block b of 32 columns c of a row r:

    Q8_0  y_r = Σ_b d_rb · Σ_c q_rbc x_bc                       x float32
    Q4_1  y_r = Σ_b (d_rb δ_b · Σ_c q_rbc ξ_bc + m_rb Σ_c x_bc)   x quantised: x_bc ≈ δ_b ξ_bc

Q8_0 keeps the activations x in float32: its kernel streams bytes as fast as memory gives them, and
the result equals "dequantise, then float32 matvec" up to float32 round-off. Q4_1 quantises them
per block, as llama.cpp does (its Q8_1): δ_b = max|x_b| / 127, ξ = round(x / δ_b) ∈ −127..127, and
Σ_c x_bc stays exact. Then Σ_c q ξ is a sum of small integers, computed in int16 for many rows
at a time (16 products of at most 15·127 fit), about twice as fast as converting every nibble to
float. The kernel equals "dequantise W, quantise-dequantise x, float32 matvec" up to float32
round-off; what the rounding of x costs is measured in bits per byte (bench/quant.py).

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
from tinyllm.decode import Decoder, _attend_heads, _rmsnorm, _rope, check_step
from tinyllm.kv_cache import KVCache

FORMATS = {"q8_0": gguf.Q8_0, "q4_1": gguf.Q4_1}
BLOCK = 32
ROWS = 64                               # rows side by side: a vector load reads many rows' bytes
XI_MAX = 127                            # Q4_1 rounds activations to ξ ∈ −127..127 per block


# ---------------------------------------------------------------------------- blocks ↔ arrays
def from_gguf_bytes(raw, ggml_type, shape):
    """GGUF bytes of a Q8_0 or Q4_1 matrix of shape (N, K) → (qs, scales), no dequantisation."""
    N, K = shape
    if K % BLOCK:
        raise ValueError(f"rows of {K} numbers are not whole blocks of {BLOCK}")
    if ggml_type == gguf.Q8_0:
        b = np.frombuffer(raw, gguf.Q8_0_BLOCK).reshape(N, K // BLOCK)
        scales = b["d"][..., None]                                         # (N, nb, 1)
    elif ggml_type == gguf.Q4_1:
        b = np.frombuffer(raw, gguf.Q4_1_BLOCK).reshape(N, K // BLOCK)
        scales = np.stack([b["d"], b["m"]], axis=-1)                       # (N, nb, 2)
    else:
        raise ValueError(f"ggml type {ggml_type} is not Q8_0 or Q4_1")
    if not np.all(np.isfinite(scales)):
        raise ValueError("a block's scale or minimum is not a finite number")
    return _interleave(b["qs"]), _interleave(scales.view(np.uint16))


def _interleave(a):
    """(N, nb, ...) per row → (N/64, nb·...·64): 64 rows side by side, zero rows padding the last
    group: [g, (b, ...), l] = a[64g + l, b, ...]."""
    G = -(-a.shape[0] // ROWS)
    a = np.pad(a, [(0, G * ROWS - a.shape[0])] + [(0, 0)] * (a.ndim - 1))
    a = a.reshape(G, ROWS, -1)                                             # (G, 64, nb·...)
    return np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(G, -1)       # (G, nb·...·64)


def _rows(a, per_row):
    """The inverse of _interleave: (G, n·64) → (G·64, n), the padding rows included."""
    G = a.shape[0]
    return a.reshape(G, per_row, ROWS).transpose(0, 2, 1).reshape(G * ROWS, per_row)


def quantize(W, fmt):
    """A float matrix (N, K) → (qs, scales) in fmt "q8_0" or "q4_1" (gguf.py's quantisers). Rows
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
    """'q8_0' or 'q4_1' for a (qs, scales) pair."""
    return "q8_0" if w[0].dtype == np.int8 else "q4_1"


def scales_of(w):
    """The float32 scales of (qs, scales), one row per row of W: (N, nb) d for Q8_0, (N, nb, 2) d
    and m for Q4_1 (numpy's float16 → float32, the reference for the kernels' _half)."""
    qs, sc = w
    per_block = 1 if fmt_of(w) == "q8_0" else 2
    nb = sc.shape[1] // (per_block * ROWS)
    f = _rows(sc, nb * per_block).view(np.float16).astype(np.float32)
    return f if per_block == 1 else f.reshape(-1, nb, 2)


def dequantize(w):
    """(qs, scales) → the float32 matrix (N, K) it stands for (the NumPy reference). N counts the
    zero rows padding the last group of 64 (slice [:N] for the matrix's own rows)."""
    qs, sc = w
    if qs.ndim == 3:                                                       # layers stacked
        return np.stack([dequantize((a, b)) for a, b in zip(qs, sc)])
    s = scales_of(w)
    nb = s.shape[1]
    if fmt_of(w) == "q8_0":
        blocks = _rows(qs, nb * BLOCK).reshape(-1, nb, BLOCK)              # (N, nb, 32)
        x = blocks.astype(np.float32) * s[..., None]                       # x = d·q
        return x.reshape(x.shape[0], -1)
    bytes_ = _rows(qs, nb * 16).reshape(-1, nb, 16)                        # (N, nb, 16) GGUF bytes
    q = np.concatenate([bytes_ & 0x0F, bytes_ >> 4], axis=-1).astype(np.float32)   # (N, nb, 32)
    x = q * s[..., :1] + s[..., 1:]                                        # x = d·q + m
    return x.reshape(x.shape[0], -1)


def quantize_activations(x):
    """x (K,) float32 → (ξ (K/32, 32) int16 in −127..127, δ (K/32,), Σ_c x per block), per block
    of 32: δ = max|x| / 127, ξ = round(x · 127 / max|x|) (0 for an all-zero block)."""
    xb = np.asarray(x, np.float32).reshape(-1, BLOCK)
    amax = np.abs(xb).max(axis=1)
    inv = np.where(amax > 0, np.float32(XI_MAX) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    return (np.rint(xb * inv[:, None]).astype(np.int16), amax / np.float32(XI_MAX),
            xb.sum(axis=1, dtype=np.float32))


def nbytes(w):
    return w[0].nbytes + w[1].nbytes


# ---------------------------------------------------------------------------- matrix × vector
def matvec_reference(w, x):
    """y = W x block by block, as the kernels compute it, in NumPy: (N,) float32 (N counts the
    padding rows, whose y is 0)."""
    qs, sc = w
    s = scales_of(w)
    nb = s.shape[1]
    if fmt_of(w) == "q8_0":
        xb = np.asarray(x, np.float32).reshape(-1, BLOCK)                  # (nb, 32)
        q = _rows(qs, nb * BLOCK).reshape(-1, nb, BLOCK).astype(np.float32)  # (N, nb, 32)
        dots = np.einsum("rbc,bc->rb", q, xb)                              # Σ_c q x per block
        return (s * dots).sum(axis=1, dtype=np.float32)
    xi, dx, xsum = quantize_activations(x)                                 # (nb, 32), (nb,), (nb,)
    bytes_ = _rows(qs, nb * 16).reshape(-1, nb, 16).astype(np.int32)       # (N, nb, 16)
    dots = ((bytes_ & 0x0F) * xi[:, :16]).sum(-1) + ((bytes_ >> 4) * xi[:, 16:]).sum(-1)  # exact
    y = s[..., 0] * dx * dots.astype(np.float32) + s[..., 1] * xsum       # (N, nb)
    return y.sum(axis=1, dtype=np.float32)


@njit(inline="always")
def _half(h):
    """The float32 value of a float16 given by its 16 bits (Numba has no float16): sign and the
    15 other bits moved to float32's places, then 2^112 (= 2^(127 − 15)) rebases the exponent.
    Exact for every finite float16, subnormals and zero included (GGUF's d and m are finite)."""
    b = np.int32(h)
    bits = np.int32(((b & 0x8000) << 16) | ((b & 0x7FFF) << 13))
    return bits.view(np.float32) * np.float32(2.0 ** 112)


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec_q8_0(qs, sc, x, out):
    """out = W x for W as Q8_0, 64 rows side by side: qs (G, K·64) int8, sc (G, K/32·64) the
    float16 bits of d; x (K,) float32. For each group of 64 rows and each block: per row l,
    Σ_j q_jl x_j over the block's 32 numbers, then times the row's d. LLVM unrolls the loop over j
    (32, known) and vectorises the loop over the rows l: one vector register sums several rows,
    each x_j broadcast once per block. The groups are shared among the threads; out (N,) gets the
    first N rows (no padding)."""
    nb = x.shape[0] // BLOCK
    G, R = qs.shape[0], sc.shape[1] // nb             # R = ROWS
    q8 = qs.reshape(G, nb, BLOCK * R)                  # [g, b, j·R + l]
    d3 = sc.reshape(G, nb, R)
    for g in prange(G):
        acc = np.zeros(R, dtype=np.float32)
        for b in range(nb):
            q, xb, db = q8[g, b], x[b * BLOCK:(b + 1) * BLOCK], d3[g, b]
            for l in range(R):
                s = np.float32(0.0)
                for j in range(BLOCK):
                    s += np.float32(q[j * R + l]) * xb[j]
                acc[l] += _half(db[l]) * s
        for l in range(min(R, out.shape[0] - g * R)):
            out[g * R + l] = acc[l]


@njit(cache=True)
def _quantize_activations(x, xi, dx, xsum):
    """quantize_activations in Numba, into xi (K/32, 32) int16, dx, xsum (K/32,) float32."""
    for b in range(dx.shape[0]):
        amax, s = np.float32(0.0), np.float32(0.0)
        for c in range(BLOCK):
            v = x[b * BLOCK + c]
            s += v
            amax = max(amax, abs(v))
        inv = np.float32(XI_MAX) / amax if amax > 0 else np.float32(0.0)
        for c in range(BLOCK):
            xi[b, c] = np.int16(np.rint(x[b * BLOCK + c] * inv))
        dx[b], xsum[b] = amax / np.float32(XI_MAX), s


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _matvec_q4_1(qs, sc, x, out):
    """out = W x for W as Q4_1, 64 rows side by side: qs (G, K/2·64) uint8, sc (G, K/32·2·64) the
    float16 bits of d and m; x (K,) float32, quantised per block first. For each group of 64 rows
    and each block: per row l, the integer sums Σ_j lo_jl ξ_j and Σ_j hi_jl ξ_(16+j) over the
    block's 16 bytes j (each at most 16·15·127 = 30480: int16), then scaled in float32. LLVM
    unrolls the loop over j (16, known) and vectorises the loop over the rows: 16 rows of int16
    per instruction, the sums kept in registers. (np.int16 around each sum keeps it in int16:
    Numba would widen an int16 product to int64, four times fewer lanes.) The groups are shared
    among the threads; out (N,) gets the first N rows (no padding)."""
    nb = x.shape[0] // BLOCK
    G, R = qs.shape[0], sc.shape[1] // (2 * nb)       # R = ROWS
    q4 = qs.reshape(G, nb, 16 * R)                     # [g, b, j·R + l]
    dm = sc.reshape(G, nb, 2, R)                       # [g, b, (d, m), l]
    xi = np.empty((nb, BLOCK), dtype=np.int16)
    dx = np.empty(nb, dtype=np.float32)
    xsum = np.empty(nb, dtype=np.float32)
    _quantize_activations(x, xi, dx, xsum)
    for g in prange(G):
        acc = np.zeros(R, dtype=np.float32)
        for b in range(nb):
            q, xb, db, mb = q4[g, b], xi[b], dm[g, b, 0], dm[g, b, 1]
            for l in range(R):
                lo = np.int16(0)                       # Σ_j (low nibble) ξ_j
                hi = np.int16(0)                       # Σ_j (high nibble) ξ_(16+j)
                for j in range(16):
                    byte = q[j * R + l]
                    lo = np.int16(lo + np.int16(byte & np.uint8(15)) * xb[j])
                    hi = np.int16(hi + np.int16(byte >> np.uint8(4)) * xb[16 + j])
                acc[l] += (_half(db[l]) * dx[b] * (np.float32(lo) + np.float32(hi))
                           + _half(mb[l]) * xsum[b])
        for l in range(min(R, out.shape[0] - g * R)):
            out[g * R + l] = acc[l]


@njit(cache=True)
def _qmatvec(qs, sc, x, out):
    """out = W x for either format (a Q8_0 group has a byte per column of x and row, Q4_1 half)."""
    if qs.shape[1] == x.shape[0] * ROWS:
        _matvec_q8_0(qs, sc, x, out)
    else:
        _matvec_q4_1(qs, sc, x, out)


def matvec(w, x, rows=None):
    """y = W x with the Numba kernel: (rows,) float32 (default: all rows, the padding too)."""
    out = np.empty(rows or w[0].shape[0] * ROWS, np.float32)
    _qmatvec(w[0], w[1], np.ascontiguousarray(x, dtype=np.float32), out)
    return out


@njit(cache=True)
def _dequantize_row(qs, sc, r, out):
    """out = row r of W, dequantised (the embedding lookup)."""
    nb, R = out.shape[0] // BLOCK, ROWS
    g, l = r // R, r % R
    if qs.shape[1] == out.shape[0] * R:                # Q8_0: sc[g, 64b + l] = d
        for b in range(nb):
            db = _half(sc[g, b * R + l])
            for j in range(BLOCK):
                out[b * BLOCK + j] = db * np.float32(qs[g, (b * BLOCK + j) * R + l])
        return
    for b in range(nb):                                # Q4_1: sc[g, 128b + l] = d, [.. + 64] = m
        db, mb = _half(sc[g, 2 * b * R + l]), _half(sc[g, (2 * b + 1) * R + l])
        for j in range(16):
            byte = qs[g, (b * 16 + j) * R + l]
            out[b * BLOCK + j] = db * np.float32(byte & np.uint8(15)) + mb
            out[b * BLOCK + 16 + j] = db * np.float32(byte >> np.uint8(4)) + mb


# ---------------------------------------------------------------------------- one step
@njit(cache=True, fastmath=FMA_SUM, error_model="numpy")   # see decode._decode_step
def _decode_step_q(token, pos, emb, attn_norm, wqkv, wo, ffn_norm, w13, w2, final_norm, head,
                   cos, sin, k_cache, v_cache, window, n_heads, n_kv_heads, ffn_dim, eps, logits):
    """decode._decode_step with quantised matrices: each of emb, wqkv, wo, w13, w2, head is a
    (qs, scales) pair, the four layer ones stacked over the layers on axis 0."""
    D = final_norm.shape[0]
    hd = k_cache.shape[3]
    F = ffn_dim
    scale = np.float32(1.0 / math.sqrt(hd))
    x = np.empty(D, dtype=np.float32)
    _dequantize_row(emb[0], emb[1], token, x)  # (D,) the residual stream
    xn = np.empty(D, dtype=np.float32)
    qkv = np.empty((n_heads + 2 * n_kv_heads) * hd, dtype=np.float32)
    att = np.empty(n_heads * hd, dtype=np.float32)
    h13 = np.empty(2 * F, dtype=np.float32)
    g = np.zeros(-(-F // BLOCK) * BLOCK, dtype=np.float32)  # silu(gate) ⊙ up, zero-padded to blocks
    delta = np.empty(D, dtype=np.float32)
    first = max(0, pos - window + 1)
    slot = pos % k_cache.shape[2]
    scores = np.empty((n_heads, pos - first + 1), dtype=np.float32)
    one = np.float32(1.0)
    for l in range(wqkv[0].shape[0]):
        _rmsnorm(x, attn_norm[l], eps, xn)
        _qmatvec(wqkv[0][l], wqkv[1][l], xn, qkv)
        for h in range(n_heads + n_kv_heads):
            _rope(qkv[h * hd:(h + 1) * hd], cos, sin)
        k_at = n_heads * hd
        v_at = (n_heads + n_kv_heads) * hd
        for kh in range(n_kv_heads):
            k_cache[l, kh, slot] = qkv[k_at + kh * hd:k_at + (kh + 1) * hd]
            v_cache[l, kh, slot] = qkv[v_at + kh * hd:v_at + (kh + 1) * hd]
        _attend_heads(qkv[:k_at], k_cache[l], v_cache[l], first, pos, scale, scores, att)
        _qmatvec(wo[0][l], wo[1][l], att, delta)
        for j in range(D):
            x[j] += delta[j]
        _rmsnorm(x, ffn_norm[l], eps, xn)
        _qmatvec(w13[0][l], w13[1][l], xn, h13)
        for j in range(F):
            a = h13[j]
            g[j] = a / (one + _exp(-a)) * h13[F + j]
        _qmatvec(w2[0][l], w2[1][l], g, delta)
        for j in range(D):
            x[j] += delta[j]
    _rmsnorm(x, final_norm, eps, xn)
    _qmatvec(head[0], head[1], xn, logits)


# ---------------------------------------------------------------------------- the wrapper
def _stack(ws):
    """Quantised matrices of the layers → one (qs, scales) with the layers on axis 0."""
    return np.stack([w[0] for w in ws]), np.stack([w[1] for w in ws])


class QuantizedDecoder:
    """The Decoder's interface (prefill, step, feed, pos, cache, cfg) over quantised weights.

        dec = QuantizedDecoder.from_model(model, "q4_1")     # quantise a float model
        dec = QuantizedDecoder.from_gguf(path)               # keep a GGUF file's blocks
        logits = dec.prefill(prompt_ids); logits = dec.step(next_id)

    weights: {"emb", "head", "wqkv", "wo", "w13", "w2": (qs, scales); "attn_norm", "ffn_norm" (L, D)
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
        def q(*linears):                  # [W1; W2; ...] quantised: rows stay rows (blocks are in rows)
            return quantize(np.concatenate([p.weight.data for p in linears]), fmt)
        layers = model.layers
        emb = quantize(model.tok_embeddings.weight.data, embedding_fmt)
        weights = {
            "emb": emb,
            "head": emb if model.output is model.tok_embeddings
            else quantize(model.output.weight.data, embedding_fmt),
            "wqkv": _stack([q(b.attention.wq, b.attention.wk, b.attention.wv) for b in layers]),
            "wo": _stack([q(b.attention.wo) for b in layers]),
            "w13": _stack([q(b.feed_forward.w1, b.feed_forward.w3) for b in layers]),
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

        def matrix(names, target):
            """The tensors' rows one after the other ([Wq; Wk; Wv]), their blocks kept if they are
            all stored in the target format (the first one's when target is None)."""
            ts = [f.tensors[n] for n in names]
            kept = target if target is not None else ("q8_0" if ts[0].ggml_type == gguf.Q8_0 else
                                                      "q4_1" if ts[0].ggml_type == gguf.Q4_1 else "q8_0")
            if all(t.ggml_type == FORMATS[kept] for t in ts):
                rows = sum(t.shape[0] for t in ts)
                raw = f.raw(names[0]) if len(names) == 1 else b"".join(bytes(f.raw(n)) for n in names)
                try:
                    return from_gguf_bytes(raw, FORMATS[kept], (rows, ts[0].shape[1]))
                except ValueError as e:
                    raise gguf.GGUFError(f"{path}: tensor {' / '.join(names)}: {e}") from None
            return quantize(np.concatenate([f.array(n) for n in names]), kept)

        L = cfg.n_layers
        blk = lambda i, *ns: matrix([f"blk.{i}.{n}.weight" for n in ns], fmt)   # noqa: E731
        emb = matrix(["token_embd.weight"], None if fmt is None else "q8_0")
        weights = {
            "emb": emb,
            "head": emb if cfg.tie_embeddings else matrix(["output.weight"], None if fmt is None else "q8_0"),
            "wqkv": _stack([blk(i, "attn_q", "attn_k", "attn_v") for i in range(L)]),
            "wo": _stack([blk(i, "attn_output") for i in range(L)]),
            "w13": _stack([blk(i, "ffn_gate", "ffn_up") for i in range(L)]),
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

    feed = Decoder.feed                        # one step per token, from the current position on

    def step(self, token):
        """Logits (V,) after feeding `token` at the next position."""
        cfg, cache, w = self.cfg, self.cache, self.w
        check_step(cfg, cache, token)
        cos, sin = self.rope_at(cache.pos)
        logits = np.empty(cfg.vocab_size, dtype=np.float32)
        _decode_step_q(int(token), cache.pos, w["emb"], w["attn_norm"], w["wqkv"], w["wo"],
                       w["ffn_norm"], w["w13"], w["w2"], w["final_norm"], w["head"], cos, sin,
                       cache.k[:, 0], cache.v[:, 0], cache.window or cache.n_slots,
                       cfg.n_heads, cfg.n_kv_heads, cfg.ffn_dim, cfg.norm_eps, logits)
        cache.advance(1)
        return logits
