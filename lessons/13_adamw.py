"""Lesson 13 — AdamW, the learning-rate schedule, and gradient clipping.

Backprop gives the gradient g of the loss for every parameter. The optimizer decides what to do
with it. Plain gradient descent, p ← p − lr·g, uses one step size for every parameter, and the
right size for one direction is wrong for another. Adam (Kingma & Ba 2015) gives each parameter
its own step size from running averages of its gradient; AdamW (Loshchilov & Hutter 2019)
fixes how weight decay combines with it. Around it sit a schedule (how lr changes over training)
and clipping (a guard against the occasional huge gradient).

In the library:

    autograd/kernels.py   adamw_step_ref(p, g, m, v, ...)   the update, in plain NumPy
                          _adamw_kernel / adamw_step         the fused Numba kernel
    tinyllm/optim.py      AdamW        all parameters in one flat buffer, one kernel call per step
                          lr_at        warm-up + cosine decay;   clip_grad_norm   global-norm clipping

Sections
  1. Why not plain gradient descent: an ill-conditioned valley (figure)
  2. The AdamW update, step by step, against the library
  3. Bias correction: the first steps
  4. Decoupled weight decay vs L2 regularisation
  5. The learning-rate schedule (figure)
  6. Gradient clipping

Run:       python lessons/13_adamw.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 13       (write the AdamW step and global-norm clipping)
"""
# %%
import math

import numpy as np

from _common import plt, save_figure, section, max_rel_error

from autograd import Tensor, kernels
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm, lr_at, step_progress

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. Why not plain gradient descent")
# The loss f(x, y) = ½(x² + 50·y²) is a long narrow valley: the gradient (x, 50y) is 50 times
# steeper across (y) than along (x). Gradient descent diverges unless lr < 2/50, and with such
# a small lr it crawls along x. Momentum helps; Adam divides each coordinate's step by the
# running RMS of its own gradient, so both coordinates move at a similar pace.
def grad(p):
    return np.array([p[0], 50.0 * p[1]])


def loss2d(p):
    return 0.5 * (p[0] ** 2 + 50.0 * p[1] ** 2)


start, steps = np.array([-4.0, 0.8]), 60
paths = {}
p = start.copy()                                     # gradient descent, the largest stable lr
path = [p.copy()]
for _ in range(steps):
    p = p - 0.038 * grad(p)
    path.append(p.copy())
paths["gradient descent, lr 0.038 (stable limit 0.04)"] = np.array(path)
p, vel = start.copy(), np.zeros(2)                   # heavy-ball momentum
path = [p.copy()]
for _ in range(steps):
    vel = 0.9 * vel + grad(p)
    p = p - 0.01 * vel
    path.append(p.copy())
paths["momentum 0.9, lr 0.01"] = np.array(path)
p, m, v = start.copy(), np.zeros(2), np.zeros(2)     # Adam: the library's reference update
path = [p.copy()]
for t in range(1, steps + 1):
    kernels.adamw_step_ref(p, grad(p), m, v, lr=0.3, beta1=0.9, beta2=0.99, eps=1e-8,
                           weight_decay=0.0, step=t)
    path.append(p.copy())
paths["Adam, lr 0.3 (kernels.adamw_step_ref)"] = np.array(path)
for name, path in paths.items():
    print(f"{name:48s} loss after {steps} steps: {loss2d(path[-1]):.2e}")

X, Y = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.2, 1.2, 200))
fig, ax = plt.subplots(figsize=(9, 4.2))
ax.contour(X, Y, 0.5 * (X ** 2 + 50 * Y ** 2), levels=np.geomspace(0.01, 60, 14), colors="grey", linewidths=0.6)
for (name, path), style in zip(paths.items(), ("o-", "s-", "^-")):
    ax.plot(path[:, 0], path[:, 1], style, ms=3, lw=1, label=name)
ax.plot(0, 0, "k*", ms=12, label="minimum")
ax.set_xlabel("x (shallow direction)")
ax.set_ylabel("y (steep direction, 50× curvature)")
ax.set_title(f"{steps} steps on f = ½(x² + 50y²), from ({start[0]:g}, {start[1]:g})")
ax.legend(fontsize=8, loc="lower right")
save_figure(fig, "13_optimizers.png")


# %%
# ============================================================================================
section("2. The AdamW update, step by step")
# For each parameter p with gradient g, at step t = 1, 2, ...:
#     p ← p − lr·wd·p                       decoupled weight decay
#     m ← β1·m + (1 − β1)·g                 running mean of g        ("momentum")
#     v ← β2·v + (1 − β2)·g²                running mean of g²       (its scale)
#     p ← p − lr · m̂ / (√v̂ + eps)           m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ)   (bias correction)
# Written out in NumPy, then compared with the library's reference, the Numba kernel, and the
# optimizer class on Tensors (float64, five steps with new gradients each step).
lr, b1, b2, eps, wd = 1e-2, 0.9, 0.99, 1e-8, 0.1
p0 = rng.standard_normal((4, 5))
grads = [rng.standard_normal((4, 5)) for _ in range(5)]

p_hand, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
for t, g in enumerate(grads, start=1):
    p_hand *= 1 - lr * wd
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    p_hand -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)

p_ref, m_ref, v_ref = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
p_ker, m_ker, v_ker = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
for t, g in enumerate(grads, start=1):
    kernels.adamw_step_ref(p_ref, g, m_ref, v_ref, lr, b1, b2, eps, wd, t)
    kernels.adamw_step(p_ker, g, m_ker, v_ker, lr, b1, b2, eps, wd, t)

param = Tensor(p0.copy(), requires_grad=True)
opt = AdamW([("w", param)], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
for g in grads:
    param.grad = g
    opt.step()
for name, got in (("kernels.adamw_step_ref", p_ref), ("kernels.adamw_step (Numba)", p_ker),
                  ("tinyllm.optim.AdamW", param.data)):
    err = max_rel_error(p_hand, got)
    print(f"by hand vs {name:28s}: max rel error {err:.1e}")
    assert err < 1e-12

# tinyllm's AdamW decays matrices only: RMSNorm gains (1-D) are scales that should stay near 1,
# not be pulled to 0. (nanoGPT and most PyTorch training scripts do the same.)
model = Transformer(ModelConfig.preset("tiny"))
opt = AdamW(model.named_parameters())
decayed = [n for n, p in model.named_parameters() if p.ndim >= 2]
print(f"of {len(opt.names)} parameter tensors, {len(decayed)} are decayed (matrices), "
      f"{len(opt.names) - len(decayed)} are not: {[n for n, p in model.named_parameters() if p.ndim < 2][:3]} ...")
assert opt.n_decayed == sum(model.state_dict()[n].size for n in decayed)


# %%
# ============================================================================================
section("3. Bias correction")
# m and v start at 0, so early on they are biased towards 0: after one step m = (1−β1)·g, a
# tenth of g. Dividing by (1 − β1ᵗ) undoes exactly that: at t = 1, m̂ = g and v̂ = g², so the
# first update is lr · g/|g| = ±lr for EVERY element, whatever the gradient's scale.
# Without the correction the first update would be lr·(1−β1)/√(1−β2)·sign(g): 3.2× too large
# with the common β2 = 0.999, right with β2 = 0.99 only by coincidence — and the two biases
# fade at different speeds (the factors printed below), so early steps would be off either way.
# (eps = 1e-8 in the denominator makes it a hair smaller when |g| is tiny.)
for scale in (1e-4, 1.0, 1e3):
    p, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    g = scale * np.array([1.0, -2.0, 0.5])
    kernels.adamw_step_ref(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.0, step=1)
    print(f"gradient scale {scale:7.0e}: g = {g}, first update {p} ≈ -lr·sign(g)")
    assert np.allclose(p, -1e-3 * np.sign(g), rtol=1e-3)
t = np.arange(1, 51)
print("correction factors 1/(1−β1ᵗ) at t = 1, 10, 50:", np.round(1 / (1 - 0.9 ** t[[0, 9, 49]]), 3),
      "  1/(1−β2ᵗ) with β2 = 0.99:", np.round(1 / (1 - 0.99 ** t[[0, 9, 49]]), 2))


# %%
# ============================================================================================
section("4. Decoupled weight decay vs L2 regularisation")
# "Weight decay" used to mean adding ½·wd·‖p‖² to the loss: its gradient wd·p joins g. In Adam
# that term then gets divided by √v̂ — so a parameter with large gradients is barely decayed,
# and one with tiny gradients is decayed a lot. AdamW instead shrinks p directly, p ← p(1 − lr·wd),
# the same relative pull for every parameter, independent of its gradient's scale.
# Three parameters with zero-mean noisy gradients of very different scales, so the decay is the
# only systematic force; each is simulated 2000 times and we look at the average.
lr, wd, n_steps = 1e-2, 0.1, 200
g_scales = np.array([1e-3, 1.0, 1e2])[:, None]       # (3, 1): per parameter
results = {}
for name in ("AdamW (decoupled)", "Adam + L2 (wd·p in the gradient)"):
    p = np.ones((3, 2000))
    m, v = np.zeros_like(p), np.zeros_like(p)
    r = np.random.default_rng(1)
    for t in range(1, n_steps + 1):
        g = g_scales * r.standard_normal(p.shape)
        if name.startswith("AdamW"):
            kernels.adamw_step_ref(p, g, m, v, lr, 0.9, 0.99, 1e-8, wd, t)
        else:
            kernels.adamw_step_ref(p, g + wd * p, m, v, lr, 0.9, 0.99, 1e-8, 0.0, t)
    results[name] = p.mean(axis=1)
    print(f"{name:34s}: mean p after {n_steps} steps = {np.round(results[name], 3)} "
          f"for gradient scales {g_scales[:, 0]}")
print(f"(1 − lr·wd)^{n_steps} = {(1 - lr * wd) ** n_steps:.3f}: AdamW's decay, the same for all three")
assert np.allclose(results["AdamW (decoupled)"], (1 - lr * wd) ** n_steps, atol=0.02)
assert results["Adam + L2 (wd·p in the gradient)"][2] > 0.95      # big gradients: barely decayed


# %%
# ============================================================================================
section("5. The learning-rate schedule")
# tinyllm/optim.py `lr_at`: a linear warm-up (m and v need a few steps to become good
# estimates; big early steps can throw the model somewhere bad), then a cosine from lr down to
# min_lr. The cosine's progress is steps done / steps planned, or, for a time budget
# (`--minutes`), seconds done / seconds planned.
total, warmup = 2000, 100
steps_axis = np.arange(total)
lrs = [lr_at(s, step_progress(s, total, warmup), lr=1e-3, min_lr=1e-4, warmup=warmup) for s in steps_axis]
print(f"lr at step 0: {lrs[0]:.2e}, at the end of warm-up ({warmup}): {lrs[warmup]:.2e}, "
      f"half-way through the decay: {lrs[(total + warmup) // 2]:.2e}, last step: {lrs[-1]:.2e}")
assert lrs[0] < lrs[warmup - 1] <= 1e-3 and abs(lrs[warmup] - 1e-3) < 1e-9 and abs(lrs[-1] - 1e-4) < 2e-7

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.plot(steps_axis, lrs)
ax1.axvline(warmup, color="grey", ls="--", lw=0.8)
ax1.text(warmup + 20, 5e-4, "end of warm-up", fontsize=8)
ax1.set_xlabel("step")
ax1.set_ylabel("learning rate")
ax1.set_title(f"lr_at: {warmup} warm-up steps, cosine to min_lr over {total} steps")
ax2.plot(steps_axis[:250], lrs[:250])
ax2.set_xlabel("step")
ax2.set_ylabel("learning rate")
ax2.set_title("zoom: the linear warm-up")
save_figure(fig, "13_lr_schedule.png")


# %%
# ============================================================================================
section("6. Gradient clipping")
# Now and then a batch gives a gradient far larger than usual; one such step can undo many.
# clip_grad_norm computes the norm of ALL gradients together, ‖g‖ = √(Σ_params Σ g²), and if it
# exceeds max_norm scales every gradient by max_norm/‖g‖: the direction is kept, only the
# length is capped.
model = Transformer(ModelConfig.preset("tiny"), dtype=np.float64)
toks = rng.integers(0, 32, (4, 9))
_, loss = model(toks[:, :-1], toks[:, 1:])
(loss * 1000.0).backward()                           # pretend: a spike
before = [p.grad.copy() for p in model.parameters()]
norm = clip_grad_norm(model.parameters(), max_norm=1.0)
after = [p.grad for p in model.parameters()]
norm_after = math.sqrt(sum(float((g ** 2).sum()) for g in after))
cos_sim = sum(float((a * b).sum()) for a, b in zip(before, after)) / (norm * norm_after)
print(f"global gradient norm {norm:.2f} → {norm_after:.4f} after clipping to 1.0; "
      f"cosine(before, after) = {cos_sim:.12f} (same direction)")
assert abs(norm_after - 1.0) < 1e-5 and abs(cos_sim - 1) < 1e-12
small = clip_grad_norm(model.parameters(), max_norm=10.0)
print(f"a norm of {small:.2f} under max_norm 10 is left alone")

print("\nNext: lesson 14 puts it all together and trains on Shakespeare. Exercise: python lessons/exercise.py 13")
