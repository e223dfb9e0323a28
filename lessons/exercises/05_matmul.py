"""Exercise 05: the backward of a batched, broadcasting matrix product.

Read lessons/05_matmul.py (sections 1, 2 and 5), then write matmul_backward in NumPy.
Check it:   make exercise N=05        (or: python lessons/exercise.py 05)
Stuck?      make exercise N=05 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check gradchecks it on several shapes and compares it with the library's F.matmul.
"""
import numpy as np


def matmul_backward(a, b, g):
    """y = np.matmul(a, b) with a (..., M, K), b (..., K, N), batch axes broadcast (b may be 2-D).

    g = dL/dy, shaped like y. Return (dL/da, dL/db), shaped like a and b."""
    raise NotImplementedError("matmul_backward: see lessons/05_matmul.py, sections 1, 2 and 5")
