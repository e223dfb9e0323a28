"""Solution 08: RoPE forward and backward (compare autograd/kernels.py: rope_ref, rope_backward_ref)."""
import numpy as np


def rope_forward(x, cos, sin):
    """x (B, T, H, hd): pair j = (x[..., 2j], x[..., 2j+1]) at position t rotated by the angle
    whose cosine and sine are cos[t, j], sin[t, j] (tables (T, hd/2)). Returns y, shaped like x."""
    a, b = x[..., 0::2], x[..., 1::2]                  # (B, T, H, hd/2) each
    c, s = cos[:, None, :], sin[:, None, :]            # (T, 1, hd/2)
    y = np.empty_like(x)
    y[..., 0::2] = a * c - b * s                       # [c -s] [a]
    y[..., 1::2] = a * s + b * c                       # [s  c] [b]
    return y


def rope_backward(g, cos, sin):
    """y = rope(x, cos, sin): x (B, T, H, hd), pair j = (x[..., 2j], x[..., 2j+1]) at position t
    rotated by the angle whose cosine and sine are cos[t, j], sin[t, j] (tables of shape (T, hd/2)).

    g = dL/dy, shaped like x. Return dL/dx."""
    a, b = g[..., 0::2], g[..., 1::2]                  # (B, T, H, hd/2) each
    c, s = cos[:, None, :], sin[:, None, :]            # (T, 1, hd/2): broadcast over batch and heads
    gx = np.empty_like(g)
    # dL/dx = Rᵀ g: the rotation by -angle, i.e. sin -> -sin
    gx[..., 0::2] = a * c + b * s
    gx[..., 1::2] = -a * s + b * c
    return gx
