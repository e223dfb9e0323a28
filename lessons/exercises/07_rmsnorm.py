"""Exercise 07: RMSNorm — the forward in NumPy, the forward as a Numba kernel, the backward.

Read lessons/07_rmsnorm.py: section 1 (the forward), section 3 (the derivation, which stops where
yours starts) and section 6 (Numba), then write the three functions below.
Check it:   make exercise N=07        (or: python lessons/exercise.py 07)
Stuck?      make exercise N=07 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check compares your forwards with autograd/kernels.py rmsnorm_ref, times your Numba kernel
against it (it must be at least 1.5x faster on (4096, 256) float32), gradchecks your backward in
float64 and compares it with kernels.rmsnorm_backward. While your functions run, the library's
RMSNorm code (and Tensor.backward) is unavailable: calling it fails the check.
"""
import math

import numpy as np
from numba import njit


def rms_norm_forward(x, w, eps):
    """y = x · rstd · w with rstd = 1/√(mean(x², last axis) + eps), row by row, in NumPy.
    x (N, D), w (D,). Returns (y (N, D), rstd (N,)); the backward reuses rstd."""
    raise NotImplementedError("rms_norm_forward: see lessons/07_rmsnorm.py, section 1")


def rms_norm_forward_numba(x, w, eps):
    """The same (y, rstd) as rms_norm_forward, computed by a kernel you write with @njit
    (loops over rows and columns; allocate y and rstd here and let the kernel fill them)."""
    raise NotImplementedError("rms_norm_forward_numba: see lessons/07_rmsnorm.py, section 6")


def rms_norm_backward(x, w, rstd, g):
    """Gradients of y = x * rstd * w, rstd = 1/sqrt(mean(x², last axis) + eps), row by row.

    x (N, D) the input rows; w (D,) the gain; rstd (N,) saved by the forward; g (N, D) = dL/dy.
    Returns (gx, gw): dL/dx of shape (N, D) and dL/dw of shape (D,).
    """
    raise NotImplementedError("rms_norm_backward: see lessons/07_rmsnorm.py, section 3")
