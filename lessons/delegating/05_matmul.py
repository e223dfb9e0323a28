"""DELEGATING on purpose (the check must refuse it): F.matmul and Tensor.backward do the work."""
import autograd.functional as F
from autograd import Tensor


def matmul_backward(a, b, g):
    a, b = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    F.matmul(a, b).backward(g)
    return a.grad, b.grad
