"""Exercise 07: the backward of RMSNorm.

Read lessons/07_rmsnorm.py, section 3 (the derivation), then write `rms_norm_backward` below.
Check it:   make exercise N=07        (or: python lessons/exercise.py 07)
The check gradchecks your backward in float64 and compares it with autograd/kernels.py.
"""
import numpy as np


def rms_norm_backward(x, w, rstd, g):
    """Gradients of y = x * rstd * w, rstd = 1/sqrt(mean(x², last axis) + eps), row by row.

    x (N, D) the input rows; w (D,) the gain; rstd (N,) saved by the forward; g (N, D) = dL/dy.
    Returns (gx, gw): dL/dx of shape (N, D) and dL/dw of shape (D,).
    """
    raise NotImplementedError("rms_norm_backward: see lessons/07_rmsnorm.py, section 3")
