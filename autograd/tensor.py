"""The Tensor: a NumPy array that remembers how it was made, so gradients can flow back.

Every op (see `autograd/functional.py`) computes its output with NumPy and, when any input
requires a gradient, attaches a small `backward(g)` closure: given g = dLoss/dOutput, it adds
dLoss/dInput into each input. `Tensor.backward()` orders the graph topologically (an explicit
stack, so a deep graph never hits Python's recursion limit) and calls those closures from the
loss back to the leaves. That is all of reverse-mode automatic differentiation.

    x = Tensor(np.random.randn(4, 8), requires_grad=True)
    y = (x * x).sum()
    y.backward()            # x.grad == 2 * x.data
"""
import contextlib

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside this block ops build no graph and hold no references: inference and updates."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Tensor:
    """An n-d array (float32 or float64, float16 input becomes float32; ints for indices) with an
    optional gradient.

    data           the NumPy array
    requires_grad  whether backward() should compute dLoss/dthis
    grad           a NumPy array of data's shape, or None; leaves accumulate it across backward()s
    """

    def __init__(self, data, requires_grad=False, dtype=None):
        data = np.asarray(data, dtype=dtype)
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        if requires_grad and not np.issubdtype(data.dtype, np.floating):
            raise TypeError(f"only floating-point tensors can require gradients, got {data.dtype}")
        self.data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._parents = ()       # the tensors this one was computed from
        self._backward = None    # closure: g (dLoss/dself) -> adds into the parents' .grad
        self._op = ""            # name of the op that made it, for printing graphs

    # ---------------------------------------------------------------- graph building
    @staticmethod
    def from_op(data, parents, backward, op):
        """The output of an op. It joins the graph only if grad mode is on and some parent needs it."""
        out = Tensor(data)
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = tuple(parents)
            out._backward = backward
            out._op = op
        return out

    def accumulate(self, g):
        """grad += g (g already has self's shape). Called by the backward closures."""
        if not self.requires_grad:
            return
        g = np.asarray(g, dtype=self.data.dtype)
        if g.shape != self.data.shape:
            raise ValueError(f"gradient of shape {g.shape} for a tensor of shape {self.data.shape}")
        if self.grad is None:
            # a leaf's grad is the user's to scale in place (clipping), so it gets its own copy;
            # an intermediate grad may share memory with its child's, it is read and dropped.
            self.grad = g.copy() if self._backward is None else g
        else:
            self.grad = self.grad + g

    def backward(self, grad=None, retain_graph=False):
        """Reverse-mode autodiff from this tensor: fills .grad of every leaf that requires it.

        A scalar is seeded with dL/dL = 1; anything else needs an explicit `grad`. Unless
        retain_graph, the graph is freed as it is walked, so a training step holds no memory.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no graph to walk)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar; this tensor has "
                                   f"shape {self.data.shape}: pass grad=np.ones_like(...) or reduce it first")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=self.data.dtype)
        if grad.shape != self.data.shape:
            raise ValueError(f"grad of shape {grad.shape} for a tensor of shape {self.data.shape}")

        order = self._topological_order()
        self.accumulate(grad)
        for node in reversed(order):                 # outputs before inputs
            if node._backward is None:               # a leaf: its .grad is the result
                continue
            if node.grad is not None:
                node._backward(node.grad)
            if not retain_graph:
                node.grad = None                     # intermediate grads are not kept (as PyTorch)
                node._backward, node._parents = None, ()

    def _topological_order(self):
        """Every tensor this one depends on, each after all of its parents (iterative DFS)."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node._parents:
                if id(p) not in seen and p.requires_grad:
                    stack.append((p, False))
        return order

    def zero_grad(self):
        self.grad = None

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # ---------------------------------------------------------------- array-like
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        return len(self.data)

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def astype(self, dtype):
        return F.astype(self, dtype)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op}" if self._op else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=8)}, dtype={self.dtype}{grad}{op})"

    # ---------------------------------------------------------------- operators -> functional ops
    def __add__(self, other):      return F.add(self, other)
    def __radd__(self, other):     return F.add(other, self)
    def __sub__(self, other):      return F.sub(self, other)
    def __rsub__(self, other):     return F.sub(other, self)
    def __mul__(self, other):      return F.mul(self, other)
    def __rmul__(self, other):     return F.mul(other, self)
    def __truediv__(self, other):  return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __neg__(self):             return F.neg(self)
    def __pow__(self, exponent):   return F.pow(self, exponent)
    def __matmul__(self, other):   return F.matmul(self, other)
    def __rmatmul__(self, other):  return F.matmul(other, self)
    def __getitem__(self, index):  return F.getitem(self, index)

    def sum(self, axis=None, keepdims=False):   return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False):  return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False):   return F.max(self, axis, keepdims)
    def exp(self):                              return F.exp(self)
    def log(self):                              return F.log(self)
    def sqrt(self):                             return F.sqrt(self)
    def rsqrt(self):                            return F.rsqrt(self)
    def reshape(self, *shape):                  return F.reshape(self, *shape)
    def transpose(self, *axes):                 return F.transpose(self, *axes)
    def permute(self, *axes):                   return F.transpose(self, *axes)

    # Tensors are compared by identity (they are graph nodes), so they can live in sets/dicts.
    __hash__ = object.__hash__


def as_tensor(x, dtype=None):
    """x if it is already a Tensor, else a constant Tensor (no grad) of the given dtype."""
    if isinstance(x, Tensor):
        return x
    return Tensor(np.asarray(x, dtype=dtype))


# The operators above call the ops of autograd/functional.py, which itself builds Tensors: it is
# imported here, at the end, once Tensor exists (a circular import that Python resolves this way).
from autograd import functional as F  # noqa: E402
