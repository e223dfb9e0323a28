"""Check for exercise 16: impl.attend_with_cache, fed a sequence in pieces, against full causal
attention over the whole sequence (autograd/attention.py causal_attention_ref) and against the
library's cached path (tinyllm/kv_cache.py KVCache.update, then autograd/attention.py
causal_attention over the past and new keys, as tinyllm/model.py Attention.forward does)."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from autograd import attention
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.kv_cache.KVCache.update",
    "autograd.attention.causal_attention",
    "autograd.attention.causal_attention_ref",
    "autograd.functional.causal_attention",
    "autograd.kernels.softmax",
    "autograd.functional.softmax",
]
# make exercise N=16 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Write the new keys and values into the cache at positions start_pos .. start_pos + T - 1, then "
     "attend over positions 0 .. start_pos + T - 1.",
    "New token i sits at position start_pos + i and may see keys j ≤ start_pos + i: a (T, S) mask, "
     "which matters when T > 1.",
    "visible = np.arange(S)[None, :] <= start_pos + np.arange(T)[:, None]; scores where not visible ="
     " -inf. See lessons/solutions/16_kv_cache.py.",
]

HINT_MASK = ("new token i sits at position start_pos + i: it may see keys 0 .. start_pos + i and no later one, "
             "so when T > 1 the new tokens need a causal mask among themselves (lessons/16_kv_cache.py, section 2)")
HINT_GQA = "query head h reads kv head h // (H // Hkv): repeat each cached kv head for its group (lesson 09)"


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(16)
    B, H, Hkv, hd, max_len = 2, 4, 2, 8, 24
    total = 16
    q_all = rng.standard_normal((B, H, total, hd))
    k_all = rng.standard_normal((B, Hkv, total, hd))
    v_all = rng.standard_normal((B, Hkv, total, hd))
    expected, _ = attention.causal_attention_ref(q_all, k_all, v_all, 1.0 / np.sqrt(hd))   # (B, H, 16, hd)

    cache_k = np.zeros((B, Hkv, max_len, hd))
    cache_v = np.zeros((B, Hkv, max_len, hd))
    # a prefill of 5, three single tokens, a chunk of 4, a single token, a chunk of 3
    for start, stop in ((0, 5), (5, 6), (6, 7), (7, 8), (8, 12), (12, 13), (13, 16)):
        sl = slice(start, stop)
        o = impl.attend_with_cache(cache_k, cache_v, q_all[:, :, sl], k_all[:, :, sl], v_all[:, :, sl], start)
        kind = "single token" if stop - start == 1 else f"chunk of {stop - start} tokens"
        what = f"attend_with_cache(start_pos={start}, {kind}) vs full causal attention"
        expect_close(what, o, expected[:, :, sl], HINT_MASK if stop - start > 1 else HINT_GQA, tol=1e-10)
        expect_close(f"attend_with_cache(start_pos={start}): cache_k[:, :, {start}:{stop}] after the call",
                     cache_k[:, :, sl], k_all[:, :, sl],
                     "write k into cache_k[:, :, start_pos:start_pos + T] in place", tol=0)
        expect_close(f"attend_with_cache(start_pos={start}): cache_v[:, :, {start}:{stop}] after the call",
                     cache_v[:, :, sl], v_all[:, :, sl],
                     "write v into cache_v[:, :, start_pos:start_pos + T] in place", tol=0)
    if np.any(cache_k[:, :, total:]) or np.any(cache_v[:, :, total:]):
        raise CheckFailure("attend_with_cache wrote past start_pos + T (error: cache positions >= 16 are not zero)"
                           "\nHINT: write exactly positions start_pos .. start_pos + T - 1")

    # the model's own cached attention (the library) gives the same numbers for a chunk at an offset
    cfg = ModelConfig(dim=32, n_heads=H, n_kv_heads=Hkv, n_layers=1, vocab_size=8, max_seq_len=max_len)
    cache = KVCache(cfg, batch=B, dtype=np.float64)
    hd = cfg.head_dim
    q, k, v = rng.standard_normal((B, H, 7, hd)), rng.standard_normal((B, Hkv, 7, hd)), rng.standard_normal((B, Hkv, 7, hd))

    def library(q, k, v):
        past_k, past_v = cache.update(0, k, v)                 # what came before, then store these
        o, _ = attention.causal_attention(q, np.concatenate([past_k, k], 2), np.concatenate([past_v, v], 2),
                                          1.0 / np.sqrt(hd))
        cache.advance(k.shape[2])
        return o
    library(q[:, :, :3], k[:, :, :3], v[:, :, :3])
    lib = library(q[:, :, 3:], k[:, :, 3:], v[:, :, 3:])
    ck, cv = np.zeros((B, Hkv, max_len, hd)), np.zeros((B, Hkv, max_len, hd))
    impl.attend_with_cache(ck, cv, q[:, :, :3], k[:, :, :3], v[:, :, :3], 0)
    mine = impl.attend_with_cache(ck, cv, q[:, :, 3:], k[:, :, 3:], v[:, :, 3:], 3)
    expect_close("attend_with_cache(start_pos=3, chunk of 4) vs tinyllm's KVCache + causal_attention",
                 mine, lib, HINT_MASK, tol=1e-10)
