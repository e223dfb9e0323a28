"""Check for exercise 11: impl.num_params(cfg) against Transformer(cfg).num_params(), and
impl.block_forward / impl.transformer_forward: given the library model's weights (float64) and
the library's ops, your forward must give the library's outputs, logits and gradients."""
from types import SimpleNamespace

import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
import autograd.functional as F
from autograd import Tensor
from tinyllm.model import ModelConfig, Transformer

# the ops your forward is built from (held here before the traps go up, so these keep working)
LIBRARY_OPS = SimpleNamespace(rms_norm=F.rms_norm, rope=F.rope, causal_attention=F.causal_attention,
                              swiglu=F.swiglu, linear=F.linear, embedding=F.embedding)
HINT_BLOCK = ("pre-norm: h = x + wo·attention(rope(q), rope(k), v) of RMSNorm(x), then out = h + "
              "w2·swiglu(w1·n, w3·n) with n = RMSNorm(h); q, k, v are (B, T, heads, hd) for rope and "
              "(B, heads, T, hd) for attention (lessons/11_block_and_model.py, section 1)")
HINT_MODEL = ("embedding, every block with the first T rows of model.rope_cos / model.rope_sin, the final "
              "norm, then ops.linear(x, model.output.weight) (lessons/11_block_and_model.py, section 1)")

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.model.Transformer.num_params",
    "tinyllm.model.Module.named_parameters",
    "tinyllm.model.Module.parameters",
    "tinyllm.model.Block.forward",
    "tinyllm.model.Transformer.forward",
    "tinyllm.model.Attention.forward",
    "tinyllm.model.FeedForward.forward",
    "tinyllm.model.RMSNorm.forward",
    "autograd.functional.rms_norm",
    "autograd.functional.rope",
    "autograd.functional.causal_attention",
    "autograd.functional.swiglu",
]
# make exercise N=11 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "num_params: list every Linear (a matrix out × in, no bias) and every RMSNorm gain (dim) in "
     "tinyllm/model.py. block_forward: two residual branches, each normalised first (pre-norm).",
    "wk and wv have n_kv_heads·head_dim rows (GQA); a tied output head adds nothing. In attention: q "
     "= ops.linear(x, wq).reshape(B, T, H, hd), rope on q and k, then transpose to (B, heads, T, hd) "
     "for ops.causal_attention.",
    "h = x + attention(ops.rms_norm(x, attention_norm.weight, eps)); out = h + "
     "ops.linear(ops.swiglu(ops.linear(n, w1), ops.linear(n, w3)), w2) with n = ops.rms_norm(h, "
     "ffn_norm.weight, eps). transformer_forward: ops.embedding, every block with cos, sin = "
     "model.rope_cos[:T], model.rope_sin[:T], final norm, ops.linear(x, model.output.weight).",
    "See lessons/solutions/11_block_and_model.py.",
]

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
    impl = no_delegating(impl, TRAPS)
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

    # 2) the forward: one block, then the whole model, against the library's (float64, same weights)
    rng = np.random.default_rng(11)
    for what, kwargs in (("grouped-query, tied", dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=40,
                                                          max_seq_len=16)),
                         ("multi-query, untied, explicit hidden_dim", dict(dim=24, n_layers=1, n_heads=3,
                          n_kv_heads=1, vocab_size=30, hidden_dim=40, tie_embeddings=False, max_seq_len=16))):
        cfg = ModelConfig(**kwargs)
        ref, mine = Transformer(cfg, seed=5, dtype=np.float64), Transformer(cfg, seed=5, dtype=np.float64)
        B, T = 2, 9
        x = rng.standard_normal((B, T, cfg.dim))
        cos, sin = ref.rope_cos[:T], ref.rope_sin[:T]
        out = impl.block_forward(mine.layers[0], Tensor(x), cos, sin, LIBRARY_OPS)
        if not isinstance(out, Tensor):
            raise CheckFailure(f"block_forward ({what}): returned {type(out).__name__}, not a Tensor "
                               "(error: gradients cannot flow)\nHINT: build it from the ops you are given")
        expect_close(f"block_forward ({what}) vs tinyllm.model.Block", out.data, ref.layers[0](Tensor(x), cos, sin).data,
                     HINT_BLOCK, tol=1e-10)

        tokens = rng.integers(0, cfg.vocab_size, (B, T))
        targets = rng.integers(0, cfg.vocab_size, (B, T))
        logits_ref, loss_ref = ref(tokens, targets)
        logits = impl.transformer_forward(mine, tokens, LIBRARY_OPS)
        if not isinstance(logits, Tensor):
            raise CheckFailure(f"transformer_forward ({what}): returned {type(logits).__name__}, not a Tensor "
                               "(error: gradients cannot flow)\nHINT: build it from the ops you are given")
        expect_close(f"transformer_forward ({what}): logits vs tinyllm.model.Transformer", logits.data,
                     logits_ref.data, HINT_MODEL, tol=1e-10)
        loss_ref.backward()
        F.cross_entropy(logits, targets).backward()
        for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
            if p.grad is None:
                raise CheckFailure(f"transformer_forward ({what}): parameter {name} got no gradient (error: "
                                   f"it is not used)\nHINT: {HINT_MODEL}")
            expect_close(f"transformer_forward ({what}): the gradient of {name}", p.grad, q.grad, HINT_MODEL, tol=1e-8)
