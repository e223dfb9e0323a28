"""Solution 09: the backward of causal attention with GQA
(compare autograd/attention.py, causal_attention_backward_ref and the fused _attention_bwd)."""
import numpy as np


def causal_attention_forward(q, k, v):
    """o = softmax(q kᵀ / √hd + causal mask) v with grouped-query heads.
    q (B, H, T, hd); k, v (B, Hkv, T, hd); query head h reads kv head h // (H/Hkv). Returns o (B, H, T, hd)."""
    H, T, hd = q.shape[1], q.shape[2], q.shape[3]
    G = H // k.shape[1]
    kr, vr = np.repeat(k, G, axis=1), np.repeat(v, G, axis=1)   # (B, H, T, hd)
    s = q @ kr.swapaxes(-1, -2) / np.sqrt(hd)                   # (B, H, T, T) scores
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)             # query i sees keys j <= i
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ vr                                               # (B, H, T, hd)


def causal_attention_backward(q, k, v, go):
    """Gradients of  o = softmax(q kᵀ / √hd + causal mask) v  with grouped-query heads.

    q (B, H, T, hd); k, v (B, Hkv, T, hd), Hkv divides H; query head h uses kv head h // (H/Hkv).
    go (B, H, T, hd) = dL/do. Returns (gq, gk, gv), shaped like q, k, v.
    """
    B, H, T, hd = q.shape
    Hkv = k.shape[1]
    G = H // Hkv
    scale = 1.0 / np.sqrt(hd)
    kr = np.repeat(k, G, axis=1)                        # (B, H, T, hd): kv head h // G for head h
    vr = np.repeat(v, G, axis=1)
    # forward again: S, masked softmax P
    s = q @ kr.swapaxes(-1, -2) * scale                 # (B, H, T, T)
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)     # key j > query i: -inf
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)                  # masked entries are exactly 0
    # o = P v
    gp = go @ vr.swapaxes(-1, -2)                       # dL/dP (B, H, T, T)
    gvr = p.swapaxes(-1, -2) @ go                       # dL/dv for each query head's copy
    # P = softmax(S), row by row: dS = P ⊙ (dP - Σ_j dP ⊙ P)
    gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
    # S = q kᵀ · scale
    gq = gs @ kr * scale
    gkr = gs.swapaxes(-1, -2) @ q * scale
    # each kv head was used by G query heads: its gradient is the SUM over the group
    gk = gkr.reshape(B, Hkv, G, T, hd).sum(axis=2)
    gv = gvr.reshape(B, Hkv, G, T, hd).sum(axis=2)
    return gq, gk, gv
