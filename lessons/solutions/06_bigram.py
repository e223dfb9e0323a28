"""Solution 06 (compare autograd/kernels.py: embedding_backward_ref, _embedding_bwd)."""
import numpy as np


def embedding_backward(ids, g, vocab_size):
    """y = W[ids] for a table W (vocab_size, D); ids any shape of integers; g = dL/dy, shape ids.shape + (D,).

    Return dL/dW, shape (vocab_size, D)."""
    D = g.shape[-1]
    gW = np.zeros((vocab_size, D), dtype=g.dtype)
    np.add.at(gW, ids.reshape(-1), g.reshape(-1, D))    # row ids[n] += g[n]; repeats add up
    return gW
