"""Exercise 22: data parallelism in one process — the flat gradient buffer, and N ranks averaged.

Read lessons/22_data_parallel.py, sections 1-2, then write the three functions below.
Check it:   python lessons/exercise.py 22
The check packs and unpacks gradients of many shapes, then compares your N-rank averaged gradient
with the gradient of one process on the whole batch (tinyllm's model, float64, to 1e-10).
"""
import numpy as np


def pack(grads, out):
    """Copy the arrays in `grads` (any shapes), in order, into consecutive slices of the 1-D
    buffer `out` (its size is the sum of their sizes). Returns out."""
    raise NotImplementedError("pack: see lessons/22_data_parallel.py, section 2")


def unpack(flat, shapes):
    """The arrays of the given shapes laid out one after another in the 1-D buffer `flat`, as
    VIEWS of it (no copies: writing into one writes into flat). Returns a list."""
    raise NotImplementedError("unpack: see lessons/22_data_parallel.py, section 2")


def average_gradients(model, batch, n_ranks):
    """Simulate n_ranks data-parallel ranks in one process. batch is (B, T+1) token ids, B a
    multiple of n_ranks; rank r takes rows [r·B/N, (r+1)·B/N). Each rank computes the mean
    cross-entropy of its rows (model(x, y) -> (logits, loss); loss.backward() fills p.grad for
    p in model.parameters(); call model.zero_grad() before each rank) and packs its gradients
    into its own flat buffer. The "all-reduce": the sum of the N buffers, divided by N.
    Returns (the mean of the ranks' losses as a float, the averaged flat gradient)."""
    raise NotImplementedError("average_gradients: see lessons/22_data_parallel.py, section 1")
