"""Check for exercise 11: impl.num_params(cfg) against Transformer(cfg).num_params()."""
import numpy as np

from _harness import CheckFailure
from tinyllm.model import ModelConfig, Transformer

CONFIGS = {
    "multi-head (n_kv_heads == n_heads), tied": dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=4, vocab_size=40),
    "grouped-query (4 heads, 2 kv heads), tied": dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40),
    "multi-query (1 kv head), untied head": dict(dim=24, n_layers=3, n_heads=6, n_kv_heads=1, vocab_size=50,
                                                 tie_embeddings=False),
    "explicit hidden_dim=40, untied, GQA": dict(dim=32, n_layers=1, n_heads=4, n_kv_heads=2, vocab_size=64,
                                                hidden_dim=40, tie_embeddings=False),
    "the 'shakespeare' preset (Llama's width rule: ffn_dim 688)": "shakespeare",
}


def _hint(cfg, got, expected):
    """Which component the difference looks like (a guess from its size, offered as a hint)."""
    D, hd, L = cfg.dim, cfg.head_dim, cfg.n_layers
    diff = got - expected
    guesses = {
        "wk and wv have n_kv_heads·head_dim rows each (grouped-query attention), not dim":
            2 * L * D * (cfg.n_heads - cfg.n_kv_heads) * hd,
        "an untied output head is a second vocab_size × dim matrix; a tied one adds nothing":
            cfg.vocab_size * D,
        "each layer has two RMSNorm gains (2·dim) and there is one final norm (dim)": D,
        "SwiGLU has three matrices (w1, w2, w3) of dim × ffn_dim each": L * D * cfg.ffn_dim,
    }
    for text, size in guesses.items():
        if size and abs(diff) % size == 0 and abs(diff) // size <= 2 * L + 2:
            return text
    return ("count every Linear (out × in, no bias) and every RMSNorm gain (dim) of "
            "Transformer (lessons/11_block_and_model.py, section 2)")


def check(impl):
    for what, kwargs in CONFIGS.items():
        cfg = ModelConfig.preset(kwargs) if isinstance(kwargs, str) else ModelConfig(**kwargs)
        expected = Transformer(cfg).num_params()
        got = impl.num_params(cfg)
        if got is None:
            raise CheckFailure(f"num_params ({what}): your function returned None (forgot a `return`?)")
        if int(got) != expected:
            rel = abs(int(got) - expected) / expected
            raise CheckFailure(
                f"num_params ({what}): yours {int(got):,}, the model has {expected:,} "
                f"(off by {int(got) - expected:+,}, relative error {rel:.3e}) for dim={cfg.dim}, "
                f"n_layers={cfg.n_layers}, n_heads={cfg.n_heads}, n_kv_heads={cfg.n_kv_heads}, "
                f"vocab_size={cfg.vocab_size}, ffn_dim={cfg.ffn_dim}, tie_embeddings={cfg.tie_embeddings}"
                f"\nHINT: {_hint(cfg, int(got), expected)}")
