"""Exercise 10: the SwiGLU gate, forward and backward.

Read lessons/10_swiglu.py, sections 2 and 5, then write `swiglu_forward` and `swiglu_backward` below.
Stuck?      make exercise N=10 HINT=1   (then HINT=2, ...)
Check it:   python lessons/exercise.py 10
The check wraps your backward in an autograd op, gradchecks it in float64 and compares it with
the library's Numba kernel (autograd/kernels.py, swiglu_backward).
"""
import numpy as np


def swiglu_forward(a, b):
    """h = silu(a) ⊙ b = a·σ(a) ⊙ b, elementwise, σ(a) = 1 / (1 + e^(-a))."""
    raise NotImplementedError("swiglu_forward: see lessons/10_swiglu.py, section 2")


def swiglu_backward(a, b, g):
    """Gradients of h = silu(a) ⊙ b = a·σ(a) ⊙ b, elementwise, σ(a) = 1 / (1 + e^(-a)).

    a, b, g: arrays of one shape (g = dL/dh). Returns (ga, gb) = (dL/da, dL/db), same shape.
    """
    raise NotImplementedError("swiglu_backward: see lessons/10_swiglu.py, section 5")
