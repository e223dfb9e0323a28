"""Lesson 07 — RMSNorm: a normalisation, its backward derived by hand, one fused kernel.

Every Llama block normalises its input twice (before attention, before the feed-forward), and
once more before the output head. The normaliser is RMSNorm (Zhang & Sennrich 2019): divide each
row by its root-mean-square, then multiply by a learned gain w:

    y = x / √(mean(x²) + eps) ⊙ w          (over the last axis, one row = one token's vector)

It is LayerNorm without the mean subtraction and without the bias: cheaper, and works as well.

Library code this lesson reads:
    autograd/functional.py   rms_norm(x, weight, eps)           the op the model calls
    autograd/kernels.py      rmsnorm_ref, rmsnorm_backward_ref   the NumPy definitions
                             _rmsnorm_fwd, _rmsnorm_bwd          the Numba kernels
    tinyllm/model.py         class RMSNorm                       the module (w starts at ones)

Sections
  1. What it does: every row comes out with RMS 1 (times w)
  2. The same thing from primitive ops: six graph nodes instead of one
  3. The backward, derived up to the last step (your exercise)
  4. A consequence: the gradient is orthogonal to x
  5. Fused kernel vs composed primitives: agreement and speed
  6. Writing a Numba kernel: one pass per row, and why a sum needs "reassoc" (your exercise)

Run:       python lessons/07_rmsnorm.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  make exercise N=07                    (write rms_norm_forward, the Numba
                                                  rms_norm_forward_numba, rms_norm_backward)
"""
# %%
import numpy as np

from _common import best_time, max_rel_error, pick, plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels
from autograd.runtime import numba_threads
from tinyllm.model import RMSNorm

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. What it does: every row comes out with RMS 1 (times w)")
# Rows of very different sizes, as the residual stream of a deep network produces them.
N, D = 8, 64
scales = 10.0 ** np.linspace(-2, 2, N)                        # from 0.01 to 100
x = rng.standard_normal((N, D)) * scales[:, None]
norm = RMSNorm(D, eps=1e-5, dtype=np.float64)                 # the model's module, w = ones
y = norm(Tensor(x))
rms_in = np.sqrt((x ** 2).mean(axis=-1))
rms_out = np.sqrt((y.data ** 2).mean(axis=-1))
for s, a, b in zip(scales, rms_in, rms_out):
    print(f"  row scale {s:8.2f}   RMS in {a:9.4f}   RMS out {b:.6f}")
# eps keeps a row of (almost) zeros from dividing by zero; it only matters when mean(x²) ~ eps:
tiny = Tensor(np.full((1, D), 1e-3))
# (that is also why the first row above, with mean(x²) ≈ 8e-5, comes out at 0.945 and not 1)
print(f"  a row of 1e-3's: RMS out {np.sqrt((norm(tiny).data ** 2).mean()):.4f} "
      f"(not 1: mean(x²) = 1e-6 is small next to eps = 1e-5)")

# %%
# ============================================================================================
section("2. The same thing from primitive ops")
# Composed from the engine's elementary ops, autograd needs no new backward at all:
def rms_norm_composed(x, w, eps=1e-5):
    ms = (x * x).mean(axis=-1, keepdims=True)                 # mean of squares   (N, 1)
    return x * (ms + eps).rsqrt() * w                         # x · r · w

xt = Tensor(rng.standard_normal((4, D)), requires_grad=True)
wt = Tensor(rng.standard_normal(D), requires_grad=True)
out = rms_norm_composed(xt, wt).sum()
nodes = out._topological_order()                              # the graph autograd will walk
print("  composed graph:", " -> ".join(n._op or "leaf" for n in nodes))
# Every one of those nodes keeps its output alive until the backward: (N, D) arrays for
# x*x, x*r and x*r*w. The fused op (one node) keeps only rstd, one number per row.
fused = F.rms_norm(xt, wt, 1e-5).sum()
print("  fused graph:   ", " -> ".join(n._op or "leaf" for n in fused._topological_order()))
out.backward()
gx_composed, gw_composed = xt.grad.copy(), wt.grad.copy()
xt.grad = wt.grad = None
fused.backward()
print(f"  gradients, fused vs composed: max rel error dx {max_rel_error(xt.grad, gx_composed):.1e}, "
      f"dw {max_rel_error(wt.grad, gw_composed):.1e}")

# %%
# ============================================================================================
section("3. The backward, derived (up to the last step, which is yours)")
# One row x (D,), with r = (mean(x²) + eps)^(-1/2) and x̂ = x·r, y = x̂ ⊙ w. Given g = dL/dy:
#
#   dL/dw_j = Σ_rows g_j x̂_j                  w_j multiplies x̂_j in every row
#
# For x, let h = g ⊙ w (the gradient arriving at x̂). x_j reaches the output twice: directly in
# x̂_j = x_j r, and through r, which depends on every x_k of the row. The chain rule adds the paths:
#
#   dL/dx_j = Σ_k h_k · dx̂_k/dx_j = h_j r  +  (Σ_k h_k x_k) · dr/dx_j
#
# What is left is dr/dx_j: differentiate r = (mean(x²) + eps)^(-1/2) = ((1/D) Σ_k x_k² + eps)^(-1/2)
# with respect to x_j, write the result with r itself, and put it back in. That is the exercise
# (and `make exercise N=07 HINT=1`, 2, 3 when stuck).
#
# Dropping the second path — treating r as a constant — is the most common mistake; it is the
# deliberately wrong solution in lessons/wrong/07_rmsnorm.py, and gradcheck catches it at once.
# The library's version, kernels.rmsnorm_backward_ref (NumPy) and _rmsnorm_bwd (Numba), computes
# the row sum in float64 and writes both terms in one pass over the row.
x64 = Tensor(rng.standard_normal((5, 12)), requires_grad=True)
w64 = Tensor(rng.standard_normal(12), requires_grad=True)
result = gradcheck(lambda a, b: F.rms_norm(a, b, 1e-5), x64, w64)
print(f"  gradcheck of F.rms_norm (float64): {result}")
# Your turn: write it in lessons/exercises/07_rmsnorm.py and run `make exercise N=07`.

# %%
# ============================================================================================
section("4. A consequence: the gradient is orthogonal to x")
# RMSNorm(αx) = RMSNorm(x) for any α > 0 (when eps is negligible): scaling a row changes
# nothing downstream, so moving x along its own direction cannot change the loss. The gradient
# must have no component along x, row by row:  Σ_j x_j dL/dx_j = 0. (Once you have the formula of
# section 3, check it on paper: the two terms cancel, up to the eps in r² mean(x²) = 1 - eps·r².)
xb = rng.standard_normal((6, D)) * 3.0
wb = rng.standard_normal(D)
yb, rstd = kernels.rmsnorm(xb, wb, 1e-5)
gx, gw = kernels.rmsnorm_backward(xb, wb, rstd, rng.standard_normal((6, D)))
cosines = (gx * xb).sum(-1) / (np.linalg.norm(gx, axis=-1) * np.linalg.norm(xb, axis=-1))
print(f"  cos(angle between dL/dx and x), per row: {np.array2string(cosines, precision=1)}")
print("  so gradient descent on x never changes a row's length directly; only w sets the scale.")

# %%
# ============================================================================================
section("5. Fused kernel vs composed primitives: agreement and speed")
# The model runs float32. The fused Numba kernel sums x² in float64 and touches each row twice
# (forward) / twice (backward); the composed version makes ~6 full passes and 3 temporaries.
def fused_step(x, w):
    y = F.rms_norm(x, w, 1e-5)
    y.backward(np.ones_like(y.data))

def composed_step(x, w):
    y = rms_norm_composed(x, w)
    y.backward(np.ones_like(y.data))

# One thread for the kernels (numba_threads(1) from autograd/runtime.py, for the timing only), so
# the comparison is pass-for-pass with NumPy's elementwise passes, which run on one thread (and is
# immune to a busy machine, where a parallel kernel waits for both cores to be free). NumPy and
# its BLAS keep the library's own settings.
D = 256                                                       # the default model's width
rows = pick([256, 1024, 4096, 16384], [256, 2048])
t_fused, t_composed = [], []
for n in rows:
    xs = Tensor(rng.standard_normal((n, D)).astype(np.float32), requires_grad=True)
    ws = Tensor(np.ones(D, dtype=np.float32), requires_grad=True)
    with numba_threads(1):
        t_fused.append(best_time(lambda: fused_step(xs, ws)))     # best of repeated runs
    t_composed.append(best_time(lambda: composed_step(xs, ws)))
    print(f"  N={n:6d} x D={D}: fused {t_fused[-1] * 1e3:7.2f} ms   composed {t_composed[-1] * 1e3:7.2f} ms"
          f"   (forward + backward, float32)")

x32 = rng.standard_normal((4096, D)).astype(np.float32)
w32 = rng.standard_normal(D).astype(np.float32)
y32, _ = kernels.rmsnorm(x32, w32, 1e-5)
y64, _ = kernels.rmsnorm_ref(x32.astype(np.float64), w32.astype(np.float64), 1e-5)
print(f"  float32 kernel vs float64 reference: max rel error {max_rel_error(y32, y64, 1e-3):.1e} "
      f"(float32 epsilon is {np.finfo(np.float32).eps:.1e})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.semilogy(range(N), rms_in, "o-", label="input row RMS")
ax1.semilogy(range(N), rms_out, "s-", label="after RMSNorm (w = 1)")
ax1.set_title("RMSNorm rescales every row to RMS 1")
ax1.set_xlabel("row (token)")
ax1.set_ylabel("root-mean-square of the row")
ax1.legend()
ax2.loglog(rows, np.array(t_composed) * 1e3, "o-", label="composed primitives (6 graph nodes)")
ax2.loglog(rows, np.array(t_fused) * 1e3, "s-", label="fused op + Numba kernels (1 node)")
ax2.set_title(f"forward + backward time, D = {D}, float32, 1 thread")
ax2.set_xlabel("rows N (tokens)")
ax2.set_ylabel("milliseconds (best of runs)")
ax2.legend()
save_figure(fig, "07_rmsnorm.png")

# %%
# ============================================================================================
section("6. Writing a Numba kernel: one pass per row, and why a sum needs \"reassoc\"")
# The NumPy reference makes a temporary array per operation (x*x, the mean, x*rstd, *w): ~5 passes
# over memory. A kernel visits each row once to sum and once to write, with no temporaries.
# The pattern, on a different row statistic (the mean absolute value of each row):
from numba import njit  # noqa: E402


def mean_abs_numpy(x):
    return np.abs(x).mean(axis=-1)                 # a temporary |x|, then a reduction


@njit
def _mean_abs_plain(x, out):
    N, D = x.shape
    for i in range(N):                             # one row at a time
        s = 0.0                                    # a float64 accumulator, even for float32 x
        for j in range(D):
            s += abs(x[i, j])
        out[i] = s / D


@njit(fastmath={"reassoc", "contract"})
def _mean_abs_reassoc(x, out):                     # the same code, one flag more
    N, D = x.shape
    for i in range(N):
        s = 0.0
        for j in range(D):
            s += abs(x[i, j])
        out[i] = s / D


# Why the flag: `s += ...` is a chain, each add waiting for the one before (~4 cycles each).
# Floating-point addition is not associative, so LLVM may not reorder the chain unless allowed;
# "reassoc" allows it, and it splits the sum into 8 or 16 SIMD partial sums added at the end
# (a different rounding, ~1e-16 relative in float64). "contract" allows fused multiply-adds.
xm = rng.standard_normal((4096, 256)).astype(np.float32)
out = np.empty(4096, dtype=np.float32)
t_np = best_time(lambda: mean_abs_numpy(xm))
t_plain = best_time(lambda: _mean_abs_plain(xm, out))
t_reassoc = best_time(lambda: _mean_abs_reassoc(xm, out))
print(f"  mean |x| per row of (4096, 256) float32: NumPy {t_np * 1e3:.2f} ms, Numba {t_plain * 1e3:.2f} ms, "
      f"Numba + reassoc {t_reassoc * 1e3:.2f} ms")
print(f"  agreement: max rel error {max_rel_error(out, mean_abs_numpy(xm)):.1e}")
# Your turn: rms_norm_forward_numba in lessons/exercises/07_rmsnorm.py — the same shape of kernel
# (a sum of squares, then a second loop writing y). The check wants it 1.5x faster than
# kernels.rmsnorm_ref at (4096, 256) float32 (the library's own kernel is ~4x).
