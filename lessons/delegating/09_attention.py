"""DELEGATING on purpose (the check must refuse it): the library's attention kernels."""
import numpy as np

from autograd import attention


def causal_attention_forward(q, k, v):
    o, _ = attention.causal_attention_ref(q, k, v, 1.0 / np.sqrt(q.shape[-1]))
    return o


def causal_attention_backward(q, k, v, go):
    scale = 1.0 / np.sqrt(q.shape[-1])
    o, lse = attention.causal_attention(q, k, v, scale)
    return attention.causal_attention_backward(q, k, v, o, lse, go, scale)
