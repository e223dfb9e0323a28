"""Solution 17: attention over a rolling cache (compare tinyllm/kv_cache.py KVCache.update, then
autograd/attention.py causal_attention with window=W, as tinyllm/model.py Attention.forward does)."""
import numpy as np


def attend_rolling(cache_k, cache_v, q, k, v, pos):
    B, H, T, hd = q.shape
    Hkv, W = k.shape[1], cache_k.shape[2]
    first = max(0, pos - (W - 1))                       # the oldest position any new query sees
    past = np.arange(first, pos) % W                    # their slots, in position order
    keys = np.concatenate([cache_k[:, :, past], k], axis=2)       # (B, Hkv, S, hd): first .. pos+T-1
    values = np.concatenate([cache_v[:, :, past], v], axis=2)
    keys, values = np.repeat(keys, H // Hkv, axis=1), np.repeat(values, H // Hkv, axis=1)
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(hd)    # (B, H, T, S)
    c = pos + np.arange(T)[:, None]                     # (T, 1) query positions
    j = first + np.arange(keys.shape[2])[None, :]       # (1, S) key positions
    scores = np.where((j <= c) & (j > c - W), scores, -np.inf)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    keep = min(T, W)                                    # only then overwrite: the chunk's last W
    into = np.arange(pos + T - keep, pos + T) % W
    cache_k[:, :, into] = k[:, :, T - keep:]
    cache_v[:, :, into] = v[:, :, T - keep:]
    return p @ values
