"""Lesson 04 — Softmax and cross-entropy: turning scores into probabilities, and a loss.

A language model ends every step with a vector of V scores (logits) for the next token.
Softmax turns them into probabilities; cross-entropy scores those probabilities against the
token that actually came next. Softmax appears again inside attention (lesson 09). Both are
one-liners on paper and both have traps in floating point; their gradients are short and
beautiful once derived.

Library code this lesson reads:
    autograd/kernels.py      softmax_ref, softmax_backward_ref       the NumPy definitions
                             _softmax_fwd, _softmax_bwd              the Numba kernels
                             cross_entropy_ref, _cross_entropy_fwd/_bwd
    autograd/functional.py   softmax, log_softmax, cross_entropy     the ops

Sections
  1. Naive softmax overflows; subtracting the max fixes it
  2. log-sum-exp and log-softmax: never take the log of a probability that underflowed
  3. Cross-entropy: -log p(target) = logsumexp - logit(target)
  4. Softmax's backward: a Jacobian you never build
  5. Cross-entropy's backward: softmax - onehot (figure)
  6. The Numba kernel vs the NumPy reference: agreement and speed
  7. Your turn: softmax_backward and cross_entropy_backward (the exercise)

Run:       python lessons/04_softmax.py        (TINYLLM_FAST=1 for a quick pass)
Exercise:  make exercise N=04                  (write softmax_backward, cross_entropy_backward)
"""
# %%
import numba
import numpy as np

from _common import best_time, max_rel_error, pick, plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels
from autograd.runtime import numba_threads

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. Naive softmax overflows; subtracting the max fixes it")
# softmax(x)_i = exp(x_i) / Σ_j exp(x_j). exp(710) is already inf in float64 (exp(89) in float32).
def softmax_naive(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)

logits = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):
    print("  naive softmax of [1000, 1001, 1002]:", softmax_naive(logits))
# Softmax doesn't change if you subtract the same c from every logit (exp(x-c) = exp(x)/exp(c),
# and exp(c) cancels). With c = max(x), the largest exponent is exp(0) = 1: nothing overflows.
print("  kernels.softmax_ref (shifts by the max):", kernels.softmax_ref(logits))
print("  kernels.softmax (the Numba kernel):    ", kernels.softmax(logits))

# %%
# ============================================================================================
section("2. log-sum-exp and log-softmax")
# Cross-entropy needs log p. With a very unlikely token, p underflows to 0 and log p = -inf:
logits = np.array([0.0, 800.0])
with np.errstate(divide="ignore"):
    print("  log(softmax([0, 800])) =", np.log(kernels.softmax_ref(logits)))
# Instead: log softmax(x)_i = x_i - logsumexp(x), with logsumexp(x) = m + log Σ exp(x_j - m).
# No probability is ever formed, so nothing underflows (functional.log_softmax does this).
print("  F.log_softmax([0, 800]) =", F.log_softmax(Tensor(logits)).data)

# %%
# ============================================================================================
section("3. Cross-entropy: -log p(target) = logsumexp - logit(target)")
V, N = 10, 6
z = Tensor(rng.standard_normal((N, V)), requires_grad=True)
targets = rng.integers(0, V, size=N)
fused = F.cross_entropy(z, targets)                                   # one op, Numba kernels
composed = -F.log_softmax(z)[np.arange(N), targets].mean()           # three ops
print(f"  fused {fused.item():.12f}   composed {composed.item():.12f}")
print(f"  a model that knows nothing (uniform p = 1/V) scores log V = {np.log(V):.4f};"
      f" all-zero logits give {F.cross_entropy(Tensor(np.zeros((N, V))), targets).item():.4f}")
# That log V is the loss at the start of every training run: a sanity check worth knowing.

# %%
# ============================================================================================
section("4. Softmax's backward: a Jacobian you never build")
# y = softmax(x) over one row, y_i = e^(x_i) / Σ_k e^(x_k). Differentiating the quotient:
#     dy_i/dx_j = y_i (δ_ij - y_j),   so the Jacobian is   J = diag(y) - y yᵀ   (V × V, symmetric)
# and dL/dx = Jᵀ g. Building J costs V² numbers per row (V = 32000 for Llama 2: 4 GB per row in
# float32), so nobody does: multiply Jᵀ g out by hand. diag(y) g is elementwise; y yᵀ g is y times
# one number per row. Finishing that is half of this lesson's exercise. Here J is built, for V = 5,
# to have something to compare with:
y = kernels.softmax_ref(rng.standard_normal(5))
g = rng.standard_normal(5)
J = np.diag(y) - np.outer(y, y)
print(f"  J @ g                     = {np.array2string(J @ g, precision=5)}")
print(f"  kernels.softmax_backward  = {np.array2string(kernels.softmax_backward(y, g), precision=5)}  (no J inside)")
print(f"  every row of J sums to 0 ({np.abs(J.sum(axis=1)).max():.1e}): adding c to all logits changes nothing,"
      " so the gradient has zero sum")
print("  gradcheck F.softmax:", gradcheck(F.softmax, Tensor(rng.standard_normal((3, 7)), requires_grad=True)))

# %%
# ============================================================================================
section("5. Cross-entropy's backward: two terms")
# For one row, L = logsumexp(x) - x_t (section 3). Differentiate the two terms separately:
#     d x_t / dx_j      = 1 if j = t, else 0
#     d logsumexp / dx_j = d/dx_j log Σ_k e^(x_k) = ?   (the chain rule through log, then exp:
#                                                        you have seen the result in section 4)
# and remember the loss is the MEAN over N rows. The result is the other half of the exercise,
# and it is the most important gradient in the model: every training step starts with it.
# Look at the numbers before you derive: the library's gradient for row 0, times N, next to
# that row's probabilities and its target.
fused.backward()
p = kernels.softmax_ref(z.data)
print(f"  target of row 0: {targets[0]}")
print(f"  N · dL/dlogits, row 0: {np.array2string(N * z.grad[0], precision=4)}")
print(f"  softmax(row 0):        {np.array2string(p[0], precision=4)}")
print(f"  each row of the gradient sums to {np.abs(z.grad.sum(axis=-1)).max():.1e}: why?")

# As the target's logit grows, the loss and its gradient both fade: a confident right answer
# stops pulling. A confident wrong one pulls hardest.
others = rng.standard_normal(V - 1)
sweep = np.linspace(-6, 10, 200)
loss_curve, grad_curve = [], []
for v in sweep:
    zz = Tensor(np.concatenate([[v], others])[None], requires_grad=True)
    loss = F.cross_entropy(zz, np.array([0]))
    loss.backward()
    loss_curve.append(loss.item())
    grad_curve.append(zz.grad[0, 0])
# (Compare the curve with section 5's numbers: what is the gradient when p(target) → 1? → 0?)
# The left panel is a reminder for sampling: dividing logits by a temperature < 1 sharpens the
# distribution, > 1 flattens it.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2))
base = np.array([2.0, 1.0, 0.5, 0.0, -0.5, -1.0])
width = 0.25
for k, temp in enumerate([0.5, 1.0, 2.0]):
    ax1.bar(np.arange(6) + (k - 1) * width, kernels.softmax_ref(base / temp), width, label=f"softmax(x / {temp:g})")
ax1.set_xticks(range(6), [f"{b:g}" for b in base])
ax1.set_title("softmax of logits x at three temperatures")
ax1.set_xlabel("logit x_i")
ax1.set_ylabel("probability p_i")
ax1.legend()
ax2.plot(sweep, loss_curve, label="loss = -log p(target)")
ax2.plot(sweep, grad_curve, label="dL / d logit(target)")
ax2.axhline(0, color="0.4", lw=0.8)
ax2.set_title(f"cross-entropy as the target's logit varies (V = {V})")
ax2.set_xlabel("logit of the target token (the other 9 fixed, ~N(0, 1))")
ax2.set_ylabel("value")
ax2.legend()
save_figure(fig, "04_softmax_cross_entropy.png")

# %%
# ============================================================================================
section("6. The Numba kernel vs the NumPy reference")
# Two implementations of the same definition. What each one costs:
#   reference (NumPy)   ~5 whole-array passes (max, subtract, exp, sum, divide) and two (N, V)
#                       temporaries; but every pass is SIMD-vectorised C, exp included (AVX2).
#   kernel (Numba)      3 passes per row (max, exp-and-sum, scale) while the row is in cache, no
#                       temporaries, rows split across cores (prange). Its exp is the scalar libm
#                       one: Numba vectorises exp only with Intel's SVML library (`numba -s`).
# So which one wins depends on the machine. Measure, on 1 thread and on 2 (the kernel's thread
# count set just for the timing, numba_threads in autograd/runtime.py; NumPy's elementwise passes
# use one thread whatever the settings):
rows, V = pick((4096, 2048), (512, 2048))               # a batch of tokens x the default vocab
x32 = rng.standard_normal((rows, V)).astype(np.float32) * 3
t_targets = rng.integers(0, V, size=rows)

print(f"  ({rows}, {V}) float32, best of runs     NumPy reference   kernel 1 thread   kernel 2 threads")
for name, ref, ker in [("softmax", lambda: kernels.softmax_ref(x32), lambda: kernels.softmax(x32)),
                       ("cross-entropy forward", lambda: kernels.cross_entropy_ref(x32, t_targets),
                        lambda: kernels.cross_entropy(x32, t_targets))]:
    t_ref = best_time(ref)
    with numba_threads(1):
        t_one = best_time(ker)
    with numba_threads(min(2, numba.config.NUMBA_NUM_THREADS)):
        t_two = best_time(ker)
    print(f"  {name:36s} {t_ref * 1e3:9.1f} ms {t_one * 1e3:13.1f} ms {t_two * 1e3:14.1f} ms")
y_ref64 = kernels.softmax_ref(x32.astype(np.float64))
print(f"  accuracy vs float64: kernel max rel error {max_rel_error(kernels.softmax(x32), y_ref64, 1e-12):.1e},"
      f" reference {max_rel_error(kernels.softmax_ref(x32), y_ref64, 1e-12):.1e} (float32 eps 1.2e-07)")
# The fused cross-entropy's bigger win is memory: its backward recomputes p from the saved
# log-sum-exp (one number per row) instead of keeping the (N, V) probabilities alive, which for
# the default model's batch (4096 x 2048 float32) is 32 MB per step.

# %%
# ============================================================================================
section("7. Your turn: softmax_backward and cross_entropy_backward")
# lessons/exercises/04_softmax.py asks for, in NumPy:
#   softmax_backward(y, g)                   rows over the last axis (section 4)
#   cross_entropy_backward(logits, targets, g)   L = mean over rows of -log softmax(row)[target];
#                                            g is dL_total/dL, a number: scale by it (section 5)
# Run: make exercise N=04
