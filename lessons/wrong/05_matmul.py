"""WRONG on purpose (the check must catch it): forgets to sum over the broadcast batch axes.

The per-batch products are right, but a weight shared by the whole batch gets a gradient per
batch element instead of their sum."""
import numpy as np


def matmul_backward(a, b, g):
    return np.matmul(g, np.swapaxes(b, -1, -2)), np.matmul(np.swapaxes(a, -1, -2), g)
