"""DELEGATING on purpose (the check must refuse it): the forward is the library's kernel, the
backward composes F.silu and a multiply and lets .backward() differentiate them."""
import autograd.functional as F
from autograd import Tensor, kernels


def swiglu_forward(a, b):
    return kernels.swiglu(a, b)


def swiglu_backward(a, b, g):
    a, b = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (F.silu(a) * b).backward(g)
    return a.grad, b.grad
