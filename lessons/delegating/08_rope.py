"""DELEGATING on purpose (the check must refuse it): the forward calls the library's rope, and the
backward is the library's forward with sin → -sin (the right idea, someone else's code)."""
from autograd import kernels


def rope_forward(x, cos, sin):
    return kernels.rope(x, cos, sin)


def rope_backward(g, cos, sin):
    return kernels.rope(g, cos, -sin)
