"""Check for exercise 08: impl.rope_backward."""
import numpy as np

from _harness import custom_op, expect_close, gradcheck_op, tensor
from autograd import kernels

HINT = ("a rotation's Jacobian is the rotation R, and the backward multiplies g by Rᵀ = R(-angle): "
        "the same formula as the forward with sin replaced by -sin, on the pairs g[..., 0::2], g[..., 1::2] "
        "(lessons/08_rope.py, section 5).")


def check(impl):
    rng = np.random.default_rng(8)
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
