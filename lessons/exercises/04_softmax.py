"""Exercise 04: the backward of softmax, and of the cross-entropy loss.

Read lessons/04_softmax.py (sections 4 and 5; section 7 has hints), then write both in NumPy.
Check them:   make exercise N=04        (or: python lessons/exercise.py 04)
Stuck?        make exercise N=04 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check gradchecks ops built from your functions and compares them with autograd/kernels.py.
"""
import numpy as np


def softmax_backward(y, g):
    """y = softmax(x) over the last axis (any leading shape), g = dL/dy. Return dL/dx."""
    raise NotImplementedError("softmax_backward: see lessons/04_softmax.py, section 4")


def cross_entropy_backward(logits, targets, g):
    """L = mean over rows n of -log softmax(logits[n])[targets[n]].

    logits (N, V), targets (N,) integers, g = a number, the gradient arriving at L.
    Return dL_total/dlogits, shape (N, V)."""
    raise NotImplementedError("cross_entropy_backward: see lessons/04_softmax.py, section 5")
