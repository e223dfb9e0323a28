"""Check for exercise 03: impl.unbroadcast and impl.max_backward."""
import numpy as np

import autograd.functional as F
from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import Tensor

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.functional.unbroadcast",
    "autograd.functional.max",
    BACKWARD,
]
# make exercise N=03 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "A broadcast input was copied; the gradient of a copied value is the SUM of the copies' "
     "gradients. For max: only the winner changed the output.",
    "unbroadcast: sum g over the leading axes g has and `shape` lacks, then over every axis where "
     "shape has 1 and g does not (keepdims=True). max: a mask x == y (with the reduced axis put back),"
     " ties share evenly.",
    "while g.ndim > len(shape): g = g.sum(0); then for each axis with shape[axis] == 1: g = "
     "g.sum(axis, keepdims=True).  max_backward: m = (x == expand_dims(y, axis)); return "
     "expand_dims(g, axis) * m / m.sum(axis, keepdims=True).",
]

UNBROADCAST_HINT = ("sum over the extra leading axes, then over every axis where `shape` has size 1 "
                    "but g does not — keeping that axis (keepdims=True) (lessons/03_broadcasting.py, "
                    "sections 2-3).")
MAX_HINT = ("the gradient goes to the elements equal to the max (x == y with the reduced axis put back "
            "by np.expand_dims), shared evenly between ties, 0 elsewhere (section 5).")

SHAPES = [((2, 3, 4), (4,)), ((2, 3, 4), (2, 3, 1)), ((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 3, 4)),
          ((2, 3, 4), (1, 1, 1)), ((2, 3, 4), ()), ((3, 4), (3, 4))]


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(3)

    # unbroadcast against the library's, shape by shape
    for g_shape, shape in SHAPES:
        g = rng.standard_normal(g_shape)
        expect_close(f"unbroadcast(g of shape {g_shape}, {shape})", impl.unbroadcast(g, shape),
                     F.unbroadcast(g, shape), UNBROADCAST_HINT)

    # ... and inside a broadcasting multiply, gradchecked
    def mul(a, b):
        return custom_op("mul", a.data * b.data, (a, b),
                         lambda g: (impl.unbroadcast(g * b.data, a.shape), impl.unbroadcast(g * a.data, b.shape)),
                         "mul with your unbroadcast", UNBROADCAST_HINT, names=("a", "b"))

    for sa, sb in [((2, 3, 4), (3, 1)), ((2, 1, 4), (3, 1))]:
        gradcheck_op(f"unbroadcast in a multiply {sa} * {sb}", mul, (tensor(rng, *sa), tensor(rng, *sb)),
                     ("a", "b"), UNBROADCAST_HINT)

    # max_backward: gradcheck (no ties in random data), along each axis
    for axis in (0, 1, -1):
        def max_op(x, axis=axis):
            y = x.data.max(axis=axis)
            return custom_op("max", y, (x,), lambda g: impl.max_backward(x.data, y, g, axis), "max_backward")
        gradcheck_op(f"max_backward(axis={axis})", max_op, (tensor(rng, 3, 4, 5),), ("x",), MAX_HINT)

    # with ties, against the library's F.max
    x = Tensor(rng.integers(0, 3, size=(4, 6)).astype(np.float64), requires_grad=True)
    g = rng.standard_normal(6)
    F.max(x, axis=0).backward(g)
    expect_close("max_backward with ties vs F.max", impl.max_backward(x.data, x.data.max(axis=0), g, 0),
                 x.grad, MAX_HINT)
