"""Exercise 16: one step of attention with a KV cache.

Read lessons/16_kv_cache.py, sections 1-3, then write `attend_with_cache` below.
Check it:   python lessons/exercise.py 16
Stuck?      make exercise N=16 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check feeds a sequence in pieces (a prefill, single tokens, a chunk) and compares your
outputs with full causal attention over the whole sequence (autograd/attention.py,
causal_attention_ref), and your cache with the keys and values it was given.
"""
import numpy as np


def attend_with_cache(cache_k, cache_v, q, k, v, start_pos):
    """Write this step's keys and values into the cache, then attend over everything so far.

    cache_k, cache_v: (B, Hkv, max_len, hd) arrays, filled for positions < start_pos; update
        them IN PLACE at positions start_pos .. start_pos + T - 1.
    q: (B, H, T, hd) queries of the T new tokens (at positions start_pos .. start_pos + T - 1);
    k, v: (B, Hkv, T, hd) their keys and values. Query head h uses kv head h // (H // Hkv).
    Returns o (B, H, T, hd) = softmax(q kᵀ / √hd, causal) v over the S = start_pos + T cached
    positions: new token i (at position start_pos + i) sees keys 0 .. start_pos + i.
    """
    raise NotImplementedError("attend_with_cache: see lessons/16_kv_cache.py, sections 1-3")
