"""Lesson 01 — Tensors and the computation graph: what `loss.backward()` actually does.

Training a network means: compute a loss from the parameters, then find how the loss changes
when each parameter changes (the gradient), and step the parameters downhill. The engine that
finds gradients is reverse-mode automatic differentiation, and it is small enough to read in
one sitting: autograd/tensor.py and autograd/functional.py.

The idea: every operation records what it was computed from and how to pass a gradient back.
The records form a graph; `backward()` walks it from the loss back to the parameters, applying
the chain rule at each node.

Library code this lesson reads:
    autograd/tensor.py       Tensor (data, requires_grad, grad, _parents, _backward, _op),
                             Tensor.from_op, Tensor.accumulate, Tensor.backward,
                             Tensor._topological_order, no_grad
    autograd/functional.py   mul, sum, add, sigmoid, sub, pow — the ops used below

Sections
  1. A Tensor is an array plus a gradient slot
  2. Every op records its inputs: a graph
  3. Walking the graph: topological order
  4. backward(): the chain rule, node by node
  5. A value used twice: gradients add up
  6. Leaves accumulate, intermediates are freed, no_grad builds nothing

Run:  python lessons/01_graph.py        (no exercise yet: lesson 02 has the first one)
"""
# %%
import numpy as np

from _common import plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, no_grad

# %%
# ============================================================================================
section("1. A Tensor is an array plus a gradient slot")
# A one-neuron model: z = w·x + b, y = sigmoid(z), loss = (y - target)².
x = Tensor(np.array([1.0, -2.0, 0.5]))                      # input: a constant
w = Tensor(np.array([0.3, 0.1, -0.4]), requires_grad=True)  # parameters: we want dLoss/dw ...
b = Tensor(np.array(0.2), requires_grad=True)               # ... and dLoss/db
target = Tensor(np.array(1.0))
print("  w =", w)
print("  w.data is a plain NumPy array:", type(w.data).__name__, w.data.dtype, w.shape)
print("  w.grad before any backward:", w.grad)

# %%
# ============================================================================================
section("2. Every op records its inputs: a graph")
wx = w * x                     # functional.mul
s = wx.sum()                   # functional.sum
z = s + b                      # functional.add
y = F.sigmoid(z)               # functional.sigmoid
err = y - target               # functional.sub
loss = err ** 2                # functional.pow
# Each result is a Tensor made by Tensor.from_op(data, parents, backward, op): it keeps its
# parents and a closure `backward(g)` that knows this op's derivative.
names = {id(x): "x", id(w): "w", id(b): "b", id(target): "target", id(wx): "wx", id(s): "s", id(z): "z",
         id(y): "y", id(err): "err", id(loss): "loss"}

def label(t):
    what = t._op or ("parameter" if t.requires_grad else "constant")
    return f"{names.get(id(t), '?')} = {what}  shape {t.shape}  value {np.array2string(t.data, precision=3)}"

def show(t, indent=""):
    """Print the graph under t as a tree (the arrows point from a result to its inputs)."""
    print(f"  {indent}{label(t)}")
    for p in t._parents:
        show(p, indent + "    ")

show(loss)
# Note what is NOT here: no gradients yet, and nothing about calculus beyond each op's
# local derivative, stored in its closure. Print one to see it is just code:
print("  loss._backward is", loss._backward.__qualname__, "— see functional.pow")

# %%
# ============================================================================================
section("3. Walking the graph: topological order")
# backward() must handle a node only after every node that USES it is done (so its gradient
# is complete). Tensor._topological_order lists each tensor after all of its parents, with
# an explicit stack instead of recursion (a 1000-layer graph would overflow Python's stack).
order = loss._topological_order()
print("  parents first:      ", " -> ".join(names[id(t)] for t in order))
print("  backward visits:    ", " -> ".join(names[id(t)] for t in reversed(order)))
print("  (x and target are missing: they do not require a gradient, so the walk skips them)")

# Draw the graph, data flowing left to right (positions set by hand for this small graph).
pos = {id(x): (0, 0.9), id(w): (0, -0.9), id(wx): (1, 0), id(s): (2, 0), id(b): (2, -1.4),
       id(z): (3, 0), id(y): (4, 0), id(target): (4, -1.4), id(err): (5, 0), id(loss): (6, 0)}
fig, ax = plt.subplots(figsize=(11, 4))
for t in [x, w, b, target] + order:
    for p in t._parents:
        ax.annotate("", xy=pos[id(t)], xytext=pos[id(p)],
                    arrowprops=dict(arrowstyle="-|>", color="0.45", shrinkA=26, shrinkB=26, lw=1.2))
for key, (cx, cy) in pos.items():
    t = next(t for t in [x, w, b, target] + order if id(t) == key)
    colour = "#cfe2ff" if t._op else ("#ffd8a8" if t.requires_grad else "#e9ecef")
    text = f"{names[key]}\n{t._op or ('param' if t.requires_grad else 'const')}"
    ax.text(cx, cy, text, ha="center", va="center", fontsize=10,
            bbox=dict(boxstyle="round,pad=0.45", fc=colour, ec="0.3"))
ax.set_xlim(-0.6, 6.6)
ax.set_ylim(-2.0, 1.5)
ax.set_title("the graph of loss = (sigmoid(Σ w·x + b) − target)²   "
             "(orange: parameters, grey: constants, blue: op results)")
ax.set_xlabel("forward: left to right (arrows point from an input to its result);   backward(): right to left")
ax.set_xticks([])
ax.set_yticks([])
ax.grid(False)
save_figure(fig, "01_graph.png")

# %%
# ============================================================================================
section("4. backward(): the chain rule, node by node")
# Tensor.backward seeds dloss/dloss = 1, then for each node in reverse order calls
# node._backward(node.grad), which adds (g × local derivative) into each parent's .grad
# (Tensor.accumulate). Wrap every closure to watch it happen:
for t in order:
    if t._backward is not None:
        inner = t._backward
        def traced(g, t=t, inner=inner):
            print(f"  {names[id(t)]:>5s} ({t._op:7s}) gets g = {np.array2string(np.asarray(g), precision=4)}"
                  f"  → passes it to {', '.join(names[id(p)] for p in t._parents if p.requires_grad)}")
            inner(g)
        t._backward = traced
loss.backward()
print("  dloss/dw =", w.grad, "  dloss/db =", b.grad)
# By hand: dloss/dy = 2(y - t), dy/dz = y(1 - y), dz/dw = x, dz/db = 1.
yv = y.data
by_hand_w = 2 * (yv - 1.0) * yv * (1 - yv) * x.data
by_hand_b = 2 * (yv - 1.0) * yv * (1 - yv)
print("  by hand:  ", by_hand_w, by_hand_b)
assert np.allclose(w.grad, by_hand_w) and np.allclose(b.grad, by_hand_b)

# %%
# ============================================================================================
section("5. A value used twice: gradients add up")
# If a tensor feeds two ops, a change in it moves the output along BOTH paths, so its
# gradient is the sum of the two contributions. Tensor.accumulate does `grad = grad + g`.
a = Tensor(np.array(3.0), requires_grad=True)
f = a * a + a              # df/da = 2a + 1 = 7: three uses of a, three contributions
f.backward()
print(f"  f = a·a + a at a = 3: df/da = {a.grad}  (2a + 1 = 7)")

# %%
# ============================================================================================
section("6. Leaves accumulate, intermediates are freed, no_grad builds nothing")
f = a * a + a
f.backward()
print(f"  a second backward without zeroing: a.grad = {a.grad} (7 + 7: leaves accumulate,")
print("  which is why every training step calls zero_grad() first)")
a.zero_grad()
print(f"  after a.zero_grad(): {a.grad}")
print(f"  the intermediate z kept no gradient: z.grad = {z.grad}; and the graph was freed as it was "
      f"walked: loss._parents = {loss._parents}")
with no_grad():
    g = a * a + a
print(f"  under no_grad: requires_grad={g.requires_grad}, parents={g._parents} "
      "(inference and optimizer updates build no graph)")
