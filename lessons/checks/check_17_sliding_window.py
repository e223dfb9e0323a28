"""Check for exercise 17: impl.attend_rolling, fed a sequence in pieces, against windowed attention
over the whole sequence (autograd/attention.py causal_attention_ref, window=W), its ring against
the keys and values it was given, and the library's path (tinyllm/kv_cache.py KVCache.update, then
autograd/attention.py causal_attention with window=W)."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from autograd import attention
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.kv_cache.KVCache.update",
    "tinyllm.kv_cache.KVCache.slot",
    "autograd.attention.causal_attention",
    "autograd.attention.causal_attention_ref",
    "autograd.attention.attention_mask",
    "autograd.functional.causal_attention",
    "tinyllm.decode._attend",
    "autograd.kernels.softmax",
    "autograd.functional.softmax",
]
# make exercise N=17 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Attend first, store afterwards: the chunk's first queries still need keys that its own positions "
    "will overwrite in the ring.",
    "The visible past is the last min(pos, W - 1) positions, first .. pos - 1 with first = max(0, pos - W + 1), "
    "in slots np.arange(first, pos) % W; put the chunk's own k, v after them, then mask: the query at c sees "
    "key j when c - W < j <= c. Store only the chunk's last min(T, W) positions, each in slot p % W.",
    "keys = concat(cache_k[:, :, np.arange(first, pos) % W], k); c = pos + arange(T)[:, None], "
    "j = first + arange(S)[None, :]; scores where (j <= c) & (j > c - W), else -inf; softmax; then "
    "keep = min(T, W) and cache_k[:, :, np.arange(pos + T - keep, pos + T) % W] = k[:, :, T - keep:]. "
    "See lessons/solutions/17_sliding_window.py.",
]

HINT_WINDOW = ("the query at position c sees W keys counting its own: c - W < j <= c (Mistral's and "
               "transformers' convention), not W keys before it (lessons/17_sliding_window.py, section 1)")
HINT_CHUNK = ("a chunk's first queries need keys that the chunk itself overwrites in the ring: read the "
              "visible past out of the ring BEFORE writing the chunk (lessons/17_sliding_window.py, section 3)")
HINT_SLOTS = "position p lives in slot p % W; write only the chunk's last min(T, W) positions"


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(17)
    B, H, Hkv, hd, W = 2, 4, 2, 8, 6
    total = 34
    q_all = rng.standard_normal((B, H, total, hd))
    k_all = rng.standard_normal((B, Hkv, total, hd))
    v_all = rng.standard_normal((B, Hkv, total, hd))
    scale = 1.0 / np.sqrt(hd)
    expected, _ = attention.causal_attention_ref(q_all, k_all, v_all, scale, window=W)
    plain, _ = attention.causal_attention_ref(q_all, k_all, v_all, scale)
    assert np.abs(expected[:, :, W:] - plain[:, :, W:]).max() > 1e-3      # the window matters here

    ring_k, ring_v = np.zeros((B, Hkv, W, hd)), np.zeros((B, Hkv, W, hd))
    # a prompt of 4 (< W), single tokens (the first past the window at 6), a chunk of 10 (> W),
    # a single, a chunk of W, a single, chunks of 4 and 5
    pieces = [(0, 4), (4, 5), (5, 6), (6, 7), (7, 17), (17, 18), (18, 24), (24, 25), (25, 29), (29, 34)]
    for start, stop in pieces:
        sl = slice(start, stop)
        o = impl.attend_rolling(ring_k, ring_v, q_all[:, :, sl], k_all[:, :, sl], v_all[:, :, sl], start)
        T = stop - start
        kind = "single token" if T == 1 else f"chunk of {T} tokens"
        hint = HINT_CHUNK if T > W else HINT_WINDOW
        expect_close(f"attend_rolling(pos={start}, {kind}, W={W}) vs windowed attention over the whole sequence",
                     o, expected[:, :, sl], hint, tol=1e-10)
        held = np.arange(max(0, stop - W), stop)
        for name, ring, truth in (("cache_k", ring_k, k_all), ("cache_v", ring_v, v_all)):
            expect_close(f"attend_rolling(pos={start}, {kind}): {name} slots {list(held % W)} after the call "
                         f"(positions {held[0]}..{held[-1]})", ring[:, :, held % W], truth[:, :, held],
                         HINT_SLOTS, tol=0)

    # the same numbers as the library's rolling cache, for a chunk after a prompt
    cfg = ModelConfig(dim=32, n_heads=H, n_kv_heads=Hkv, n_layers=1, vocab_size=8, max_seq_len=16,
                      sliding_window=W)
    cache = KVCache(cfg, batch=B, dtype=np.float64)
    q, k, v = q_all[:, :, :13], k_all[:, :, :13], v_all[:, :, :13]
    library = []
    for a, b in ((0, 5), (5, 13)):
        past_k, past_v = cache.update(0, k[:, :, a:b], v[:, :, a:b])
        o, _ = attention.causal_attention(q[:, :, a:b], np.concatenate([past_k, k[:, :, a:b]], 2),
                                          np.concatenate([past_v, v[:, :, a:b]], 2), scale, window=W)
        cache.advance(b - a)
        library.append(o)
    ring_k, ring_v = np.zeros((B, Hkv, W, hd)), np.zeros((B, Hkv, W, hd))
    impl.attend_rolling(ring_k, ring_v, q[:, :, :5], k[:, :, :5], v[:, :, :5], 0)
    mine = impl.attend_rolling(ring_k, ring_v, q[:, :, 5:], k[:, :, 5:], v[:, :, 5:], 5)
    expect_close("attend_rolling(pos=5, chunk of 8) vs tinyllm's KVCache + causal_attention(window=W)",
                 mine, library[1], HINT_CHUNK, tol=1e-10)
    if not np.array_equal(ring_k, cache.k[0]):
        raise CheckFailure("your ring after positions 0..12 differs from tinyllm's KVCache (slot p % W)"
                           f"\nHINT: {HINT_SLOTS}")
