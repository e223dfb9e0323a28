"""DELEGATING on purpose (the check must refuse it): the library's softmax with its causal mask
does the masking (kernels.softmax(..., causal=True) lines key j up with query start_pos + i)."""
import numpy as np

from autograd import kernels


def attend_with_cache(cache_k, cache_v, q, k, v, start_pos):
    B, H, T, hd = q.shape
    S = start_pos + T
    cache_k[:, :, start_pos:S] = k
    cache_v[:, :, start_pos:S] = v
    keys = np.repeat(cache_k[:, :, :S], H // k.shape[1], axis=1)
    values = np.repeat(cache_v[:, :, :S], H // k.shape[1], axis=1)
    return kernels.softmax(q @ keys.swapaxes(-1, -2) / np.sqrt(hd), causal=True) @ values
