"""WRONG on purpose (the check must catch it): `gW[ids] = g` instead of a scatter-ADD.

With fancy indexing, a repeated id is written once (the last write wins), so a token that appears
several times in the batch gets the gradient of one occurrence instead of the sum."""
import numpy as np


def embedding_backward(ids, g, vocab_size):
    D = g.shape[-1]
    gW = np.zeros((vocab_size, D), dtype=g.dtype)
    gW[ids.reshape(-1)] = g.reshape(-1, D)
    return gW
