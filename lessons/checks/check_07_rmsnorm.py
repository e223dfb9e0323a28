"""Check for exercise 07: impl.rms_norm_forward and impl.rms_norm_forward_numba against
autograd/kernels.py rmsnorm_ref (and the Numba one for speed: at least SPEEDUP times faster than
the NumPy reference at the model's shape), impl.rms_norm_backward against gradcheck and
kernels.rmsnorm_backward."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, expect_faster, expect_tuple, gradcheck_op, no_delegating, tensor
from autograd import kernels

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.rmsnorm_backward",
    "autograd.kernels.rmsnorm_backward_ref",
    "autograd.kernels._rmsnorm_bwd",
    "autograd.kernels.rmsnorm",
    "autograd.kernels.rmsnorm_ref",
    "autograd.kernels._rmsnorm_fwd",
    "autograd.functional.rms_norm",
    "tinyllm.model.RMSNorm.forward",
    BACKWARD,
]
# make exercise N=07 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Forward: per row r = 1/√(mean(x²) + eps), y = x·r·w. Backward: w is easy (it multiplies every "
     "row: a sum over rows). For x there are TWO paths: directly through x, and through r, which "
     "depends on every x_j of the row.",
    "dr/dx_j = -r³·x_j/D (differentiate (mean(x²)+eps)^(-1/2)). With u = g ⊙ w: dL/dx_j = r·u_j + "
     "(Σ_i u_i x_i)·dr/dx_j.",
    "gx = r·(g w) - r³/D · x · Σ_j(g_j w_j x_j) (the sum per row, keepdims), gw = Σ_rows g·x·r.",
    "rms_norm_forward: r = 1/np.sqrt((x*x).mean(-1) + eps); return x * r[:, None] * w, r.  The Numba "
     "kernel: one loop over rows; in it a loop summing x² in a float64 variable, then a loop writing "
     "y[i, j] = x[i, j]·r·w[j]; decorate it @njit(fastmath={'reassoc', 'contract'}) so the sum "
     "vectorises (lesson section 6).",
]

HINT = {
    "x": "rstd depends on x too: besides the path r·g·w there is a second path through mean(x²) "
         "(lessons/07_rmsnorm.py, section 3)",
    "w": "w multiplies every row, so dL/dw is a sum over all rows.",
}
HINT_FORWARD = ("rstd = 1/√(mean of x² over the last axis + eps), one number per row; y = x · rstd · w "
                "(lessons/07_rmsnorm.py, section 1)")
SPEEDUP = 1.5          # the Numba kernel vs kernels.rmsnorm_ref at SHAPE, float32
SHAPE = (4096, 256)    # the default model's B·T rows of width dim
HINT_NUMBA = ("one @njit function looping over rows, and in each row a loop that sums x² into a float64 "
              "scalar, then a loop that writes y: no temporary arrays. A sum is a chain of dependent adds "
              "unless you allow reordering: @njit(fastmath={'reassoc', 'contract'}) lets LLVM vectorise it "
              "(lessons/07_rmsnorm.py, section 6)")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(7)
    eps = 1e-5

    # the forward, in NumPy and as a Numba kernel: the library's numbers, float64 and float32
    for forward in ("rms_norm_forward", "rms_norm_forward_numba"):
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
            x, w = (rng.standard_normal((37, 24)) * 3).astype(dtype), rng.standard_normal(24).astype(dtype)
            y_lib, rstd_lib = kernels.rmsnorm_ref(x, w, eps)
            y, rstd = expect_tuple(forward, getattr(impl, forward)(x, w, eps), 2, ("y", "rstd"))
            expect_close(f"{forward} ({np.dtype(dtype).name}): y vs kernels.rmsnorm_ref", y, y_lib, HINT_FORWARD, tol=tol)
            expect_close(f"{forward} ({np.dtype(dtype).name}): rstd vs kernels.rmsnorm_ref", rstd, rstd_lib,
                         HINT_FORWARD, tol=tol)
    x, w = rng.standard_normal(SHAPE).astype(np.float32), rng.standard_normal(SHAPE[1]).astype(np.float32)
    expect_faster(f"rms_norm_forward_numba at {SHAPE} float32 vs kernels.rmsnorm_ref",
                  lambda: impl.rms_norm_forward_numba(x, w, eps), lambda: kernels.rmsnorm_ref(x, w, eps),
                  SPEEDUP, HINT_NUMBA)

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
