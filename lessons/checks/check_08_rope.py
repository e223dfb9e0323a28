"""Check for exercise 08: impl.rope_forward against kernels.rope_ref, impl.rope_backward against
gradcheck and kernels.rope_backward."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import kernels

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.rope",
    "autograd.kernels.rope_ref",
    "autograd.kernels.rope_backward",
    "autograd.kernels.rope_backward_ref",
    "autograd.kernels._rope_call",
    "autograd.kernels._rope_kernel",
    "autograd.functional.rope",
    BACKWARD,
]
# make exercise N=08 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Each pair (x_2j, x_2j+1) is multiplied by a 2×2 matrix R (section 2). For y = R x, dL/dx = Rᵀ "
     "dL/dy.",
    "R is a rotation by θ; its transpose is the rotation by -θ: cos stays, sin changes sign.",
    "rope_backward: with a = g[..., 0::2], b = g[..., 1::2] and c, s = cos[:, None, :], sin[:, None, "
     ":]: gx[..., 0::2] = a·c + b·s, gx[..., 1::2] = -a·s + b·c.  rope_forward: the same with s → -s, "
     "i.e. (a·c - b·s, a·s + b·c) on the pairs of x.",
]

HINT = ("each pair went through y = R x with R a 2×2 rotation; the backward multiplies g by the "
        "transpose of the Jacobian (lessons/08_rope.py, section 5)")
HINT_FORWARD = ("pair j of x is (x[..., 2j], x[..., 2j+1]); rotate it by the angle of (cos[t, j], sin[t, j]): "
                "(a, b) → (a·cos - b·sin, a·sin + b·cos); broadcast the (T, hd/2) tables over B and heads "
                "with cos[:, None, :] (lessons/08_rope.py, section 2)")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(8)
    # the forward: the library's rotation, at positions 0.. and 100..
    for T, hd, start in ((5, 8, 0), (64, 32, 100)):
        cos, sin = kernels.rope_tables(T, hd, start=start, dtype=np.float64)
        x = rng.standard_normal((2, T, 3, hd))
        expect_close(f"rope_forward (T={T}, head_dim {hd}, positions {start}..) vs kernels.rope_ref",
                     impl.rope_forward(x, cos, sin), kernels.rope_ref(x, cos, sin), HINT_FORWARD, tol=1e-12)

    B, T, H, hd = 2, 5, 3, 8
    cos, sin = kernels.rope_tables(T, hd, dtype=np.float64)

    def rope(x):
        return custom_op("rope", kernels.rope_ref(x.data, cos, sin), (x,),
                         lambda g: impl.rope_backward(g, cos, sin), "rope_backward", HINT)

    gradcheck_op("rope_backward", rope, (tensor(rng, B, T, H, hd),), ("x",), HINT)

    T, hd = 64, 32
    cos, sin = kernels.rope_tables(T, hd, start=100, dtype=np.float64)      # positions 100..163
    g = rng.standard_normal((2, T, 4, hd))
    expect_close("rope_backward vs kernels.rope_backward", impl.rope_backward(g, cos, sin),
                 kernels.rope_backward(g, cos, sin), HINT)
