"""Solution 05 (compare autograd/functional.py: matmul)."""
import numpy as np


def _sum_to(g, shape):
    """Sum g down to `shape` over the axes broadcasting added or stretched (lesson 03)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def matmul_backward(a, b, g):
    """y = np.matmul(a, b) with a (..., M, K), b (..., K, N), batch axes broadcast (b may be 2-D).

    g = dL/dy, shaped like y. Return (dL/da, dL/db), shaped like a and b."""
    ga = np.matmul(g, np.swapaxes(b, -1, -2))          # per batch: g @ bᵀ   (..., M, K)
    gb = np.matmul(np.swapaxes(a, -1, -2), g)          # per batch: aᵀ @ g   (..., K, N)
    return _sum_to(ga, a.shape), _sum_to(gb, b.shape)
