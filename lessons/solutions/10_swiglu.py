"""Solution 10: the backward of the SwiGLU gate (compare autograd/kernels.py, swiglu_backward_ref)."""
import numpy as np


def swiglu_forward(a, b):
    """h = silu(a) ⊙ b = a·σ(a) ⊙ b, elementwise."""
    return a / (1.0 + np.exp(-a)) * b


def swiglu_backward(a, b, g):
    """Gradients of h = silu(a) ⊙ b = a·σ(a) ⊙ b, elementwise. Returns (ga, gb)."""
    s = 1.0 / (1.0 + np.exp(-a))                 # σ(a)
    gb = g * a * s                               # dh/db = silu(a)
    ga = g * b * s * (1.0 + a * (1.0 - s))       # dh/da = b·(σ + a·σ(1-σ))
    return ga, gb
