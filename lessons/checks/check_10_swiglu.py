"""Check for exercise 10: impl.swiglu_forward against kernels.swiglu_ref, impl.swiglu_backward against
gradcheck and kernels.swiglu_backward."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import kernels

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.swiglu",
    "autograd.kernels.swiglu_ref",
    "autograd.kernels.swiglu_backward",
    "autograd.kernels.swiglu_backward_ref",
    "autograd.kernels._swiglu_fwd",
    "autograd.kernels._swiglu_bwd",
    "autograd.functional.swiglu",
    "autograd.functional.silu",
    "autograd.functional.sigmoid",
    "tinyllm.model.FeedForward.forward",
    BACKWARD,
]
# make exercise N=10 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "h = silu(a)·b is linear in b, so dh/db is easy. silu(a) = a·σ(a) is a product of two functions "
     "of a: the product rule.",
    "σ'(a) = σ(a)(1 - σ(a)) (differentiate 1/(1 + e⁻ᵃ)). So silu'(a) = σ(a) + a·σ(a)(1 - σ(a)).",
    "ga = g·b·σ(a)·(1 + a(1 - σ(a))), gb = g·a·σ(a).  swiglu_forward(a, b) = a / (1 + np.exp(-a)) * "
     "b.",
]

HINT = {
    "a": "silu(a) = a·σ(a) is a product of two functions of a: the product rule, and σ' in terms "
         "of σ (lessons/10_swiglu.py, section 5)",
    "b": "h is linear in b: dh/db is what multiplies b.",
}
HINT_FORWARD = "h = silu(a) ⊙ b with silu(a) = a·σ(a) = a / (1 + e⁻ᵃ) (lessons/10_swiglu.py, section 2)"


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((2, 16, 688)) * np.array([6.0, 1.0])[:, None, None]
    expect_close("swiglu_forward vs kernels.swiglu_ref", impl.swiglu_forward(a, b), kernels.swiglu_ref(a, b),
                 HINT_FORWARD, tol=1e-12)

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
