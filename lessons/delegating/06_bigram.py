"""DELEGATING on purpose (the check must refuse it): `from ... import` the library's scatter-add
(the trap replaces names imported into your module too)."""
from autograd.kernels import embedding_backward as library_embedding_backward


def embedding_backward(ids, g, vocab_size):
    return library_embedding_backward(ids, g, vocab_size)
