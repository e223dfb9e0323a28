"""Check for exercise 04: impl.softmax_backward and impl.cross_entropy_backward."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import kernels

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.softmax_backward",
    "autograd.kernels.softmax_backward_ref",
    "autograd.kernels._softmax_bwd",
    "autograd.kernels.cross_entropy_backward",
    "autograd.kernels.cross_entropy_backward_ref",
    "autograd.kernels._cross_entropy_bwd",
    "autograd.functional.softmax",
    "autograd.functional.log_softmax",
    "autograd.functional.cross_entropy",
    BACKWARD,
]
# make exercise N=04 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "softmax: dL/dx = Jᵀ g with J = diag(y) - y yᵀ (section 4). Multiply it out on paper: diag(y) g "
     "is elementwise, and y yᵀ g is y times ONE number per row.",
    "softmax: Jᵀg = y ⊙ g - y (yᵀg); the number yᵀg = Σ_k g_k y_k is a row sum (keepdims=True). "
     "cross-entropy: for one row L = logsumexp(x) - x_t, and d logsumexp/dx_j = exp(x_j)/Σ exp = p_j.",
    "cross-entropy: per row dL/dx = p - onehot(t); the loss is a MEAN over N rows, so divide by N, "
     "and multiply by the incoming g.",
    "softmax_backward(y, g) = y * (g - (g * y).sum(-1, keepdims=True));  cross_entropy_backward: p = "
     "softmax(logits) (max-shifted), p[arange(N), targets] -= 1, return p * g / N.",
]

SOFTMAX_HINT = ("dL/dx = Jᵀ g with J = diag(y) - y yᵀ: multiply it out without building J — one number "
                "per row (a sum over the last axis, keepdims=True so it broadcasts) (lessons/04_softmax.py, "
                "section 4)")
CE_HINT = ("per row L = logsumexp(x) - x_target: differentiate both terms; the loss is a MEAN over the N "
           "rows, and the incoming g multiplies everything (section 5)")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(4)

    def softmax(x):
        y = kernels.softmax_ref(x.data)
        return custom_op("softmax", y, (x,), lambda g: impl.softmax_backward(y, g), "softmax_backward")

    for shape in [(3, 7), (2, 3, 5)]:
        gradcheck_op(f"softmax_backward on shape {shape}", softmax, (tensor(rng, *shape),), ("x",), SOFTMAX_HINT)
    y = kernels.softmax(rng.standard_normal((64, 300)))
    g = rng.standard_normal((64, 300))
    expect_close("softmax_backward vs kernels.softmax_backward", impl.softmax_backward(y, g),
                 kernels.softmax_backward(y, g), SOFTMAX_HINT)

    targets = rng.integers(0, 5, size=6)

    def cross_entropy(z):
        loss, _ = kernels.cross_entropy_ref(z.data, targets)
        return custom_op("cross_entropy", np.asarray(loss), (z,),
                         lambda g: impl.cross_entropy_backward(z.data, targets, float(g)),
                         "cross_entropy_backward")

    gradcheck_op("cross_entropy_backward", cross_entropy, (tensor(rng, 6, 5),), ("logits",), CE_HINT)
    z = rng.standard_normal((128, 50)) * 4
    t = rng.integers(0, 50, size=128)
    loss, lse = kernels.cross_entropy(z, t)
    expect_close("cross_entropy_backward vs kernels.cross_entropy_backward (g = 1)",
                 impl.cross_entropy_backward(z, t, 1.0),
                 kernels.cross_entropy_backward(z, t, lse, -100, 1.0), CE_HINT)
