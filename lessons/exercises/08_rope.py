"""Exercise 08: the backward of RoPE (rotate the gradient back).

Read lessons/08_rope.py, sections 2 and 5, then write rope_backward in NumPy.
Check it:   make exercise N=08        (or: python lessons/exercise.py 08)
The check gradchecks it and compares it with kernels.rope_backward.
"""
import numpy as np


def rope_backward(g, cos, sin):
    """y = rope(x, cos, sin): x (B, T, H, hd), pair j = (x[..., 2j], x[..., 2j+1]) at position t
    rotated by the angle whose cosine and sine are cos[t, j], sin[t, j] (tables of shape (T, hd/2)).

    g = dL/dy, shaped like x. Return dL/dx."""
    raise NotImplementedError("rope_backward: see lessons/08_rope.py, section 5")
