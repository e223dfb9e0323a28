"""Solution 03 (compare autograd/functional.py: unbroadcast, max)."""
import numpy as np


def unbroadcast(g, shape):
    """Sum the gradient g (the shape of a broadcast result) back down to `shape` (an input's shape)."""
    while g.ndim > len(shape):                  # copies along new leading axes
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):         # copies along axes that were size 1
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def max_backward(x, y, g, axis):
    """y = x.max(axis=axis) (axis an int, no keepdims), g = dL/dy shaped like y. Return dL/dx.

    Ties share the gradient evenly, as the library's F.max does."""
    y_, g_ = np.expand_dims(y, axis), np.expand_dims(g, axis)      # put the reduced axis back
    is_max = x == y_
    return g_ * is_max / is_max.sum(axis=axis, keepdims=True)
