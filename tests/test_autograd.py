"""The autograd engine: every op's backward against central differences in float64, plus the
graph mechanics (accumulation, no_grad, freeing, errors) and gradcheck's own ability to fail."""
import numpy as np
import pytest

import autograd.functional as F
from autograd import GradcheckError, Tensor, gradcheck, no_grad

rng = np.random.default_rng(0)


def t(*shape, positive=False):
    x = rng.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return Tensor(x, requires_grad=True)


# ---------------------------------------------------------------------------- every op, gradchecked
ELEMENTWISE_BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("where", lambda a, b: F.where(a.data > 0, a, b)),
]
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((5,), (2, 5)), ((), (3,))]


@pytest.mark.parametrize("name,op", ELEMENTWISE_BINARY, ids=[n for n, _ in ELEMENTWISE_BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_ops_with_broadcasting(name, op, shapes):
    a, b = t(*shapes[0]), t(*shapes[1], positive=True)
    gradcheck(op, a, b)


@pytest.mark.parametrize("name,op,positive", [
    ("neg", lambda x: -x, False),
    ("pow", lambda x: x ** 3, False),
    ("pow_frac", lambda x: x ** 1.5, True),
    ("exp", F.exp, False),
    ("log", F.log, True),
    ("sqrt", F.sqrt, True),
    ("rsqrt", F.rsqrt, True),
    ("sigmoid", F.sigmoid, False),
    ("silu", F.silu, False),
    ("masked_fill", lambda x: F.masked_fill(x, x.data > 0.3, -7.0), False),
    ("log_softmax", F.log_softmax, False),
])
def test_unary_ops(name, op, positive):
    x = t(3, 5, positive=positive)
    gradcheck(op, x)


def test_astype_casts_the_gradient_back():
    x = t(3)
    y = F.astype(x, np.float32)
    assert y.dtype == np.float32
    (y * 2.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_reductions(reduce, axis, keepdims):
    x = t(3, 4, 5)
    gradcheck(lambda x: getattr(F, reduce)(x, axis=axis, keepdims=keepdims), x)


def test_max_splits_gradient_between_ties():
    x = Tensor(np.array([1.0, 3.0, 3.0, 0.0]), requires_grad=True)
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])


@pytest.mark.parametrize("shapes", [((4, 3), (3, 5)), ((2, 4, 3), (3, 5)), ((2, 4, 3), (2, 3, 5)),
                                    ((1, 4, 3), (2, 3, 5)), ((4, 3), (2, 3, 5)),
                                    ((3,), (3, 5)), ((2, 4, 3), (3,)), ((3,), (3,))], ids=str)
def test_matmul_batched_and_broadcast(shapes):
    gradcheck(lambda a, b: a @ b, t(*shapes[0]), t(*shapes[1]))


def test_matmul_non_contiguous_inputs():
    a = Tensor(rng.standard_normal((5, 4)).T, requires_grad=True)     # a transposed view
    b = Tensor(rng.standard_normal((5, 6))[:, ::2], requires_grad=True)  # a strided view
    assert not a.data.flags.c_contiguous and not b.data.flags.c_contiguous
    gradcheck(lambda a, b: a @ b, a, b)


def test_linear():
    gradcheck(F.linear, t(2, 3, 4), t(5, 4))


@pytest.mark.parametrize("op", [
    lambda x: x.reshape(6, 4),
    lambda x: x.reshape(-1),
    lambda x: x.transpose(),
    lambda x: x.permute(2, 0, 1),
    lambda x: F.swapaxes(x, 0, 2),
    lambda x: x[1],
    lambda x: x[:, 1:3, ::2],
    lambda x: x[..., None, 0],
    lambda x: x[np.array([0, 1, 0])],               # repeated fancy index: adds up
    lambda x: x[np.array([1, 0]), :, np.array([3, 3])],
], ids=["reshape", "flatten", "T", "permute", "swapaxes", "int", "slices", "ellipsis", "fancy_repeat", "fancy_mixed"])
def test_shape_ops(op):
    gradcheck(op, t(2, 3, 4))


def test_concatenate_and_split():
    a, b = t(2, 3), t(2, 5)
    gradcheck(lambda a, b: F.concatenate([a, b], axis=1) * 2.0, a, b)
    x = t(4, 6)
    gradcheck(lambda x: F.split(x, [1, 2, 3], axis=1)[1] * F.split(x, 3, axis=1)[1], x)
    with pytest.raises(ValueError, match="add up"):
        F.split(x, [1, 2], axis=1)


def test_gradient_accumulates_when_a_tensor_is_used_twice():
    x = Tensor(np.array([2.0, -1.0]), requires_grad=True)
    y = (x * x + x * 3.0).sum()          # dy/dx = 2x + 3
    y.backward()
    np.testing.assert_allclose(x.grad, [7.0, 1.0])
    (x * 1.0).sum().backward()           # a second backward adds to .grad (leaves accumulate)
    np.testing.assert_allclose(x.grad, [8.0, 2.0])
    x.zero_grad()
    assert x.grad is None


def test_diamond_graph_gradcheck():
    gradcheck(lambda x: F.exp(x) * F.log(x * x + 1.0) + F.sigmoid(x) / (x * x + 2.0), t(6))


def test_no_grad_builds_no_graph():
    x = t(3)
    with no_grad():
        y = (x * 2.0).exp().sum()
    assert not y.requires_grad and y._parents == () and y._backward is None
    z = (x * 2.0).sum()                  # grad mode is back on afterwards
    assert z.requires_grad


def test_graph_is_released_after_backward():
    x = t(3)
    h = x * 2.0
    y = h.sum()
    y.backward()
    assert y._parents == () and h._parents == () and h._backward is None
    with pytest.raises(RuntimeError, match="does not require grad|not require"):
        Tensor(np.ones(2)).sum().backward()


def test_backward_on_a_deep_graph_does_not_recurse():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):                # deeper than Python's default recursion limit
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 5000)


def test_backward_of_non_scalar_needs_a_gradient():
    y = t(2, 3) * 2.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(np.ones((2, 3)))


def test_dtype_is_kept_through_ops():
    x = Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = (x * 2 + 1.5) / 3.0 - x ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_detach_cuts_the_graph():
    x = t(3)
    y = (x.detach() * x).sum()           # d/dx of (const * x) = const
    y.backward()
    np.testing.assert_allclose(x.grad, x.data)


# ---------------------------------------------------------------------------- gradcheck itself
def _mul_with_wrong_backward(scale=1.0, transpose=False):
    def op(a, b):
        y = a.data @ b.data
        def backward(g):
            bt = b.data if transpose else b.data.T      # right: g @ bᵀ; wrong: g @ b
            a.accumulate(scale * (g @ bt))
            b.accumulate(a.data.T @ g)
        return Tensor.from_op(y, (a, b), backward, "bad_matmul")
    return op


def test_gradcheck_passes_a_right_backward():
    result = gradcheck(_mul_with_wrong_backward(1.0), t(3, 3), t(3, 3))
    assert result.max_rel_error < 1e-7


def test_gradcheck_catches_a_backward_scaled_by_1_01():
    with pytest.raises(GradcheckError, match=r"max relative error .* input 0 at index"):
        gradcheck(_mul_with_wrong_backward(1.01), t(3, 3), t(3, 3))


def test_gradcheck_catches_a_transposed_operand():
    with pytest.raises(GradcheckError):
        gradcheck(_mul_with_wrong_backward(transpose=True), t(3, 3), t(3, 3))


def test_gradcheck_reports_where():
    r = gradcheck(_mul_with_wrong_backward(1.01), t(2, 3), t(3, 4), raise_on_fail=False)
    assert r.input_index == 0 and len(r.index) == 2
    assert 0.005 < r.max_rel_error < 0.02          # a 1% error is reported as ~1%


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, Tensor(np.ones(3, dtype=np.float32), requires_grad=True))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, -2])
def test_softmax_family_over_any_axis(op, axis):
    """Over an axis other than the last (PyTorch's softmax(x, dim=0) habit): the same values as
    the last-axis op on swapped axes, and a gradient that gradchecks."""
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
    y = getattr(F, op)(x, axis=axis).data
    want = getattr(F, op)(Tensor(np.swapaxes(x.data, axis, -1))).data
    np.testing.assert_allclose(y, np.swapaxes(want, axis, -1), rtol=1e-12)
    gradcheck(lambda x: getattr(F, op)(x, axis=axis), x)


def test_softmax_axis_out_of_range_and_causal_off_last_axis_are_refused():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="out of range"):
        F.softmax(x, axis=2)
    with pytest.raises(ValueError, match="last axis"):
        F.softmax(x, axis=0, causal=True)
