"""DELEGATING on purpose (the check must refuse it): the library's windowed attention mask does
the part of the exercise that is about the window."""
import numpy as np

from autograd import attention


def attend_rolling(cache_k, cache_v, q, k, v, pos):
    B, H, T, hd = q.shape
    W = cache_k.shape[2]
    visible = attention.attention_mask(T, pos + T, window=W)          # the library's (T, S) mask
    keys = np.concatenate([np.zeros((B, k.shape[1], pos, hd)), k], axis=2)
    values = np.concatenate([np.zeros((B, v.shape[1], pos, hd)), v], axis=2)
    G = H // k.shape[1]
    s = q @ np.repeat(keys, G, axis=1).swapaxes(-1, -2) / np.sqrt(hd)
    s = np.where(visible, s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True) @ np.repeat(values, G, axis=1)
