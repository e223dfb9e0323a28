"""WRONG on purpose (the check must catch it): the scale from max(x) instead of max|x|.

A block whose largest magnitude is negative then gets a scale too small, and x / d falls outside
−127..127: the int8 cast wraps around, and the number comes back with the wrong sign."""
import numpy as np

BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", 32)])


def quantize_q8_0(x):
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    d = np.abs(x.max(axis=1)) / 127
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    out = np.empty(len(x), BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = np.round(x * inv[:, None]).astype(np.int64).astype(np.int8)
    return out.tobytes()


def dequantize_q8_0(raw):
    b = np.frombuffer(raw, BLOCK)
    return (b["qs"] * b["d"].astype(np.float32)[:, None]).reshape(-1).astype(np.float32)
