"""AdamW against a hand-written reference, the schedule's values, clipping, overfitting a batch."""
import math

import numba
import numpy as np
import pytest

from autograd import Tensor
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm, lr_at, step_progress


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """The tiny model's kernels are too small to split: with other jobs on the machine every
    parallel launch waits for a second thread (a step went from ~10 ms to ~150 ms)."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def adamw_by_hand(p, g, m, v, t, lr, b1, b2, eps, wd):
    """The AdamW update written out in float64, one formula per line."""
    p = p * (1 - lr * wd)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def test_adamw_matches_hand_computed_steps_and_skips_decay_on_1d():
    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((3, 4)), requires_grad=True)      # float64: exact comparison
    n = Tensor(rng.standard_normal(4), requires_grad=True)
    ref = {"W": [W.data.copy(), 0.0, 0.0], "n": [n.data.copy(), 0.0, 0.0]}
    opt = AdamW([("W", W), ("n", n)], lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5)
    for t in (1, 2, 3):
        grads = {"W": rng.standard_normal((3, 4)), "n": rng.standard_normal(4)}
        W.grad, n.grad = grads["W"].copy(), grads["n"].copy()
        opt.step(lr=0.1 / t)
        for name, wd in (("W", 0.5), ("n", 0.0)):                    # 1-D: no weight decay
            ref[name] = list(adamw_by_hand(*ref[name][:1], grads[name], *ref[name][1:], t,
                                           0.1 / t, 0.9, 0.99, 1e-8, wd))
        np.testing.assert_allclose(W.data, ref["W"][0], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(n.data, ref["n"][0], rtol=1e-12, atol=1e-14)


def test_weight_decay_alone_shrinks_matrices_but_not_vectors():
    W = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    n = Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = AdamW([("W", W), ("n", n)], lr=0.1, weight_decay=0.5)
    W.grad, n.grad = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    opt.step()
    np.testing.assert_allclose(W.data, 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(n.data, 1.0)


def test_optimizer_state_round_trip_and_mismatch_errors():
    model = Transformer(ModelConfig.preset("tiny"), seed=0)
    opt = AdamW(model.named_parameters())
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    state = {k: {n: a.copy() for n, a in d.items()} for k, d in opt.state_dict().items()}
    other = AdamW(Transformer(ModelConfig.preset("tiny"), seed=1).named_parameters())
    other.load_state_dict(state)
    assert other.t == 1
    np.testing.assert_array_equal(other.m, opt.m)
    np.testing.assert_array_equal(other.v, opt.v)
    del state["m"]["norm.weight"]
    with pytest.raises(ValueError, match="norm.weight"):
        other.load_state_dict(state)


def test_replaced_parameter_array_is_an_error_not_a_silent_no_op():
    W = Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    opt = AdamW([("W", W)])
    W.data = np.zeros((2, 2), np.float32)
    W.grad = np.ones((2, 2), np.float32)
    with pytest.raises(RuntimeError, match="replaced"):
        opt.step()


def test_schedule_warmup_cosine_and_floor():
    kw = dict(lr=1e-3, min_lr=1e-4, warmup=10)
    assert lr_at(0, 0.0, **kw) == pytest.approx(1e-3 * 1 / 11)
    assert lr_at(9, 0.0, **kw) == pytest.approx(1e-3 * 10 / 11)
    assert lr_at(10, step_progress(10, 110, 10), **kw) == pytest.approx(1e-3)        # peak
    assert lr_at(60, step_progress(60, 110, 10), **kw) == pytest.approx(0.55e-3)     # half way
    assert lr_at(110, step_progress(110, 110, 10), **kw) == pytest.approx(1e-4)      # floor
    assert lr_at(500, 3.0, **kw) == pytest.approx(1e-4)                              # stays there
    lrs = [lr_at(s, step_progress(s, 110, 10), **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))                                 # decays monotonically


def test_clip_grad_norm_scales_to_max_norm_and_leaves_small_grads():
    a = Tensor(np.zeros(3, np.float32), requires_grad=True)
    b = Tensor(np.zeros((2, 2), np.float32), requires_grad=True)
    a.grad = np.array([3.0, 0.0, 0.0], np.float32)
    b.grad = np.array([[0.0, 4.0], [0.0, 0.0]], np.float32)
    assert clip_grad_norm([a, b], 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(a.grad, [3.0, 0.0, 0.0])                          # under the limit
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    total = math.sqrt(float((a.grad ** 2).sum() + (b.grad ** 2).sum()))
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad, [0.6, 0.0, 0.0], rtol=1e-5)                   # direction kept
    a.grad[0] = np.nan
    assert math.isnan(clip_grad_norm([a, b], 1.0))


def test_overfits_one_batch_to_near_zero_loss():
    cfg = ModelConfig.preset("tiny")
    model = Transformer(cfg, seed=0)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, cfg.vocab_size, size=(4, cfg.max_seq_len + 1))
    x, y = batch[:, :-1], batch[:, 1:]
    opt = AdamW(model.named_parameters(), lr=3e-2, weight_decay=0.0)
    losses = []
    for _ in range(150):
        _, loss = model(x, y)
        losses.append(float(loss.data))
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    assert losses[0] > 3.0                     # ~ln(32) = 3.47 at the start
    assert losses[-1] < 0.05, losses[-10:]
