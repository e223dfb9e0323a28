"""WRONG on purpose (the check must catch it): rotates the gradient FORWARD again (R g, not Rᵀ g).

The Jacobian of a rotation is the rotation, and the backward multiplies by its TRANSPOSE: the
rotation by minus the angle. This applies the forward rotation a second time."""
import numpy as np


def rope_forward(x, cos, sin):                          # right
    a, b = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    y = np.empty_like(x)
    y[..., 0::2] = a * c - b * s
    y[..., 1::2] = a * s + b * c
    return y


def rope_backward(g, cos, sin):
    a, b = g[..., 0::2], g[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    gx = np.empty_like(g)
    gx[..., 0::2] = a * c - b * s
    gx[..., 1::2] = a * s + b * c
    return gx
