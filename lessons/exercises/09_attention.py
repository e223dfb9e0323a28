"""Exercise 09: causal attention with grouped-query heads, forward and backward.

Read lessons/09_attention.py, sections 1-6, then write `causal_attention_forward` and
`causal_attention_backward` below.
Stuck?      make exercise N=09 HINT=1   (then HINT=2, ...)
Check it:   python lessons/exercise.py 09
The check wraps your backward in an autograd op, gradchecks it in float64 (central differences)
and compares it with the library's fused kernel (autograd/attention.py, causal_attention_backward).
"""
import numpy as np


def causal_attention_forward(q, k, v):
    """o = softmax(q kᵀ / √hd + causal mask) v with grouped-query heads.

    q (B, H, T, hd); k, v (B, Hkv, T, hd), Hkv divides H; query head h uses kv head h // (H/Hkv).
    The mask hides key j > query i. Returns o (B, H, T, hd)."""
    raise NotImplementedError("causal_attention_forward: see lessons/09_attention.py, sections 1-5")


def causal_attention_backward(q, k, v, go):
    """Gradients of  o = softmax(q kᵀ / √hd + causal mask) v  with grouped-query heads.

    q (B, H, T, hd); k, v (B, Hkv, T, hd), Hkv divides H; query head h uses kv head h // (H/Hkv).
    go (B, H, T, hd) = dL/do. The mask hides key j > query i.
    Returns (gq, gk, gv), shaped like q, k, v.

    Recompute the probabilities P (B, H, T, T) from q and k (repeat each kv head for its group
    first), then walk back through  o = P v,  P = softmax(S),  S = q kᵀ / √hd.
    """
    raise NotImplementedError("causal_attention_backward: see lessons/09_attention.py, sections 5-6")
