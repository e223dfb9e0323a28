"""Solution 19: Q4_1 dequantisation (compare tinyllm/gguf.py, dequantize_q4_1)."""
import numpy as np


def dequantize_q4_1(raw):
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, 20)                # (n, 20)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)           # (n, 1)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)           # (n, 1)
    qs = blocks[:, 4:]                                                      # (n, 16)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)     # (n, 32): lows, then highs
    return (d * q + m).reshape(-1)
