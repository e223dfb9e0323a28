"""Fused causal self-attention with grouped-query heads and an optional sliding window: Numba
kernels beside their NumPy definition.

The same three parts as every op of autograd/kernels.py: causal_attention_ref, the plain NumPy
definition; _attention_fwd / _attention_bwd, the jitted cores; causal_attention /
causal_attention_backward, the wrappers that autograd.functional calls. kernels.py's conventions
hold here but one: the softmax sums (the log-sum-exp, and D_i = dO_i · O_i in the backward) add
up in the input dtype, as FlashAttention's do, not in float64; a row has at most T terms.
"""
import numpy as np
from numba import njit, prange

from autograd.kernels import FMA_SUM, _exp, _floating, _like

__all__ = ["causal_attention", "causal_attention_backward",
           "causal_attention_ref", "causal_attention_backward_ref", "attention_mask"]


# ---------------------------------------------------------------------------
# Causal self-attention with grouped-query heads, fused (flash-attention style)
# ---------------------------------------------------------------------------
# q (B, H, T, hd), k, v (B, Hkv, S, hd) with S ≥ T; query head h reads kv head h // (H // Hkv).
# The T queries are the last T of the S positions: query i sits at position i + (S - T), so
# S = T is training and prefill, S > T a chunk (or one token) after a KV cache's keys.
#     S_ij = q_i · k_j * scale, masked unless  i + off - W < j <= i + off   (off = S - T)
#     P = softmax(S)     O = P @ V
# W is the sliding window (Mistral, Jiang et al. 2023): each query sees its own key and the
# W - 1 before it; W = None is plain causal attention (W = ∞).
# The fused forward never stores the (T, T) matrix S: a few query rows at a time it
# builds those rows' scores (at most T floats each), their softmax and their output,
# and saves lse = log sum_j exp(S_ij) per row for the backward, which recomputes P.
# Backward, with dO the upstream grad and D_i = dO_i · O_i:
#     P_ij = exp(S_ij - lse_i)       dP_ij = dO_i · V_j        dS_ij = P_ij (dP_ij - D_i)
#     dQ_i = scale * sum_j dS_ij K_j      dK_j = scale * sum_i dS_ij Q_i      dV_j = sum_i P_ij dO_i
# dK, dV of a kv head sum over the query heads of its group.
#
# Register blocking: the kernels take ROWS = 4 query rows at once, written out as four
# scalars (a0..a3) and four row buffers (s0..s3), so every key or value loaded from memory
# feeds four multiply-adds instead of one. That is the trick inside every fast matmul, and
# here it makes the kernels 1.4-2.7x faster than one row at a time. The wrapper pads T (and
# S by as many) up to a multiple of ROWS with zero rows, which no real row can see (they are
# in its future). A block of 4 rows touches only the keys lo..n-1 that one of its rows can see
# (lo = first key of its first row, n = one past the last row's own key): with a window that
# is about W + 3 keys per block instead of all earlier ones, so the work is O(T·W), not O(T²).

ROWS = 4


def _repeat_kv(k, H):
    """(B, Hkv, T, hd) -> (B, H, T, hd), each kv head repeated for its group of query heads."""
    return np.repeat(k, H // k.shape[1], axis=1)


def attention_mask(T, S, window=None):
    """(T, S) bool: query i (at position i + S - T) sees key j iff i + S - T - W < j <= i + S - T."""
    i = np.arange(T)[:, None] + (S - T)                          # (T, 1) query positions
    j = np.arange(S)[None, :]                                    # (1, S) key positions
    visible = j <= i
    if window is not None:
        visible &= j > i - window
    return visible


def causal_attention_ref(q, k, v, scale, window=None):
    """(o, lse) by the plain route: repeat kv, scores, causal (windowed) mask, softmax, @ v."""
    H = q.shape[1]
    kr, vr = _repeat_kv(k, H), _repeat_kv(v, H)                 # (B, H, S, hd)
    s = q @ kr.swapaxes(-1, -2) * scale                          # (B, H, T, S)
    s = np.where(attention_mask(q.shape[2], k.shape[2], window), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(s - m).sum(axis=-1))         # (B, H, T)
    p = np.exp(s - lse[..., None])
    return p @ vr, lse


def causal_attention_backward_ref(q, k, v, o, lse, go, scale, window=None):
    B, H, T, hd = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    kr, vr = _repeat_kv(k, H), _repeat_kv(v, H)
    s = q @ kr.swapaxes(-1, -2) * scale
    s = np.where(attention_mask(T, S, window), s, -np.inf)
    p = np.exp(s - lse[..., None])                               # (B, H, T, S)
    gv = p.swapaxes(-1, -2) @ go                                 # (B, H, S, hd)
    gp = go @ vr.swapaxes(-1, -2)                                # (B, H, T, S)
    gs = p * (gp - (go * o).sum(axis=-1, keepdims=True))
    gq = gs @ kr * scale
    gk = gs.swapaxes(-1, -2) @ q * scale
    # sum the group's contributions back onto its kv head
    gk = gk.reshape(B, Hkv, H // Hkv, S, hd).sum(axis=2)
    gv = gv.reshape(B, Hkv, H // Hkv, S, hd).sum(axis=2)
    return gq, gk, gv


@njit(inline="always", fastmath=FMA_SUM)
def _dot4(r0, r1, r2, r3, x, n):
    """(r0·x, r1·x, r2·x, r3·x) over the first n entries: four dot products sharing x's loads."""
    a0 = a1 = a2 = a3 = x.dtype.type(0.0)
    for j in range(n):
        a0 += r0[j] * x[j]
        a1 += r1[j] * x[j]
        a2 += r2[j] * x[j]
        a3 += r3[j] * x[j]
    return a0, a1, a2, a3


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _attention_fwd(q, kT, vT, scale, window, o, lse):
    """q, o (B, H, T, hd); kT, vT (B, Hkv, hd, S) (k and v transposed); lse (B, H, T);
    T % 4 == 0, S ≥ T; window ≥ 1 (pass S for plain causal attention).

    Parallel over the B*H (batch, query head) pairs. Query row i sits at key position
    c = i + S - T and sees keys c - window + 1 .. c. For each block of 4 query rows
    i0..i0+3, over the keys lo..n-1 that any of them sees:
      scores  s_r[j] = scale * q_r · k_j, built as hd passes of s_r[lo:n] += q_rd * kT[d, lo:n]
      mask    row r keeps only its keys first..c (the rest of lo..n-1 gets probability 0)
      softmax s_r[j] = exp(s_r[j] - max) / sum, kept for the rows
      output  o_rd = sum_j s_r[j] * vT[d, j]
    Every inner loop runs over keys j, contiguous in kT / vT, so LLVM vectorises it.
    """
    B, H, T, hd = q.shape
    S = kT.shape[3]
    G = H // kT.shape[1]                               # query heads per kv head
    off = S - T                                        # query i is at key position i + off
    zero = q.dtype.type(0.0)
    for bh in prange(B * H):
        b, h = bh // H, bh % H
        k2, v2 = kT[b, h // G], vT[b, h // G]          # (hd, S) of this head's kv head
        q2, o2 = q[b, h], o[b, h]                      # (T, hd)
        s = np.empty((ROWS, S), dtype=q.dtype)         # scores, then probabilities, of 4 rows
        s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
        for i0 in range(0, T, ROWS):
            n = i0 + off + ROWS                        # causal: no row of the block sees past n
            lo = max(0, i0 + off - window + 1)         # window: no row sees before lo
            w = n - lo                                 # the block's keys lo..n-1, as views from 0:
            t0, t1, t2, t3 = s0[lo:n], s1[lo:n], s2[lo:n], s3[lo:n]   # loops from 0 vectorise
            s[:, lo:n] = 0.0
            for d in range(hd):
                kd = k2[d, lo:n]
                a0, a1, a2, a3 = q2[i0, d] * scale, q2[i0 + 1, d] * scale, q2[i0 + 2, d] * scale, q2[i0 + 3, d] * scale
                for j in range(w):
                    t0[j] += a0 * kd[j]
                    t1[j] += a1 * kd[j]
                    t2[j] += a2 * kd[j]
                    t3[j] += a3 * kd[j]
            for r in range(ROWS):                      # softmax of each row over its keys first..c
                c = i0 + off + r
                first = max(0, c - window + 1)
                sr = s[r, first:c + 1]                 # the row's visible scores
                m = sr[0]
                for j in range(1, sr.shape[0]):
                    m = max(m, sr[j])
                total = zero
                for j in range(sr.shape[0]):
                    e = _exp(sr[j] - m)
                    sr[j] = e
                    total += e
                inv = q.dtype.type(1.0) / total
                for j in range(sr.shape[0]):
                    sr[j] *= inv
                s[r, lo:first] = zero                  # out of the window: probability 0
                s[r, c + 1:n] = zero                   # the future: probability 0
                lse[b, h, i0 + r] = m + np.log(total)
            for d in range(hd):                        # o_rd = Σ_j s_r[j] v_j[d]
                o2[i0, d], o2[i0 + 1, d], o2[i0 + 2, d], o2[i0 + 3, d] = _dot4(t0, t1, t2, t3, v2[d, lo:n], w)


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _attention_bwd(q, kT, vT, o, lse, go, scale, window, gq, gkT, gvT):
    """Gradients; kT, vT, gkT, gvT (B, Hkv, hd, S), gkT and gvT zeroed; T % 4 == 0, S ≥ T.

    Parallel over (batch, kv head) pairs: one task owns gkT, gvT of its kv head and
    loops over the G query heads that share it, so no two tasks write one element.
    Per block of 4 query rows the probabilities are recomputed from the saved lse (no
    T×T matrix is kept between forward and backward); all inner loops run over keys j.
    """
    B, H, T, hd = q.shape
    Hkv, S = kT.shape[1], kT.shape[3]
    G = H // Hkv
    off = S - T                                        # query i is at key position i + off
    zero = q.dtype.type(0.0)
    for bkh in prange(B * Hkv):
        b, kh = bkh // Hkv, bkh % Hkv
        k2, v2, gk2, gv2 = kT[b, kh], vT[b, kh], gkT[b, kh], gvT[b, kh]   # (hd, S)
        p = np.empty((ROWS, S), dtype=q.dtype)         # S_ij, then P_ij, of 4 rows
        dp = np.empty((ROWS, S), dtype=q.dtype)        # dP_ij, then scale * dS_ij, of 4 rows
        p0, p1, p2, p3 = p[0], p[1], p[2], p[3]
        e0, e1, e2, e3 = dp[0], dp[1], dp[2], dp[3]
        for h in range(kh * G, (kh + 1) * G):
            q2, o2, go2, gq2 = q[b, h], o[b, h], go[b, h], gq[b, h]         # (T, hd)
            for i0 in range(0, T, ROWS):
                n = i0 + off + ROWS                    # the keys any of the 4 rows sees: lo..n-1
                lo = max(0, i0 + off - window + 1)
                w = n - lo                             # as views from 0 (loops from 0 vectorise)
                t0, t1, t2, t3 = p0[lo:n], p1[lo:n], p2[lo:n], p3[lo:n]
                u0, u1, u2, u3 = e0[lo:n], e1[lo:n], e2[lo:n], e3[lo:n]
                p[:, lo:n] = 0.0
                dp[:, lo:n] = 0.0
                for d in range(hd):                    # S = scale q kᵀ and dP = dO vᵀ, 4 rows
                    kd, vd = k2[d, lo:n], v2[d, lo:n]
                    a0, a1, a2, a3 = q2[i0, d] * scale, q2[i0 + 1, d] * scale, q2[i0 + 2, d] * scale, q2[i0 + 3, d] * scale
                    c0, c1, c2, c3 = go2[i0, d], go2[i0 + 1, d], go2[i0 + 2, d], go2[i0 + 3, d]
                    for j in range(w):
                        t0[j] += a0 * kd[j]
                        t1[j] += a1 * kd[j]
                        t2[j] += a2 * kd[j]
                        t3[j] += a3 * kd[j]
                        u0[j] += c0 * vd[j]
                        u1[j] += c1 * vd[j]
                        u2[j] += c2 * vd[j]
                        u3[j] += c3 * vd[j]
                for r in range(ROWS):
                    i, pr, er = i0 + r, p[r], dp[r]
                    c = i + off
                    first = max(0, c - window + 1)
                    Di = zero                          # D_i = dO_i · O_i
                    for d in range(hd):
                        Di += go2[i, d] * o2[i, d]
                    lse_i = lse[b, h, i]
                    pv, ev = pr[first:c + 1], er[first:c + 1]       # the row's visible keys
                    for j in range(pv.shape[0]):
                        pj = _exp(pv[j] - lse_i)       # P_ij
                        pv[j] = pj
                        ev[j] = pj * (ev[j] - Di) * scale   # dS_ij, times scale
                    pr[lo:first] = zero                # out of the window: no gradient
                    er[lo:first] = zero
                    pr[c + 1:n] = zero                 # the future: no gradient
                    er[c + 1:n] = zero
                for d in range(hd):                    # dQ_i = scale * sum_j dS_ij K_j
                    gq2[i0, d], gq2[i0 + 1, d], gq2[i0 + 2, d], gq2[i0 + 3, d] = _dot4(u0, u1, u2, u3, k2[d, lo:n], w)
                for d in range(hd):                    # dK_j += scale dS_ij Q_i,  dV_j += P_ij dO_i
                    gkd, gvd = gk2[d, lo:n], gv2[d, lo:n]
                    a0, a1, a2, a3 = q2[i0, d], q2[i0 + 1, d], q2[i0 + 2, d], q2[i0 + 3, d]
                    c0, c1, c2, c3 = go2[i0, d], go2[i0 + 1, d], go2[i0 + 2, d], go2[i0 + 3, d]
                    for j in range(w):
                        gkd[j] += u0[j] * a0 + u1[j] * a1 + u2[j] * a2 + u3[j] * a3
                        gvd[j] += t0[j] * c0 + t1[j] * c1 + t2[j] * c2 + t3[j] * c3


def _pad_rows(x, Tp):
    """x (B, h, T, hd) padded with zero rows to (B, h, Tp, hd) (a copy only when Tp > T)."""
    if x.shape[2] == Tp:
        return x
    out = np.zeros(x.shape[:2] + (Tp,) + x.shape[3:], dtype=x.dtype)
    out[:, :, :x.shape[2]] = x
    return out


def _window(window, S):
    """The kernels' window: an int in 1..S (S itself when None: every earlier key is in reach)."""
    if window is None:
        return S
    if int(window) != window or window < 1:
        raise ValueError(f"causal_attention: the sliding window must be a positive integer, got {window}")
    return int(min(window, S))


def _attention_inputs(q, k, v):
    """q padded to T a multiple of ROWS; kT, vT (B, Hkv, hd, Sp) padded by as many rows."""
    q = _floating(q, "q")
    k, v = _like(k, q), _like(v, q)
    B, H, T, hd = q.shape
    S = k.shape[2] if k.ndim == 4 else -1
    if k.shape != v.shape or k.shape[0] != B or k.shape[3:] != (hd,) or S < T or H % k.shape[1]:
        raise ValueError(f"causal_attention: q {q.shape}, k {k.shape}, v {v.shape} do not fit "
                         f"(need k, v (B, Hkv, S, hd) with S >= T and Hkv dividing H)")
    Tp = -(-T // ROWS) * ROWS
    Sp = S + Tp - T                                                    # the padded rows' own keys
    kT = np.ascontiguousarray(_pad_rows(k, Sp).transpose(0, 1, 3, 2))  # (B, Hkv, hd, Sp)
    vT = np.ascontiguousarray(_pad_rows(v, Sp).transpose(0, 1, 3, 2))  # (B, Hkv, hd, Sp)
    return _pad_rows(q, Tp), kT, vT


def causal_attention(q, k, v, scale, window=None):
    """(o, lse): causal softmax(q kᵀ * scale) @ v with GQA; q (B, H, T, hd), k/v (B, Hkv, S, hd).

    o (B, H, T, hd), lse (B, H, T) = log-sum-exp of each scaled, masked score row. The queries
    are the last T of the S key positions (S = T for training and prefill; S > T for new tokens
    after cached keys). window W: query at position c sees keys c - W + 1 .. c only.
    """
    T, S = np.shape(q)[2], np.shape(k)[2]
    q, kT, vT = _attention_inputs(q, k, v)
    o = np.empty_like(q)
    lse = np.empty(q.shape[:3], dtype=q.dtype)
    _attention_fwd(q, kT, vT, q.dtype.type(scale), _window(window, S), o, lse)
    return np.ascontiguousarray(o[:, :, :T]), np.ascontiguousarray(lse[:, :, :T])


def causal_attention_backward(q, k, v, o, lse, go, scale, window=None):
    """(dq, dk, dv) of causal_attention, from the saved o and lse and the upstream grad go."""
    T, S = np.shape(q)[2], np.shape(k)[2]
    q, kT, vT = _attention_inputs(q, k, v)
    Tp = q.shape[2]
    o, go = _pad_rows(_like(o, q), Tp), _pad_rows(_like(go, q), Tp)
    lse = _pad_rows(_like(lse, q)[..., None], Tp)[..., 0]       # padded rows: lse 0, go 0
    gq = np.empty_like(q)
    gkT, gvT = np.zeros_like(kT), np.zeros_like(vT)
    _attention_bwd(q, kT, vT, o, np.ascontiguousarray(lse), go, q.dtype.type(scale),
                   _window(window, S), gq, gkT, gvT)
    return (np.ascontiguousarray(gq[:, :, :T]), gkT[:, :, :, :S].transpose(0, 1, 3, 2).copy(),
            gvT[:, :, :, :S].transpose(0, 1, 3, 2).copy())
