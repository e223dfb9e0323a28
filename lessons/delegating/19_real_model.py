"""DELEGATING on purpose (the check must refuse it): the library's Q4_1 decoder."""
from tinyllm import gguf


def dequantize_q4_1(raw):
    return gguf.dequantize_q4_1(raw)
