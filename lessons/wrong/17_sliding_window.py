"""WRONG on purpose (the check must catch it): a window of W keys *before* the query, plus its own.

"The window is the W previous tokens" sounds right and is a convention some write down
(i - W <= j <= i), but it lets each query see W + 1 keys. Mistral, and transformers'
MistralForCausalLM, use i - W < j <= i: W keys counting the query's own. A model trained with
one and run with the other gives different numbers as soon as a sequence is longer than W."""
import numpy as np


def attend_rolling(cache_k, cache_v, q, k, v, pos):
    B, H, T, hd = q.shape
    Hkv, W = k.shape[1], cache_k.shape[2]
    first = max(0, pos - W)                             # W keys back (the ring still holds them)
    past = np.arange(first, pos) % W
    keys = np.concatenate([cache_k[:, :, past], k], axis=2)
    values = np.concatenate([cache_v[:, :, past], v], axis=2)
    keys, values = np.repeat(keys, H // Hkv, axis=1), np.repeat(values, H // Hkv, axis=1)
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(hd)
    c = pos + np.arange(T)[:, None]
    j = first + np.arange(keys.shape[2])[None, :]
    scores = np.where((j <= c) & (j >= c - W), scores, -np.inf)   # one key too many
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    keep = min(T, W)
    into = np.arange(pos + T - keep, pos + T) % W
    cache_k[:, :, into] = k[:, :, T - keep:]
    cache_v[:, :, into] = v[:, :, T - keep:]
    return p @ values
