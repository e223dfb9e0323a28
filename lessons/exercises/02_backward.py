"""Exercise 02: your first backward functions.

Read lessons/02_backward.py (section 6 has hints), then write the two functions below in NumPy.
Check them:   make exercise N=02        (or: python lessons/exercise.py 02)
Stuck?        make exercise N=02 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check gradchecks each one in float64 and compares div_backward with the library's F.div.
"""
import numpy as np


def tanh_backward(y, g):
    """y = tanh(x) (saved by the forward), g = dL/dy. Return dL/dx (shape of y)."""
    raise NotImplementedError("tanh_backward: see lessons/02_backward.py, section 6")


def div_backward(a, b, g):
    """y = a / b elementwise (a, b of the same shape), g = dL/dy. Return (dL/da, dL/db)."""
    raise NotImplementedError("div_backward: see lessons/02_backward.py, section 6")
