"""Check for exercise 10: impl.swiglu_backward against gradcheck and autograd/kernels.py."""
import numpy as np

from _harness import custom_op, expect_close, gradcheck_op, tensor
from autograd import kernels

HINT = {
    "a": "silu(a) = a·σ(a) is a product: d silu/da = σ(a) + a·σ'(a) with σ' = σ(1-σ), so "
         "ga = g·b·σ(a)·(1 + a(1 - σ(a))) (lessons/10_swiglu.py, section 5).",
    "b": "h is linear in b: gb = g·silu(a) = g·a·σ(a).",
}


def check(impl):
    rng = np.random.default_rng(10)

    def swiglu(a, b):                            # the library's forward, the learner's backward
        return custom_op("swiglu", kernels.swiglu_ref(a.data, b.data), (a, b),
                         lambda g: impl.swiglu_backward(a.data, b.data, g), "swiglu_backward")

    a, b = tensor(rng, 5, 7), tensor(rng, 5, 7)
    a.data *= 3.0                                # gates well into both tails of the sigmoid
    gradcheck_op("swiglu_backward", swiglu, (a, b), ("a", "b"), HINT)

    # the same numbers as the Numba kernel on a model-sized batch (16 positions × F = 688)
    a, b, g = rng.standard_normal((3, 16, 688)) * np.array([4.0, 1.0, 1.0])[:, None, None]
    ga_lib, gb_lib = kernels.swiglu_backward(a, b, g)
    got = impl.swiglu_backward(a, b, g)
    if got is None or len(got) != 2:
        raise AssertionError("swiglu_backward should return a tuple (ga, gb)")
    expect_close("swiglu_backward: ga vs kernels.swiglu_backward", got[0], ga_lib, HINT["a"], tol=1e-9)
    expect_close("swiglu_backward: gb vs kernels.swiglu_backward", got[1], gb_lib, HINT["b"], tol=1e-9)
