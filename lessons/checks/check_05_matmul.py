"""Check for exercise 05: impl.matmul_backward on plain, batched and broadcast shapes."""
import numpy as np

import autograd.functional as F
from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import Tensor

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.matmul_backward",
    "autograd.functional.matmul",
    "autograd.functional.linear",
    BACKWARD,
]
# make exercise N=05 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Read it off the shapes (section 1): dL/da must be (M, K) and is built from g (M, N) and b (K, "
     "N); dL/db must be (K, N) from a (M, K) and g.",
    "Per batch element: dL/da = g @ bᵀ, dL/db = aᵀ @ g (np.swapaxes(·, -1, -2) for the transpose).",
    "Then sum each over the batch axes its input was broadcast along, as lesson 03's unbroadcast "
     "does: a 2-D weight shared by a batch gets the SUM over the batch.",
]

HINT = {
    "a": "dL/da = g @ bᵀ per batch element (np.swapaxes(b, -1, -2)), then summed over any batch axis "
         "a was broadcast along (lessons/05_matmul.py, sections 1-2).",
    "b": "dL/db = aᵀ @ g per batch element, then summed over every batch axis b was broadcast along: a "
         "2-D weight shared by a batch gets the SUM over the batch (section 2).",
}
SHAPE_HINT = ("each gradient has its input's shape: after the per-batch products, sum over the batch axes "
              "that broadcasting added or stretched (lesson 03's unbroadcast; lessons/05_matmul.py, section 2).")

SHAPES = [((3, 4), (4, 5)),              # plain
          ((2, 3, 4), (4, 5)),           # a shared weight
          ((2, 3, 4), (2, 4, 5)),        # batched, same batch
          ((2, 1, 3, 4), (5, 4, 2)),     # both broadcast
          ((3, 4), (2, 4, 5))]           # a broadcast over b's batch


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(5)

    def matmul(a, b):
        return custom_op("matmul", np.matmul(a.data, b.data), (a, b),
                         lambda g: impl.matmul_backward(a.data, b.data, g), "matmul_backward", SHAPE_HINT,
                         names=("a", "b"))

    for sa, sb in SHAPES:
        gradcheck_op(f"matmul_backward for {sa} @ {sb}", matmul, (tensor(rng, *sa), tensor(rng, *sb)),
                     ("a", "b"), HINT)

    # the library's numbers, at a Linear-layer shape
    a = Tensor(rng.standard_normal((4, 16, 32)), requires_grad=True)
    b = Tensor(rng.standard_normal((32, 24)), requires_grad=True)
    g = rng.standard_normal((4, 16, 24))
    F.matmul(a, b).backward(g)
    ga, gb = impl.matmul_backward(a.data, b.data, g)
    expect_close("matmul_backward: dL/da vs F.matmul", ga, a.grad, HINT["a"])
    expect_close("matmul_backward: dL/db vs F.matmul", gb, b.grad, HINT["b"])
