"""tinyllm/decode.py: the jitted one-token step gives the model's own logits at every position."""
import numba
import numpy as np
import pytest

from autograd import no_grad
from support import unit_scale_model
from tinyllm.decode import Decoder
from tinyllm.generate import numba_threads
from tinyllm.model import ModelConfig


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


def test_decoder_copies_the_weights_and_checks_its_input():
    model = model_for(2, True, np.float32)
    with no_grad():
        dec = Decoder(model)
        before = dec.prefill([1, 2, 3])
        model.norm.weight.data[...] = 0.0           # training on after the Decoder was built ...
        assert np.array_equal(Decoder(model).prefill([1, 2, 3]), np.zeros_like(before))
        assert np.abs(dec.step(4)).max() > 0        # ... does not reach the old Decoder
        with pytest.raises(ValueError, match="not in"):
            dec.step(50)
        dec.prefill(list(range(24)))                # the whole context
        with pytest.raises(ValueError, match="KV cache is full"):
            dec.step(1)
