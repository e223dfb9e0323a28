"""Exercise 03: undo broadcasting, and the backward of max.

Read lessons/03_broadcasting.py (sections 2, 3, 5; section 6 has hints), then write both in NumPy.
Check them:   make exercise N=03        (or: python lessons/exercise.py 03)
Stuck?        make exercise N=03 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check gradchecks ops built from your functions and compares them with the library's.
"""
import numpy as np


def unbroadcast(g, shape):
    """Sum the gradient g (the shape of a broadcast result) back down to `shape` (an input's shape)."""
    raise NotImplementedError("unbroadcast: see lessons/03_broadcasting.py, sections 2 and 3")


def max_backward(x, y, g, axis):
    """y = x.max(axis=axis) (axis an int, no keepdims), g = dL/dy shaped like y. Return dL/dx.

    Ties share the gradient evenly, as the library's F.max does."""
    raise NotImplementedError("max_backward: see lessons/03_broadcasting.py, section 5")
