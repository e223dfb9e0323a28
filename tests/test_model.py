"""The Llama model: fused ops equal their composition from primitive ops, the whole model's
gradient is right (float64 gradcheck), GQA, KV cache, tied/untied heads, checkpoints."""
import math

import numpy as np
import pytest

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels, no_grad
from tinyllm import ModelConfig, Transformer
from tinyllm.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from tinyllm.kv_cache import KVCache

rng = np.random.default_rng(0)


def param(*shape, scale=1.0):
    return Tensor(rng.standard_normal(shape) * scale, requires_grad=True)


def assert_same_forward_and_grad(fused, composed, *inputs, rtol=1e-10):
    """fused(*inputs) and composed(*inputs) agree in value and in every input's gradient."""
    y1 = fused(*inputs)
    g = rng.standard_normal(y1.shape)
    y1.backward(g)
    grads1 = [x.grad for x in inputs]
    for x in inputs:
        x.grad = None
    y2 = composed(*inputs)
    y2.backward(g)
    np.testing.assert_allclose(y1.data, y2.data, rtol=rtol, atol=1e-12)
    for a, b in zip(grads1, [x.grad for x in inputs]):
        np.testing.assert_allclose(a, b, rtol=rtol * 100, atol=1e-11)


# ---------------------------------------------------------------------------- fused == composed
def rms_norm_composed(x, w, eps=1e-5):
    return x * F.rsqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def test_rms_norm_equals_composition():
    x, w = param(3, 5, 8), param(8)
    assert_same_forward_and_grad(F.rms_norm, rms_norm_composed, x, w)
    gradcheck(F.rms_norm, x, w)


def test_swiglu_equals_composition():
    a, b = param(4, 7), param(4, 7)
    assert_same_forward_and_grad(F.swiglu, lambda a, b: F.silu(a) * b, a, b)
    gradcheck(F.swiglu, a, b)


def test_cross_entropy_equals_composition_with_ignore_index():
    logits = param(2, 5, 11, scale=3.0)
    targets = rng.integers(0, 11, (2, 5))
    targets[0, 1] = targets[1, 4] = -100                      # ignored positions

    def composed(z):
        keep = (targets != -100).reshape(-1)
        logp = F.log_softmax(z.reshape(-1, 11))
        picked = logp[np.arange(10)[keep], targets.reshape(-1)[keep]]
        return -picked.mean()
    assert_same_forward_and_grad(lambda z: F.cross_entropy(z, targets), composed, logits)
    gradcheck(lambda z: F.cross_entropy(z, targets), logits)


def test_causal_softmax_equals_masked_softmax():
    x = param(2, 3, 6, 6)
    mask = np.triu(np.ones((6, 6), dtype=bool), k=1)

    def composed(x):
        z = F.masked_fill(x, mask, -np.inf)
        e = F.exp(z - Tensor(z.data.max(axis=-1, keepdims=True)))
        return e / e.sum(axis=-1, keepdims=True)
    assert_same_forward_and_grad(lambda x: F.softmax(x, causal=True), composed, x)
    gradcheck(lambda x: F.softmax(x, causal=True), x)


def rope_composed(x, cos, sin):
    """RoPE from primitives: split each head into (even, odd) pairs and rotate them."""
    B, T, H, hd = x.shape
    pairs = x.reshape(B, T, H, hd // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]                       # (B, T, H, hd/2)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    out = F.concatenate([(a * c - b * s).reshape(B, T, H, hd // 2, 1),
                         (a * s + b * c).reshape(B, T, H, hd // 2, 1)], axis=-1)
    return out.reshape(B, T, H, hd)


def test_rope_equals_composition():
    x = param(2, 5, 3, 8)
    cos, sin = kernels.rope_tables(5, 8, 10000.0, dtype=np.float64)
    assert_same_forward_and_grad(lambda x: F.rope(x, cos, sin), lambda x: rope_composed(x, cos, sin), x)
    gradcheck(lambda x: F.rope(x, cos, sin), x)


def attention_composed(q, k, v):
    """Attention from primitives: repeat each kv head for its group, scores, mask, softmax, mix."""
    B, H, T, hd = q.shape
    G = H // k.shape[1]
    repeat = np.repeat(np.arange(k.shape[1]), G)              # query head h -> kv head h // G
    k, v = k[:, repeat], v[:, repeat]                         # (B, H, T, hd)
    scores = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(hd))
    mask = np.triu(np.ones((T, T), dtype=bool), k=1)
    return F.softmax(F.masked_fill(scores, mask, -np.inf)) @ v


@pytest.mark.parametrize("n_kv", [1, 2, 4])
def test_causal_attention_equals_composition(n_kv):
    q, k, v = param(2, 4, 5, 6), param(2, n_kv, 5, 6), param(2, n_kv, 5, 6)
    assert_same_forward_and_grad(F.causal_attention, attention_composed, q, k, v)
    gradcheck(F.causal_attention, q, k, v)


# ---------------------------------------------------------------------------- the whole model
def tiny(**overrides):
    return ModelConfig.preset("tiny", **overrides)


@pytest.mark.parametrize("tie", [True, False])
def test_whole_model_gradcheck_float64(tie):
    """Every parameter tensor of the tiny model: analytic gradient == finite differences."""
    model = Transformer(tiny(tie_embeddings=tie, max_seq_len=8), seed=1, dtype=np.float64)
    tokens = rng.integers(0, model.cfg.vocab_size, (2, 7))
    targets = rng.integers(0, model.cfg.vocab_size, (2, 7))
    names, params = zip(*model.named_parameters())

    def loss(*_params):
        return model(tokens, targets)[1]
    result = gradcheck(loss, *params, max_elements=12, tol=1e-6)
    assert result.max_rel_error < 1e-6
    assert len(params) == 1 + 9 * model.cfg.n_layers + 1 + (0 if tie else 1)   # emb, layers, norm, head


@pytest.mark.parametrize("n_kv", [1, 2, 4])
def test_gqa_model_gradcheck(n_kv):
    model = Transformer(tiny(n_kv_heads=n_kv, n_layers=1), seed=2, dtype=np.float64)
    tokens = rng.integers(0, 32, (1, 6))
    wq, wk = model.layers[0].attention.wq.weight, model.layers[0].attention.wk.weight
    assert wk.shape == (n_kv * model.cfg.head_dim, model.cfg.dim)
    gradcheck(lambda wq, wk: model(tokens, tokens)[1], wq, wk, max_elements=20)


def test_gqa_with_shared_kv_heads_equals_explicit_copies():
    """GQA with n_kv heads == full multi-head attention whose k/v weights repeat each kv head."""
    cfg = tiny(n_kv_heads=2, n_layers=1)
    gqa = Transformer(cfg, seed=3, dtype=np.float64)
    mha = Transformer(tiny(n_kv_heads=4, n_layers=1), seed=3, dtype=np.float64)
    state = dict(gqa.state_dict())
    hd, G = cfg.head_dim, cfg.n_heads // cfg.n_kv_heads
    for w in ("wk", "wv"):
        name = f"layers.0.attention.{w}.weight"
        heads = state[name].reshape(cfg.n_kv_heads, hd, cfg.dim)
        state[name] = np.repeat(heads, G, axis=0).reshape(cfg.n_heads * hd, cfg.dim)
    mha.load_state_dict(state)
    tokens = rng.integers(0, 32, (2, 9))
    np.testing.assert_allclose(gqa(tokens).data, mha(tokens).data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kv_cache_equals_full_forward(dtype):
    model = Transformer(tiny(max_seq_len=16), seed=4, dtype=dtype)
    tokens = rng.integers(0, 32, (2, 12))
    with no_grad():
        full = model(tokens).data
        cache = KVCache(model.cfg, batch=2, dtype=dtype)
        first = model(tokens[:, :5], cache=cache).data       # prefill 5 tokens
        steps = [model(tokens[:, t:t + 1], cache=cache).data for t in range(5, 12)]
        assert cache.pos == 12
    cached = np.concatenate([first] + steps, axis=1)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(cached, full, rtol=tol, atol=tol)


def test_untied_head_is_a_separate_parameter():
    tied, untied = Transformer(tiny(), seed=0), Transformer(tiny(tie_embeddings=False), seed=0)
    assert "output.weight" not in dict(tied.named_parameters())
    assert "output.weight" in dict(untied.named_parameters())
    assert untied.num_params() == tied.num_params() + 32 * 16
    _, loss = tied(rng.integers(0, 32, (1, 5)), rng.integers(0, 32, (1, 5)))
    loss.backward()                                   # the tied matrix gets both gradients
    assert tied.tok_embeddings.weight.grad is not None


def test_presets_and_ffn_rule():
    assert ModelConfig.preset("shakespeare").ffn_dim == 688          # = torch_ref's --ffn-hidden
    assert ModelConfig.preset("stories15M").ffn_dim == 768           # = llama2.c stories15M
    cfg = ModelConfig.preset("shakespeare")
    assert (cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.max_seq_len) == (256, 6, 8, 4, 256)
    with pytest.raises(ValueError, match="divide"):
        ModelConfig(n_heads=8, n_kv_heads=3)
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig.preset("huge")


def test_summary_counts_parameters():
    model = Transformer(ModelConfig.preset("shakespeare"), seed=0)
    text = model.summary()
    per_layer = 2 * 256 + 256 * 256 * 2 + 2 * 128 * 256 + 3 * 256 * 688
    assert model.num_params() == 2048 * 256 + 6 * per_layer + 256
    assert f"{model.num_params():,}" in text


def test_init_is_seeded_and_scaled():
    a, b, c = (Transformer(tiny(n_layers=4), seed=s) for s in (7, 7, 8))
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.tok_embeddings.weight.data, c.tok_embeddings.weight.data)
    big = Transformer(ModelConfig.preset("shakespeare"), seed=0)
    assert abs(big.layers[0].attention.wq.weight.data.std() - 0.02) < 1e-3
    assert abs(big.layers[0].feed_forward.w2.weight.data.std() - 0.02 / math.sqrt(12)) < 1e-3


def test_overlong_and_out_of_range_inputs_are_refused():
    model = Transformer(tiny(max_seq_len=8), seed=0)
    with pytest.raises(ValueError, match="max_seq_len=8"):
        model(np.zeros((1, 9), dtype=int))
    with pytest.raises(ValueError, match="token ids"):
        model(np.array([[1, 40]]))


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip(tmp_path):
    model = Transformer(tiny(tie_embeddings=False), seed=5)
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, meta={"step": 3})
    loaded, meta = load_model(path)
    assert meta["step"] == 3 and loaded.cfg == model.cfg
    tokens = rng.integers(0, 32, (2, 6))
    np.testing.assert_array_equal(loaded(tokens).data, model(tokens).data)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(bad)
    good = tmp_path / "good.npz"
    save_checkpoint(good, Transformer(tiny(), seed=0))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        read_checkpoint(truncated)
    other = Transformer(tiny(dim=32), seed=0)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(Transformer(tiny(), seed=0).state_dict())


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previous checkpoint as it was, and no temp file."""
    path = tmp_path / "ckpt.npz"
    model = Transformer(tiny(), seed=0)
    save_checkpoint(path, model, meta={"step": 1})
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, meta={"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


# ---------------------------------------------------------------------------- window and RoPE scaling
SCALING = {"factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8}


@pytest.mark.parametrize("fields,message", [
    ({"sliding_window": 0}, "sliding_window must be a positive integer"),
    ({"sliding_window": 2.5}, "sliding_window must be a positive integer"),
    ({"sliding_window": True}, "sliding_window must be a positive integer"),
    ({"rope_theta": -1.0}, "rope_theta -1.0 must be a finite number > 0"),
    ({"rope_scaling": {"factor": 8.0}}, "need exactly factor"),
    ({"rope_scaling": {**SCALING, "factor": 0.0}}, "must be positive"),
    ({"rope_scaling": {**SCALING, "factor": float("nan")}}, "must be positive"),
    ({"rope_scaling": {**SCALING, "high_freq_factor": 1.0}}, "high_freq_factor must exceed"),
    ({"rope_scaling": {**SCALING, "rope_type": "yarn"}}, "llama3"),
])
def test_window_and_scaling_are_validated(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.preset("tiny", **fields)


def test_window_and_scaling_survive_a_checkpoint(tmp_path):
    cfg = ModelConfig.preset("tiny", sliding_window=5, rope_scaling={**SCALING, "rope_type": "llama3"})
    assert cfg.rope_scaling == SCALING                      # stored as the four numbers
    model = Transformer(cfg, seed=2)
    save_checkpoint(tmp_path / "c.npz", model)
    back, _ = load_model(tmp_path / "c.npz")
    assert back.cfg == cfg
    tokens = rng.integers(0, 32, (1, 12))
    np.testing.assert_array_equal(back(tokens).data, model(tokens).data)
    plain = Transformer(ModelConfig.preset("tiny", sliding_window=5), seed=2)
    assert not np.allclose(plain(tokens).data, model(tokens).data)   # the scaling is used
