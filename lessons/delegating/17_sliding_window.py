"""DELEGATING on purpose (the check must refuse it): the library's rolling cache and windowed
attention do the work (KVCache.update reads the visible past out of the ring and writes the
chunk; causal_attention(..., window=W) masks), as tinyllm/model.py Attention.forward does."""
import numpy as np

from autograd import attention
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig


def attend_rolling(cache_k, cache_v, q, k, v, pos):
    B, H, T, hd = q.shape
    Hkv, W = k.shape[1], cache_k.shape[2]
    cfg = ModelConfig(dim=H * hd, n_heads=H, n_kv_heads=Hkv, n_layers=1, vocab_size=8, max_seq_len=W,
                      sliding_window=W)
    cache = KVCache(cfg, batch=B, dtype=cache_k.dtype)
    cache.k[0], cache.v[0], cache.pos = cache_k, cache_v, pos    # the learner's ring, in the library's cache
    past_k, past_v = cache.update(0, k, v)
    cache_k[...], cache_v[...] = cache.k[0], cache.v[0]
    o, _ = attention.causal_attention(q, np.concatenate([past_k, k], 2), np.concatenate([past_v, v], 2),
                                      1.0 / np.sqrt(hd), window=W)
    return o
