"""DELEGATING on purpose (the check must refuse it).

rms_norm_backward builds RMSNorm from primitive autograd ops (as lesson 07 section 2 does) and
lets .backward() find the gradient: correct numbers, no derivation. The forwards call the
library's kernels."""
import numpy as np

from autograd import Tensor, kernels


def rms_norm_forward(x, w, eps):
    return kernels.rmsnorm_ref(x, w, eps)


def rms_norm_forward_numba(x, w, eps):
    return kernels.rmsnorm(x, w, eps)


def rms_norm_backward(x, w, rstd, g):
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    D = x.shape[-1]
    ms = (xt * xt).sum(axis=-1, keepdims=True) / D
    eps = 1.0 / rstd[:, None] ** 2 - (x * x).mean(axis=-1, keepdims=True)   # recover eps from rstd
    y = xt * (ms + Tensor(eps)).rsqrt() * wt
    y.backward(g)
    return xt.grad, wt.grad
