"""Exercise 06: the backward of an embedding lookup (a scatter-add).

Read lessons/06_bigram.py, section 3, then write embedding_backward in NumPy.
Check it:   make exercise N=06        (or: python lessons/exercise.py 06)
Stuck?      make exercise N=06 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check gradchecks it (ids with repeats) and compares it with kernels.embedding_backward.
"""
import numpy as np


def embedding_backward(ids, g, vocab_size):
    """y = W[ids] for a table W (vocab_size, D); ids any shape of integers; g = dL/dy, shape ids.shape + (D,).

    Return dL/dW, shape (vocab_size, D)."""
    raise NotImplementedError("embedding_backward: see lessons/06_bigram.py, section 3")
