"""Lesson 03 — Broadcasting and reductions: where gradients get summed, and where they get copied.

A Llama adds, multiplies and normalises arrays of different shapes all the time: a gain w (D,)
times activations (B, T, D); a per-row statistic (B, T, 1) against the row (B, T, D). NumPy
broadcasting makes the forward effortless. The backward has to undo it, and the rule is short:
what the forward copied, the backward sums. Reductions are the mirror image: what the forward
summed, the backward copies.

Library code this lesson reads:
    autograd/functional.py   unbroadcast(g, shape)          the sum that undoes broadcasting
                             add, mul                       binary ops that call it
                             sum, mean, max, _expand        reductions and their backward

Sections
  1. Broadcasting in the forward: align right, stretch the 1s
  2. The backward of a broadcast is a sum over the copies
  3. Size-1 axes: the half of unbroadcast that is easy to forget
  4. Reductions: sum's backward is a broadcast (they are each other's transpose)
  5. max routes the whole gradient to the winner (figure)
  6. Your turn: unbroadcast and max's backward (the exercise)

Run:       python lessons/03_broadcasting.py
Exercise:  make exercise N=03             (write unbroadcast and max_backward)
"""
# %%
import inspect

import numpy as np

from _common import plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, gradcheck

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. Broadcasting in the forward: align right, stretch the 1s")
# NumPy lines the shapes up from the RIGHT. A missing leading axis counts as size 1, and a size-1
# axis is stretched (copied, conceptually) to match the other operand.
for s1, s2 in [((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((2, 1, 4), (3, 1)), ((5, 1), (1, 6)), ((), (3,))]:
    out = np.broadcast_shapes(s1, s2)
    print(f"  {str(s1):10s} with {str(s2):7s} -> {out}")

# %%
# ============================================================================================
section("2. The backward of a broadcast is a sum over the copies")
# y = x + b with x (B, T, D) and a bias b (D,): b[j] is used B·T times, once per position.
# Each use passes its own gradient back to the same b[j], so dL/db[j] = Σ_{b,t} g[b, t, j].
B, T, D = 2, 3, 4
x = Tensor(rng.standard_normal((B, T, D)), requires_grad=True)
bias = Tensor(np.zeros(D), requires_grad=True)
(x + bias).sum().backward()
print(f"  L = sum(x + b): dL/db = {bias.grad}   (each b[j] was copied B·T = {B * T} times)")
# The same with the copies made explicit: broadcast_to, then sum the gradient over the copies.
g = rng.standard_normal((B, T, D))
print(f"  unbroadcast(g, (D,)) == g.sum(axis=(0, 1)): "
      f"{np.allclose(F.unbroadcast(g, (D,)), g.sum(axis=(0, 1)))}")
print("  the library's version (called by add, sub, mul, div, where, matmul):\n")
print(inspect.getsource(F.unbroadcast))

# %%
# ============================================================================================
section("3. Size-1 axes: the half of unbroadcast that is easy to forget")
# Summing away the extra LEADING axes is the obvious half. But an operand of shape (B, T, 1)
# (a per-row statistic, keepdims=True) against (B, T, D) is stretched along the last axis
# without losing it: its gradient must be summed over that axis AND keep it, as size 1.
for g_shape, shape in [((2, 3, 4), (4,)), ((2, 3, 4), (2, 3, 1)), ((2, 3, 4), (3, 1)),
                       ((2, 3, 4), (1, 1, 4)), ((2, 3, 4), ())]:
    gg = np.ones(g_shape)
    leading_only = gg
    while leading_only.ndim > len(shape):
        leading_only = leading_only.sum(axis=0)
    print(f"  g {str(g_shape):9s} -> shape {str(shape):9s}: unbroadcast gives "
          f"{str(F.unbroadcast(gg, shape).shape):9s}; summing leading axes only gives {leading_only.shape}")
# Where the two disagree, a backward that only strips leading axes hands a (2, 3, 4) gradient
# to a (2, 3, 1) tensor, and Tensor.accumulate refuses it:
row_stat = Tensor(rng.standard_normal((2, 3, 1)), requires_grad=True)
try:
    row_stat.accumulate(np.ones((2, 3, 4)))
except ValueError as e:
    print(f"  Tensor.accumulate: ValueError: {e}")

# %%
# ============================================================================================
section("4. Reductions: sum's backward is a broadcast")
# y = x.sum(axis) makes every summed element count once in y, so each gets g unchanged: the
# backward re-inserts the reduced axis (functional._expand) and broadcasts g back over it.
# Broadcast and sum are each other's transpose: <broadcast(u), v> = <u, sum(v)> for all u, v.
u, v = rng.standard_normal((3, 1)), rng.standard_normal((3, 5))
print(f"  <broadcast(u), v> = {np.sum(np.broadcast_to(u, v.shape) * v):+.12f}")
print(f"  <u, sum(v, 1)>    = {np.sum(u * v.sum(axis=1, keepdims=True)):+.12f}")
# ... which is why one's backward is the other. mean is sum / n, so each element gets g / n.
x = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
print("  gradcheck sum(axis=1): ", gradcheck(lambda t: t.sum(axis=1), x))
print("  gradcheck mean(axis=0):", gradcheck(lambda t: t.mean(axis=0), x))

# %%
# ============================================================================================
section("5. max routes the whole gradient to the winner")
# y = max_j x_j: nudging the largest element moves y one-for-one, nudging any other moves
# nothing. So dL/dx = g at the argmax and 0 elsewhere — max is a switch, not an average.
# If several elements tie for the max, the derivative does not exist; the library splits g
# evenly among them (functional.max), which is also what a central difference measures:
# (max(x + ε e_i) - max(x - ε e_i)) / 2ε = (ε - 0) / 2ε = 1/2 for one of two tied maxima.
tied = Tensor(np.array([[1.0, 3.0, 3.0, 0.0]]), requires_grad=True)
tied.max(axis=1).sum().backward()
print(f"  x = {tied.data[0]}: d max / dx = {tied.grad[0]}")
print("  gradcheck at the tie: ", gradcheck(lambda t: t.max(axis=1), tied))

X = rng.standard_normal((6, 10))
grads = {}
for name, reduce in [("max over each row", lambda t: t.max(axis=1)),
                     ("mean over each row", lambda t: t.mean(axis=1))]:
    t = Tensor(X.copy(), requires_grad=True)
    reduce(t).sum().backward()
    grads[name] = t.grad
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
im = axes[0].imshow(X, cmap="RdBu_r", vmin=-3, vmax=3)
axes[0].scatter(X.argmax(axis=1), np.arange(6), marker="o", s=90, facecolors="none", edgecolors="k")
axes[0].set_title("x (6 rows of 10); circles: each row's max")
fig.colorbar(im, ax=axes[0], shrink=0.8)
for ax, (name, grad) in zip(axes[1:], grads.items()):
    im = ax.imshow(grad, cmap="Greens", vmin=0, vmax=1)      # one colour scale for both
    for (i, j), val in np.ndenumerate(grad):
        if val:
            ax.text(j, i, f"{val:g}", ha="center", va="center", fontsize=7,
                    color="white" if val > 0.5 else "black")
    ax.set_title(f"dL/dx for L = Σ ({name})")
    fig.colorbar(im, ax=ax, shrink=0.8)
for ax in axes:
    ax.set_xlabel("column j")
    ax.set_ylabel("row i")
    ax.grid(False)
save_figure(fig, "03_reductions.png")
print("  figure: max sends each row's gradient to one element; mean spreads it as 1/10 to all")

# %%
# ============================================================================================
section("6. Your turn: unbroadcast and max's backward")
# lessons/exercises/03_broadcasting.py asks for:
#   unbroadcast(g, shape)       sum g down to `shape` (sections 2 and 3). Don't call
#                               F.unbroadcast: write it. Leading axes first, then size-1 axes.
#   max_backward(x, y, g, axis) y = x.max(axis=axis) (axis an int, no keepdims), g shaped like y.
#                               Return dL/dx: g where x equals its max, 0 elsewhere, shared
#                               evenly between ties (section 5). np.expand_dims puts the axis back.
# Run: make exercise N=03
