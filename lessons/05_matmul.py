"""Lesson 05 — Matrix multiplication: its backward, batching, and a kernel raced against BLAS.

Nearly all of a Llama's arithmetic is matrix multiplication: every Linear layer (seven per block)
and the attention scores. This lesson derives the backward of y = a @ b (two more matmuls),
extends it to batches where a weight is shared by every row (its gradient is a sum — lesson 03
again), and then looks at speed: a Python triple loop, the library's cache-blocked Numba kernel,
and NumPy's np.matmul, which calls an optimised BLAS (OpenBLAS here).

Library code this lesson reads:
    autograd/functional.py   matmul(a, b), linear(x, weight)           the ops and their backward
    autograd/kernels.py      matmul, matmul_backward, _matmul_kernel   the Numba kernel
    bench/kernels.py         the kernel benchmarks at model shapes

Sections
  1. The backward of a @ b, read off the shapes
  2. Batches and broadcasting: a shared weight's gradient is a sum over the batch
  3. Three matmuls: Python loops, the Numba kernel, BLAS (figure)
  4. Why loop order and blocking matter
  5. Your turn: matmul_backward with broadcast batch axes (the exercise)

Run:       python lessons/05_matmul.py        (TINYLLM_FAST=1 for a quick pass)
Exercise:  make exercise N=05                 (write matmul_backward)
"""
# %%
import numpy as np
from numba import njit

from _common import best_time, pick, plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels
from autograd.runtime import numba_threads

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. The backward of a @ b, read off the shapes")
# y = a @ b, a (M, K), b (K, N):  y_ij = Σ_k a_ik b_kj.  With g = dL/dy (M, N):
#   dL/da_ik = Σ_j g_ij b_kj  = (g @ bᵀ)_ik        (M, N) @ (N, K) -> (M, K)  the shape of a
#   dL/db_kj = Σ_i a_ik g_ij  = (aᵀ @ g)_kj        (K, M) @ (M, N) -> (K, N)  the shape of b
# A memory aid that always works: the gradient has the input's shape, and there is only one way
# to multiply g with the OTHER operand (transposed or not) that produces that shape.
M, K, N = 3, 4, 5
a = Tensor(rng.standard_normal((M, K)), requires_grad=True)
b = Tensor(rng.standard_normal((K, N)), requires_grad=True)
g = rng.standard_normal((M, N))
(a @ b).backward(g)
print(f"  dL/da == g @ b.T: {np.allclose(a.grad, g @ b.data.T)}    dL/db == a.T @ g: {np.allclose(b.grad, a.data.T @ g)}")
print("  gradcheck F.matmul:", gradcheck(F.matmul, a, b))
# So the backward costs two matmuls of the same size as the forward: training a Linear layer is
# 3x the FLOPs of running it (the "6 FLOPs per parameter per token" rule: 2 forward + 4 backward).

# %%
# ============================================================================================
section("2. Batches and broadcasting: a shared weight's gradient is a sum over the batch")
# np.matmul treats all axes but the last two as batch axes and broadcasts them (lesson 03):
#   x (B, T, D) @ W (D, F)      W is shared by all B·T rows
#   q (B, H, T, hd) @ kᵀ (B, H, hd, T)    one matrix product per (batch, head)
# The batched backward is the 2-D one per batch element; then every input that was broadcast
# gets its gradient summed over the axes it was broadcast along.
x = Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
W = Tensor(rng.standard_normal((4, 6)), requires_grad=True)
g = rng.standard_normal((2, 3, 6))
(x @ W).backward(g)
per_batch = sum(x.data[i].T @ g[i] for i in range(2))
print(f"  x (2, 3, 4) @ W (4, 6): dL/dW == Σ_batch x[i].T @ g[i]: {np.allclose(W.grad, per_batch)}")
print(f"  ... == one big product x.reshape(-1, 4).T @ g.reshape(-1, 6): "
      f"{np.allclose(W.grad, x.data.reshape(-1, 4).T @ g.reshape(-1, 6))}   (what F.matmul does)")
u = Tensor(rng.standard_normal((2, 1, 3, 4)), requires_grad=True)
v = Tensor(rng.standard_normal((5, 4, 2)), requires_grad=True)
print(f"  u {u.shape} @ v {v.shape} -> {(u @ v).shape}; gradcheck:", gradcheck(F.matmul, u, v))
# The model itself calls F.linear (y = x Wᵀ, W stored (out, in) as in PyTorch): it folds all
# leading axes into rows first, so the forward and both gradients are single 2-D BLAS calls.

# %%
# ============================================================================================
section("3. Three matmuls: Python loops, the Numba kernel, BLAS")
def matmul_python(a, b):
    """The definition, as loops: 2·M·N·K floating-point operations, one interpreted step each."""
    M, K = a.shape
    N = b.shape[1]
    c = np.zeros((M, N))
    for i in range(M):
        for j in range(N):
            c[i, j] = sum(a[i, k] * b[k, j] for k in range(K))
    return c

def relative_error(c, exact):
    """Error relative to the size of the result: max |c - exact| / max |exact|."""
    return float(np.abs(c - exact).max() / np.abs(exact).max())

# The Python loop and the two Numba loops run on one core (numba_threads(1), autograd/runtime.py):
# the race is about how well each uses a core, not how it splits work (and a 2-thread run on a busy
# machine measures mostly the waiting). BLAS runs with the library's own settings
# (autograd/runtime.py), which leave OpenBLAS its default thread count, so on a machine with
# several cores part of its lead is threads the kernel does not get here; and on a busy machine a
# product that must wait for its second thread to be scheduled can come out far slower than on one.
sizes = pick([32, 64, 128, 256, 512, 1024], [32, 64, 128, 256])
results = {"Python loops": [], "Numba, naive i-j-k loop": [], "Numba kernel (kernels.matmul)": [],
           "BLAS (np.matmul)": []}

@njit(cache=True)
def matmul_numba_naive(a, b, c):
    """Section 4's foil: the textbook loop order, compiled, no blocking, one thread."""
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            acc = 0.0
            for k in range(a.shape[1]):
                acc += a[i, k] * b[k, j]
            c[i, j] = acc

for n in sizes:
    A = rng.standard_normal((n, n)).astype(np.float32)
    Bm = rng.standard_normal((n, n)).astype(np.float32)
    flops = 2.0 * n ** 3
    expected = A.astype(np.float64) @ Bm.astype(np.float64)
    if n <= 64:
        results["Python loops"].append(flops / best_time(lambda: matmul_python(A, Bm), min_repeat=1, max_repeat=1) / 1e9)
    with numba_threads(1):                 # the compiled loops on one core: how well each uses it
        if n <= 512:
            C = np.empty((n, n), dtype=np.float32)
            results["Numba, naive i-j-k loop"].append(
                flops / best_time(lambda: matmul_numba_naive(A, Bm, C)) / 1e9)
        results["Numba kernel (kernels.matmul)"].append(flops / best_time(lambda: kernels.matmul(A, Bm)) / 1e9)
    results["BLAS (np.matmul)"].append(flops / best_time(lambda: A @ Bm) / 1e9)
    err_kernel = relative_error(kernels.matmul(A, Bm), expected)
    err_blas = relative_error(A @ Bm, expected)
    print(f"  n={n:5d}  " + "  ".join(f"{name.split(' (')[0]} {vals[-1]:.3g}" for name, vals in results.items()
                                      if len(vals) == sizes.index(n) + 1)
          + f"  GFLOP/s | float32 error vs float64: kernel {err_kernel:.0e}, BLAS {err_blas:.0e}")

at = sizes.index(min(512, sizes[-1]))
blas, kernel, naive = (results[k][at] for k in ("BLAS (np.matmul)", "Numba kernel (kernels.matmul)",
                                                 "Numba, naive i-j-k loop"))
print(f"  at n={sizes[at]}: BLAS is {blas / kernel:.1f}x the kernel, which is {kernel / naive:.0f}x the naive "
      f"compiled loop, which is {naive / results['Python loops'][-1]:.0f}x Python")

fig, ax = plt.subplots(figsize=(8.5, 4.8))
for (name, vals), style in zip(results.items(), ["x-", "^-", "s-", "o-"]):
    ax.loglog(sizes[:len(vals)], vals, style, label=name)
ax.set_title("float32 square matmul C = A @ B (Numba on one core, BLAS with its own threads)")
ax.set_xlabel("matrix size n (n x n times n x n)")
ax.set_ylabel("GFLOP/s (2n³ / best time)")
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.legend()
save_figure(fig, "05_matmul_speed.png")

# %%
# ============================================================================================
section("4. Why loop order and blocking matter")
# The naive i-j-k loop reads b[k, j] down a COLUMN: each step jumps a whole row ahead in memory,
# so every load is a cache miss once b outgrows the cache, and the k-sum is a serial chain of
# dependent adds that cannot be vectorised without reordering float sums.
# kernels._matmul_kernel swaps to i-k-j: the inner loop `c[i, j] += a[i, k] * b[k, j]` walks a
# ROW of b and a row of c, contiguous, independent for each j: LLVM turns it into SIMD FMAs.
# It also works on blocks (32 rows of a x 128 of depth x 256 columns of b) that stay in cache
# while they are reused, and (with more threads) splits the row blocks across cores (prange).
# BLAS goes further: hand-written assembly micro-kernels that keep a tile of C in registers,
# operands repacked into the exact order the micro-kernel reads. That last factor is why the
# library's model calls np.matmul (through F.linear / F.matmul) and keeps kernels.matmul as the
# readable version of the same ideas (see bench/kernels.py for its numbers at model shapes).
# Accuracy: both float32 results are ~1e-7..1e-6 of the result's size away from float64 — the
# order of float32's epsilon times √n, as expected from summing n rounded products.

# %%
# ============================================================================================
section("5. Your turn: matmul_backward with broadcast batch axes")
# lessons/exercises/05_matmul.py asks for matmul_backward(a, b, g) -> (dL/da, dL/db) for
# y = np.matmul(a, b), a (..., M, K) and b (..., K, N) with broadcast batch axes (b may be 2-D).
# Section 1 gives the per-matrix formula; np.swapaxes(x, -1, -2) transposes the last two axes of
# a batch. Then sum each gradient down to its input's shape (section 2; lesson 03's unbroadcast).
# Run: make exercise N=05
