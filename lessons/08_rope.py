"""Lesson 08 — Rotary position embeddings (RoPE): position as a rotation.

Attention compares a query with keys by dot products (lesson 09). Nothing in a dot product knows
where the two tokens are: the score of "bites" against "dog" is the same whether "dog" came one
token or twenty tokens earlier. A causal model does see some order — the mask lets each token
look only at the ones before it, so reordering changes which scores exist — but it knows nothing
about distance, and two arrangements of the same earlier tokens look alike to it. Llama needs
positions. Llama's answer (Su et al. 2021, "RoFormer") is to ROTATE each query and
key by an angle proportional to its position, just before the dot product. Rotations keep
lengths, cost a few multiplies, have no parameters, and make the score depend only on how far
apart two tokens are.

Library code this lesson reads:
    autograd/kernels.py      rope_tables(T, hd, theta)             the cos/sin tables
                             rope_ref, rope_backward_ref           NumPy definitions
                             _rope_kernel                          the Numba kernel
    autograd/functional.py   rope(x, cos, sin)                     the op (backward = inverse rotation)
    tinyllm/model.py         Attention.forward                     rotates q and k, never v
    tinyllm/export.py        interleaved_to_half                   Hugging Face's other pairing

Sections
  1. Without positions, attention can't tell order
  2. Rotating pairs: one clock hand per pair, at different speeds (figure)
  3. Rotations keep lengths
  4. The score depends only on the distance m - n (figure)
  5. The backward: the transpose of a rotation (your exercise)

Run:       python lessons/08_rope.py
Exercise:  make exercise N=08             (write rope_backward)
"""
# %%
import numpy as np

from _common import max_rel_error, plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels

rng = np.random.default_rng(0)
hd = 32                                                   # the default model's head dimension

# %%
# ============================================================================================
section("1. Without positions, attention can't tell order")
q, k = rng.standard_normal(hd), rng.standard_normal(hd)
print(f"  q·k = {q @ k:+.4f}, wherever q and k are in the sequence: the dot product sees only contents")
# Without positions, "dog bites man" and "man bites dog" give the token "bites" the same score for
# "dog" (it is before "bites" in one, after in the other — the causal mask decides whether the
# score is used, but not how far away "dog" is). Near or far, first or fifth: all the same to q·k.

# %%
# ============================================================================================
section("2. Rotating pairs: one clock hand per pair, at different speeds")
# Split a head's vector into hd/2 pairs (x[2j], x[2j+1]) — interleaved, as in Meta's code and
# llama2.c. At position t, rotate pair j by the angle t·θ_j with
#     θ_j = theta^(-2j/hd),   theta = 10000:   θ_0 = 1 rad per position ... θ_15 ≈ 1.8e-4
#     (a, b) -> (a cos - b sin,  a sin + b cos)
# Fast pairs tell neighbours apart, slow pairs still change across thousands of positions.
# kernels.rope_tables(T, hd) precomputes cos(t θ_j) and sin(t θ_j) for every (t, j):
T = 256
cos, sin = kernels.rope_tables(T, hd, theta=10000.0, dtype=np.float64)     # (T, hd/2) each
print(f"  tables: cos {cos.shape}, sin {sin.shape}")
print(f"  θ_j (the angle at position 1) = {np.array2string(np.arctan2(sin[1], cos[1]), precision=1, max_line_width=120)}")
# F.rope(x, cos, sin) rotates x of shape (B, T, H, hd): every head, every batch row, position t
# by row t of the tables. The model applies it to q and k only (tinyllm/model.py, Attention).
x = Tensor(np.tile(np.array([1.0, 0.0] * (hd // 2)), (1, 8, 1, 1)))       # the same vector at 8 positions
rotated = F.rope(x, cos[:8], sin[:8]).data[0, :, 0]                         # (8, hd)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1, 1.5]})
circle = np.linspace(0, 2 * np.pi, 200)
ax1.plot(np.cos(circle), np.sin(circle), color="0.8", lw=1)
for j, colour in [(0, "tab:blue"), (4, "tab:orange")]:
    for t in range(8):
        a, b = rotated[t, 2 * j], rotated[t, 2 * j + 1]
        ax1.annotate("", xy=(a, b), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3))
        if j == 0:                                        # the slow hand's labels would overlap
            ax1.text(a * 1.12, b * 1.12, str(t), color=colour, ha="center", va="center", fontsize=9)
ax1.plot([], [], color="tab:blue", label="pair j=0: θ = 1 rad per position")
ax1.plot([], [], color="tab:orange", label="pair j=4: θ = 0.1 rad per position (0..7 upwards)")
ax1.set_aspect("equal")
ax1.set_xlim(-1.35, 1.35)
ax1.set_ylim(-1.35, 1.5)
ax1.set_title("one pair (1, 0), rotated at positions 0..7")
ax1.set_xlabel("x[2j]")
ax1.set_ylabel("x[2j+1]")
ax1.legend(loc="upper center", fontsize=8)
im = ax2.imshow(cos.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, origin="lower")
ax2.set_title("kernels.rope_tables: cos(t·θ_j), hd = 32, theta = 10000")
ax2.set_xlabel("position t")
ax2.set_ylabel("pair j (fast → slow)")
ax2.grid(False)
fig.colorbar(im, ax=ax2, shrink=0.85)
save_figure(fig, "08_rope_rotation.png")

# %%
# ============================================================================================
section("3. Rotations keep lengths")
xs = rng.standard_normal((2, T, 4, hd))
ys = kernels.rope(xs, cos, sin)
print(f"  |rope(x)| / |x| over every vector: min {np.min(np.linalg.norm(ys, axis=-1) / np.linalg.norm(xs, axis=-1)):.15f},"
      f" max {np.max(np.linalg.norm(ys, axis=-1) / np.linalg.norm(xs, axis=-1)):.15f}")
print(f"  position 0 is not rotated: {np.allclose(ys[:, 0], xs[:, 0])}")
# So RoPE never changes how big a query or key is, only its direction: it adds no scale to learn.

# %%
# ============================================================================================
section("4. The score depends only on the distance m - n")
# Write R(α) for the 2x2 rotation. Query at position m, key at position n, one pair:
#     (R(mθ) q) · (R(nθ) k) = qᵀ R(mθ)ᵀ R(nθ) k = qᵀ R((n - m)θ) k
# because R(a)ᵀ = R(-a) and R(a) R(b) = R(a + b). Absolute positions cancel; only n - m is
# left. Summing over the pairs keeps it true for the whole vector. Check it with the library:
# put the same q at every position, the same k at every position, rotate, and score all pairs.
T_long = 2304
cos_l, sin_l = kernels.rope_tables(T_long, hd, dtype=np.float64)
rq = kernels.rope(np.broadcast_to(q, (1, T_long, 1, hd)), cos_l, sin_l)[0, :, 0]   # (T, hd)
rk = kernels.rope(np.broadcast_to(k, (1, T_long, 1, hd)), cos_l, sin_l)[0, :, 0]
scores = rq[:64] @ rk[:64].T                                   # scores[m, n], 64 x 64
spread = max(np.ptp(np.diagonal(scores, offset)) for offset in range(-63, 64))
print(f"  scores[m, n] for m, n < 64: largest spread along any diagonal m - n = const: {spread:.1e}")
distance = np.arange(256)
curves = {m: rq[m] @ rk[m - distance].T for m in (255, 1000, 2300)}   # keys before the query (causal)
print(f"  query at 255 vs query at 2300, same distances: max difference "
      f"{np.max(np.abs(curves[255] - curves[2300])):.1e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.5]})
lim = np.abs(scores).max()
im = ax1.imshow(scores, cmap="RdBu_r", vmin=-lim, vmax=lim)
ax1.set_title("score q·k with q at position m, k at n")
ax1.set_xlabel("key position n")
ax1.set_ylabel("query position m")
ax1.grid(False)
fig.colorbar(im, ax=ax1, shrink=0.85)
for (m, curve), style in zip(curves.items(), ["-", "--", ":"]):
    ax2.plot(distance, curve, style, lw=2 if style != "-" else 3, alpha=0.9, label=f"query at position {m}")
ax2.set_title("the same score against the distance m - n: the curves coincide")
ax2.set_xlabel("distance m - n: how many positions the key is before the query")
ax2.set_ylabel("rotated q · rotated k")
ax2.legend()
save_figure(fig, "08_rope_relative.png")
# Left: constant along every diagonal (a Toeplitz matrix). Right: three absolute positions, one
# curve. The model can learn "attend to the previous token" once, and it works everywhere.

# %%
# ============================================================================================
section("5. The backward: what does a linear map do to a gradient?")
# For each pair, y = R x with R the 2×2 matrix of section 2. For any linear map y = M x,
# dL/dx_j = Σ_i (dL/dy_i)(dy_i/dx_j) = Σ_i g_i M_ij, i.e. dL/dx = Mᵀ g (lesson 05's matmul rule).
# So the question is: what is Rᵀ for a rotation — and what does it do to a vector? Answer that
# (write R out, transpose it, compare with R at another angle) and the exercise is a few lines.
# Nothing needs saving from the forward but the tables. The numbers below hint at it:
g = rng.standard_normal((2, 16, 4, hd))
yg = kernels.rope(g, cos[:16], sin[:16])
print(f"  length before and after the rotation: {np.linalg.norm(g):.6f} and {np.linalg.norm(yg):.6f}")
print(f"  kernels.rope_backward(rope(g)) vs g: max rel error "
      f"{max_rel_error(kernels.rope_backward(yg, cos[:16], sin[:16]), g):.1e}  — what does that make Rᵀ R?")
xt = Tensor(rng.standard_normal((2, 5, 3, 8)), requires_grad=True)
c8, s8 = kernels.rope_tables(5, 8, dtype=np.float64)
print("  gradcheck F.rope:", gradcheck(lambda t: F.rope(t, c8, s8), xt))
# Your turn: lessons/exercises/08_rope.py asks for rope_forward(x, cos, sin) (section 2's formula)
# and rope_backward(g, cos, sin) in NumPy, with the
# interleaved pairs g[..., 0::2], g[..., 1::2] and tables broadcast over batch and heads
# (cos[:, None, :] has shape (T, 1, hd/2)). Run: make exercise N=08
