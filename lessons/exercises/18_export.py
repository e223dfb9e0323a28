"""Exercise 18: the Meta → Hugging Face row permutation for wq and wk.

Read lessons/18_export.py, section 3, then write `meta_to_hf` below.
Check it:   python lessons/exercise.py 18
Stuck?      make exercise N=18 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check compares your permutation with tinyllm/export.py (interleaved_to_half) and checks the
property that makes it right: Hugging Face's rotate_half RoPE on your rows gives the same
attention scores q·k as Meta's interleaved RoPE on the original rows.
"""
import numpy as np


def meta_to_hf(w, n_heads):
    """Reorder the rows of a projection w (n_heads·hd, d_in) from Meta's RoPE layout to HF's.

    Inside each head (rows h·hd .. h·hd + hd - 1), Meta's row 2j + c (c = 0 or 1, j < hd/2)
    must land at HF row c·hd/2 + j. Heads keep their order; columns are untouched.
    Returns a new array of w's shape.
    """
    raise NotImplementedError("meta_to_hf: see lessons/18_export.py, section 3")
