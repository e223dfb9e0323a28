"""WRONG on purpose (the check must catch it): the nibbles in the wrong order.

Byte j holds elements j (low nibble) and j + 16 (high nibble). This reads each byte as two
neighbours, low then high (elements 2j and 2j + 1), as if the 32 numbers were packed in order."""
import numpy as np


def dequantize_q4_1(raw):
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, 20)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 4:]
    q = np.stack([qs & 0x0F, qs >> 4], axis=2).reshape(-1, 32).astype(np.float32)   # interleaved
    return (d * q + m).reshape(-1)
