"""WRONG on purpose (the check must catch it): treats σ(a) in silu(a) = a·σ(a) as a constant.

Then d silu/da comes out as σ(a), missing the a·σ(a)(1-σ(a)) term of the product rule. It is
right for gb, and not far off for ga near a = 0 — but wrong everywhere else."""
import numpy as np


def swiglu_forward(a, b):                      # right
    return a / (1.0 + np.exp(-a)) * b


def swiglu_backward(a, b, g):
    s = 1.0 / (1.0 + np.exp(-a))
    return g * b * s, g * a * s                  # ga should be g·b·s·(1 + a(1 - s))
