"""tinyllm: a Llama-style language model built from first principles on `autograd`."""
from tinyllm.model import ModelConfig, Transformer

__all__ = ["ModelConfig", "Transformer"]
