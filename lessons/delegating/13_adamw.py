"""DELEGATING on purpose (the check must refuse it): the library's AdamW kernel and clipping."""
from autograd import Tensor, kernels
from tinyllm import optim


def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t):
    kernels.adamw_step_ref(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t)


def clip_grad_norm(grads, max_norm):
    params = []
    for g in grads:
        t = Tensor(g * 0, requires_grad=True)
        t.grad = g                                   # the same array: clipped in place
        params.append(t)
    return optim.clip_grad_norm(params, max_norm)
