"""DELEGATING on purpose (the check must refuse it): the library's Q8_0 codec."""
from tinyllm.gguf import dequantize_q8_0 as _dequantize
from tinyllm.gguf import quantize_q8_0 as _quantize


def quantize_q8_0(x):
    return _quantize(x)


def dequantize_q8_0(raw):
    return _dequantize(raw)
