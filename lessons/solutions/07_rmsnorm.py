"""Solution 07: the backward of RMSNorm (compare autograd/kernels.py, rmsnorm_backward_ref)."""
import numpy as np


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
