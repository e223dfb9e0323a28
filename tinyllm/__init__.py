"""tinyllm: a Llama-style language model built from first principles on `autograd`.

`from tinyllm import ModelConfig, Transformer` loads the model (and with it Numba) on first use,
so tools that need only the tokenizer or the data start fast.
"""

__all__ = ["ModelConfig", "Transformer"]


def __getattr__(name):
    if name in __all__:
        from tinyllm import model
        return getattr(model, name)
    raise AttributeError(f"module 'tinyllm' has no attribute {name!r}")
