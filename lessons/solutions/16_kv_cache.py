"""Solution 16: attention with a KV cache (compare tinyllm/kv_cache.py KVCache.update and tinyllm/model.py Attention.forward)."""
import numpy as np


def attend_with_cache(cache_k, cache_v, q, k, v, start_pos):
    B, H, T, hd = q.shape
    Hkv = k.shape[1]
    S = start_pos + T
    cache_k[:, :, start_pos:S] = k                       # append this step's keys and values
    cache_v[:, :, start_pos:S] = v
    keys = np.repeat(cache_k[:, :, :S], H // Hkv, axis=1)     # (B, H, S, hd): kv head per query head
    values = np.repeat(cache_v[:, :, :S], H // Hkv, axis=1)
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(hd)         # (B, H, T, S)
    visible = np.arange(S)[None, :] <= start_pos + np.arange(T)[:, None]   # (T, S): key j ≤ start_pos + i
    scores = np.where(visible, scores, -np.inf)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ values
