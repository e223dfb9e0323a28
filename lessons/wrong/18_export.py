"""WRONG on purpose (the check must catch it): the inverse permutation (HF → Meta).

It reshapes the head as (2, hd/2) where the pairs are (hd/2, 2): an easy mix-up, and one that
hides well — for head_dim 4 the permutation is its own inverse, so tests with tiny heads pass."""
import numpy as np


def meta_to_hf(w, n_heads):
    rows, d_in = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, d_in).transpose(0, 2, 1, 3).reshape(rows, d_in)
