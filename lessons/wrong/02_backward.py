"""WRONG on purpose (the check must catch it): div_backward loses the minus sign of d(1/b)/db.

tanh_backward is right; dL/db = +g·a/b² should be -g·a/b²."""
import numpy as np


def tanh_backward(y, g):
    return g * (1.0 - y * y)


def div_backward(a, b, g):
    return g / b, g * a / (b * b)
