"""Check for exercise 02: impl.tanh_backward and impl.div_backward."""
import numpy as np

import autograd.functional as F
from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import Tensor

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.functional.div",
    "autograd.functional.sigmoid",
    BACKWARD,
]
# make exercise N=02 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "tanh: write tanh(x) = (eˣ - e⁻ˣ)/(eˣ + e⁻ˣ) and use the quotient rule; the result can be written"
     " with y = tanh(x) alone, which the forward saved. div: one input at a time, y = a · b⁻¹.",
    "tanh'(x) = 1 - tanh(x)²; d(1/b)/db = -1/b². Multiply each local derivative by g (the chain "
     "rule).",
    "tanh_backward(y, g) = g·(1 - y²);  div_backward(a, b, g) = (g/b, -g·a/b²).",
]

TANH_HINT = ("tanh'(x) = 1 - tanh(x)²: write it with the saved output y, and multiply by g "
             "(lessons/02_backward.py, section 6).")
DIV_HINT = {
    "a": "y = a/b, so dy/da = 1/b: dL/da = g / b.",
    "b": "y = a·b⁻¹ and d(b⁻¹)/db = -b⁻², so dL/db = -g·a/b² (mind the sign and the square).",
}


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(2)

    def tanh(x):
        y = np.tanh(x.data)
        return custom_op("tanh", y, (x,), lambda g: impl.tanh_backward(y, g), "tanh_backward")

    gradcheck_op("tanh_backward", tanh, (tensor(rng, 4, 5),), ("x",), TANH_HINT)

    def div(a, b):
        return custom_op("div", a.data / b.data, (a, b),
                         lambda g: impl.div_backward(a.data, b.data, g), "div_backward",
                         names=("a", "b"))

    a, b = tensor(rng, 3, 4), tensor(rng, 3, 4, positive=True)
    b.data[0] *= -1                                         # negative denominators too
    gradcheck_op("div_backward", div, (a, b), ("a", "b"), DIV_HINT)

    # the same numbers as the library's F.div
    a, b = Tensor(rng.standard_normal(50), requires_grad=True), Tensor(rng.random(50) + 0.5, requires_grad=True)
    g = rng.standard_normal(50)
    F.div(a, b).backward(g)
    ga, gb = impl.div_backward(a.data, b.data, g)
    expect_close("div_backward: dL/da vs F.div", ga, a.grad, DIV_HINT["a"])
    expect_close("div_backward: dL/db vs F.div", gb, b.grad, DIV_HINT["b"])
