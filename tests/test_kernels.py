"""Tests of autograd/kernels.py: every Numba kernel against its NumPy reference, and every
backward against central finite differences (the attention kernels: tests/test_attention.py).

Tolerances: float64 results must match the float64 reference to 1e-12 relative; float32
results must match the float64 reference *of the same float32 inputs* to 1e-5 relative
(a stronger check than comparing against the float32 reference). Backward passes are
also checked against finite differences in float64, so a reference with the same bug
as its kernel would still be caught.
"""
import math

import numpy as np
import pytest

from autograd import kernels as K
from support import DTYPES, check_grad, close, numgrad, randn


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- matmul ---------------------------------------------------------------------------

MM_SHAPES = [((3, 5), (5, 4)),                       # plain 2-D
             ((2, 5, 7), (2, 7, 3)),                 # batched
             ((2, 3, 5, 7), (2, 3, 7, 1)),           # two leading dims, N = 1
             ((2, 5, 7), (7, 3)),                    # shared 2-D weight (Linear)
             ((70, 150), (150, 300))]                # crosses the BM/BK/BN cache blocks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", MM_SHAPES)
def test_matmul_matches_numpy(rng, dtype, sa, sb):
    a, b = randn(rng, *sa), randn(rng, *sb)
    g = randn(rng, *np.matmul(a, b).shape)
    a32, b32, g32 = a.astype(dtype), b.astype(dtype), g.astype(dtype)
    A, Bm, G = (x.astype(np.float64) for x in (a32, b32, g32))   # float64 truth of the same inputs
    close(K.matmul(a32, b32), K.matmul_ref(A, Bm), dtype)
    ga, gb = K.matmul_backward(a32, b32, g32)
    ga_ref = G @ np.swapaxes(Bm, -1, -2)
    gb_ref = np.swapaxes(A, -1, -2) @ G
    if Bm.ndim == 2 and A.ndim > 2:                                # shared weight: sum over batch
        gb_ref = gb_ref.sum(axis=tuple(range(A.ndim - 2)))
    close(ga, ga_ref, dtype)
    close(gb, gb_ref, dtype)


def test_matmul_non_contiguous(rng):
    a = randn(rng, 2, 7, 5).transpose(0, 2, 1)      # (2, 5, 7) view
    b = randn(rng, 2, 3, 7).transpose(0, 2, 1)      # (2, 7, 3) view
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    close(K.matmul(a, b), a @ b, np.float64)


def test_matmul_backward_finite_differences(rng):
    a, b = randn(rng, 2, 3, 4), randn(rng, 2, 4, 5)
    r = randn(rng, 2, 3, 5)
    ga, gb = K.matmul_backward(a, b, r)
    check_grad(ga, numgrad(K.matmul, [a, b], 0, r))
    check_grad(gb, numgrad(K.matmul, [a, b], 1, r))


def test_matmul_rejects_mismatch(rng):
    with pytest.raises(ValueError):
        K.matmul(randn(rng, 2, 3, 4), randn(rng, 3, 4, 5))
    with pytest.raises(ValueError):
        K.matmul(randn(rng, 3, 4), randn(rng, 5, 2))


# --- softmax --------------------------------------------------------------------------

SOFTMAX_CASES = [((3, 5), False), ((2, 3, 7, 7), True), ((2, 3, 7, 7), False),
                 ((2, 4, 9), True),                  # S > T: KV-cache step, query i sees j <= i + 5
                 ((1, 1, 13), True), ((1, 5), True), ((4, 1), False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,causal", SOFTMAX_CASES)
def test_softmax_matches_reference(rng, dtype, shape, causal):
    x = (3 * randn(rng, *shape)).astype(dtype)
    X = x.astype(np.float64)
    y = K.softmax(x, causal=causal)
    close(y, K.softmax_ref(X, causal=causal), dtype)
    g = randn(rng, *shape).astype(dtype)
    Y = y.astype(np.float64)
    close(K.softmax_backward(y, g), K.softmax_backward_ref(Y, g.astype(np.float64)), dtype)


def test_softmax_causal_mask_is_exactly_zero(rng):
    T, S = 6, 10
    x = randn(rng, 2, T, S, dtype=np.float32)
    y = K.softmax(x, causal=True)
    for i in range(T):
        assert np.all(y[:, i, i + S - T + 1:] == 0.0)         # masked: exactly zero
        assert np.all(y[:, i, :i + S - T + 1] > 0.0)          # visible: positive
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)


def test_softmax_causal_needs_s_at_least_t(rng):
    with pytest.raises(ValueError):
        K.softmax(randn(rng, 5, 4), causal=True)


def test_softmax_non_contiguous_and_large_values(rng):
    x = 1000 * randn(rng, 3, 8, 6).swapaxes(1, 2)             # (3, 6, 8) view, huge logits
    assert not x.flags.c_contiguous
    y = K.softmax(x, causal=True)
    assert np.all(np.isfinite(y))
    close(y, K.softmax_ref(x, causal=True), np.float64)


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_backward_finite_differences(rng, causal):
    x = randn(rng, 2, 4, 6)
    r = randn(rng, 2, 4, 6)
    y = K.softmax(x, causal=causal)
    g = K.softmax_backward(y, r)
    check_grad(g, numgrad(lambda x: K.softmax(x, causal=causal), [x], 0, r))
    if causal:
        assert np.all(g[y == 0] == 0.0)


# --- RoPE -----------------------------------------------------------------------------

ROPE_SHAPES = [(2, 5, 3, 8), (1, 7, 2, 2), (3, 1, 1, 4), (2, 11, 4, 6)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROPE_SHAPES)
def test_rope_matches_reference(rng, dtype, shape):
    B, T, H, hd = shape
    x = randn(rng, *shape).astype(dtype)
    cos, sin = K.rope_tables(T, hd, dtype=dtype)
    assert cos.dtype == dtype and cos.shape == (T, hd // 2)
    X, C, S = (a.astype(np.float64) for a in (x, cos, sin))
    close(K.rope(x, cos, sin), K.rope_ref(X, C, S), dtype)
    close(K.rope_backward(x, cos, sin), K.rope_backward_ref(X, C, S), dtype)


def test_rope_tables_formula():
    T, hd, theta, start = 5, 6, 500.0, 3
    cos, sin = K.rope_tables(T, hd, theta=theta, start=start, dtype=np.float64)
    for t in range(T):
        for j in range(hd // 2):
            angle = (start + t) * theta ** (-2 * j / hd)
            assert cos[t, j] == pytest.approx(np.cos(angle), rel=1e-14, abs=1e-15)
            assert sin[t, j] == pytest.approx(np.sin(angle), rel=1e-14, abs=1e-15)
    full_cos, _ = K.rope_tables(T + start, hd, theta=theta, dtype=np.float64)
    np.testing.assert_array_equal(cos, full_cos[start:])


def test_rope_pairs_are_interleaved():
    # one pair, angle 90 degrees: (a, b) -> (-b, a)
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    cos = np.array([[0.0, 1.0]])
    sin = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(K.rope(x, cos, sin).ravel(), [-2.0, 1.0, 3.0, 4.0])


def test_rope_backward_inverts_rope_and_non_contiguous(rng):
    x = randn(rng, 2, 3, 9, 8).transpose(0, 2, 1, 3)          # (B, T, H, hd) view of (B, H, T, hd)
    assert not x.flags.c_contiguous
    cos, sin = K.rope_tables(9, 8, dtype=np.float64)
    y = K.rope(x, cos, sin)
    close(y, K.rope_ref(x, cos, sin), np.float64)
    close(K.rope_backward(y, cos, sin), x, np.float64)        # rotate back = identity
    # and it really rotates: norms of each pair are kept, the values are not
    assert not np.allclose(y, x)
    np.testing.assert_allclose(y[..., 0::2] ** 2 + y[..., 1::2] ** 2,
                               x[..., 0::2] ** 2 + x[..., 1::2] ** 2, rtol=1e-12)


def test_rope_backward_finite_differences(rng):
    x, r = randn(rng, 1, 4, 2, 6), randn(rng, 1, 4, 2, 6)
    cos, sin = K.rope_tables(4, 6, dtype=np.float64)
    check_grad(K.rope_backward(r, cos, sin), numgrad(lambda x: K.rope(x, cos, sin), [x], 0, r))


# --- RMSNorm --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 10), (2, 3, 5), (1, 3), (130, 33)])
def test_rmsnorm_matches_reference(rng, dtype, shape):
    x = randn(rng, *shape).astype(dtype)
    w = randn(rng, shape[-1]).astype(dtype)
    g = randn(rng, *shape).astype(dtype)
    X, W, G = (a.astype(np.float64) for a in (x, w, g))
    y, rstd = K.rmsnorm(x, w, 1e-5)
    y_ref, rstd_ref = K.rmsnorm_ref(X, W, 1e-5)
    assert rstd.shape == shape[:-1]
    close(y, y_ref, dtype)
    close(rstd, rstd_ref, dtype)
    gx, gw = K.rmsnorm_backward(x, w, rstd, g)
    gx_ref, gw_ref = K.rmsnorm_backward_ref(X, W, rstd_ref, G)
    close(gx, gx_ref, dtype)
    close(gw, gw_ref, dtype)


def test_rmsnorm_backward_finite_differences(rng):
    x, w, r = randn(rng, 5, 6), randn(rng, 6), randn(rng, 5, 6)
    xt = randn(rng, 6, 5).T                                   # non-contiguous x
    for x in (x, xt):
        _, rstd = K.rmsnorm(x, w, 1e-5)
        gx, gw = K.rmsnorm_backward(x, w, rstd, r)
        f = lambda x, w: K.rmsnorm(x, w, 1e-5)[0]             # noqa: E731
        check_grad(gx, numgrad(f, [x, w], 0, r))
        check_grad(gw, numgrad(f, [x, w], 1, r))


# --- SwiGLU ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 9), (2, 3, 5), (7,)])
def test_swiglu_matches_reference(rng, dtype, shape):
    a, b, g = (randn(rng, *shape).astype(dtype) for _ in range(3))
    A, Bv, G = (x.astype(np.float64) for x in (a, b, g))
    close(K.swiglu(a, b), K.swiglu_ref(A, Bv), dtype)
    ga, gb = K.swiglu_backward(a, b, g)
    ga_ref, gb_ref = K.swiglu_backward_ref(A, Bv, G)
    close(ga, ga_ref, dtype)
    close(gb, gb_ref, dtype)


def test_swiglu_extremes_and_non_contiguous(rng):
    a = np.array([[-200.0, -50.0, 0.0, 50.0, 200.0]], dtype=np.float32)
    h = K.swiglu(a, np.ones_like(a))
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h, [[0.0, 0.0, 0.0, 50.0, 200.0]], atol=1e-6)
    ga, gb = K.swiglu_backward(a, np.ones_like(a), np.ones_like(a))
    assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gb))
    a, b = randn(rng, 6, 4).T, randn(rng, 4, 6)[:, ::-1]
    close(K.swiglu(a, b), K.swiglu_ref(a, b), np.float64)


def test_swiglu_backward_finite_differences(rng):
    a, b, r = randn(rng, 3, 5), randn(rng, 3, 5), randn(rng, 3, 5)
    ga, gb = K.swiglu_backward(a, b, r)
    check_grad(ga, numgrad(K.swiglu, [a, b], 0, r))
    check_grad(gb, numgrad(K.swiglu, [a, b], 1, r))


# --- cross-entropy --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,V", [(7, 11), (1, 2), (33, 100)])
def test_cross_entropy_matches_reference(rng, dtype, N, V):
    logits = (3 * randn(rng, N, V)).astype(dtype)
    targets = rng.integers(0, V, N)
    if N > 2:
        targets[[0, N // 2]] = -100
    X = logits.astype(np.float64)
    loss, lse = K.cross_entropy(logits, targets)
    loss_ref, lse_ref = K.cross_entropy_ref(X, targets)
    close(loss, loss_ref, dtype)
    close(lse, lse_ref, dtype)
    g = K.cross_entropy_backward(logits, targets, lse, -100, 0.7)
    close(g, K.cross_entropy_backward_ref(X, targets, lse_ref, -100, 0.7), dtype)
    assert np.all(g[targets == -100] == 0.0)


def test_cross_entropy_by_hand():
    logits = np.log(np.array([[1.0, 2.0, 1.0], [1.0, 1.0, 1.0], [5.0, 1.0, 2.0]]))
    targets = np.array([1, -100, 0])
    loss, _ = K.cross_entropy(logits, targets)
    # row 0: -log(2/4); row 1 ignored; row 2: -log(5/8); mean over the 2 counted rows
    assert loss == pytest.approx((-np.log(0.5) - np.log(5 / 8)) / 2, rel=1e-14)


def test_cross_entropy_all_ignored_and_custom_ignore_index(rng):
    logits = randn(rng, 4, 6)
    t = np.full(4, -100)
    loss, lse = K.cross_entropy(logits, t)
    assert loss == 0.0
    assert np.all(K.cross_entropy_backward(logits, t, lse, -100, 1.0) == 0.0)
    t = np.array([1, 5, 0, 2])                              # ignore_index=5 drops row 1
    loss, lse = K.cross_entropy(logits, t, ignore_index=5)
    loss2, _ = K.cross_entropy(logits[[0, 2, 3]], t[[0, 2, 3]])
    assert loss == pytest.approx(loss2, rel=1e-14)
    with pytest.raises(IndexError):
        K.cross_entropy(logits, np.array([0, 1, 2, 6]))


def test_cross_entropy_large_logits_and_non_contiguous(rng):
    logits = 1e4 * randn(rng, 6, 5).T                       # (5, 6) view, huge values
    t = np.array([0, 1, 2, 3, 4])
    loss, lse = K.cross_entropy(logits, t)
    assert np.isfinite(loss)
    close(loss, K.cross_entropy_ref(logits, t)[0], np.float64)
    assert np.all(np.isfinite(K.cross_entropy_backward(logits, t, lse, -100, 1.0)))


def test_cross_entropy_backward_finite_differences(rng):
    logits = randn(rng, 5, 7)
    t = np.array([3, -100, 0, 6, 1])
    _, lse = K.cross_entropy(logits, t)
    g = K.cross_entropy_backward(logits, t, lse, -100, 1.3)
    check_grad(g, numgrad(lambda x: K.cross_entropy(x, t)[0], [logits], 0, 1.3))


# --- embedding backward ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_backward_matches_add_at(rng, dtype):
    V, D = 9, 70                                            # D spans several column blocks
    ids = rng.integers(0, V, (3, 11))                       # (B, T) ids with repeats
    ids[0, :4] = 2                                          # a repeated id must add up
    g = randn(rng, 3, 11, D).astype(dtype)
    gW = K.embedding_backward(ids, g, V)
    assert gW.shape == (V, D) and gW.dtype == dtype
    close(gW, K.embedding_backward_ref(ids, g.astype(np.float64), V), dtype)
    with pytest.raises(IndexError):
        K.embedding_backward(np.array([0, V]), g[0, :2], V)


# --- AdamW ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_matches_reference_over_steps(rng, dtype):
    n = 1001
    p = randn(rng, n).astype(dtype)
    m, v = np.zeros(n, dtype), np.zeros(n, dtype)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    args = dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for step in range(1, 6):
        g = randn(rng, n).astype(dtype)
        K.adamw_step(p, g, m, v, step=step, **args)
        K.adamw_step_ref(p2, g, m2, v2, step=step, **args)
    for a, b in ((p, p2), (m, m2), (v, v2)):
        assert a.dtype == dtype
        close(a, b.astype(np.float64), dtype)


def test_adamw_first_step_by_hand():
    # step 1 from m = v = 0: m̂ = g, v̂ = g², so p moves by lr * g / (|g| + eps) after decay
    p = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    g = np.array([0.3, -4.0, 0.0], dtype=np.float32)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    K.adamw_step(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.5, step=1)
    decayed = np.array([1.0, -2.0, 0.5]) * (1 - 0.1 * 0.5)
    np.testing.assert_allclose(p, decayed - 0.1 * np.array([1.0, -1.0, 0.0]), rtol=1e-6)
    np.testing.assert_allclose(m, 0.1 * g, rtol=1e-6)
    np.testing.assert_allclose(v, 0.01 * g * g, rtol=1e-6)


def test_adamw_requires_contiguous_state():
    p = np.zeros((4, 4), np.float32).T
    with pytest.raises(ValueError):
        K.adamw_step(p, p, np.zeros_like(p), np.zeros_like(p), 1e-3, 0.9, 0.95, 1e-8, 0.0, 1)


# --- wrappers -------------------------------------------------------------------------

def test_integer_input_is_an_error():
    with pytest.raises(TypeError):
        K.softmax(np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_in_is_dtype_out(rng, dtype):
    x = randn(rng, 2, 3, 3).astype(dtype)
    assert K.softmax(x, causal=True).dtype == dtype
    assert K.matmul(x, x).dtype == dtype
    w64 = np.ones(3)                                         # side arrays follow x's dtype
    y, rstd = K.rmsnorm(x, w64, 1e-5)
    assert y.dtype == dtype and rstd.dtype == dtype
    assert K.swiglu(x, x.astype(np.float64)).dtype == dtype


# --- the vectorisable float32 exp -----------------------------------------------------

def test_expf_accuracy_and_limits():
    from numba import njit

    @njit
    def expf_all(x, out):
        for i in range(x.size):
            out[i] = K._expf(x[i])

    x = np.linspace(-87.3, 88.3, 1_000_003).astype(np.float32)      # the normal range
    out = np.empty_like(x)
    expf_all(x, out)
    truth = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - truth) / truth) < 2e-7                # about 1 ulp
    special = np.array([-np.inf, -1000.0, 0.0, 1.0, 1000.0, np.inf, np.nan], dtype=np.float32)
    out = np.empty_like(special)
    expf_all(special, out)
    assert out[0] == 0.0 and out[1] == 0.0 and out[2] == 1.0
    assert out[3] == pytest.approx(np.e, rel=1e-7)
    assert out[4] == np.inf and out[5] == np.inf and np.isnan(out[6])


# --- Llama 3.1 RoPE scaling ---------------------------------------------------------------

def test_rope_scaling_matches_meta_loop():
    """rope_frequencies with scaling = Meta's apply_scaling (llama3.1 model.py), one frequency at a time."""
    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
    hd, theta = 128, 500000.0
    expected = []
    for freq in theta ** (-np.arange(0, hd, 2) / hd):
        wavelen = 2 * math.pi / freq
        if wavelen < 8192 / 4.0:
            expected.append(freq)
        elif wavelen > 8192 / 1.0:
            expected.append(freq / 8.0)
        else:
            smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0)
            expected.append((1 - smooth) * freq / 8.0 + smooth * freq)
    got = K.rope_frequencies(hd, theta, scaling)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    plain = K.rope_frequencies(hd, theta)
    assert got[0] == plain[0] and got[-1] == plain[-1] / 8     # fastest kept, slowest ÷ factor
    assert ((got > plain / 8.0) & (got < plain)).any()         # and some in between
    cos, sin = K.rope_tables(3, hd, theta, start=5, dtype=np.float64, scaling=scaling)
    np.testing.assert_allclose(cos, np.cos(np.outer([5, 6, 7], got)), rtol=1e-15)
