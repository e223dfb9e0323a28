"""WRONG on purpose (the check must catch it): no causal mask among the new tokens.

"With a cache every query sees all cached keys" is true for single-token steps (T = 1), which
is most of generation, so this passes a token-by-token test. But when several tokens are fed
at once (the prompt, a chunk), each of them also sees the tokens AFTER it in the chunk."""
import numpy as np


def attend_with_cache(cache_k, cache_v, q, k, v, start_pos):
    B, H, T, hd = q.shape
    Hkv = k.shape[1]
    S = start_pos + T
    cache_k[:, :, start_pos:S] = k
    cache_v[:, :, start_pos:S] = v
    keys = np.repeat(cache_k[:, :, :S], H // Hkv, axis=1)
    values = np.repeat(cache_v[:, :, :S], H // Hkv, axis=1)
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(hd)    # missing: mask key j > start_pos + i
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ values
