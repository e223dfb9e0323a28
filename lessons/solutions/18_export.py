"""Solution 18: the Meta → HF row permutation (compare tinyllm/export.py, interleaved_to_half)."""
import numpy as np


def meta_to_hf(w, n_heads):
    rows, d_in = w.shape
    hd = rows // n_heads
    # row index h·hd + 2j + c  →  axes (h, j, c); HF wants (h, c, j): swap the last two
    return w.reshape(n_heads, hd // 2, 2, d_in).transpose(0, 2, 1, 3).reshape(rows, d_in)
