"""DELEGATING on purpose (the check must refuse it): calls the library's F.unbroadcast, and
lets F.max's backward (through Tensor.backward) route the gradient."""
import autograd.functional as F
from autograd import Tensor


def unbroadcast(g, shape):
    return F.unbroadcast(g, shape)


def max_backward(x, y, g, axis):
    x = Tensor(x, requires_grad=True)
    F.max(x, axis=axis).backward(g)
    return x.grad
