"""WRONG on purpose (the check must catch it): treats rstd as a constant.

The forgotten term is the path through rstd = 1/sqrt(mean(x²) + eps), which depends on x:
this gx is only the `r * g * w` part. A very common first attempt."""
import numpy as np


def rms_norm_backward(x, w, rstd, g):
    r = rstd[:, None]
    gw = (g * x * r).sum(axis=0)
    gx = r * g * w                                      # missing: - r³/D · x · Σ(g w x)
    return gx, gw
