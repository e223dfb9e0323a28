"""WRONG on purpose (the check must catch it): unbroadcast only sums away the extra leading axes.

It forgets the axes that were size 1 in the input (a (B, T, 1) statistic against (B, T, D)),
the half of lessons/03_broadcasting.py section 3. max_backward is right."""
import numpy as np


def unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    return g


def max_backward(x, y, g, axis):
    y_, g_ = np.expand_dims(y, axis), np.expand_dims(g, axis)
    is_max = x == y_
    return g_ * is_max / is_max.sum(axis=axis, keepdims=True)
