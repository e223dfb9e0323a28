"""Tests of autograd/attention.py: the fused causal attention (grouped heads, a sliding window, a
chunk of queries after cached keys) against its NumPy reference, and its backward against central
finite differences. Tolerances as in tests/test_kernels.py."""
import numpy as np
import pytest

from autograd import attention as A
from support import DTYPES, check_grad, close, numgrad, randn


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- fused causal attention -----------------------------------------------------------

ATT_SHAPES = [(2, 4, 7, 8, 2),        # (B, H, T, hd, Hkv): GQA groups of 2
              (1, 3, 70, 4, 1),       # multi-query; a long T
              (2, 2, 5, 2, 2),        # plain multi-head, hd = 2
              (1, 2, 1, 3, 1),        # one position
              (1, 8, 130, 32, 4)]     # the model's head layout, 3 key blocks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,H,T,hd,Hkv", ATT_SHAPES)
def test_attention_matches_reference(rng, dtype, B, H, T, hd, Hkv):
    q = randn(rng, B, H, T, hd).astype(dtype)
    k, v = (randn(rng, B, Hkv, T, hd).astype(dtype) for _ in range(2))
    go = randn(rng, B, H, T, hd).astype(dtype)
    scale = hd ** -0.5
    Q, Kk, Vv, GO = (a.astype(np.float64) for a in (q, k, v, go))
    o, lse = A.causal_attention(q, k, v, scale)
    o_ref, lse_ref = A.causal_attention_ref(Q, Kk, Vv, scale)
    assert lse.shape == (B, H, T)
    close(o, o_ref, dtype)
    close(lse, lse_ref, dtype)
    grads = A.causal_attention_backward(q, k, v, o, lse, go, scale)
    grads_ref = A.causal_attention_backward_ref(Q, Kk, Vv, o_ref, lse_ref, GO, scale)
    for g, g_ref in zip(grads, grads_ref):
        close(g, g_ref, dtype, floor=1.0)   # with T = 1, dq is exactly 0 (float32 leaves ~1e-7)


def test_attention_is_causal_and_grouped(rng):
    B, H, T, hd, Hkv = 1, 4, 6, 4, 2
    q, k, v = randn(rng, B, H, T, hd), randn(rng, B, Hkv, T, hd), randn(rng, B, Hkv, T, hd)
    o, _ = A.causal_attention(q, k, v, 0.5)
    k2, v2 = k.copy(), v.copy()
    k2[:, :, 4:] += 10.0                                    # change the future of position 3
    v2[:, :, 4:] -= 3.0
    o2, _ = A.causal_attention(q, k2, v2, 0.5)
    np.testing.assert_array_equal(o[:, :, :4], o2[:, :, :4])
    assert not np.allclose(o[:, :, 4:], o2[:, :, 4:])
    # query heads 0, 1 use kv head 0; heads 2, 3 use kv head 1
    v3 = v.copy()
    v3[:, 1] += 1.0
    o3, _ = A.causal_attention(q, k, v3, 0.5)
    np.testing.assert_array_equal(o[:, :2], o3[:, :2])
    np.testing.assert_allclose(o3[:, 2:], o[:, 2:] + 1.0, rtol=1e-12)  # softmax rows sum to 1


def test_attention_non_contiguous(rng):
    B, H, T, hd, Hkv = 2, 4, 9, 8, 2
    q = randn(rng, B, T, H, hd).transpose(0, 2, 1, 3)         # (B, H, T, hd) views, as the model
    k = randn(rng, B, T, Hkv, hd).transpose(0, 2, 1, 3)       # gets them from (B, T, H, hd)
    v = randn(rng, B, T, Hkv, hd).transpose(0, 2, 1, 3)
    o, lse = A.causal_attention(q, k, v, 0.3)
    o_ref, lse_ref = A.causal_attention_ref(q, k, v, 0.3)
    close(o, o_ref, np.float64)
    go = randn(rng, B, T, H, hd).transpose(0, 2, 1, 3)
    for g, g_ref in zip(A.causal_attention_backward(q, k, v, o, lse, go, 0.3),
                        A.causal_attention_backward_ref(q, k, v, o_ref, lse_ref, go, 0.3)):
        close(g, g_ref, np.float64)


def test_attention_backward_finite_differences(rng):
    B, H, T, hd, Hkv = 1, 2, 67, 2, 1                        # a longer T, odd sizes
    q, k, v = randn(rng, B, H, T, hd), randn(rng, B, Hkv, T, hd), randn(rng, B, Hkv, T, hd)
    r = randn(rng, B, H, T, hd)
    scale = 0.7
    o, lse = A.causal_attention(q, k, v, scale)
    grads = A.causal_attention_backward(q, k, v, o, lse, r, scale)
    f = lambda q, k, v: A.causal_attention(q, k, v, scale)[0]  # noqa: E731
    for which in range(3):
        check_grad(grads[which], numgrad(f, [q, k, v], which, r))


# --- sliding window and query offset (Mistral; a chunk after cached keys) ---------------

# (B, H, T, S, hd, Hkv, W): T queries at the last T of S key positions, window W (None: causal)
WINDOW_SHAPES = [(1, 4, 12, 12, 4, 2, 16),     # T < W: the window changes nothing
                 (2, 2, 8, 8, 4, 1, 8),        # T = W
                 (1, 4, 70, 70, 8, 2, 5),      # T > W, W not a multiple of the 4-row blocks
                 (2, 2, 9, 9, 2, 2, 1),        # W = 1: each query sees only itself
                 (1, 4, 5, 17, 4, 2, 6),       # a chunk of 5 after 12 cached keys, windowed
                 (1, 4, 7, 30, 4, 2, None),    # a chunk after cached keys, causal
                 (2, 4, 1, 11, 8, 2, 4),       # one new token (a decoding step)
                 (1, 8, 130, 130, 32, 4, 64)]  # the model's head layout, W = 64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,H,T,S,hd,Hkv,W", WINDOW_SHAPES)
def test_windowed_attention_matches_reference(rng, dtype, B, H, T, S, hd, Hkv, W):
    q = randn(rng, B, H, T, hd).astype(dtype)
    k, v = (randn(rng, B, Hkv, S, hd).astype(dtype) for _ in range(2))
    go = randn(rng, B, H, T, hd).astype(dtype)
    scale = hd ** -0.5
    Q, Kk, Vv, GO = (a.astype(np.float64) for a in (q, k, v, go))
    o, lse = A.causal_attention(q, k, v, scale, window=W)
    o_ref, lse_ref = A.causal_attention_ref(Q, Kk, Vv, scale, window=W)
    close(o, o_ref, dtype)
    close(lse, lse_ref, dtype)
    grads = A.causal_attention_backward(q, k, v, o, lse, go, scale, window=W)
    grads_ref = A.causal_attention_backward_ref(Q, Kk, Vv, o_ref, lse_ref, GO, scale, window=W)
    for g, g_ref in zip(grads, grads_ref):
        assert g.shape == g_ref.shape
        close(g, g_ref, dtype, floor=1.0)


def test_attention_mask_is_mistrals():
    """Query i sees keys i - W < j <= i: its own and the W - 1 before it (transformers'
    sliding_window_overlay: kv_idx > q_idx - sliding_window)."""
    m = A.attention_mask(5, 5, window=3)
    assert m.tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0],
                          [0, 1, 1, 1, 0], [0, 0, 1, 1, 1]]
    # a chunk of 2 queries after 3 cached keys: the queries are at positions 3 and 4
    assert A.attention_mask(2, 5, window=3).tolist() == m[3:].tolist()
    assert A.attention_mask(4, 4).tolist() == np.tri(4, dtype=bool).tolist()


def test_window_hides_exactly_the_keys_before_it(rng):
    B, H, T, hd, W = 1, 2, 12, 4, 5
    q, k, v = randn(rng, B, H, T, hd), randn(rng, B, H, T, hd), randn(rng, B, H, T, hd)
    o, _ = A.causal_attention(q, k, v, 0.5, window=W)
    k2, v2 = k.copy(), v.copy()
    k2[:, :, 3] += 10.0                           # key 3: seen by queries 3 .. 3 + W - 1 = 7 only
    v2[:, :, 3] -= 3.0
    o2, _ = A.causal_attention(q, k2, v2, 0.5, window=W)
    changed = np.abs(o2 - o).max(axis=(0, 1, 3)) > 0
    assert changed.tolist() == [3 <= i <= 7 for i in range(T)]


@pytest.mark.parametrize("T,S,W", [(6, 6, 9), (8, 8, 8), (11, 11, 3), (5, 13, 4), (3, 10, None)])
def test_windowed_attention_gradcheck(rng, T, S, W):
    """float64 central differences through F.causal_attention: T < W, T = W, T > W and a chunk
    after cached keys (query offset S - T), windowed and not."""
    from autograd import Tensor, gradcheck
    import autograd.functional as F
    H, Hkv, hd = 4, 2, 4
    q = Tensor(randn(rng, 1, H, T, hd), requires_grad=True)
    k = Tensor(randn(rng, 1, Hkv, S, hd), requires_grad=True)
    v = Tensor(randn(rng, 1, Hkv, S, hd), requires_grad=True)
    gradcheck(lambda q, k, v: F.causal_attention(q, k, v, window=W), q, k, v)


def test_bad_window_or_shapes_are_errors(rng):
    q, k = randn(rng, 1, 2, 6, 4), randn(rng, 1, 2, 5, 4)
    with pytest.raises(ValueError, match="S >= T"):
        A.causal_attention(q, k, k, 0.5)                 # fewer keys than queries
    with pytest.raises(ValueError, match="positive integer"):
        A.causal_attention(q, q, q, 0.5, window=0)
