"""Check for exercise 07: impl.rms_norm_backward against gradcheck and autograd/kernels.py."""
import numpy as np

from _harness import custom_op, expect_close, gradcheck_op, tensor
from autograd import kernels

HINT = {
    "x": "rstd depends on x too: besides r·g·w there is a term through mean(x²), "
         "-r³/D · x · Σ_j(g_j w_j x_j) per row (lessons/07_rmsnorm.py, section 3).",
    "w": "w multiplies every row, so dL/dw sums g · x · rstd over all rows.",
}


def check(impl):
    rng = np.random.default_rng(7)
    eps = 1e-5

    def rms_norm(x, w):                       # the library's forward, the learner's backward
        y, rstd = kernels.rmsnorm_ref(x.data, w.data, eps)
        return custom_op("rms_norm", y, (x, w),
                         lambda g: impl.rms_norm_backward(x.data, w.data, rstd, g),
                         "rms_norm_backward", names=("x", "w"))

    x, w = tensor(rng, 6, 10), tensor(rng, 10)
    gradcheck_op("rms_norm_backward", rms_norm, (x, w), ("x", "w"), HINT)

    # the same numbers as the library's fused Numba kernel, on a model-sized batch
    x, w, g = rng.standard_normal((64, 256)), rng.standard_normal(256), rng.standard_normal((64, 256))
    y, rstd = kernels.rmsnorm(x, w, eps)
    gx_lib, gw_lib = kernels.rmsnorm_backward(x, w, rstd, g)
    gx, gw = impl.rms_norm_backward(x, w, rstd, g)
    expect_close("rms_norm_backward: gx vs kernels.rmsnorm_backward", gx, gx_lib, HINT["x"], tol=1e-8)
    expect_close("rms_norm_backward: gw vs kernels.rmsnorm_backward", gw, gw_lib, HINT["w"], tol=1e-8)
