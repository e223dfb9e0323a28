"""WRONG on purpose (the check must catch it): averages the kv gradients over the group.

Repeating a kv head G times is a copy, and the gradient of a copied value is the SUM of the
copies' gradients. This version takes the mean — it looks symmetric and "normalised", and it is
off by exactly a factor G for k and v (q is right, and so is everything when Hkv == H)."""
import numpy as np


def causal_attention_forward(q, k, v):           # right
    T, hd = q.shape[2], q.shape[3]
    G = q.shape[1] // k.shape[1]
    s = q @ np.repeat(k, G, axis=1).swapaxes(-1, -2) / np.sqrt(hd)
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True) @ np.repeat(v, G, axis=1)


def causal_attention_backward(q, k, v, go):
    B, H, T, hd = q.shape
    Hkv = k.shape[1]
    G = H // Hkv
    scale = 1.0 / np.sqrt(hd)
    kr, vr = np.repeat(k, G, axis=1), np.repeat(v, G, axis=1)
    s = q @ kr.swapaxes(-1, -2) * scale
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    gp = go @ vr.swapaxes(-1, -2)
    gvr = p.swapaxes(-1, -2) @ go
    gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
    gq = gs @ kr * scale
    gkr = gs.swapaxes(-1, -2) @ q * scale
    gk = gkr.reshape(B, Hkv, G, T, hd).mean(axis=2)     # should be .sum(axis=2)
    gv = gvr.reshape(B, Hkv, G, T, hd).mean(axis=2)
    return gq, gk, gv
