"""DELEGATING on purpose (the check must refuse it): builds the library's model and asks it."""
from tinyllm.model import Transformer


def num_params(cfg):
    return Transformer(cfg).num_params()


def block_forward(block, x, cos, sin, ops):
    return block(x, cos, sin)


def transformer_forward(model, tokens, ops):
    return model(tokens)
