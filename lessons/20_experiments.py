"""Lesson 20 — Modify the model and observe: short trainings, one change each.

Every choice in a Llama was someone's experiment: grouped-query attention, rotary positions,
RMSNorm before each sub-layer, the SwiGLU gate, the learning rate. Here we repeat small
versions of those experiments. Each run trains the same small model on the same Shakespeare
batches, in the same order, for the same number of steps, and changes ONE thing:

    attention heads   MHA (4 kv heads)  vs  GQA (2, the baseline)  vs  MQA (1)
    positions         RoPE (baseline)   vs  none (every rotation angle 0)
    normalisation     RMSNorm (baseline) vs none (the norms replaced by the identity)
    feed-forward      SwiGLU (baseline) vs  a plain SiLU MLP with the same parameter count
    shape             4 layers × dim 64 vs  1 layer × dim 128 (same non-embedding parameters)
    learning rate     1e-3, 3e-3 (baseline), 1e-2

and we plot the held-out loss in bits per byte along the way, and the time per step. One more
run repeats the baseline on other batches: the gap between the two baselines is the noise.
Variants the library's Transformer cannot express are built here, readably: a module swapped
for another (NoNorm, PlainMLP), or the RoPE tables set to angle 0.

Caveat: these are tiny models trained for seconds. A difference of a few hundredths of a bit
is noise (run it with another seed to see how much); big gaps and the ordering of the learning
rates are real. The papers' claims are about models 10⁴ times bigger, trained 10⁶ times longer.

Library code this lesson reads:
    tinyllm/model.py       Transformer, ModelConfig, Module, Linear; the modules we replace
    tinyllm/optim.py       AdamW, clip_grad_norm
    tinyllm/train.py       get_batch, evaluate (held-out nats per token and bits per byte)

Sections
  1. The data and the baseline
  2. The variants
  3. The training loop, and ten runs
  4. The learning curves, and what they say

Run:       python lessons/20_experiments.py     (TINYLLM_FAST=1: a few steps per run, as CI runs it)
Exercise:  none — the lesson is the exercise: change one more thing (post-norm, GELU, a bigger
           theta) by writing one more entry in RUNS, and predict the curve before you run it
"""
# %%
import math
import time
from dataclasses import replace

import numpy as np

from _common import FAST, corpus, pick, plt, save_figure, section

import autograd.functional as F
from tinyllm import train
from tinyllm.model import Linear, ModelConfig, Module, Transformer
from tinyllm.optim import AdamW, clip_grad_norm
from tinyllm.tokenizer import ENDOFTEXT, Tokenizer

STEPS = pick(160, 3)                 # the same number of steps (and tokens) for every run
EVAL_EVERY = pick(20, 3)
EVAL_WINDOWS = pick(24, 4)           # held-out windows of T tokens per evaluation
B, T = pick(16, 4), pick(64, 32)

# %%
# ============================================================================================
section("1. The data and the baseline")
train_text, val_text, what = corpus(separator=ENDOFTEXT)
t0 = time.perf_counter()
tok = Tokenizer.train(train_text[: pick(1_000_000, 200_000)], 512)        # the library's fast trainer
train_ids = np.array(tok.encode(train_text[: pick(1_500_000, 200_000)], allowed_special="all"), dtype=np.uint16)
val_ids = np.array(tok.encode(val_text[: pick(150_000, 30_000)], allowed_special="all"), dtype=np.uint16)
token_bytes = train.token_byte_lengths(tok)
print(f"{what}: vocab {tok.vocab_size}, {len(train_ids):,} training tokens, {len(val_ids):,} held out "
      f"({time.perf_counter() - t0:.1f} s)")
BASE = ModelConfig(dim=64, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=tok.vocab_size, max_seq_len=T)
print(f"baseline: dim {BASE.dim}, {BASE.n_layers} layers, {BASE.n_heads} heads ({BASE.n_kv_heads} kv), "
      f"SwiGLU width {BASE.ffn_dim}, lr 3e-3; {STEPS} steps of {B}×{T} tokens each")


# %%
# ============================================================================================
section("2. The variants")
# Each variant is a function that builds the model. The library's modules are plain objects, so a
# variant replaces one attribute of them and leaves the rest as it is.
class NoNorm(Module):
    """In place of an RMSNorm: y = x. (No parameters: the gain goes too.)"""

    def forward(self, x):
        return x


class PlainMLP(Module):
    """A two-matrix feed-forward, w2 silu(w1 x), `hidden` wide. With hidden = 3/2 of SwiGLU's width
    it has SwiGLU's parameter count (2 matrices of 1.5 F against 3 of F)."""

    def __init__(self, dim, hidden, rng, n_layers):
        self.w1 = Linear(dim, hidden, rng)
        self.w2 = Linear(hidden, dim, rng, std=0.02 / math.sqrt(2 * n_layers))

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)))


def build(cfg, no_rope=False, no_norm=False, plain_mlp=False):
    model = Transformer(cfg, seed=0)
    rng = np.random.default_rng(1)
    if no_rope:                                   # angle 0 at every position: no rotation at all
        model.rope_cos = np.ones_like(model.rope_cos)
        model.rope_sin = np.zeros_like(model.rope_sin)
    for block in model.layers:
        if no_norm:
            block.attention_norm, block.ffn_norm = NoNorm(), NoNorm()
        if plain_mlp:
            block.feed_forward = PlainMLP(cfg.dim, cfg.ffn_dim * 3 // 2, rng, cfg.n_layers)
    if no_norm:
        model.norm = NoNorm()
    return model


RUNS = {   # name: (group, how to build the model, learning rate)
    "baseline (GQA 4:2, RoPE, RMSNorm, SwiGLU, lr 3e-3)": ("all", lambda: build(BASE), 3e-3),
    "baseline, other batches (the noise)": ("all", lambda: build(BASE), 3e-3),
    "MHA: 4 kv heads": ("attention", lambda: build(replace(BASE, n_kv_heads=4)), 3e-3),
    "MQA: 1 kv head": ("attention", lambda: build(replace(BASE, n_kv_heads=1)), 3e-3),
    "no RoPE": ("positions and norms", lambda: build(BASE, no_rope=True), 3e-3),
    "no RMSNorm": ("positions and norms", lambda: build(BASE, no_norm=True), 3e-3),
    "plain SiLU MLP (same params)": ("feed-forward", lambda: build(BASE, plain_mlp=True), 3e-3),
    "1 layer × dim 128": ("shape", lambda: build(replace(BASE, dim=128, n_layers=1)), 3e-3),
    "lr 1e-3": ("learning rate", lambda: build(BASE), 1e-3),
    "lr 1e-2": ("learning rate", lambda: build(BASE), 1e-2),
}
for name, (_, make, _) in RUNS.items():
    m = make()
    non_embedding = m.num_params() - m.tok_embeddings.weight.size
    print(f"  {name:52s} {m.num_params():8,} parameters ({non_embedding:,} outside the embedding)")


# %%
# ============================================================================================
section("3. The training loop, and ten runs")
def run(make, lr, steps=STEPS, warmup=20, min_lr_ratio=0.1, data_seed=0):
    """`steps` steps of AdamW on the same batches; returns ([(step, held-out bits/byte)], s/step)."""
    model = make()
    opt = AdamW(model.named_parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(data_seed)        # the same batches, in the same order, every run
    curve, seconds = [], 0.0
    for step in range(steps + 1):
        if step % EVAL_EVERY == 0 or step == steps:
            val = train.evaluate(model, val_ids, T, B, token_bytes, max_windows=EVAL_WINDOWS)
            curve.append((step, val["val_bpb"]))
        if step == steps:
            break
        t0 = time.perf_counter()
        lr_now = lr * (step + 1) / (warmup + 1) if step < warmup else \
            lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup))))
        batch = train.get_batch(train_ids, B, T, rng)         # (B, T+1)
        _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        clip_grad_norm(opt.params, 1.0)
        opt.step(lr_now)
        opt.zero_grad()
        seconds += time.perf_counter() - t0
    return curve, seconds / steps


# The first call of each Numba kernel loads (or compiles) its machine code: one untimed step first,
# so that the first run's time per step is not that.
run(lambda: build(replace(BASE, n_layers=1)), 3e-3, steps=1)
results = {}
start = time.perf_counter()
for name, (group, make, lr) in RUNS.items():
    curve, per_step = run(make, lr, data_seed=1 if "other batches" in name else 0)
    results[name] = (group, curve, per_step)
    print(f"  {name:52s} held-out {curve[-1][1]:.3f} bits/byte   {per_step * 1e3:5.1f} ms/step")
print(f"all runs: {time.perf_counter() - start:.0f} s")

# %%
# ============================================================================================
section("4. The learning curves, and what they say")
base_name = next(iter(RUNS))
groups = ["attention", "positions and norms", "feed-forward", "shape", "learning rate"]
fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))   # five questions and the step times
for ax, group in zip(axes.flat, groups):
    for name, (g, curve, per_step) in results.items():
        if g in (group, "all"):
            steps_, bpb = zip(*curve)
            if g != "all":
                style = dict(ls="-")
            elif "other" in name:                        # the baseline again, on other batches
                style = dict(color="k", lw=1, ls="--")
            else:
                style = dict(color="k", lw=2, ls="-")
            ax.plot(steps_, bpb, marker="o", ms=3, label=f"{name.split(' (')[0]} ({per_step * 1e3:.0f} ms/step)",
                    **style)
    ax.set_title(group)
    ax.set_xlabel("step")
    ax.set_ylabel("held-out bits per byte")
    final = [c[-1][1] for g, c, _ in results.values()]
    ax.set_ylim(min(final) - 0.1, min(max(final) + 0.6, results[base_name][1][0][1] + 0.1))
    ax.legend(fontsize=8)
ax = axes.flat[-1]
names = list(results)
ax.barh(range(len(names)), [results[n][2] * 1e3 for n in names], color="0.6")
ax.set_yticks(range(len(names)), [n.split(" (")[0] for n in names], fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("milliseconds per training step")
ax.set_title("step time")
fig.suptitle(f"one change at a time: {STEPS} steps of {B}×{T} tokens each on Shakespeare (CPU)")
save_figure(fig, "20_experiments.png")

final = {name: curve[-1][1] for name, (_, curve, _) in results.items()}
base = final[base_name]
print("final held-out bits per byte, relative to the baseline (negative = better):")
for name, value in final.items():
    print(f"  {name:52s} {value:.3f}  ({value - base:+.3f})")
noise = abs(final["baseline, other batches (the noise)"] - base)
print(f"the two baselines differ by {noise:.3f} bits/byte: smaller differences than that mean nothing here")
# How to read it (FAST mode trains too little to show anything):
#  * First the noise: any variant closer to the baseline than the two baselines are to each other
#    is, at this scale, no different. MHA/GQA/MQA usually land there: sharing kv heads costs
#    little quality and saves cache memory (lesson 16) and time.
#  * The learning rate moves the curve most: 1e-3 is clearly too slow for 160 steps.
#  * Without any norm the model trains worse (and at larger lr, unstably): RMSNorm keeps each
#    sub-layer's input at a fixed scale however the residual stream grows.
#  * Without RoPE the model is no worse after 160 steps. So far it has learned mostly which token
#    follows which, and for that the current token (in the residual stream) is enough: attention,
#    and so position, matter once the model starts to use its context — train longer to see it.
#    (Even then the causal mask lets a model infer some position, but not near from far.)
#  * SwiGLU vs a plain MLP of equal size, depth vs width: small effects at 200k parameters and
#    160 steps; Shazeer's and the scaling papers' gaps show up at far larger scale. The step
#    times differ more: one wide layer runs fewer, bigger matmuls than four narrow ones.
if not FAST:
    assert final["lr 1e-3"] > base, "a 3x smaller learning rate should learn more slowly in so few steps"
