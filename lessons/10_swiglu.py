"""Lesson 10 — SwiGLU: the feed-forward half of every Llama block.

After attention has mixed information across positions, each position is processed on its own by
a small two-layer network, the feed-forward network (FFN). The original Transformer used
W2 · relu(W1 x). Llama uses a *gated* variant, SwiGLU (Shazeer 2020, "GLU Variants Improve
Transformer"):

    FFN(x) = W2 ( silu(W1 x) ⊙ W3 x )          silu(a) = a · σ(a)

W1 ("gate") and W3 ("up") both map D → F, their outputs are multiplied elementwise, and W2
("down") maps F → D back. Where it lives in the library:

    autograd/functional.py   silu(x), swiglu(a, b)                 the ops and their backward
    autograd/kernels.py      swiglu_ref / swiglu_backward_ref      the NumPy definition
                             _swiglu_fwd / _swiglu_bwd             the Numba kernels
    tinyllm/model.py         FeedForward, ModelConfig.ffn_dim      the module and Llama's width rule

Sections
  1. SiLU next to ReLU and GELU (figure)
  2. The gate: silu(a) ⊙ b (figure)
  3. The hidden width: why 2/3 · 4D, and Llama 2 7B's 11008
  4. The FeedForward module, rebuilt from primitive ops
  5. The backward, derived, and fused vs composed (speed, memory)

Run:       python lessons/10_swiglu.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 10        (write swiglu's forward and backward)
"""
# %%
import math
import time

import numpy as np

from _common import pick, plt, save_figure, section, max_rel_error

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels
from tinyllm.model import FeedForward, ModelConfig

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. SiLU next to ReLU and GELU")
# relu(x) = max(x, 0): its gradient is 0 for every negative input, so a unit that drifts
# negative for all inputs stops learning ("dead ReLU").
# silu(x) = x σ(x) (also "swish"): smooth, slightly negative for x < 0 (minimum -0.278 at
# x ≈ -1.28), → x for large x. Its derivative (right panel; the formula is section 5's exercise)
# is 0 at one point, the minimum x ≈ -1.28, and fades to 0 as x → -∞ — but it is not 0 over a
# whole half-line as ReLU's is, so a unit pushed negative still gets a (small) gradient back.
# gelu(x) = x Φ(x) (GPT-2, BERT) looks almost the same.
xs = np.linspace(-6, 6, 601)
sig = 1 / (1 + np.exp(-xs))
acts = {
    "ReLU":  (np.maximum(xs, 0), (xs > 0).astype(float)),
    "GELU (tanh approx.)": (0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs ** 3))), None),
    "SiLU = x·σ(x)": (xs * sig, None),
}
# the GELU and SiLU derivatives by finite differences, for the plot (SiLU's formula: section 5)
for name in ("GELU (tanh approx.)", "SiLU = x·σ(x)"):
    acts[name] = (acts[name][0], np.gradient(acts[name][0], xs))

# The library's silu (autograd/functional.py `silu`) and its backward, on the same grid:
xt = Tensor(xs.copy(), requires_grad=True)
F.silu(xt).sum().backward()
print(f"F.silu vs x·σ(x): max rel error {max_rel_error(F.silu(Tensor(xs)).data, xs * sig):.1e}; "
      f"its gradient vs finite differences on the grid: {max_rel_error(xt.grad[1:-1], acts['SiLU = x·σ(x)'][1][1:-1]):.1e}"
      " (np.gradient's own error, ~h²)")
i_min = np.argmin(xs * sig)
print(f"silu's minimum: {(xs * sig)[i_min]:.3f} at x = {xs[i_min]:.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for name, (y, dy) in acts.items():
    ax1.plot(xs, y, label=name)
    ax2.plot(xs, dy, label=name)
ax1.set_title("Activation functions")
ax1.set_xlabel("input x")
ax1.set_ylabel("activation(x)")
ax1.set_ylim(-1, 4)
ax1.set_xlim(-4, 4)
ax2.set_title("Their derivatives (what backprop multiplies by)")
ax2.set_xlabel("input x")
ax2.set_ylabel("d activation / dx")
ax2.set_xlim(-6, 6)
for ax in (ax1, ax2):
    ax.axhline(0, color="k", lw=0.5)
    ax.legend()
save_figure(fig, "10_activations.png")


# %%
# ============================================================================================
section("2. The gate: silu(a) ⊙ b")
# In a GLU each hidden unit is the product of two linear views of x: a gate a = (W1 x)_i passed
# through silu, and a value b = (W3 x)_i. For large a the product is ≈ a·b: bilinear in (a, b),
# so quadratic in x — a unit can respond to the combination of two features, something one
# relu(w·x), piecewise linear in x, cannot do.
# The library's op is F.swiglu(a, b) = silu(a) ⊙ b, one fused Numba kernel for both.
A, Bv = np.meshgrid(np.linspace(-4, 4, 201), np.linspace(-4, 4, 201))
H = kernels.swiglu_ref(A, Bv)
fig, ax = plt.subplots(figsize=(6, 5))
im = ax.contourf(A, Bv, H, levels=np.linspace(-16, 16, 33), cmap="RdBu_r")
ax.contour(A, Bv, H, levels=[0], colors="k", linewidths=0.8)
ax.set_xlabel("gate a = (W1 x)_i")
ax.set_ylabel("value b = (W3 x)_i")
ax.set_title("SwiGLU unit: silu(a) · b\n(a < 0 closes the gate; a > 0 lets b through ≈ a·b)")
fig.colorbar(im, ax=ax, label="hidden activation")
save_figure(fig, "10_swiglu_gate.png")


# %%
# ============================================================================================
section("3. The hidden width F")
# A plain FFN with width 4D has 2 matrices: 2 · D · 4D = 8D² parameters. SwiGLU has three
# (W1, W3, W2), so Llama shrinks the width to 2/3 · 4D to keep 3 · D · F ≈ 8D², then rounds it
# up to a multiple of `multiple_of` (hardware-friendly sizes). tinyllm/model.py `ModelConfig.ffn_dim`.
for name, cfg in {"tinyllm 'shakespeare'": ModelConfig.preset("shakespeare"),
                  "llama2.c stories15M": ModelConfig.preset("stories15M"),
                  "Llama 2 7B": ModelConfig(dim=4096, n_layers=32, n_heads=32, n_kv_heads=32,
                                            vocab_size=32000, multiple_of=256)}.items():
    Dm, Fm = cfg.dim, cfg.ffn_dim
    print(f"{name:22s} D={Dm:5d}: 2/3·4D = {int(8 * Dm / 3):6d} → F = {Fm:6d} (multiple of {cfg.multiple_of}); "
          f"params 3·D·F = {3 * Dm * Fm / 1e6:8.2f} M vs a 4D ReLU FFN 8·D² = {8 * Dm * Dm / 1e6:8.2f} M")
# Meta's released Llama 2 7B has intermediate_size 11008: the rule reproduces it.
assert ModelConfig(dim=4096, n_heads=32, n_kv_heads=32, multiple_of=256).ffn_dim == 11008


# %%
# ============================================================================================
section("4. The FeedForward module, rebuilt from primitive ops")
# FeedForward.forward is one line: w2(swiglu(w1(x), w3(x))). Rebuild it from matmuls, exp and
# division and compare values and gradients (float64, so the agreement is to ~1e-15).
cfg = ModelConfig.preset("tiny")
ffn = FeedForward(cfg, np.random.default_rng(1), dtype=np.float64)
x = Tensor(rng.standard_normal((2, 5, cfg.dim)), requires_grad=True)


def ffn_by_hand(x):
    a = x @ ffn.w1.weight.T                       # (B, T, F) gate
    b = x @ ffn.w3.weight.T                       # (B, T, F) up
    silu = a / (1.0 + (-a).exp())                 # a·σ(a)
    return (silu * b) @ ffn.w2.weight.T           # (B, T, D) down


g = rng.standard_normal((2, 5, cfg.dim))
results = []
for fn in (ffn.forward, ffn_by_hand):
    for p in [x] + ffn.parameters():
        p.grad = None
    y = fn(x)
    y.backward(g)
    results.append((y.data, [x.grad] + [p.grad for p in ffn.parameters()]))
print(f"FeedForward vs by hand: output max rel error {max_rel_error(results[0][0], results[1][0]):.1e}")
for name, a, b in zip(["x", "w1", "w2", "w3"], results[0][1], results[1][1]):
    e = max_rel_error(a, b, floor=1e-12)
    print(f"  gradient of {name}: max rel error {e:.1e}")
    assert e < 1e-9


# %%
# ============================================================================================
section("5. The backward (yours to finish), and fused vs composed")
# h = silu(a) ⊙ b, elementwise, so each gradient is g times one local derivative:
#     dh/db = silu(a)                            (h is linear in b)
#     dh/da = b · d silu/da,   silu(a) = a · σ(a)  — a product of two functions of a
# Two facts finish it: the product rule, and σ'(a) written with σ itself: differentiate
# σ(a) = 1/(1 + e^(-a)) and notice e^(-a)/(1 + e^(-a)) = 1 - σ(a). Writing the result with
# s = σ(a) means the backward needs one exp per element, like the forward.
# That is lessons/exercises/10_swiglu.py (and `make exercise N=10 HINT=1` when stuck).
a, b = (Tensor(rng.standard_normal((4, 6)), requires_grad=True) for _ in range(2))
print("F.swiglu vs finite differences:", gradcheck(F.swiglu, a, b))

# Fused vs composed on the default model's shape, N = 16·256 positions × F = 688, float32.
# Composed, F.silu(a) * b is two ops, and their backward closures keep σ(a) (silu's) and
# silu(a) (the multiply's) alive until the backward: two extra N×F arrays.
# The fused op (one Numba kernel each way) keeps only a and b. Memory is the certain win;
# speed depends on the machine (NumPy's vectorised exp is very good, and on a busy 2-core box
# the parallel kernel waits for both threads), so we measure and print, not promise.
N, Fd = pick((4096, 688), (1024, 688))
a32 = Tensor(rng.standard_normal((N, Fd)).astype(np.float32), requires_grad=True)
b32 = Tensor(rng.standard_normal((N, Fd)).astype(np.float32), requires_grad=True)
g32 = rng.standard_normal((N, Fd)).astype(np.float32)
print(f"extra activation memory kept for the backward: composed {2 * N * Fd * 4 / 2**20:.1f} MiB "
      f"(σ(a) and silu(a), N×F float32 each), fused 0 MiB")


def timed(fn, repeats=pick(10, 3)):
    fn()                                          # warm-up (compiles the Numba kernel once)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def fwd_bwd(op):
    def run():
        a32.grad = b32.grad = None
        op(a32, b32).backward(g32)
    return run


t_fused = timed(fwd_bwd(F.swiglu))
t_comp = timed(fwd_bwd(lambda a, b: F.silu(a) * b))
print(f"forward+backward on ({N}, {Fd}) float32: fused F.swiglu {t_fused * 1e3:.1f} ms, "
      f"composed F.silu(a) * b {t_comp * 1e3:.1f} ms  (this machine, now)")
grads = []
for op in (F.swiglu, lambda a, b: F.silu(a) * b):
    fwd_bwd(op)()
    grads.append(a32.grad.copy())
# Relative to the gradient's scale: elementwise relative error is meaningless where da ≈ 0
# (d silu/da crosses zero at a ≈ -1.28, and float32 keeps only ~7 digits of each term).
scale_err = np.abs(grads[0] - grads[1]).max() / np.abs(grads[1]).max()
print(f"fused and composed agree in float32: max |Δda| / max |da| = {scale_err:.1e}")
assert scale_err < 1e-5

print("\nNext: lesson 11 puts attention and SwiGLU into a block and counts what the model costs. "
      "Exercise: python lessons/exercise.py 10")
