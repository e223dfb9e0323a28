"""WRONG on purpose (the check must catch it): top-p keeps only the tokens whose cumulative
probability is still BELOW p, dropping the one that crosses it. The kept set then holds less
than p (and with one dominant token above p, nothing at all would be kept — here at least one
token is forced in). The temperature softmax is right."""
import numpy as np


def softmax_with_temperature(logits, temperature):
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def top_p_filter(probs, p):
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")
    cumulative = np.cumsum(probs[order])
    keep = max(1, int((cumulative < p).sum()))   # off by one: the crossing token is dropped
    out = np.zeros_like(probs)
    out[order[:keep]] = probs[order[:keep]]
    return out / out.sum()
