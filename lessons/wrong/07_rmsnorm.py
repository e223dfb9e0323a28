"""WRONG on purpose (the check must catch it): treats rstd as a constant.

The forgotten term is the path through rstd = 1/sqrt(mean(x²) + eps), which depends on x:
this gx is only the `r * g * w` part. A very common first attempt. (The forwards are right.)"""
import math

import numpy as np
from numba import njit


def rms_norm_forward(x, w, eps):
    rstd = 1.0 / np.sqrt((x * x).mean(axis=-1) + eps)
    return x * rstd[:, None] * w, rstd


@njit(fastmath={"reassoc", "contract"})   # no cache=True: lesson files are loaded by path, not imported
def _rows(x, w, eps, y, rstd):
    N, D = x.shape
    for i in range(N):
        ss = 0.0
        for j in range(D):
            ss += x[i, j] * x[i, j]
        r = 1.0 / math.sqrt(ss / D + eps)
        rstd[i] = r
        for j in range(D):
            y[i, j] = x[i, j] * r * w[j]


def rms_norm_forward_numba(x, w, eps):
    y, rstd = np.empty_like(x), np.empty(x.shape[0], dtype=x.dtype)
    _rows(x, w, eps, y, rstd)
    return y, rstd


def rms_norm_backward(x, w, rstd, g):
    r = rstd[:, None]
    gw = (g * x * r).sum(axis=0)
    gx = r * g * w                                      # missing: the path through rstd
    return gx, gw
