"""Exercise 17: attention over a rolling KV cache (a ring of W slots), with a sliding window.

Read lessons/17_sliding_window.py, sections 1 and 3, then write `attend_rolling` below.
Check it:   python lessons/exercise.py 17
The check feeds a sequence in pieces (a short prompt, single tokens, chunks shorter than, equal
to and longer than W) and compares your outputs with windowed attention over the whole
sequence (autograd/attention.py, causal_attention_ref with window=W), and your ring with the
keys and values it was given.
"""
import numpy as np


def attend_rolling(cache_k, cache_v, q, k, v, pos):
    """Attend T new tokens over the ring and their own keys, then store them in the ring.

    cache_k, cache_v: (B, Hkv, W, hd) rings of W slots: position p lives in slot p % W. Before
        the call they hold the positions max(0, pos - W) .. pos - 1.
    q: (B, H, T, hd) queries of the T new tokens, at positions pos .. pos + T - 1;
    k, v: (B, Hkv, T, hd) their keys and values. Query head h uses kv head h // (H // Hkv).
    Returns o (B, H, T, hd): the query at position c attends (softmax(q kᵀ / √hd) v) over the keys
    at positions j with c - W < j <= c, W keys counting its own. Afterwards, update the rings IN
    PLACE so that they hold the positions max(0, pos + T - W) .. pos + T - 1.
    """
    raise NotImplementedError("attend_rolling: see lessons/17_sliding_window.py, sections 1 and 3")
