"""Solution 13: the AdamW step and global-norm clipping
(compare autograd/kernels.py adamw_step_ref and tinyllm/optim.py clip_grad_norm)."""
import math

import numpy as np


def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t):
    p *= 1.0 - lr * weight_decay                 # decoupled: straight on p, not through m, v
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1 ** t)
    v_hat = v / (1.0 - beta2 ** t)
    p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def clip_grad_norm(grads, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale                           # in place: the caller's arrays change
    return norm
