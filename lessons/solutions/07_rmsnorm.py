"""Solution 07: RMSNorm forward (NumPy and a Numba kernel) and backward
(compare autograd/kernels.py: rmsnorm_ref, _rmsnorm_fwd, rmsnorm_backward_ref)."""
import math

import numpy as np
from numba import njit


def rms_norm_forward(x, w, eps):
    """y = x · rstd · w with rstd = 1/√(mean(x², last axis) + eps), row by row.
    x (N, D), w (D,). Returns (y (N, D), rstd (N,)); the backward reuses rstd."""
    rstd = 1.0 / np.sqrt((x * x).mean(axis=-1) + eps)            # (N,)
    return x * rstd[:, None] * w, rstd


@njit(fastmath={"reassoc", "contract"})   # no cache=True: lesson files are loaded by path, not imported
def _rms_norm_rows(x, w, eps, y, rstd):
    """The fused loop: one pass to sum x², one to write y; no temporary arrays. "reassoc" lets
    LLVM split the sum into SIMD partial sums (adding in another order), "contract" fuses a*b + c."""
    N, D = x.shape
    for i in range(N):
        ss = 0.0                                                   # float64 accumulator
        for j in range(D):
            ss += x[i, j] * x[i, j]
        r = 1.0 / math.sqrt(ss / D + eps)
        rstd[i] = r
        for j in range(D):
            y[i, j] = x[i, j] * r * w[j]


def rms_norm_forward_numba(x, w, eps):
    """The same as rms_norm_forward, computed by a jitted kernel (Numba)."""
    y = np.empty_like(x)
    rstd = np.empty(x.shape[0], dtype=x.dtype)
    _rms_norm_rows(x, w, eps, y, rstd)
    return y, rstd


def rms_norm_backward(x, w, rstd, g):
    """Gradients of y = x * rstd * w, rstd = 1/sqrt(mean(x², last axis) + eps), row by row.

    x (N, D) the input rows; w (D,) the gain; rstd (N,) saved by the forward; g (N, D) = dL/dy.
    Returns (gx, gw): dL/dx of shape (N, D) and dL/dw of shape (D,).
    """
    D = x.shape[-1]
    r = rstd[:, None]                                   # (N, 1)
    xhat = x * r                                        # the normalised rows
    gw = (g * xhat).sum(axis=0)                         # w multiplies every row: sum over rows
    gxhat = g * w                                       # back through the gain
    # through xhat = x r with r depending on x: dr/dx_j = -r³ x_j / D
    gx = r * gxhat - r ** 3 / D * x * (gxhat * x).sum(axis=-1, keepdims=True)
    return gx, gw
