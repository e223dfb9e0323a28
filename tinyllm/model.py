"""The Llama 2 model (Touvron et al. 2023), on the autograd engine.

    tokens (B, T)
      → tok_embeddings                                   (B, T, D)
      → n_layers × Block:  h = x + Attention(RMSNorm(x))        pre-norm residuals
                           out = h + FeedForward(RMSNorm(h))
      → RMSNorm → output (a Linear to the vocabulary; optionally the embedding, tied)
      → logits (B, T, V)

Attention uses rotary position embeddings (RoPE, interleaved pairs as Meta's code and
llama2.c; optionally with Llama 3.1's frequency scaling) and grouped-query attention (GQA:
n_kv_heads key/value heads, each shared by n_heads / n_kv_heads consecutive query heads), and
optionally Mistral's sliding window (each query sees only the last W keys, itself included).
FeedForward is SwiGLU. There are no biases.

The model keeps no generation state: for generation it is handed a KVCache (tinyllm/kv_cache.py)
that it reads and fills, model(tokens, cache=cache).
Parameter names are Meta's (`layers.0.attention.wq.weight`), so checkpoints map one-to-one
onto llama2.c and (with the RoPE row permutation) onto Hugging Face; see tinyllm/export.py.
"""
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

import autograd.functional as F
from autograd import kernels
from autograd.tensor import Tensor


# ---------------------------------------------------------------------------- configuration
# The `python -m tinyllm train` flag that sets each field (named in ModelConfig's errors).
FLAGS = {"dim": "--dim", "n_layers": "--n-layers", "n_heads": "--n-heads", "n_kv_heads": "--n-kv-heads",
         "hidden_dim": "--ffn-dim", "max_seq_len": "--context", "rope_theta": "--rope-theta",
         "vocab_size": "--vocab-size"}


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 256               # model width D
    n_layers: int = 6
    n_heads: int = 8             # query heads H; head_dim = dim / n_heads
    n_kv_heads: int = 4          # key/value heads (GQA); must divide n_heads
    vocab_size: int = 2048
    hidden_dim: int = 0          # SwiGLU width; 0 = Llama's rule from dim and multiple_of
    multiple_of: int = 16
    max_seq_len: int = 256       # longest training context (RoPE table; full KV cache size)
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool = True  # output head = token embedding matrix
    sliding_window: int | None = None   # Mistral: query i sees keys i - W < j ≤ i (None: all j ≤ i)
    rope_scaling: dict | None = None    # Llama 3.1: {factor, low_freq_factor, high_freq_factor,
                                        #             original_max_position_embeddings}

    def __post_init__(self):
        """Refuse an impossible shape at once, naming the field and its `python -m tinyllm train` flag."""
        def bad(name, why):
            flag = FLAGS.get(name)
            return ValueError(f"{name} {getattr(self, name)!r} {why}" + (f" ({flag})" if flag else ""))
        for name in ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of", "max_seq_len",
                     "hidden_dim"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):   # not 1.5, True, "8"
                raise bad(name, "must be an integer")
            if value < (0 if name == "hidden_dim" else 1):
                raise bad(name, "must be at least 1" if name != "hidden_dim" else "must be >= 0 (0 = Llama's rule)")
        for name in ("norm_eps", "rope_theta"):
            value = getattr(self, name)
            if (not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool)
                    or not math.isfinite(value) or value <= 0):
                raise bad(name, "must be a finite number > 0")
        if not isinstance(self.tie_embeddings, (bool, np.bool_)):
            raise bad("tie_embeddings", "must be true or false")
        if self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not divisible by n_heads {self.n_heads} (--dim, --n-heads)")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_kv_heads {self.n_kv_heads} does not divide n_heads {self.n_heads} "
                             f"(--n-kv-heads, --n-heads)")
        if self.head_dim % 2:
            raise ValueError(f"head_dim = dim / n_heads = {self.dim} / {self.n_heads} = {self.head_dim} "
                             f"must be even for RoPE (--dim, --n-heads)")
        if self.sliding_window is not None and (isinstance(self.sliding_window, bool) or
                                                int(self.sliding_window) != self.sliding_window or
                                                self.sliding_window < 1):
            raise ValueError(f"sliding_window must be a positive integer or None, got {self.sliding_window!r} "
                             f"(--sliding-window)")
        if self.rope_scaling is not None:
            object.__setattr__(self, "rope_scaling", _check_rope_scaling(self.rope_scaling))

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def ffn_dim(self):
        """Llama's rule: 2/3 of 4·dim (so SwiGLU's three matrices cost what two 4·dim ones
        would), rounded up to a multiple of `multiple_of`. dim 256 → 688, dim 288 → 768 (×32)."""
        if self.hidden_dim:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    @staticmethod
    def preset(name, **overrides):
        """'tiny' (tests), 'shakespeare' (the default model), 'stories15M' (llama2.c's shape)."""
        presets = {
            "tiny": ModelConfig(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=32,
                                multiple_of=8, max_seq_len=16),
            "shakespeare": ModelConfig(dim=256, n_layers=6, n_heads=8, n_kv_heads=4, vocab_size=2048,
                                       multiple_of=16, max_seq_len=256),
            "stories15M": ModelConfig(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000,
                                      multiple_of=32, max_seq_len=256),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
        return replace(presets[name], **overrides)

    def to_dict(self):
        return asdict(self)


ROPE_SCALING_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


def _check_rope_scaling(scaling):
    """Llama 3.1's rope_scaling as a plain dict of the four numbers, or a ValueError naming the problem."""
    if not isinstance(scaling, dict):
        raise ValueError(f"rope_scaling must be a dict of {', '.join(ROPE_SCALING_KEYS)}, got {scaling!r}")
    extra = set(scaling) - set(ROPE_SCALING_KEYS) - {"rope_type"}
    missing = [k for k in ROPE_SCALING_KEYS if k not in scaling]
    if extra or missing or scaling.get("rope_type", "llama3") != "llama3":
        raise ValueError(f"rope_scaling {scaling!r}: need exactly {', '.join(ROPE_SCALING_KEYS)} "
                         f"(Llama 3.1's 'llama3' type)")
    try:
        out = {k: float(scaling[k]) for k in ROPE_SCALING_KEYS}
    except (TypeError, ValueError):
        raise ValueError(f"rope_scaling {scaling!r}: the values must be numbers") from None
    if not all(math.isfinite(x) and x > 0 for x in out.values()):
        raise ValueError(f"rope_scaling {scaling!r}: every value must be positive and finite")
    if out["high_freq_factor"] <= out["low_freq_factor"]:
        raise ValueError(f"rope_scaling {scaling!r}: high_freq_factor must exceed low_freq_factor")
    out["original_max_position_embeddings"] = int(out["original_max_position_embeddings"])
    return out


# ---------------------------------------------------------------------------- modules
class Module:
    """A container of parameters (Tensors with requires_grad) and sub-modules, found by walking
    the attributes in the order they were set. Names are dotted paths: `layers.0.attention.wq.weight`.

    There is no train()/eval() switch: a Llama has no dropout or batch norm, so training and
    inference run the same forward (generation just runs it under no_grad)."""

    def named_parameters(self, prefix=""):
        seen = set()
        for name, value in vars(self).items():
            for child_name, p in _named_params_of(value, prefix + name):
                if id(p) not in seen:           # a tied weight is listed once, under its first name
                    seen.add(id(p))
                    yield child_name, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def modules(self):
        yield self
        for value in vars(self).values():
            for m in value if isinstance(value, list) else [value]:
                if isinstance(m, Module):
                    yield from m.modules()

    def state_dict(self):
        """{name: array} — the parameters' NumPy arrays (not copies)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters; names and shapes must match exactly."""
        own = dict(self.named_parameters())
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing {missing[:5]}"
                             f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                             f"{'...' if len(unexpected) > 5 else ''}")
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"{name}: checkpoint has shape {value.shape}, model expects {p.shape}")
            p.data[...] = value

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)


def _named_params_of(value, name):
    if isinstance(value, Tensor) and value.requires_grad:
        yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(name + ".")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _named_params_of(item, f"{name}.{i}")


def _param(array):
    return Tensor(array, requires_grad=True)


class Linear(Module):
    """y = x Wᵀ, W of shape (out, in) as in PyTorch's nn.Linear; no bias (Llama has none)."""

    def __init__(self, in_features, out_features, rng, std=0.02, dtype=np.float32):
        self.weight = _param((rng.standard_normal((out_features, in_features)) * std).astype(dtype))

    def forward(self, x):
        return F.linear(x, self.weight)


class Embedding(Module):
    """A (vocab, dim) table; row i is token i's vector."""

    def __init__(self, vocab_size, dim, rng, std=0.02, dtype=np.float32):
        self.weight = _param((rng.standard_normal((vocab_size, dim)) * std).astype(dtype))

    def forward(self, ids):
        return F.embedding(self.weight, ids)


class RMSNorm(Module):
    """y = x / √(mean(x²) + eps) ⊙ weight — LayerNorm without centring or bias (Zhang & Sennrich)."""

    def __init__(self, dim, eps=1e-5, dtype=np.float32):
        self.eps = eps
        self.weight = _param(np.ones(dim, dtype=dtype))

    def forward(self, x):
        return F.rms_norm(x, self.weight, self.eps)


class Attention(Module):
    """Causal self-attention with RoPE and grouped-query attention.

    q = x Wqᵀ (H heads), k = x Wkᵀ and v = x Wvᵀ (Hkv heads); q and k are rotated by their
    position (RoPE); each query head h attends over kv head h // (H/Hkv) with
    softmax(q kᵀ/√hd + causal mask) v; the heads are concatenated and projected by Wo.
    With a sliding window W the mask also hides keys more than W - 1 positions back.
    """

    def __init__(self, cfg, rng, dtype=np.float32):
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        out_std = 0.02 / math.sqrt(2 * cfg.n_layers)       # residual projections start smaller
        self.wq = Linear(cfg.dim, cfg.n_heads * cfg.head_dim, rng, dtype=dtype)
        self.wk = Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, rng, dtype=dtype)
        self.wv = Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, rng, dtype=dtype)
        self.wo = Linear(cfg.n_heads * cfg.head_dim, cfg.dim, rng, std=out_std, dtype=dtype)
        self.window = cfg.sliding_window

    def forward(self, x, cos, sin, cache=None, layer=0):
        """x (B, T, D) at positions cos/sin give. With a KVCache, the T tokens follow the cache's
        positions: their k, v go into `layer`'s slots, and they attend over the visible past too."""
        B, T, _ = x.shape
        H, Hkv, hd = self.n_heads, self.n_kv_heads, self.head_dim
        q = self.wq(x).reshape(B, T, H, hd)                  # (B, T, H, hd)
        k = self.wk(x).reshape(B, T, Hkv, hd)                # (B, T, Hkv, hd)
        v = self.wv(x).reshape(B, T, Hkv, hd)                # (B, T, Hkv, hd)
        q, k = F.rope(q, cos, sin), F.rope(k, cos, sin)      # rotate pairs by position
        q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))   # (B, heads, T, hd)
        if cache is not None:                                # the visible past, then these T
            past_k, past_v = cache.update(layer, k.data, v.data)       # (B, Hkv, n, hd) each
            if past_k.shape[2]:
                k = F.concatenate([Tensor(past_k), k], axis=2)          # (B, Hkv, n + T, hd)
                v = F.concatenate([Tensor(past_v), v], axis=2)
        o = F.causal_attention(q, k, v, self.window)         # (B, H, T, hd), fused kernel
        o = o.transpose(0, 2, 1, 3).reshape(B, T, H * hd)   # (B, T, D): heads side by side
        return self.wo(o)


class FeedForward(Module):
    """SwiGLU (Shazeer 2020): w2( silu(w1 x) ⊙ w3 x )."""

    def __init__(self, cfg, rng, dtype=np.float32):
        out_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        self.w1 = Linear(cfg.dim, cfg.ffn_dim, rng, dtype=dtype)      # gate
        self.w2 = Linear(cfg.ffn_dim, cfg.dim, rng, std=out_std, dtype=dtype)   # down
        self.w3 = Linear(cfg.dim, cfg.ffn_dim, rng, dtype=dtype)      # up

    def forward(self, x):
        return self.w2(F.swiglu(self.w1(x), self.w3(x)))


class Block(Module):
    """One Transformer layer, pre-norm: x + Attention(RMSNorm(x)), then + FeedForward(RMSNorm(·))."""

    def __init__(self, cfg, rng, dtype=np.float32):
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps, dtype)
        self.attention = Attention(cfg, rng, dtype)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps, dtype)
        self.feed_forward = FeedForward(cfg, rng, dtype)

    def forward(self, x, cos, sin, cache=None, layer=0):
        h = x + self.attention(self.attention_norm(x), cos, sin, cache, layer)
        return h + self.feed_forward(self.ffn_norm(h))


class _NoInit:
    """Stands in for the random generator when every weight is about to be loaded from a file
    (tinyllm/gguf.py): zeros, which cost nothing to draw."""

    def standard_normal(self, shape):
        return np.zeros(shape, dtype=np.float32)


class Transformer(Module):
    """The whole Llama: model(tokens) → logits (B, T, V); model(tokens, targets) → (logits, loss).

    model(tokens, cache=KVCache(cfg, B)) treats tokens as the positions after those already in
    the cache (cache.pos on), stores their keys and values, and moves cache.pos on by T: a
    prompt in one call, then one token per call (see tinyllm/kv_cache.py, tinyllm/decode.py)."""

    def __init__(self, cfg, seed=0, dtype=np.float32, init=True):
        self.cfg = cfg
        rng = np.random.default_rng(seed) if init else _NoInit()   # init=False: weights to be loaded
        self.tok_embeddings = Embedding(cfg.vocab_size, cfg.dim, rng, dtype=dtype)
        self.layers = [Block(cfg, rng, dtype) for _ in range(cfg.n_layers)]
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps, dtype)
        if cfg.tie_embeddings:
            self.output = self.tok_embeddings                 # the same (V, D) matrix, used twice
        else:
            self.output = Linear(cfg.dim, cfg.vocab_size, rng, dtype=dtype)
        cos, sin = kernels.rope_tables(cfg.max_seq_len, cfg.head_dim, cfg.rope_theta, dtype=dtype,
                                       scaling=cfg.rope_scaling)
        self.rope_cos, self.rope_sin = cos, sin              # (max_seq_len, hd/2) each

    @property
    def dtype(self):
        return self.tok_embeddings.weight.dtype

    def forward(self, tokens, targets=None, cache=None):
        tokens = np.asarray(tokens)
        if tokens.ndim == 1:
            tokens = tokens[None]
        B, T = tokens.shape
        first = 0 if cache is None else cache.pos
        if first + T > self.cfg.max_seq_len and self.cfg.sliding_window is None:
            raise ValueError(f"sequence of {first + T} positions is longer than the model's "
                             f"context max_seq_len={self.cfg.max_seq_len}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.cfg.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.cfg.vocab_size}), got "
                             f"{tokens.min()}..{tokens.max()}")
        if cache is not None:
            cache.check_room(T, B)
        cos, sin = self.rope_at(first, T)                     # (T, hd/2) each
        x = self.tok_embeddings(tokens)                       # (B, T, D)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, cache, i)
        if cache is not None:
            cache.advance(T)
        x = self.norm(x)
        logits = F.linear(x, self.output.weight)              # (B, T, V)
        if targets is None:
            return logits
        return logits, F.cross_entropy(logits, targets)

    def rope_at(self, first, T):
        """cos, sin (T, hd/2) of positions first..first+T-1: rows of the table, or computed the
        same way for positions past max_seq_len (a windowed model generates on past it)."""
        if first + T <= self.cfg.max_seq_len:
            return self.rope_cos[first:first + T], self.rope_sin[first:first + T]
        cfg = self.cfg
        return kernels.rope_tables(T, cfg.head_dim, cfg.rope_theta, start=first, dtype=self.dtype,
                                   scaling=cfg.rope_scaling)

    # ------------------------------------------------------------------ counting
    def num_params(self):
        return sum(p.size for p in self.parameters())

    def flops_per_token(self, seq_len=None):
        """Training FLOPs per token (forward + backward), the PaLM/nanoGPT convention: 6 per parameter (2 forward, 4 backward) plus the
        attention scores and weighted sum, 12·layers·dim·T (counted over the full T×T; with a
        sliding window over the W keys a query can see: min(T, W) instead of T)."""
        T = seq_len or self.cfg.max_seq_len
        keys = min(T, self.cfg.sliding_window or T)
        return 6 * self.num_params() + 12 * self.cfg.n_layers * self.cfg.dim * keys

    def summary(self):
        cfg = self.cfg
        n, n_embed = self.num_params(), self.tok_embeddings.weight.size
        lines = [
            f"Llama: dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads ({cfg.n_kv_heads} kv, "
            f"head_dim {cfg.head_dim}), ffn {cfg.ffn_dim}, vocab {cfg.vocab_size}, context {cfg.max_seq_len}, "
            f"{'tied' if cfg.tie_embeddings else 'untied'} embeddings, {self.dtype}"
            + (f", sliding window {cfg.sliding_window}" if cfg.sliding_window else "")
            + (f", RoPE scaling ×{cfg.rope_scaling['factor']:g}" if cfg.rope_scaling else ""),
            f"parameters {n:,} (non-embedding {n - n_embed:,})",
            f"training FLOPs per token {self.flops_per_token() / 1e6:.2f} M (6·N + 12·L·D·T)",
        ]
        text = "\n".join(lines)
        print(text)
        return text
