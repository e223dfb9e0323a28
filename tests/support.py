"""Shared by the tests (not collected: no test_ prefix)."""
import math

import numpy as np

from tinyllm import Transformer


def unit_scale_model(cfg, seed=0, dtype=np.float32):
    """A Transformer whose weights give unit-scale activations (std 3/√fan_in, norms 1 ± 0.2), so
    attention is peaked and RoPE and the head layout matter: at the default 0.02 init the logits
    are nearly uniform and a wrong permutation or cache would be hard to see."""
    model = Transformer(cfg, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for _, p in model.named_parameters():
        if p.data.ndim == 1:
            p.data[...] = 1 + 0.2 * rng.standard_normal(p.shape)
        else:
            p.data[...] = rng.standard_normal(p.shape) * (3 / math.sqrt(p.shape[1]))
    return model


def train_argv(corpus, out, *extra):
    """`python -m tinyllm train` arguments for a fast tiny run on the test corpus."""
    return ["train", "--preset", "tiny", "--text", str(corpus), "--vocab-size", "300", "--out", str(out),
            "--batch-size", "4", "--warmup", "2", "--lr", "3e-3", "--eval-windows", "4",
            "--sample-tokens", "8", "--final-sample-tokens", "8", *extra]
