"""Solution 15: temperature and top-p (compare tinyllm/generate.py, filtered_probs)."""
import numpy as np


def softmax_with_temperature(logits, temperature):
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max())                      # the max-shift: exp never overflows
    return e / e.sum()


def top_p_filter(probs, p):
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")    # most probable first; ties by index
    cumulative = np.cumsum(probs[order])
    keep = int(np.searchsorted(cumulative, p)) + 1   # the first prefix whose total reaches p
    kept = order[:keep]
    out = np.zeros_like(probs)
    out[kept] = probs[kept]
    return out / out.sum()
