"""tinyllm/decode.py: the jitted one-token step gives the model's own logits at every position."""
import numba
import numpy as np
import pytest

from autograd import no_grad
from support import unit_scale_model
from tinyllm.decode import Decoder
from autograd.runtime import numba_threads
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig
from tinyllm.optim import AdamW


def model_for(n_kv_heads, tie, dtype, seed=0):
    cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, vocab_size=50,
                      hidden_dim=72, max_seq_len=24, tie_embeddings=tie)
    return unit_scale_model(cfg, seed, dtype)


@pytest.mark.parametrize("n_kv_heads,tie", [(4, True), (2, False), (1, True)])   # MHA, GQA, MQA
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_steps_equal_the_full_forward(n_kv_heads, tie, dtype, rtol):
    model = model_for(n_kv_heads, tie, dtype)
    ids = np.random.default_rng(1).integers(0, 50, model.cfg.max_seq_len)
    with no_grad():
        full = model(ids[None]).data[0]                                    # (T, V) in one forward
        dec = Decoder(model)
        rows = [dec.prefill(ids[:5])] + [dec.step(t) for t in ids[5:]]     # positions 4 .. T-1
    got = np.stack(rows)
    scale = np.abs(full[4:]).max()
    err = np.abs(got - full[4:]).max() / scale
    assert got.dtype == dtype and err < rtol, err


def test_two_threads_give_the_same_logits():
    model = model_for(2, False, np.float64)
    ids = [3, 1, 4, 1, 5, 9, 2, 6]
    out = {}
    for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        with no_grad(), numba_threads(n):
            dec = Decoder(model)
            out[n] = np.stack([dec.prefill(ids[:2])] + [dec.step(t) for t in ids[2:]])
    np.testing.assert_allclose(out[1], out[max(out)], rtol=1e-12, atol=1e-12)


def test_decoder_follows_the_models_weights_and_checks_its_input():
    """Built before an optimizer step, the decoder still gives the trained model's logits: it
    packs the weights at each prefill instead of keeping a copy from its construction."""
    model = model_for(2, True, np.float64)
    ids = np.array([1, 2, 3, 4, 5, 6, 7])
    dec = Decoder(model)
    with no_grad():
        before = np.stack([dec.prefill(ids[:3])] + [dec.step(t) for t in ids[3:]])
    opt = AdamW(model.named_parameters(), lr=1e-2)          # rebinds every parameter's .data
    _, loss = model(ids[None, :-1], ids[None, 1:])
    loss.backward()
    opt.step()
    with no_grad():
        full = model(ids[None]).data[0, 2:]                  # the trained model, uncached
        after = np.stack([dec.prefill(ids[:3])] + [dec.step(t) for t in ids[3:]])
    assert np.abs(after - before).max() > 1e-3               # the step changed the logits ...
    np.testing.assert_allclose(after, full, rtol=1e-12, atol=1e-12)   # ... and the decoder sees it
    with no_grad():
        with pytest.raises(ValueError, match="not in"):
            dec.step(50)
        dec.prefill(list(range(24)))                # the whole context
        with pytest.raises(ValueError, match="KV cache is full"):
            dec.step(1)


# ---------------------------------------------------------------------------- sliding window
def windowed_model(window, dtype, max_seq_len=24, seed=0):
    cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, hidden_dim=72,
                      max_seq_len=max_seq_len, sliding_window=window)
    return unit_scale_model(cfg, seed, dtype)


@pytest.mark.parametrize("window,prompt", [(5, 3), (5, 9), (6, 6), (30, 4)])   # prompt <, >, = W; W > context
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_rolling_cache_steps_equal_the_windowed_forward(window, prompt, dtype, rtol):
    """Prefill, then one-token steps through the ring buffer, to position 40 > max_seq_len = 24:
    every position's logits equal one uncached forward of the whole sequence."""
    model = windowed_model(window, dtype)
    ids = np.random.default_rng(2).integers(0, 50, 41)
    with no_grad():
        full = model(ids[None]).data[0]                                    # (41, V), RoPE past the table
        dec = Decoder(model)
        rows = [dec.prefill(ids[:prompt])] + [dec.step(t) for t in ids[prompt:]]
    got = np.stack(rows)
    err = np.abs(got - full[prompt - 1:]).max() / np.abs(full).max()
    assert err < rtol, err
    assert dec.cache.k.shape[3] == window and dec.pos == 41


@pytest.mark.parametrize("chunks", [(3, 7, 1, 12, 4, 13), (20, 20), (1,) * 30])
def test_rolling_cache_chunked_prefill(chunks):
    """The Tensor model's cached forward, fed in chunks shorter and longer than W = 6."""
    model = windowed_model(6, np.float64)
    ids = np.random.default_rng(3).integers(0, 50, (2, sum(chunks)))
    cache = KVCache(model.cfg, batch=2, dtype=np.float64)
    with no_grad():
        full = model(ids).data
        parts, at = [], 0
        for n in chunks:
            parts.append(model(ids[:, at:at + n], cache=cache).data)
            at += n
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-12, atol=1e-12)


def test_a_window_changes_the_logits_only_past_it():
    full_attention, windowed = model_for(2, True, np.float64), windowed_model(5, np.float64)
    ids = np.arange(20) % 50
    with no_grad():
        a, b = full_attention(ids[None]).data[0], windowed(ids[None]).data[0]
    np.testing.assert_array_equal(a[:5], b[:5])              # positions 0..4 see everything anyway
    assert np.abs(a[5:] - b[5:]).max(axis=-1).min() > 0      # past the window they differ


def test_cache_memory_is_the_window_not_the_sequence():
    model = windowed_model(8, np.float32, max_seq_len=24)
    dec = Decoder(model)
    cfg = model.cfg
    per_slot = 2 * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * 4       # k and v, float32
    with no_grad():
        dec.prefill([1, 2, 3])
        sizes = []
        for t in range(100):                                              # well past max_seq_len
            dec.step(t % 50)
            sizes.append(dec.cache.nbytes)
    assert set(sizes) == {8 * per_slot}
    assert KVCache(ModelConfig.preset("tiny"), dtype=np.float32).nbytes == 16 * 2 * 2 * 2 * 4 * 4   # full: max_seq_len slots


def test_scaled_rope_in_the_decoder():
    """Llama 3.1 RoPE scaling: the decoder's steps (RoPE rows past the table included) equal the forward."""
    cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, hidden_dim=72,
                      max_seq_len=12, sliding_window=8,
                      rope_scaling={"factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8})
    model = unit_scale_model(cfg, 0, np.float64)
    ids = np.random.default_rng(4).integers(0, 50, 30)
    with no_grad():
        full = model(ids[None]).data[0]
        dec = Decoder(model)
        got = np.stack([dec.prefill(ids[:4])] + [dec.step(t) for t in ids[4:]])
    np.testing.assert_allclose(got, full[3:], rtol=1e-12, atol=1e-12 * np.abs(full).max())
