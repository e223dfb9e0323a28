"""DELEGATING on purpose (the check must refuse it): calls the library's fused kernels."""
from autograd import kernels


def softmax_backward(y, g):
    return kernels.softmax_backward(y, g)


def cross_entropy_backward(logits, targets, g):
    _, lse = kernels.cross_entropy(logits, targets)
    return kernels.cross_entropy_backward(logits, targets, lse, -100, g)
