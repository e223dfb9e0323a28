"""DELEGATING on purpose (the check must refuse it): the gradients come from the autograd engine.

tanh is composed from library ops and .backward() finds its gradient; division calls F.div and
its backward. Both give the right numbers, and neither is the exercise."""
import numpy as np

import autograd.functional as F
from autograd import Tensor


def tanh_backward(y, g):
    x = Tensor(np.arctanh(y), requires_grad=True)
    (2.0 * F.sigmoid(2.0 * x) - 1.0).backward(g)      # tanh(x) = 2σ(2x) - 1, differentiated by the engine
    return x.grad


def div_backward(a, b, g):
    a, b = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    F.div(a, b).backward(g)
    return a.grad, b.grad
