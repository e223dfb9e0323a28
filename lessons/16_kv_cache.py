"""Lesson 16 — The KV cache: generating without recomputing the past.

To generate token t+1 the model needs the logits at position t. The obvious way runs the whole
sequence 0..t through the model again, every step: step t costs t positions, and n tokens cost
~n²/2 positions in total. But in a causal model nothing at positions 0..t-1 depends on what
comes later, so the keys and values each layer computed for them last step are still exactly
right. Keep them — the KV cache — and each step only has to process the ONE new token: compute
its q, k, v, append k and v to the cache, attend over the cache.

In the library:

    tinyllm/kv_cache.py  KVCache, KVCache.update                       the stored keys and values; append, read back
    tinyllm/model.py     Transformer.forward(tokens, cache=cache)      the inference path: new tokens after cache.pos
    autograd/attention.py causal_attention(q, k, v) with S > T          query i sees keys j ≤ i + S − T
    tinyllm/generate.py  generate(..., use_cache=True/False)           prefill once, then one token a step
    tinyllm/decode.py    Decoder.step                                   the same one-token forward, as one jitted loop

Sections
  1. Cached == uncached, logit for logit
  2. Prefill in chunks: the causal mask with an offset
  3. Inside the cache
  4. How much faster (figure)
  5. How much memory
  6. One token, one loop: what generate() really runs

Run:       python lessons/16_kv_cache.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 16          (write the cache update and the attention over it)
"""
# %%
import numpy as np

from _common import best_time, pick, plt, save_figure, section, max_rel_error

from autograd import attention, kernels, no_grad
from tinyllm.generate import generate
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig, Transformer

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. Cached == uncached")
# A random model in float64 (the cache needs no training to be right or wrong). The model keeps
# no state of its own: we hand it a KVCache. Feed a prompt of 6 tokens (the "prefill": it fills
# the cache for positions 0..5 and sets cache.pos = 6), then one token at a time, each at
# position cache.pos. At every step compare the new token's logits with a full uncached
# forward over the whole sequence so far.
cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, max_seq_len=32)
model = Transformer(cfg, seed=1, dtype=np.float64)
seq = rng.integers(0, cfg.vocab_size, 16)
cache = KVCache(cfg, batch=1, dtype=np.float64)
with no_grad():
    cached = model(seq[None, :6], cache=cache).data                 # (1, 6, V): prefill
    worst = max_rel_error(cached, model(seq[None, :6]).data, floor=1e-8)
    for t in range(6, len(seq)):
        step = model(seq[None, t:t + 1], cache=cache).data          # (1, 1, V): ONE token at t
        full = model(seq[None, :t + 1]).data[:, -1:]                # the whole sequence again
        worst = max(worst, max_rel_error(step, full, floor=1e-8))
print(f"prefill 6 tokens + 10 single steps: max rel error, cached vs uncached logits {worst:.1e}")
assert worst < 1e-10


# %%
# ============================================================================================
section("2. Prefill in chunks")
# A step may also feed several new tokens at once (a long prompt in chunks, or speculative
# decoding). Then T new queries meet S = pos + T keys (the cached ones, then their own): query
# i (the i-th new token, at position pos + i) may see keys j ≤ pos + i = i + (S − T). That
# offset is built into the library's fused attention (autograd/attention.py, k with S > T):
print("which keys each of 3 new queries sees when 4 are already cached (S=7, T=3):")
print(attention.attention_mask(3, 7).astype(int))
assert np.array_equal(attention.attention_mask(3, 7), np.tri(3, 7, k=4, dtype=bool))
cache.reset()                                                       # a new sequence
with no_grad():
    parts = [model(seq[None, a:b], cache=cache).data for a, b in ((0, 5), (5, 9), (9, 10), (10, 16))]
    chunked = np.concatenate(parts, axis=1)
    err = max_rel_error(chunked, model(seq[None]).data, floor=1e-8)
print(f"16 tokens fed as chunks of 5, 4, 1, 6: max rel error vs one full forward {err:.1e}")
assert err < 1e-10


# %%
# ============================================================================================
section("3. Inside the cache")
# The cache holds k and v of shape (n_layers, B, Hkv, max_seq_len, hd): written up to the last
# position fed, zeros after. With GQA it holds Hkv heads, not H (lesson 09).
attn = model.layers[0].attention
print(f"cache.k {cache.k.shape} = (n_layers, B, Hkv, max_seq_len, head_dim), {cache.k.dtype}; pos {cache.pos}")
filled = np.abs(cache.k[0]).sum(axis=(0, 1, 3)) > 0
print(f"positions holding keys: 0..{np.flatnonzero(filled).max()} (we fed 16 tokens); the rest is still zero")
assert filled[:16].all() and not filled[16:].any()
# The cached keys are the keys a full forward computes: RMSNorm → wk → RoPE at their positions.
with no_grad():
    xn = model.layers[0].attention_norm(model.tok_embeddings(seq[None]))
    k = attn.wk(xn).reshape(1, 16, cfg.n_kv_heads, cfg.head_dim)
    k = kernels.rope(k.data, model.rope_cos[:16], model.rope_sin[:16]).transpose(0, 2, 1, 3)
err = max_rel_error(cache.k[0, :, :, :16], k, floor=1e-8)
print(f"cache.k[0, :, :, :16] vs layer 0's keys recomputed from scratch: max rel error {err:.1e}")
assert err < 1e-10


# %%
# ============================================================================================
section("4. How much faster")
# What does it cost to get the logits of the token at position t?
#   without the cache: a forward over all t tokens (tinyllm/generate.py with use_cache=False);
#   with the cache: a forward over ONE token that attends over t cached keys.
# We time both for several t (best of a few runs, so other programs on the machine disturb the
# numbers less). The uncached cost grows linearly with t; the cached one stays nearly flat (its
# attention over t keys grows too, but it is a small share of the work at this size).
big = Transformer(ModelConfig(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=512,
                              max_seq_len=256), seed=0)
ctx = rng.integers(0, 512, 256)
lengths = pick([8, 64, 128, 192, 256], [8, 64, 128])
uncached_ms, cached_ms = [], []
big_cache = KVCache(big.cfg)
def cached_step(t):
    big_cache.pos = t - 1                                              # (re)write position t-1
    big(ctx[None, t - 1:t], cache=big_cache)
with no_grad():
    for t in lengths:
        uncached_ms.append(1e3 * best_time(lambda: big(ctx[None, :t]), budget=0.1))
        big_cache.reset()
        big(ctx[None, :t - 1], cache=big_cache) if t > 1 else None        # prefill positions 0..t-2
        cached_ms.append(1e3 * best_time(lambda: cached_step(t), budget=0.1))
        print(f"token at position {t:3d}: without cache {uncached_ms[-1]:7.1f} ms, with cache {cached_ms[-1]:5.1f} ms "
              f"({uncached_ms[-1] / cached_ms[-1]:.0f}×)")
assert sum(uncached_ms) > 2 * sum(cached_ms), "over these lengths the cached steps should be much cheaper"

# Generating n tokens costs the sum over positions: ~n²/2 token-forwards without the cache, n with it.
n = lengths[-1]
total_uncached = np.trapezoid(uncached_ms, lengths) / 1e3
total_cached = np.trapezoid(cached_ms, lengths) / 1e3
print(f"estimated time to generate {n} tokens: without cache {total_uncached:.1f} s, with {total_cached:.2f} s")
same = generate(big, [0], 20, temperature=0, use_cache=True) == generate(big, [0], 20, temperature=0, use_cache=False)
print(f"generate(): greedy text identical with and without the cache: {same}")
assert same

fig, ax = plt.subplots(figsize=(8, 4.2))
ax.plot(lengths, uncached_ms, "o-", label="without cache: forward over all t tokens")
ax.plot(lengths, cached_ms, "s-", label="with KV cache: one token, attends over t cached keys")
ax.set_xlabel("position t of the token being generated")
ax.set_ylabel("time for that step (ms, best of a few)")
ax.set_title(f"Cost of one generation step, {big.num_params() / 1e6:.2f} M-parameter model")
ax.set_ylim(bottom=0)
ax.legend()
save_figure(fig, "16_kv_cache_timing.png")


# %%
# ============================================================================================
section("5. How much memory")
# Per token, every layer stores one key and one value vector per kv head:
#     bytes = 2 (k and v) · n_layers · n_kv_heads · head_dim · bytes per number
# times the context length, times the batch. GQA divides it by n_heads / n_kv_heads.
print(f"{'model':26s} {'per token':>10s} {'full context':>14s}")
for name, (layers, hkv, hd, ctx, nbytes) in {
        "tinyllm 'shakespeare' fp32": (6, 4, 32, 256, 4),
        "llama2.c stories15M fp32": (6, 6, 48, 256, 4),
        "Llama 2 7B fp16": (32, 32, 128, 4096, 2),
        "Llama 2 70B fp16 (GQA)": (80, 8, 128, 4096, 2)}.items():
    per_token = 2 * layers * hkv * hd * nbytes
    print(f"{name:26s} {per_token / 1024:8.1f} KiB {per_token * ctx / 2**20:12.1f} MiB  (context {ctx})")
c = ModelConfig.preset("shakespeare")
held = KVCache(c, batch=1, dtype=np.float32).nbytes
assert held == 2 * c.n_layers * c.n_kv_heads * c.head_dim * c.max_seq_len * 4
print(f"the 'shakespeare' model's caches, allocated: {held / 2**20:.1f} MiB — as the formula says")



# %%
# ============================================================================================
section("6. One token, one loop")
# With the cache a step is tiny: one position through 6 layers. Through model.py it is still
# ~80 NumPy calls and Tensor objects, each a few microseconds, so Python bookkeeping costs more
# than the arithmetic. tinyllm/decode.py writes the same forward pass for one position as ONE
# Numba function with explicit loops (as llama2.c's run.c does in C); generate() uses it after
# the prefill. Same logits, many times faster. Its speed is then the speed of reading the
# weights: every weight is read once per token.
# (Threads as the library sets them: autograd/runtime.py.)
from tinyllm.decode import Decoder  # noqa: E402

shakespeare = Transformer(ModelConfig.preset("shakespeare"), seed=0)
prompt = rng.integers(0, 2048, 32)
with no_grad():
    dec = Decoder(shakespeare)
    dec.prefill(prompt[:-1])
    fast = dec.step(prompt[-1])                                        # position 31, one loop
    sc = KVCache(shakespeare.cfg)
    shakespeare(prompt[None, :-1], cache=sc)
    slow = shakespeare(prompt[None, -1:], cache=sc).data[0, -1]       # position 31, model.py
    err = np.abs(fast - slow).max() / np.abs(slow).max()              # float32: ~1e-6
    def model_step():
        sc.pos = 31                                                      # overwrite position 31 again
        shakespeare(prompt[None, -1:], cache=sc)
    t_model = best_time(model_step, budget=0.3)
    def one_step():
        dec.cache.pos = 31                                               # overwrite position 31 again
        dec.step(prompt[-1])
    t_loop = best_time(one_step, budget=0.3)
weights = sum(p.data.nbytes for p in shakespeare.parameters())
print(f"'shakespeare' preset, position 31: Decoder.step vs model.py logits, max error {err:.1e} of the largest")
print(f"one token: model.py {1e3 * t_model:.2f} ms, decode.py {1e3 * t_loop:.2f} ms "
      f"({t_model / t_loop:.1f}× faster); {weights / 1e6:.1f} MB of weights read at "
      f"{weights / t_loop / 1e9:.0f} GB/s")
assert err < 1e-5

print("\nNext: lesson 17, sliding windows and a rolling cache (Mistral). "
      "Exercise: python lessons/exercise.py 16")
