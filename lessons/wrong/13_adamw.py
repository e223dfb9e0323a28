"""WRONG on purpose (the check must catch it): Adam with L2 regularisation instead of AdamW.

weight_decay·p is added to the gradient, so it goes through m and v and is divided by √v̂:
parameters with large gradients are hardly decayed at all. This was the standard "Adam with
weight decay" before Loshchilov & Hutter; it equals AdamW only when weight_decay is 0.
The clipping is right."""
import math

import numpy as np


def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t):
    g = g + weight_decay * p                     # should be: p *= 1 - lr * weight_decay
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    p -= lr * (m / (1.0 - beta1 ** t)) / (np.sqrt(v / (1.0 - beta2 ** t)) + eps)


def clip_grad_norm(grads, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / (norm + 1e-6)
    return norm
