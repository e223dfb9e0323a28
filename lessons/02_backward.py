"""Lesson 02 — Writing a backward by hand, and checking it with finite differences.

Lesson 01 showed that backward() only walks the graph: all the calculus lives in the small
`backward(g)` closure each op defines beside its forward. Every op in autograd/functional.py
follows one pattern; in this lesson you write new ops with it, and learn the tool that tells you
whether a backward is right: the gradient check.

Library code this lesson reads:
    autograd/functional.py   sigmoid, mul, div                      the op pattern
    autograd/tensor.py       Tensor.from_op, Tensor.accumulate      how an op joins the graph
    autograd/gradcheck.py    gradcheck, GradcheckError              central differences in float64

Sections
  1. The op pattern: forward, and a closure for the backward
  2. A new op, start to finish: softplus
  3. Finite differences: which ε, which formula, which precision (figure)
  4. gradcheck: the whole Jacobian-vector product, element by element
  5. What gradcheck catches: a 1% error, a wrong sign, a missing term
  6. Your turn: the backward of tanh and of division (the exercise)

Run:       python lessons/02_backward.py
Exercise:  make exercise N=02             (write tanh_backward and div_backward)
"""
# %%
import inspect

import numpy as np

from _common import plt, save_figure, section

import autograd.functional as F
from autograd import GradcheckError, Tensor, gradcheck

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. The op pattern: forward, and a closure for the backward")
# Here is the library's sigmoid, verbatim:
print(inspect.getsource(F.sigmoid))
# Read it as: compute y with NumPy. Then define what to do when, later, backward() arrives with
# g = dLoss/dy (same shape as y): by the chain rule dLoss/dx = g · dy/dx, elementwise here,
# and `x.accumulate` ADDS it into x.grad (x may feed several ops, lesson 01 section 5).
# Tensor.from_op attaches the closure only if some input requires a gradient.
# The closure keeps `y` alive: saving the output is cheaper than recomputing exp(-x).

# %%
# ============================================================================================
section("2. A new op, start to finish: softplus")
# softplus(x) = log(1 + eˣ), a smooth ReLU. Its derivative is eˣ/(1 + eˣ) = sigmoid(x).
# (np.logaddexp(0, x) computes log(e⁰ + eˣ) without overflowing for large x.)
def softplus(x, mistake=None):
    y = np.logaddexp(0.0, x.data)
    def backward(g):
        dydx = 1.0 / (1.0 + np.exp(-x.data))              # sigmoid(x)
        if mistake == "1% too big":
            dydx = dydx * 1.01
        elif mistake == "wrong sign":
            dydx = -dydx
        x.accumulate(g * dydx)
    return Tensor.from_op(y, (x,), backward, "softplus")

x = Tensor(np.linspace(-3, 3, 7), requires_grad=True)
softplus(x).sum().backward()
print("  x               ", x.data)
print("  softplus(x)     ", np.round(np.logaddexp(0, x.data), 4))
print("  d softplus / dx ", np.round(x.grad, 4), "  (= sigmoid(x))")

# %%
# ============================================================================================
section("3. Finite differences: which ε, which formula, which precision")
# The definition of the derivative gives a test for any backward:
#     forward difference  (f(x+ε) - f(x)) / ε          error O(ε)     (truncation)
#     central difference  (f(x+ε) - f(x-ε)) / 2ε       error O(ε²)    (the ε terms cancel)
# but a small ε divides rounding noise (≈ machine epsilon × |f|) by ε. The total error is a V:
# truncation falls as ε shrinks, rounding grows. Measure it on the library's sigmoid:
def sigmoid_at(v, dtype):
    return F.sigmoid(Tensor(np.array(v, dtype=dtype))).data

x0 = 0.5
s0 = 1 / (1 + np.exp(-x0))
exact = s0 * (1 - s0)                                   # sigmoid' = y (1 - y)
epsilons = 10.0 ** np.arange(-14, -0.5, 0.25)
curves = {}
for name, dtype, central in [("forward difference, float64", np.float64, False),
                             ("central difference, float64", np.float64, True),
                             ("central difference, float32", np.float32, True)]:
    errors = []
    for eps in epsilons:
        e, xx = dtype(eps), dtype(x0)
        if central:
            d = (sigmoid_at(xx + e, dtype) - sigmoid_at(xx - e, dtype)) / (2 * e)
        else:
            d = (sigmoid_at(xx + e, dtype) - sigmoid_at(xx, dtype)) / e
        errors.append(max(abs(float(d) - exact) / exact, 1e-13))
    curves[name] = np.array(errors)
    best = np.argmin(errors)
    print(f"  {name:30s} best ε {epsilons[best]:.0e}, relative error there {errors[best]:.1e}")

fig, ax = plt.subplots(figsize=(8, 4.8))
for (name, errors), style in zip(curves.items(), ["o-", "s-", "^-"]):
    ax.loglog(epsilons, errors, style, ms=3.5, label=name)
ax.axvline(1e-5, color="0.3", ls="--", lw=1)
ax.text(1.3e-5, 1e-13, "gradcheck's ε = 1e-5", fontsize=9)
ax.set_title("Finite-difference error of sigmoid'(0.5): truncation vs rounding")
ax.set_xlabel("step ε")
ax.set_ylabel("relative error vs the exact derivative")
ax.set_ylim(3e-14, 5)
ax.legend(loc="lower left")
save_figure(fig, "02_finite_differences.png")
# Read the figure: central differences in float64 reach ~1e-11 around ε = 1e-5, forward
# differences only ~1e-8. In float32 the error jumps around 1e-3..1e-5 (and is 100% for ε below
# 1e-7, where x + ε rounds back to x): too noisy to tell a correct backward from one off by
# 0.1%. That is why gradcheck wants float64 inputs and uses central differences with ε = 1e-5.

# %%
# ============================================================================================
section("4. gradcheck: the whole Jacobian-vector product, element by element")
# For y = f(x) with many elements, autograd.gradcheck picks a random r shaped like y and checks
# the scalar L = Σ y ⊙ r: backward(r) gives dL/dx in one pass, and central differences give
# each dL/dx_i by nudging x_i alone. It reports the largest relative error and where it was.
x = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
print("  softplus, correct backward:", gradcheck(softplus, x))
a, b = Tensor(rng.standard_normal((3, 4)), requires_grad=True), Tensor(rng.random((3, 4)) + 0.5, requires_grad=True)
print("  library div:               ", gradcheck(F.div, a, b))

# %%
# ============================================================================================
section("5. What gradcheck catches: a 1% error, a wrong sign, a missing term")
# A backward that is almost right still trains (badly, and you won't know why). gradcheck's
# tolerance, 1e-6, sits about four orders of magnitude above its own noise (~1e-10, sections 3
# and 4) and four below a 1% mistake (1e-2).
def mul_missing_term(a, b):
    """y = a·a·b with the product rule half-applied: dy/da = a·b instead of 2·a·b."""
    y = a.data * a.data * b.data
    def backward(g):
        a.accumulate(g * a.data * b.data)
        b.accumulate(g * a.data * a.data)
    return Tensor.from_op(y, (a, b), backward, "mul_missing_term")

trials = [("softplus, 1% too big", lambda t: softplus(t, "1% too big"), (x,)),
          ("softplus, wrong sign", lambda t: softplus(t, "wrong sign"), (x,)),
          ("a·a·b, missing term ", mul_missing_term, (a, b))]
for name, fn, inputs in trials:
    try:
        gradcheck(fn, *inputs)
        print(f"  {name}: passed (it should not have!)")
    except GradcheckError as e:
        print(f"  {name}: GradcheckError: {e}")
# Note "in input 1 ... index (i, j)": the report says which input and which element, so you know
# which line of the backward to look at. The 1% error shows up as a relative error of 1e-2.

# %%
# ============================================================================================
section("6. Your turn: the backward of tanh and of division")
# lessons/exercises/02_backward.py asks for two backward functions, as NumPy:
#   tanh_backward(y, g)      y = tanh(x) was saved by the forward; return dL/dx.
#                            Hint: tanh = (eˣ - e⁻ˣ)/(eˣ + e⁻ˣ); differentiate with the quotient
#                            rule and write the result in terms of y alone, as sigmoid does.
#   div_backward(a, b, g)    y = a / b (same shapes); return (dL/da, dL/db).
#                            Write y = a · b⁻¹ and use d(b⁻¹)/db = -b⁻².
# The check builds an op from your backward (checks/_harness.py: custom_op), gradchecks it in
# float64, and compares div_backward with the library's F.div.   Run: make exercise N=02
