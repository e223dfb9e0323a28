"""Exercise 08: RoPE — the rotation (forward) and its backward.

Read lessons/08_rope.py, sections 2 and 5, then write rope_forward and rope_backward in NumPy.
Check it:   make exercise N=08        (or: python lessons/exercise.py 08)
Stuck?      make exercise N=08 HINT=1   (then HINT=2, ...)
The check compares your forward with kernels.rope_ref, gradchecks your backward and compares it
with kernels.rope_backward. The library's RoPE code is unavailable while yours runs.
"""
import numpy as np


def rope_forward(x, cos, sin):
    """x (B, T, H, hd): pair j = (x[..., 2j], x[..., 2j+1]) at position t rotated by the angle
    whose cosine and sine are cos[t, j], sin[t, j] (tables (T, hd/2)). Returns y, shaped like x."""
    raise NotImplementedError("rope_forward: see lessons/08_rope.py, section 2")


def rope_backward(g, cos, sin):
    """y = rope(x, cos, sin): x (B, T, H, hd), pair j = (x[..., 2j], x[..., 2j+1]) at position t
    rotated by the angle whose cosine and sine are cos[t, j], sin[t, j] (tables of shape (T, hd/2)).

    g = dL/dy, shaped like x. Return dL/dx."""
    raise NotImplementedError("rope_backward: see lessons/08_rope.py, section 5")
