"""Lesson 21 — Your Llama: every piece you wrote, plugged together, trained on Shakespeare.

The exercises of lessons 04-15 each replaced one piece of the library. Here they replace all of
them at once. The library contributes only what no exercise asked for: the Tensor and its
graph walk (lesson 01), a container for the weights (tinyllm/model.py's Transformer, whose
forward we never call), the tokenizer's encode/decode, and the corpus.

    your BPE merges (12) ──▶ token ids ──your get_batch (14)──▶ batch
      ──▶ your transformer_forward (11), built from your ops:
            Linear = your matmul backward (05), embedding (06), RMSNorm (07), RoPE (08),
            causal GQA attention (09), SwiGLU (10)
      ──▶ cross-entropy with your backward (04) ──▶ Tensor.backward walks YOUR backwards
      ──▶ your clipping and AdamW step (13) ──▶ repeat
      ──▶ your checkpoint save and load (14) ──▶ your temperature and top-p sampling (15)

Each piece is your file lessons/exercises/NN_name.py if it passes its check, and the reference
solution otherwise (section 1 says which). With nothing written yet this is a lesson about the
reference solutions; write the exercises and it becomes a lesson about yours.

Library code this lesson reads:
    lessons/_pieces.py     load_pieces, learner_ops: your functions as autograd ops
    tinyllm/model.py       Transformer (the weights only), ModelConfig
    tinyllm/tokenizer.py   Tokenizer (encode/decode with your merges), count_chunks

Sections
  1. Your pieces
  2. Your model gives the library's logits (same weights)
  3. Your tokenizer
  4. Training: the whole loop, top to bottom
  5. The learning curve
  6. Your checkpoint, saved and loaded
  7. Your samples

Run:       python lessons/21_your_llama.py        (TINYLLM_FAST=1: a few steps, as CI runs it)
Exercise:  none — it runs YOUR exercises 04-15 (write them and run it again)
"""
# %%
import math
import time

import numpy as np

from _common import FAST, OUT_DIR, corpus, max_rel_error, pick, plt, save_figure, section
from _pieces import learner_ops, load_pieces

import autograd.functional as F
from autograd import Tensor, no_grad
from tinyllm.model import ModelConfig, Transformer
from tinyllm.tokenizer import ENDOFTEXT, Tokenizer, count_chunks

rng = np.random.default_rng(21)
TRAIN_SECONDS = pick(60, 0)              # training-time budget of section 4
MIN_STEPS = pick(50, 6)                  # ... and at least this many steps

# %%
# ============================================================================================
section("1. Your pieces")
# For each exercise: its check runs on your file; a pass means your function is used below.
pieces = load_pieces()
ops = learner_ops(pieces)
forward = pieces["11"].transformer_forward          # yours: exercise 11
get_batch = pieces["14"].get_batch
adamw_step, clip_grad_norm = pieces["13"].adamw_step, pieces["13"].clip_grad_norm

# %%
# ============================================================================================
section("2. Your model gives the library's logits")
# The same weights, two forwards: the library's Transformer.forward (fused Numba kernels) and
# your transformer_forward built from your ops. In float64 they agree to rounding; so do the
# gradients, which come from your backwards through Tensor.backward.
cfg64 = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, max_seq_len=16)
lib, yours = Transformer(cfg64, seed=1, dtype=np.float64), Transformer(cfg64, seed=1, dtype=np.float64)
tokens, targets = rng.integers(0, 50, (2, 12)), rng.integers(0, 50, (2, 12))
logits_lib, loss_lib = lib(tokens, targets)
logits = forward(yours, tokens, ops)
loss = ops.cross_entropy(logits, targets)
loss_lib.backward()
loss.backward()
grad_err = max(max_rel_error(p.grad, q.grad, 1e-8) for p, q in zip(yours.parameters(), lib.parameters()))
print(f"  logits: max rel error {max_rel_error(logits.data, logits_lib.data):.1e}; loss {float(loss.data):.6f} "
      f"vs {float(loss_lib.data):.6f}; gradients of all {len(lib.parameters())} parameters: max rel error {grad_err:.1e}")
assert max_rel_error(logits.data, logits_lib.data) < 1e-9 and grad_err < 1e-6

# %%
# ============================================================================================
section("3. Your tokenizer")
# Your BPE trainer (exercise 12) on the start of the training text, then the library's encoder
# with your merges. <|endoftext|> separates Shakespeare's works (lesson 12, section 5).
train_text, val_text, what = corpus(separator=ENDOFTEXT)
n_merges = pick(255, 64)
t0 = time.perf_counter()
merges = pieces["12"].train(count_chunks(train_text[: pick(200_000, 50_000)], special_tokens=(ENDOFTEXT,)), n_merges)
tok = Tokenizer(merges, special_tokens=(ENDOFTEXT,))
print(f"  {len(merges)} merges learned in {time.perf_counter() - t0:.1f} s from {what}; vocab {tok.vocab_size} "
      f"(256 bytes + {len(merges)} merges + <|endoftext|>)")
train_ids = np.array(tok.encode(train_text[: pick(1_500_000, 200_000)], allowed_special="all"), dtype=np.uint16)
val_ids = np.array(tok.encode(val_text[: pick(100_000, 30_000)], allowed_special="all"), dtype=np.uint16)
token_bytes = np.array([len(b) for b in tok.vocab])
token_bytes[tok.eot_id] = 0                          # a special token is not text: 0 bytes
print(f"  {len(train_ids):,} training tokens, {len(val_ids):,} held-out tokens, "
      f"{token_bytes[train_ids].mean():.2f} bytes per token")

# %%
# ============================================================================================
section("4. Training: the whole loop, top to bottom")
cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=tok.vocab_size, max_seq_len=64)
model = Transformer(cfg, seed=0)                     # float32 weights; its forward is never called
params = model.parameters()                          # the tied embedding/output matrix once
m = [np.zeros_like(p.data) for p in params]          # AdamW's two moments per parameter
v = [np.zeros_like(p.data) for p in params]
B, T = 16, 64
LR, MIN_LR, WARMUP = 3e-3, 3e-4, 20
print(f"  a {model.num_params():,}-parameter Llama: dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads "
      f"({cfg.n_kv_heads} kv), batch {B}×{T}; {TRAIN_SECONDS} s of training, at least {MIN_STEPS} steps")


def held_out_bits_per_byte(model, windows=8):
    """Your forward and your cross-entropy over `windows` evenly spaced held-out windows."""
    starts = np.linspace(0, len(val_ids) - T - 1, windows).astype(int)
    batch = np.stack([val_ids[s:s + T + 1] for s in starts]).astype(np.int64)
    with no_grad():
        loss = ops.cross_entropy(forward(model, batch[:, :-1], ops), batch[:, 1:])
    nats = float(loss.data) * batch[:, 1:].size
    return nats / math.log(2) / token_bytes[batch[:, 1:]].sum()


history, evals = [], [(0, held_out_bits_per_byte(model))]
start, step = time.perf_counter(), 0
while step < MIN_STEPS or time.perf_counter() - start < TRAIN_SECONDS:
    progress = (time.perf_counter() - start) / TRAIN_SECONDS if TRAIN_SECONDS else step / MIN_STEPS
    lr = LR * (step + 1) / (WARMUP + 1) if step < WARMUP else \
        MIN_LR + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (LR - MIN_LR)   # warm-up, cosine
    inputs, targets = get_batch(train_ids, B, T, rng)              # yours (14)
    loss = ops.cross_entropy(forward(model, inputs, ops), targets)  # yours (11, 04-10)
    for p in params:
        p.grad = None                                              # .grad accumulates: clear it
    loss.backward()                                                # walks YOUR backwards
    norm = clip_grad_norm([p.grad for p in params], 1.0)           # yours (13), in place
    for p, m_p, v_p in zip(params, m, v):                          # yours (13): decay matrices only
        adamw_step(p.data, p.grad, m_p, v_p, lr, 0.9, 0.99, 1e-8, 0.1 if p.ndim >= 2 else 0.0, step + 1)
    step += 1
    history.append((step, float(loss.data), time.perf_counter() - start))
    if step % pick(50, 3) == 0:
        evals.append((step, held_out_bits_per_byte(model)))
        print(f"  step {step:4d}  loss {float(loss.data):.3f}  lr {lr:.2e}  |g| {norm:.2f}  "
              f"held-out {evals[-1][1]:.3f} bits/byte  ({history[-1][2]:.0f} s)")
elapsed = time.perf_counter() - start
evals.append((step, held_out_bits_per_byte(model, windows=pick(32, 8))))
print(f"  {step} steps in {elapsed:.1f} s ({elapsed / step * 1e3:.0f} ms per step); held-out "
      f"{evals[0][1]:.3f} → {evals[-1][1]:.3f} bits per byte")
if not FAST:
    assert evals[-1][1] < evals[0][1] - 0.5, "your model should have learned something in a minute"

# %%
# ============================================================================================
section("5. The learning curve")
fig, ax = plt.subplots(figsize=(8, 4.2))
steps_, losses = np.array([h[0] for h in history]), np.array([h[1] for h in history])
ax.plot(steps_, losses / math.log(2) / token_bytes[train_ids].mean(), lw=0.8, alpha=0.6,
        label="training batch (bits per byte, at the average bytes/token)")
ax.plot([e[0] for e in evals], [e[1] for e in evals], "o-", label="held-out text (bits per byte)")
ax.set_xlabel("step")
ax.set_ylabel("bits per byte")
ax.set_title(f"your Llama on Shakespeare: {model.num_params():,} parameters, {elapsed:.0f} s on the CPU")
ax.legend()
save_figure(fig, "21_your_llama.png")

# %%
# ============================================================================================
section("6. Your checkpoint, saved and loaded")
path = OUT_DIR / "21_your_llama.npz"
pieces["14"].save_checkpoint(str(path), model.state_dict())           # yours (14): atomic, no pickle
again = Transformer(cfg, seed=123)                                    # other random weights ...
again.load_state_dict(pieces["14"].load_checkpoint(str(path)))       # ... replaced by yours (14)
probe = val_ids[None, :T].astype(np.int64)
with no_grad():
    same = max_rel_error(forward(again, probe, ops).data, forward(model, probe, ops).data)
print(f"  {path.name}: {path.stat().st_size / 1e3:.0f} kB; the reloaded model's logits vs the trained one's: "
      f"max rel error {same:.1e}")
assert same == 0.0

# %%
# ============================================================================================
section("7. Your samples")
# Generation recomputes the whole window for every new token (your forward has no KV cache:
# lesson 16 is how the library avoids that). Sampling: your temperature softmax and top-p (15).
def sample(prompt, n_new, temperature=0.8, top_p=0.9):
    ids = tok.encode(prompt)
    for _ in range(n_new):
        with no_grad():
            logits = forward(model, np.array(ids[-cfg.max_seq_len:])[None], ops).data[0, -1]
        probs = pieces["15"].top_p_filter(pieces["15"].softmax_with_temperature(logits, temperature), top_p)
        ids.append(int(rng.choice(len(probs), p=probs)))
        if ids[-1] == tok.eot_id:
            break
    return tok.decode([i for i in ids if i != tok.eot_id])


for prompt in ("ROMEO:\n", "JULIET:\n"):
    print(f"--- {prompt.strip()}\n{sample(prompt, pick(120, 20))}\n")
print("That is the whole model, yours. To change a piece and see what it does, lesson 20 shows how.")
