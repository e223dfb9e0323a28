"""Ops: each computes its forward with NumPy and defines its backward right beside it.

The pattern, for y = f(x1, x2, ...):

    def f(x1, x2):
        y = <forward with NumPy>
        def backward(g):                  # g = dLoss/dy, shaped like y
            x1.accumulate(<dLoss/dx1>)     # chain rule: g times dy/dx1
            x2.accumulate(<dLoss/dx2>)
        return Tensor.from_op(y, (x1, x2), backward, "f")

`accumulate` ignores inputs that don't require a gradient; expensive gradients are guarded with
`if x.requires_grad` so nothing is computed for constants (data, targets, frozen weights).
The fused ops at the end (softmax, rms_norm, rope, swiglu, attention, cross_entropy) call the
Numba kernels in `autograd/kernels.py` and `autograd/attention.py`, which have plain NumPy
references beside them.
"""
import numpy as np

from autograd import attention, kernels
from autograd.tensor import Tensor, as_tensor


def unbroadcast(g, shape):
    """Sum a gradient back down to `shape`: undoes NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1, so each
    copy's gradient flows back to the same element: the gradient is the sum over the copies.
    """
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def _pair(a, b):
    """Two operands as Tensors; a Python/NumPy constant takes the other operand's dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, dtype=b.dtype)
    if not isinstance(b, Tensor):
        b = as_tensor(b, dtype=a.dtype)
    return a, b


# ---------------------------------------------------------------------------- elementwise
def add(a, b):
    """y = a + b;  dy/da = 1, dy/db = 1."""
    a, b = _pair(a, b)
    y = a.data + b.data
    def backward(g):
        a.accumulate(unbroadcast(g, a.shape))
        b.accumulate(unbroadcast(g, b.shape))
    return Tensor.from_op(y, (a, b), backward, "add")


def sub(a, b):
    """y = a - b;  dy/da = 1, dy/db = -1."""
    a, b = _pair(a, b)
    y = a.data - b.data
    def backward(g):
        a.accumulate(unbroadcast(g, a.shape))
        b.accumulate(unbroadcast(-g, b.shape))
    return Tensor.from_op(y, (a, b), backward, "sub")


def mul(a, b):
    """y = a * b;  dy/da = b, dy/db = a."""
    a, b = _pair(a, b)
    y = a.data * b.data
    def backward(g):
        if a.requires_grad:
            a.accumulate(unbroadcast(g * b.data, a.shape))
        if b.requires_grad:
            b.accumulate(unbroadcast(g * a.data, b.shape))
    return Tensor.from_op(y, (a, b), backward, "mul")


def div(a, b):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b²."""
    a, b = _pair(a, b)
    y = a.data / b.data
    def backward(g):
        if a.requires_grad:
            a.accumulate(unbroadcast(g / b.data, a.shape))
        if b.requires_grad:
            b.accumulate(unbroadcast(-g * y / b.data, b.shape))
    return Tensor.from_op(y, (a, b), backward, "div")


def neg(x):
    """y = -x."""
    y = -x.data
    def backward(g):
        x.accumulate(-g)
    return Tensor.from_op(y, (x,), backward, "neg")


def pow(x, exponent):
    """y = x**p for a constant p;  dy/dx = p x**(p-1)."""
    p = float(exponent)
    y = x.data ** p
    def backward(g):
        x.accumulate(g * p * x.data ** (p - 1))
    return Tensor.from_op(y, (x,), backward, "pow")


def exp(x):
    """y = eˣ;  dy/dx = y."""
    y = np.exp(x.data)
    def backward(g):
        x.accumulate(g * y)
    return Tensor.from_op(y, (x,), backward, "exp")


def log(x):
    """y = ln x;  dy/dx = 1/x."""
    y = np.log(x.data)
    def backward(g):
        x.accumulate(g / x.data)
    return Tensor.from_op(y, (x,), backward, "log")


def sqrt(x):
    """y = √x;  dy/dx = 1/(2y)."""
    y = np.sqrt(x.data)
    def backward(g):
        x.accumulate(g * 0.5 / y)
    return Tensor.from_op(y, (x,), backward, "sqrt")


def rsqrt(x):
    """y = 1/√x;  dy/dx = -y³/2."""
    y = 1.0 / np.sqrt(x.data)
    def backward(g):
        x.accumulate(g * -0.5 * y ** 3)
    return Tensor.from_op(y, (x,), backward, "rsqrt")


def sigmoid(x):
    """y = 1/(1+e⁻ˣ);  dy/dx = y(1-y)."""
    y = 1.0 / (1.0 + np.exp(-x.data))
    def backward(g):
        x.accumulate(g * y * (1.0 - y))
    return Tensor.from_op(y, (x,), backward, "sigmoid")


def silu(x):
    """y = x·σ(x);  dy/dx = σ(x)(1 + x(1-σ(x)))."""
    s = 1.0 / (1.0 + np.exp(-x.data))
    y = x.data * s
    def backward(g):
        x.accumulate(g * s * (1.0 + x.data * (1.0 - s)))
    return Tensor.from_op(y, (x,), backward, "silu")


def where(condition, a, b):
    """y = a where condition else b (condition is a constant boolean array)."""
    a, b = _pair(a, b)
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    y = np.where(cond, a.data, b.data)
    def backward(g):
        if a.requires_grad:
            a.accumulate(unbroadcast(np.where(cond, g, 0), a.shape))
        if b.requires_grad:
            b.accumulate(unbroadcast(np.where(cond, 0, g), b.shape))
    return Tensor.from_op(y, (a, b), backward, "where")


def masked_fill(x, mask, value):
    """y = value where mask else x: filled positions get no gradient."""
    return where(mask, np.asarray(value, dtype=x.dtype), x)


def astype(x, dtype):
    """A cast; the gradient is cast back."""
    y = x.data.astype(dtype)
    def backward(g):
        x.accumulate(g.astype(x.dtype))
    return Tensor.from_op(y, (x,), backward, "astype")


# ---------------------------------------------------------------------------- reductions
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return tuple(a % ndim for a in axes)


def _expand(g, shape, axes):
    """Put back the reduced axes (as size 1) so g broadcasts against the input."""
    return g.reshape([1 if i in axes else n for i, n in enumerate(shape)])


def sum(x, axis=None, keepdims=False):
    """y = Σ x over axes;  every summed element gets the same gradient g."""
    axes = _axes(axis, x.ndim)
    y = x.data.sum(axis=axes, keepdims=keepdims)
    def backward(g):
        x.accumulate(np.broadcast_to(_expand(g, x.shape, axes), x.shape))
    return Tensor.from_op(y, (x,), backward, "sum")


def mean(x, axis=None, keepdims=False):
    """y = Σ x / n;  each element gets g / n."""
    axes = _axes(axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    y = x.data.mean(axis=axes, keepdims=keepdims)
    def backward(g):
        x.accumulate(np.broadcast_to(_expand(g, x.shape, axes) / n, x.shape))
    return Tensor.from_op(y, (x,), backward, "mean")


def max(x, axis=None, keepdims=False):
    """y = max x over axes;  the gradient goes to the maximum (split evenly between ties)."""
    axes = _axes(axis, x.ndim)
    y = x.data.max(axis=axes, keepdims=keepdims)
    def backward(g):
        is_max = x.data == _expand(y, x.shape, axes)
        share = is_max / is_max.sum(axis=axes, keepdims=True)
        x.accumulate(_expand(g, x.shape, axes) * share)
    return Tensor.from_op(y, (x,), backward, "max")


# ---------------------------------------------------------------------------- shapes and indexing
def reshape(x, *shape):
    """Same elements, new shape; the gradient is reshaped back."""
    if len(shape) == 1 and not np.isscalar(shape[0]):
        shape = tuple(shape[0])
    y = x.data.reshape(shape)
    def backward(g):
        x.accumulate(g.reshape(x.shape))
    return Tensor.from_op(y, (x,), backward, "reshape")


def transpose(x, *axes):
    """Permute axes (reverse them if none given); the gradient is permuted back."""
    if len(axes) == 1 and not np.isscalar(axes[0]):
        axes = tuple(axes[0])
    axes = axes or tuple(reversed(range(x.ndim)))
    y = x.data.transpose(axes)
    def backward(g):
        x.accumulate(g.transpose(np.argsort(axes)))
    return Tensor.from_op(y, (x,), backward, "transpose")


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, *axes)


def _is_basic_index(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def getitem(x, index):
    """y = x[index] (slices, ints or integer arrays). The backward scatters g back to where
    the elements came from, adding up repeats (np.add.at) when an index picks one twice."""
    if isinstance(index, Tensor):
        index = index.data
    y = x.data[index]
    def backward(g):
        gx = np.zeros_like(x.data)
        if _is_basic_index(index):
            gx[index] = g                   # a view: every element picked at most once
        else:
            np.add.at(gx, index, g)
        x.accumulate(gx)
    return Tensor.from_op(y, (x,), backward, "getitem")


def embedding(weight, ids):
    """y[..., :] = weight[ids[...], :] — a table lookup (a gather).

    backward: row i of the weight receives the sum of g over every position where ids == i
    (a scatter-add, Numba kernel `embedding_backward`)."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    V, D = weight.shape
    y = weight.data[ids]                                                # (*ids.shape, D)
    def backward(g):
        weight.accumulate(kernels.embedding_backward(ids.reshape(-1), g.reshape(-1, D), V))
    return Tensor.from_op(y, (weight,), backward, "embedding")


def concatenate(tensors, axis=0):
    """Join along an axis; each input gets its own slice of g back."""
    tensors = [as_tensor(t) for t in tensors]
    y = np.concatenate([t.data for t in tensors], axis=axis)
    edges = np.cumsum([0] + [t.shape[axis] for t in tensors])
    def backward(g):
        for t, start, stop in zip(tensors, edges[:-1], edges[1:]):
            t.accumulate(np.take(g, np.arange(start, stop), axis=axis))
    return Tensor.from_op(y, tuple(tensors), backward, "concatenate")


def split(x, sections, axis=-1):
    """Cut into pieces along an axis: `sections` is a number of equal parts or a list of sizes.
    Each piece is a slice (getitem), so its gradient lands in its own part of x.grad."""
    n = x.shape[axis]
    sizes = [n // sections] * sections if np.isscalar(sections) else list(sections)
    if np.sum(sizes) != n:
        raise ValueError(f"split sizes {sizes} do not add up to axis length {n}")
    axis = axis % x.ndim
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(getitem(x, index))
        start += size
    return pieces


# ---------------------------------------------------------------------------- matrix products
def matmul(a, b):
    """y = a @ b, batched over leading axes with broadcasting.
    dL/da = g @ bᵀ,  dL/db = aᵀ @ g  (then summed over broadcast batch axes)."""
    a, b = _pair(a, b)
    if a.ndim == 1:                      # a vector is a 1-row matrix, as in NumPy
        y = matmul(reshape(a, 1, a.shape[0]), b)
        return reshape(y, *y.shape[:-2], y.shape[-1])
    if b.ndim == 1:                      # ... or a 1-column matrix on the right
        y = matmul(a, reshape(b, b.shape[0], 1))
        return reshape(y, *y.shape[:-1])
    y = np.matmul(a.data, b.data)
    def backward(g):
        if a.requires_grad:
            a.accumulate(unbroadcast(np.matmul(g, np.swapaxes(b.data, -1, -2)), a.shape))
        if b.requires_grad:
            if b.ndim == 2 and a.ndim > 2:   # shared weight: one big (K, M·batch) @ (M·batch, N)
                K, N = b.shape
                b.accumulate(a.data.reshape(-1, K).T @ g.reshape(-1, N))
            else:
                b.accumulate(unbroadcast(np.matmul(np.swapaxes(a.data, -1, -2), g), b.shape))
    return Tensor.from_op(y, (a, b), backward, "matmul")


def linear(x, weight):
    """y = x Wᵀ with W of shape (out, in), as nn.Linear (no bias).
    dL/dx = g W,  dL/dW = gᵀ x  (over all leading positions at once: one BLAS call each)."""
    out_features, in_features = weight.shape
    x2 = x.data.reshape(-1, in_features)                                 # (N, in)
    y = (x2 @ weight.data.T).reshape(*x.shape[:-1], out_features)       # (..., out)
    def backward(g):
        g2 = g.reshape(-1, out_features)                                 # (N, out)
        if x.requires_grad:
            x.accumulate((g2 @ weight.data).reshape(x.shape))
        if weight.requires_grad:
            weight.accumulate(g2.T @ x2)
    return Tensor.from_op(y, (x, weight), backward, "linear")


# ---------------------------------------------------------------------------- softmax family
def _other_axis(op, x, axis, **kwargs):
    """op over `axis` for an axis other than the last: swap it to the end, apply op, swap back.
    The kernels work over the last (contiguous) axis; swapaxes carries the gradient back."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for a {x.ndim}-d tensor")
    return swapaxes(op(swapaxes(x, axis, -1), -1, **kwargs), axis, -1)


def softmax(x, axis=-1, causal=False):
    """y_i = exp(x_i - max x) / Σ_j exp(x_j - max x) over `axis` (Numba kernel on the last axis).
    causal=True masks key j > query i (+ offset when there are more keys than queries).
    dL/dx = y ⊙ (g - Σ g⊙y)."""
    if axis not in (-1, x.ndim - 1):
        if causal:
            raise ValueError("a causal softmax runs over the keys, the last axis")
        return _other_axis(softmax, x, axis)
    y = kernels.softmax(x.data, causal=causal)
    def backward(g):
        x.accumulate(kernels.softmax_backward(y, g))
    return Tensor.from_op(y, (x,), backward, "softmax")


def log_softmax(x, axis=-1):
    """y = x - logsumexp(x) over `axis`;  dL/dx = g - softmax(x) Σ g."""
    if axis not in (-1, x.ndim - 1):
        return _other_axis(log_softmax, x, axis)
    shifted = x.data - x.data.max(axis=-1, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    def backward(g):
        x.accumulate(g - np.exp(y) * g.sum(axis=-1, keepdims=True))
    return Tensor.from_op(y, (x,), backward, "log_softmax")


def cross_entropy(logits, targets, ignore_index=-100):
    """Mean over positions of -log softmax(logits)[target] — fused and numerically stable.

    logits (..., V), targets (...) integers; positions whose target is ignore_index don't count.
    dL/dlogits = (softmax(logits) - onehot(target)) / n_counted  (Numba kernels)."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets).reshape(-1)
    V = logits.shape[-1]
    z = logits.data.reshape(-1, V)                                       # (N, V)
    if z.shape[0] != targets.shape[0]:
        raise ValueError(f"{z.shape[0]} rows of logits but {targets.shape[0]} targets")
    loss, lse = kernels.cross_entropy(z, targets, ignore_index)
    def backward(g):
        gz = kernels.cross_entropy_backward(z, targets, lse, ignore_index, float(g))
        logits.accumulate(gz.reshape(logits.shape))
    return Tensor.from_op(np.asarray(loss, dtype=logits.dtype), (logits,), backward, "cross_entropy")


# ---------------------------------------------------------------------------- fused layers' ops
def rms_norm(x, weight, eps=1e-5):
    """y = x / √(mean(x²) + eps) ⊙ w over the last axis (RMSNorm, Zhang & Sennrich 2019).

    With r = 1/√(mean(x²)+eps) and x̂ = x r:
        dL/dw = Σ_rows g ⊙ x̂
        dL/dx = r (g⊙w - x̂ mean(g⊙w⊙x̂))        (Numba kernels)"""
    D = x.shape[-1]
    x2 = x.data.reshape(-1, D)                                           # (N, D)
    y, rstd = kernels.rmsnorm(x2, weight.data, eps)
    def backward(g):
        gx, gw = kernels.rmsnorm_backward(x2, weight.data, rstd, g.reshape(-1, D))
        x.accumulate(gx.reshape(x.shape))
        weight.accumulate(gw)
    return Tensor.from_op(y.reshape(x.shape), (x, weight), backward, "rms_norm")


def swiglu(a, b):
    """y = silu(a) ⊙ b, the gate of SwiGLU (Shazeer 2020).
    dL/da = g⊙b⊙σ(a)(1 + a(1-σ(a))),  dL/db = g⊙silu(a)        (Numba kernels)"""
    y = kernels.swiglu(a.data, b.data)
    def backward(g):
        ga, gb = kernels.swiglu_backward(a.data, b.data, g)
        a.accumulate(ga)
        b.accumulate(gb)
    return Tensor.from_op(y, (a, b), backward, "swiglu")


def rope(x, cos, sin):
    """Rotary position embedding (Su et al. 2021), interleaved pairs as in Meta's Llama:
    for x (B, T, H, hd), pair j = (x[2j], x[2j+1]) at position t is rotated by angle t·θ_j.
    The op is linear, y = R(tθ_j) x, so its Jacobian is the rotation R itself; the backward
    needs Rᵀ g, and a rotation's transpose is its inverse R(-tθ_j): rotate g back by -t·θ_j."""
    y = kernels.rope(x.data, cos, sin)
    def backward(g):
        x.accumulate(kernels.rope_backward(g, cos, sin))
    return Tensor.from_op(y, (x,), backward, "rope")


def causal_attention(q, k, v, window=None):
    """softmax(q kᵀ / √hd + causal mask) v, fused, with grouped-query attention built in.

    q (B, H, T, hd); k, v (B, Hkv, S, hd), S ≥ T, where query head h reads kv head h // (H/Hkv)
    and query i sits at position i + S - T (the last T of the S key positions: S > T after a KV
    cache's keys). window W (Mistral's sliding window): query at position c sees keys
    c - W < j ≤ c only. The backward recomputes the attention probabilities from the saved
    log-sum-exp (as FlashAttention does), and sums each kv head's gradient over the query heads
    sharing it."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    o, lse = attention.causal_attention(q.data, k.data, v.data, scale, window)
    def backward(g):
        gq, gk, gv = attention.causal_attention_backward(q.data, k.data, v.data, o, lse, g, scale, window)
        q.accumulate(gq)
        k.accumulate(gk)
        v.accumulate(gv)
    return Tensor.from_op(o, (q, k, v), backward, "causal_attention")
