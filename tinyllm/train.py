"""Training: python -m tinyllm train --preset shakespeare --minutes 10 --out runs/shakespeare

    text ──BPE──▶ uint16 token files ──random windows──▶ (B, T+1) batches
         ──▶ forward + cross-entropy ──▶ backward ──▶ clip ‖g‖ ──▶ AdamW (warm-up + cosine lr)

The file reads top to bottom in the order a run happens:

    TrainConfig      every option, checked (what the CLI fills, or a lesson builds directly)
    prepare_data     tokenizer + train/val token files      get_batch   (B, T+1) random windows
    train_step       forward, backward, clip, AdamW         evaluate    held-out nats/token, bits/byte
    new_run          tokenizer, data, model, optimizer, RNG: a Run (all a checkpoint restores)
    train_loop       the loop: step, log, every eval_every steps evaluate + sample + checkpoint
    ── the outer layer ──
    RunFolder        the output folder: an exclusive lock, logs, checkpoint, plot
    resume_run       a Run back from OUT/ckpt.npz (corpus and tokenizer checked by content)
    StopOnSignal, Progress, plot_losses, main (the command line)

Data-parallel training over N processes (mpirun -n N ... --data-parallel) is tinyllm/ddp.py; here
it is a `parallel` argument of main and train_loop and an `all_reduce` argument of train_step.

The corpus is Shakespeare (tinyllm/data.py; three whole plays held out for validation) or any
UTF-8 file (--text; its last 10% of lines held out). A byte-level BPE tokenizer is trained on
the training split (or --tokenizer FILE is used), then both splits are tokenized once into
uint16 files under OUT/data/, named by a hash of the tokenizer and the text, so they are
rebuilt only when either changes.

Every step draws batch_size random windows of context + 1 tokens (a seeded generator), so
the model learns to predict tokens 1..T from 0..T-1. Every --eval-every steps: the held-out
loss in nats per token and in bits per byte,

    bpb = Σ nats over the predicted val tokens / ln 2 / Σ UTF-8 bytes of those tokens,

which does not depend on the tokenizer (a bigger vocabulary packs more bytes per token), a
short sample, and a checkpoint. OUT holds:

    ckpt.npz        model, AdamW state, step, RNG state, tokenizer, metrics (atomic writes)
    metrics.jsonl   one JSON record per step (loss, lr, grad norm) and per evaluation
    loss.png        train and val loss against tokens seen
    samples.txt     a generated sample at every evaluation
    tokenizer.json  the tokenizer (and tokenizer.vocab, a readable listing)
    .lock           held (flock) by the one process writing this folder

One process writes a folder at a time: a second run on the same --out stops at once, naming the
first. --resume continues from OUT/ckpt.npz exactly where it stopped (same batches, same losses as
an uninterrupted run), with metrics.jsonl and samples.txt cut back to the checkpoint's step and
the temporary files of a killed run removed. The corpus and tokenizer are recognised by content
(sha256), not by name. Ctrl-C or SIGTERM stops at the end of the current step and saves first. A
NaN or inf loss stops training with an error; the checkpoint on disk is the last good one. With
--steps the run is deterministic for a given --seed; with --minutes the lr follows the clock (the
cosine runs over training time), so it is not.
"""
import argparse
import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from autograd import kernels, no_grad
from tinyllm import data
from tinyllm.checkpoint import CheckpointError, check_shapes, config_from_meta, read_checkpoint, save_checkpoint
from tinyllm.files import atomic_write, remove_stale_temp_files, write_error
from tinyllm.generate import encode_prompt, generate, printable
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm, lr_at, step_progress
from tinyllm.tokenizer import ENDOFTEXT, Tokenizer

try:
    import fcntl                                   # POSIX; elsewhere runs are not locked
except ImportError:                                # pragma: no cover
    fcntl = None


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, bad data, mismatched resume, busy folder); the message says why."""


class ConfigError(ValueError):
    """An option out of range; the message names the option (--lr) and the value."""


# ---------------------------------------------------------------------------- configuration
PRESETS = ("tiny", "shakespeare", "stories15M")
MIN_VOCAB = 256 + 1                                # the 256 bytes + <|endoftext|>
MAX_VOCAB = 65536                                  # token ids are stored as uint16


def flag(name):
    return "--" + name.replace("_", "-")


@dataclass
class TrainConfig:
    """Everything that defines a training run. `python -m tinyllm train` fills it from its flags;
    a lesson or notebook builds it directly: TrainConfig(preset="tiny", text="my.txt", steps=200).
    None means "the preset's" (vocab_size, the model-shape fields, context), "no budget" (minutes)
    or "1000 steps when there is no time budget" (steps). Every field is checked on creation."""
    preset: str = "shakespeare"        # model shape: tiny | shakespeare | stories15M
    out: str | None = None             # output folder (default runs/PRESET)
    text: str | None = None            # a UTF-8 corpus (default: Shakespeare)
    tokenizer: str | None = None       # a saved tokenizer instead of training one
    vocab_size: int | None = None      # BPE vocabulary (default the preset's, at least 512)
    # the model's shape (default: the preset's)
    dim: int | None = None
    n_layers: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    ffn_dim: int | None = None         # SwiGLU hidden width (default Llama's rule from dim)
    context: int | None = None         # tokens per window = the model's max_seq_len
    rope_theta: float | None = None
    sliding_window: int | None = None  # Mistral: each token attends to the last W (None: all)
    rope_scaling: tuple | None = None  # Llama 3.1: (factor, low_freq_factor, high_freq_factor,
                                       #            original_max_position_embeddings)
    # the budget and the optimizer
    steps: int | None = None
    minutes: float | None = None       # training-time budget; the lr cosine follows it
    batch_size: int = 16
    grad_accum: int = 1                # micro-batches per optimizer step
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100                  # linear warm-up steps
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0             # max global gradient norm (0 = no clipping)
    seed: int = 1337
    dtype: str = "float32"
    # evaluation, samples, progress
    eval_every: int = 100              # steps between evaluations + checkpoints
    eval_windows: int = 16             # val windows per periodic eval (0 = all; the final one uses all)
    sample_prompt: str = ""
    sample_tokens: int = 64
    final_sample_tokens: int = 200
    log_every: int = 10                # steps between progress lines when not on a terminal

    def __post_init__(self):
        def fail(name, what):
            raise ConfigError(f"{flag(name)} must be {what}, got {getattr(self, name)!r}")

        if self.preset not in PRESETS:
            fail("preset", "one of " + ", ".join(PRESETS))
        if self.dtype not in ("float32", "float64"):
            fail("dtype", "float32 or float64")
        for name in ("out", "text", "tokenizer"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
                    fail(name, "a path")
                setattr(self, name, os.fspath(value))
        if not isinstance(self.sample_prompt, str):
            fail("sample_prompt", "a string")
        preset = ModelConfig.preset(self.preset)
        self.out = self.out or os.path.join("runs", self.preset)
        self.vocab_size = max(preset.vocab_size, 512) if self.vocab_size is None else self.vocab_size
        self.context = preset.max_seq_len if self.context is None else self.context
        if self.steps is None and self.minutes is None:
            self.steps = 1000
        #         name            integer?  ok when                              what it must be
        rules = [("vocab_size",   True,  lambda v: MIN_VOCAB <= v <= MAX_VOCAB, f"{MIN_VOCAB}..{MAX_VOCAB} "
                                                                                "(256 bytes + <|endoftext|> .. uint16)"),
                 ("dim",          True,  lambda v: v >= 1, "at least 1"),
                 ("n_layers",     True,  lambda v: v >= 1, "at least 1"),
                 ("n_heads",      True,  lambda v: v >= 1, "at least 1"),
                 ("n_kv_heads",   True,  lambda v: v >= 1, "at least 1"),
                 ("ffn_dim",      True,  lambda v: v >= 1, "at least 1"),
                 ("context",      True,  lambda v: v >= 1, "at least 1"),
                 ("rope_theta",   False, lambda v: v > 0, "> 0"),
                 ("sliding_window", True, lambda v: v >= 1, "at least 1"),
                 ("steps",        True,  lambda v: v >= 1, "at least 1"),
                 ("minutes",      False, lambda v: v > 0, "> 0"),
                 ("batch_size",   True,  lambda v: v >= 1, "at least 1"),
                 ("grad_accum",   True,  lambda v: v >= 1, "at least 1"),
                 ("lr",           False, lambda v: v > 0, "> 0"),
                 ("min_lr",       False, lambda v: v >= 0, ">= 0"),
                 ("warmup",       True,  lambda v: v >= 0, ">= 0"),
                 ("weight_decay", False, lambda v: v >= 0, ">= 0"),
                 ("beta1",        False, lambda v: 0 <= v < 1, "in [0, 1)"),
                 ("beta2",        False, lambda v: 0 <= v < 1, "in [0, 1)"),
                 ("grad_clip",    False, lambda v: v >= 0, "> 0 (or 0 for no clipping)"),
                 ("seed",         True,  lambda v: 0 <= v < 2 ** 63, "in 0..2^63-1"),
                 ("eval_every",   True,  lambda v: v >= 1, "at least 1"),
                 ("eval_windows", True,  lambda v: v >= 0, ">= 0 (0 = all)"),
                 ("sample_tokens", True, lambda v: v >= 0, ">= 0"),
                 ("final_sample_tokens", True, lambda v: v >= 0, ">= 0"),
                 ("log_every",    True,  lambda v: v >= 1, "at least 1")]
        for name, integer, ok, what in rules:
            value = getattr(self, name)
            if value is None and name in ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim",
                                          "rope_theta", "sliding_window", "steps", "minutes"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer) if integer else (int, float)):
                fail(name, "an integer" if integer else "a number")
            if not integer and not math.isfinite(value):
                fail(name, "a finite number")
            if not ok(value):
                fail(name, what)
        if self.rope_scaling is not None:
            if len(self.rope_scaling) != 4:
                fail("rope_scaling", "4 numbers: FACTOR LOW HIGH ORIGINAL")
            self.rope_scaling = tuple(self.rope_scaling)
        if self.min_lr > self.lr:
            raise ConfigError(f"--min-lr {self.min_lr} must not exceed --lr {self.lr}")
        self.model_config(self.vocab_size)                 # an impossible shape fails now, naming its flag

    def model_config(self, vocab_size):
        """The preset's ModelConfig with this run's shape flags and vocabulary."""
        shape = {"dim": self.dim, "n_layers": self.n_layers, "n_heads": self.n_heads,
                 "n_kv_heads": self.n_kv_heads, "hidden_dim": self.ffn_dim, "rope_theta": self.rope_theta,
                 "sliding_window": self.sliding_window, "rope_scaling": self.rope_scaling and dict(
                     zip(("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
                         self.rope_scaling))}
        try:
            return ModelConfig.preset(self.preset, vocab_size=vocab_size, max_seq_len=self.context,
                                      **{k: v for k, v in shape.items() if v is not None})
        except ValueError as e:
            raise ConfigError(f"impossible model shape: {e}") from None


# Options that define a run: on --resume they must be what the checkpoint was trained with.
# (--text and --tokenizer are checked by content instead: see resume_run.)
RUN_IDENTITY = ("preset", "vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "context",
                "rope_theta", "sliding_window", "rope_scaling", "batch_size", "grad_accum", "seed", "dtype")


# ---------------------------------------------------------------------------- data
def text_hash(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def load_corpus(text_path):
    """(train text, val text): --text FILE, or Shakespeare with <|endoftext|> between works."""
    if not text_path:
        return data.load_shakespeare(separator=ENDOFTEXT)
    if not os.path.exists(text_path):
        raise TrainingError(f"--text {text_path}: No such file (check the path)")
    if os.path.isdir(text_path):
        raise TrainingError(f"--text {text_path} is a folder; give a UTF-8 text file")
    return data.load_text_file(text_path)


def read_tokenizer(path, flag_name="--tokenizer"):
    """(Tokenizer, its file's text) from a file `python -m tinyllm tokenizer train` wrote."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"{flag_name} {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{flag_name} {path}: not UTF-8 text (byte {e.start}); a tokenizer file is the "
                            f"JSON that `python -m tinyllm tokenizer train` writes") from None
    return Tokenizer.loads(text, source=f"{flag_name} {path}"), text


def tokenize_to_file(tokenizer, tokenizer_text, text, folder, split):
    """The text's token ids as a read-only uint16 memmap, cached as folder/{split}-{hash}.bin."""
    key = text_hash(tokenizer_text, text)[:16]
    path = os.path.join(folder, f"{split}-{key}.bin")
    if not os.path.exists(path):
        ids = np.array(tokenizer.encode(text, allowed_special="all"), dtype=np.uint16)
        if ids.size == 0:
            raise TrainingError(f"the {split} text is empty: nothing to tokenize")
        with atomic_write(path) as f:
            f.write(ids.tobytes())
        for name in os.listdir(folder):                      # stale files of older tokenizers/texts
            if name.startswith(split + "-") and name.endswith(".bin") and name != os.path.basename(path):
                os.remove(os.path.join(folder, name))
    return np.memmap(path, dtype=np.uint16, mode="r")


class Data(NamedTuple):
    tokenizer: Tokenizer
    tokenizer_text: str                # the tokenizer's file, as checkpoints carry it
    train: np.ndarray                  # uint16 token ids (a memmap)
    val: np.ndarray
    corpus_sha256: str                 # what the corpus is, whatever its file is called


def prepare_data(cfg, tokenizer_text=None):
    """Tokenizer + train/val token memmaps. tokenizer_text (from a checkpoint) wins over
    --tokenizer FILE, which wins over training a new one on the train split."""
    train_text, val_text = load_corpus(cfg.text)
    if tokenizer_text is not None:
        tokenizer = Tokenizer.loads(tokenizer_text, source="the checkpoint's tokenizer")
    elif cfg.tokenizer:
        tokenizer, tokenizer_text = read_tokenizer(cfg.tokenizer)
    else:
        t0 = time.perf_counter()
        tokenizer = Tokenizer.train(train_text, cfg.vocab_size)
        tokenizer_text = tokenizer.dumps()
        print(f"trained a BPE tokenizer: {tokenizer.vocab_size} tokens in {time.perf_counter() - t0:.1f} s")
    if tokenizer.vocab_size > MAX_VOCAB:
        raise TrainingError(f"vocab of {tokenizer.vocab_size} tokens does not fit the uint16 token files")
    with atomic_write(os.path.join(cfg.out, "tokenizer.json")) as f:
        f.write(tokenizer_text.encode("utf-8"))
    with atomic_write(os.path.join(cfg.out, "tokenizer.vocab")) as f:
        f.write(("\n".join(tokenizer.vocab_lines()) + "\n").encode("utf-8"))
    folder = os.path.join(cfg.out, "data")
    os.makedirs(folder, exist_ok=True)
    train = tokenize_to_file(tokenizer, tokenizer_text, train_text, folder, "train")
    val = tokenize_to_file(tokenizer, tokenizer_text, val_text, folder, "val")
    if len(train) < cfg.context + 1:
        raise TrainingError(f"the training text is only {len(train)} tokens; a window needs "
                            f"context + 1 = {cfg.context + 1} (use more text or a smaller --context)")
    if len(val) < 2:
        raise TrainingError(f"the validation text is only {len(val)} tokens; need at least 2")
    return Data(tokenizer, tokenizer_text, train, val, text_hash(train_text, val_text))


def get_batch(tokens, batch_size, T, rng):
    """(B, T+1) int64: batch_size windows of T+1 tokens starting at random positions."""
    starts = rng.integers(0, len(tokens) - T, size=batch_size)          # window [s, s + T]
    return np.stack([tokens[s:s + T + 1] for s in starts]).astype(np.int64)


# ---------------------------------------------------------------------------- one step, one evaluation
class Diverged(TrainingError):
    """The loss or the gradient norm is NaN or inf."""


def train_step(model, opt, batches, lr, grad_clip, all_reduce=None):
    """One optimizer step over the micro-batches (each (B, T+1)): the mean of their losses is
    the loss, so its gradient is the mean of theirs. Returns (loss, gradient norm before clipping).
    all_reduce(opt, loss) -> mean loss: data parallel (tinyllm/ddp.py), it averages the gradients
    and the loss over the ranks before clipping, so every rank takes the same step."""
    losses = []
    for batch in batches:
        _, loss = model(batch[:, :-1], batch[:, 1:])                       # forward: mean cross-entropy
        losses.append(float(loss.data))
        if not math.isfinite(losses[-1]) and all_reduce is None:
            raise Diverged(f"the loss is {losses[-1]}")
        loss.backward(np.asarray(1.0 / len(batches), dtype=loss.dtype))   # .grad += ∂(loss / n)
    mean_loss = sum(losses) / len(losses)
    if all_reduce is not None:                                             # ranks decide together
        mean_loss = all_reduce(opt, mean_loss)
        if not math.isfinite(mean_loss):
            raise Diverged(f"the loss is {mean_loss} (averaged over the ranks)")
    norm = clip_grad_norm(opt.params, grad_clip) if grad_clip else 0.0
    if not math.isfinite(norm):
        raise Diverged(f"the gradient norm is {norm}")
    opt.step(lr)
    opt.zero_grad()                                                        # backward adds into .grad
    return mean_loss, norm


def token_byte_lengths(tokenizer):
    """UTF-8 bytes of each token id (special tokens count 0: they are not text)."""
    lengths = np.array([len(b) for b in tokenizer.vocab], dtype=np.int64)
    lengths[list(tokenizer.special_tokens.values())] = 0
    return lengths


def evaluate(model, val, T, batch_size, token_bytes, max_windows=0):
    """Loss on non-overlapping val windows (all of them, or max_windows evenly spaced ones):
    {"val_loss": nats per token, "val_bpb": bits per byte, "val_tokens": tokens scored}."""
    T = min(T, len(val) - 1)
    starts = np.arange((len(val) - 1) // T) * T
    if max_windows and len(starts) > max_windows:
        starts = starts[np.linspace(0, len(starts) - 1, max_windows).astype(int)]
    nats, n_tokens, n_bytes = 0.0, 0, 0
    with no_grad():
        for i in range(0, len(starts), batch_size):
            windows = np.asarray(val[starts[i:i + batch_size, None] + np.arange(T + 1)], dtype=np.int64)
            targets = windows[:, 1:]                                       # (b, T)
            _, loss = model(windows[:, :-1], targets)
            nats += float(loss.data) * targets.size                        # mean -> sum
            n_tokens += targets.size
            n_bytes += int(token_bytes[targets].sum())
    return {"val_loss": nats / n_tokens, "val_bpb": nats / math.log(2) / max(n_bytes, 1),
            "val_tokens": n_tokens}


def sample_text(model, tokenizer, prompt, max_new_tokens, seed):
    """A sample (temperature 0.8, top-p 0.9) as text; its own generator, not the training one's."""
    if max_new_tokens == 0:                              # --sample-tokens 0: no sample
        return prompt
    ids = encode_prompt(tokenizer, prompt)[-model.cfg.max_seq_len:]
    new = generate(model, ids, max_new_tokens, 0.8, 0, 0.9, np.random.default_rng(seed), tokenizer.eot_id)
    return prompt + tokenizer.decode([i for i in new if i != tokenizer.eot_id])


# ---------------------------------------------------------------------------- the run and its loop
@dataclass
class Run:
    """Everything a training run holds; a checkpoint saves and restores all of it."""
    config: TrainConfig
    tokenizer: Tokenizer
    tokenizer_text: str
    train_ids: np.ndarray
    val_ids: np.ndarray
    corpus_sha256: str
    model: Transformer
    opt: AdamW
    rng: np.random.Generator           # the batches' random stream
    step: int = 0
    tokens: int = 0
    train_time: float = 0.0            # seconds spent in steps (not in evaluations)
    metrics: list = field(default_factory=list)
    ranks: int = 1                     # processes of a data-parallel run (tinyllm/ddp.py); resume needs as many

    @property
    def token_bytes(self):
        return token_byte_lengths(self.tokenizer)

    def lr(self):
        c = self.config
        progress = self.train_time / (c.minutes * 60) if c.minutes else step_progress(self.step, c.steps, c.warmup)
        return lr_at(self.step, progress, c.lr, c.min_lr, c.warmup)

    def finished(self):
        c = self.config
        return bool((c.steps and self.step >= c.steps) or (c.minutes and self.train_time >= c.minutes * 60))


def new_run(cfg, prepared=None):
    """A fresh Run: the data (prepare_data(cfg) unless given), a model initialised from cfg.seed, AdamW."""
    d = prepared or prepare_data(cfg)
    model = Transformer(cfg.model_config(d.tokenizer.vocab_size), seed=cfg.seed, dtype=np.dtype(cfg.dtype))
    opt = AdamW(model.named_parameters(), cfg.lr, (cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    return Run(cfg, d.tokenizer, d.tokenizer_text, d.train, d.val, d.corpus_sha256, model, opt,
               np.random.default_rng(cfg.seed))


def train_loop(run, folder, progress=None, stop=None, parallel=None):
    """Train until the step or time budget is spent; returns 0 (or 130 when stop.requested:
    the state is saved first). Every eval_every steps: evaluate, sample, checkpoint, plot.
    parallel: a ddp.DataParallel when this is rank 0 of a data-parallel run (then the batch is
    this rank's rows of the global one, the gradients are averaged over the ranks, and the
    ranks agree on the step's time and on stopping)."""
    cfg = run.config
    progress = progress or Progress(cfg.log_every)
    ranks = parallel.size if parallel else 1
    tokens_per_step = cfg.batch_size * cfg.context * cfg.grad_accum * ranks
    recent = []                                              # recent step times, for tokens/s and ETA
    folder.start_logs(run)                                   # metrics and samples agree with run.step
    if parallel and not run.finished():
        parallel.start()                                     # the ranks start the clock together
    while not run.finished():
        if stop is not None and stop.requested:
            folder.save(run)
            progress.print(f"interrupted: saved step {run.step} to {folder.ckpt}; continue with --resume")
            return 130
        lr = run.lr()
        t0 = time.perf_counter()
        draw = parallel.get_batch if parallel else get_batch
        batches = [draw(run.train_ids, cfg.batch_size, cfg.context, run.rng) for _ in range(cfg.grad_accum)]
        try:
            loss, norm = train_step(run.model, run.opt, batches, lr, cfg.grad_clip, parallel and parallel.all_reduce)
        except Diverged as e:
            raise folder.diverged(run, e) from None
        dt = time.perf_counter() - t0
        if parallel:                                         # the slowest rank's time; check the weights agree
            dt = parallel.sync(dt, run.opt if (run.step + 1) % cfg.eval_every == 0 else None)
        run.step, run.tokens, run.train_time = run.step + 1, run.tokens + tokens_per_step, run.train_time + dt
        folder.log(run, {"step": run.step, "tokens": run.tokens, "loss": loss, "lr": lr,
                         "grad_norm": norm, "time": round(run.train_time, 3)})
        recent = (recent + [dt])[-20:]
        progress.update(run.step, status_line(run, loss, lr, tokens_per_step, float(np.median(recent))))
        if run.step % cfg.eval_every == 0 and not run.finished():
            evaluate_and_save(run, folder, progress)
    evaluate_and_save(run, folder, progress, final=True)
    return 0


def evaluate_and_save(run, folder, progress, final=False):
    """Held-out loss (all val tokens if final), a sample, a checkpoint and the loss plot."""
    cfg = run.config
    t0 = time.perf_counter()
    result = evaluate(run.model, run.val_ids, cfg.context, cfg.batch_size, run.token_bytes,
                      0 if final else cfg.eval_windows)
    folder.log(run, {"step": run.step, "tokens": run.tokens, "time": round(run.train_time, 2),
                     **result, **({"final": True} if final else {})})
    text = sample_text(run.model, run.tokenizer, cfg.sample_prompt,
                       cfg.final_sample_tokens if final else cfg.sample_tokens, cfg.seed + run.step)
    folder.write_sample(run, result, text)
    folder.save(run)
    folder.plot(run)
    progress.print(f"{'final ' if final else ''}eval step {run.step}: val loss {result['val_loss']:.4f} "
                   f"nats/token, {result['val_bpb']:.4f} bits/byte on {result['val_tokens']:,} "
                   f"tokens ({time.perf_counter() - t0:.1f} s)\n--- sample ---\n{printable(text)}\n---")


def status_line(run, loss, lr, tokens_per_step, step_time):
    c = run.config
    eta = c.minutes * 60 - run.train_time if c.minutes else (c.steps - run.step) * step_time
    return (f"step {run.step}{f'/{c.steps}' if c.steps else ''} | loss {loss:.4f} | lr {lr:.2e} | "
            f"{tokens_per_step / step_time:,.0f} tok/s | ETA {format_seconds(eta)}")


# ============================================================================ the outer layer
# ---------------------------------------------------------------------------- the run folder
SAMPLE_HEADER = re.compile(r"^=== step (\d+), ", re.MULTILINE)


class RunFolder:
    """A run's output folder, written by one process at a time:

        with RunFolder("runs/x") as folder:   # flock on runs/x/.lock, or a TrainingError naming
            ...                               # the process that holds it; temp files of killed
                                              # runs (.tmp-*) are removed; released on exit
    The lock is the OS's: a crashed or killed holder releases it with its last file descriptor."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.ckpt = os.path.join(self.path, "ckpt.npz")
        self.metrics = os.path.join(self.path, "metrics.jsonl")
        self.samples = os.path.join(self.path, "samples.txt")
        self.loss_plot = os.path.join(self.path, "loss.png")
        self.lock_path = os.path.join(self.path, ".lock")
        self.removed = []                      # stale temporary files removed when the lock was taken
        self.saved_step = None                 # the step of the checkpoint on disk, if known
        self._lock = self._metrics_file = None

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.close()

    def lock(self):
        try:
            os.makedirs(self.path, exist_ok=True)
            f = open(self.lock_path, "a+", encoding="utf-8")
        except OSError as e:
            raise write_error(self.lock_path, e) from None
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise TrainingError(f"{self.path} is in use by another training run ({holder}); wait for it "
                                    f"to finish or stop it, or choose another --out") from None
        started = time.time()
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                f"{' '.join(['python -m tinyllm train'] + sys.argv[2:] if sys.argv[1:2] == ['train'] else sys.argv)}\n")
        f.flush()
        self._lock = f
        for folder in (self.path, os.path.join(self.path, "data")):
            self.removed += [os.path.join(folder, n) for n in remove_stale_temp_files(folder, started)]
        return self

    def close(self):
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
        if self._lock is not None:
            self._lock.close()                 # closing the descriptor releases the flock
            self._lock = None

    # -- logs: metrics.jsonl and samples.txt, cut back to the run's step when it (re)starts
    def start_logs(self, run):
        """metrics.jsonl := the run's metrics (empty for a new run, the checkpoint's on resume);
        samples.txt := its samples up to run.step. So a killed-and-resumed run logs each step once."""
        with atomic_write(self.metrics) as f:
            f.write("".join(json.dumps(r) + "\n" for r in run.metrics).encode("utf-8"))
        kept = ""
        if run.step and os.path.exists(self.samples):
            with open(self.samples, encoding="utf-8", errors="replace") as f:
                kept = f.read()
            later = [m.start() for m in SAMPLE_HEADER.finditer(kept) if int(m.group(1)) > run.step]
            kept = kept[:later[0]] if later else kept
        with atomic_write(self.samples) as f:
            f.write(kept.encode("utf-8"))
        if self._metrics_file is not None:
            self._metrics_file.close()
        self._metrics_file = open(self.metrics, "a", encoding="utf-8")
        self.saved_step = run.step if run.step else None

    def log(self, run, record):
        run.metrics.append(record)
        self._metrics_file.write(json.dumps(record) + "\n")
        self._metrics_file.flush()

    def write_sample(self, run, result, text):
        with open(self.samples, "a", encoding="utf-8") as f:
            f.write(f"=== step {run.step}, {run.tokens:,} tokens, val loss {result['val_loss']:.4f} ===\n"
                    f"{text}\n\n")

    # -- checkpoint and plot
    def kept(self):
        if self.saved_step is not None and os.path.exists(self.ckpt):
            return f"the last good checkpoint (step {self.saved_step}) is intact in {self.ckpt}"
        if os.path.exists(self.ckpt):
            return f"the last good checkpoint is intact in {self.ckpt}"
        return "no checkpoint had been written yet"

    def save(self, run):
        """Checkpoint atomically, refusing a state that is not finite (it would be useless)."""
        if not np.isfinite(run.opt.flat).all():
            raise TrainingError(f"parameters are not finite at step {run.step}; not saving, "
                                f"{self.ckpt} keeps the last good state")
        with self.disk_full_explained():
            save_checkpoint(self.ckpt, run.model, checkpoint_meta(run), run.opt.state_dict())
        self.saved_step = run.step

    def plot(self, run):
        cfg = run.config
        with self.disk_full_explained():
            plot_losses(run.metrics, self.loss_plot,
                        f"{self.path}: {cfg.preset} preset, {run.model.num_params() / 1e6:.2f} M parameters, "
                        f"vocab {run.model.cfg.vocab_size}")

    @contextlib.contextmanager
    def disk_full_explained(self):
        """A full disk while writing: say that the last good checkpoint is intact, and where."""
        try:
            yield
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TrainingError(f"{e}; {self.kept()}. Free some space, then continue with --resume") from e
            raise

    def diverged(self, run, e):
        kept = (f"{self.ckpt} keeps the last good state" + (f" (step {self.saved_step})" if self.saved_step else "")
                if os.path.exists(self.ckpt) else "no checkpoint had been written yet")
        return TrainingError(f"training stopped at step {run.step + 1}: {e}. Nothing from this step was saved; "
                             f"{kept}. Try a lower --lr (now {run.config.lr}) or check the data, then --resume.")


def checkpoint_meta(run):
    """What a checkpoint holds beyond the weights and AdamW's state (resume_run reads it back)."""
    cfg = run.config
    return {"step": run.step, "tokens": run.tokens, "train_time": run.train_time,
            "rng": run.rng.bit_generator.state, "train_config": dataclasses.asdict(cfg),
            "tokenizer": run.tokenizer_text, "metrics": run.metrics, "ranks": run.ranks,
            "data": {"text": os.path.abspath(cfg.text) if cfg.text else None,
                     "text_sha256": run.corpus_sha256,
                     "tokenizer_sha256": text_hash(run.tokenizer_text),
                     "train": os.path.basename(run.train_ids.filename),
                     "val": os.path.basename(run.val_ids.filename)}}


# ---------------------------------------------------------------------------- resume
def saved_config(meta, path):
    """The TrainConfig fields a checkpoint recorded (or an older tinyllm's argparse flags)."""
    saved = meta.get("train_config")
    if saved is None and isinstance(meta.get("args"), dict):      # written before TrainConfig
        saved = dict(meta["args"])
        saved["steps"], saved["minutes"] = saved.get("steps") or None, saved.get("minutes") or None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} was not written by tinyllm train (no training config in it)")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in saved.items() if k in names}


def resume_run(out, overrides=None, allow_new_data=False):
    """The Run saved in out/ckpt.npz, with `overrides` ({field: value}, e.g. a longer budget).
    Options that define the run (RUN_IDENTITY) must not change. The corpus is found by the
    absolute path it was trained from, or overrides["text"]; it must have the same content (sha256)
    unless allow_new_data. A --tokenizer given again must be the checkpoint's, by content."""
    overrides = dict(overrides or {})
    ckpt = os.path.join(out, "ckpt.npz")
    if not os.path.exists(ckpt):
        raise TrainingError(f"{out} holds no checkpoint to resume ({ckpt} not found); start without --resume")
    meta, params, optim = read_checkpoint(ckpt)
    saved = saved_config(meta, ckpt)
    changed = [f"{flag(k)} {saved.get(k)!r} -> {v!r}" for k, v in overrides.items()
               if k in RUN_IDENTITY and saved.get(k) != v]
    if changed:
        raise TrainingError(f"--resume must continue the same run; changed: {', '.join(changed)} "
                            f"(start a new run in another --out to change them)")
    identity = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    if "text" not in overrides and identity.get("text_sha256"):
        saved_text = identity.get("text")
        if saved_text and not os.path.exists(saved_text):
            raise TrainingError(f"this run's corpus {saved_text} is gone; pass a copy of it with --text FILE "
                                f"(it is recognised by content), or --text and --allow-new-data for new text")
        overrides["text"] = saved_text
    try:
        cfg = TrainConfig(**{**saved, **overrides, "out": os.fspath(out)})
    except ConfigError as e:
        if set(overrides) - {"out", "text"}:
            raise
        raise CheckpointError(f"{ckpt}: bad training config: {e}") from None
    tokenizer_text = meta.get("tokenizer")
    if not isinstance(tokenizer_text, str):
        raise CheckpointError(f"{ckpt} holds no tokenizer (not written by tinyllm train)")
    if "tokenizer" in overrides:
        _, given = read_tokenizer(overrides["tokenizer"])
        if text_hash(given) != text_hash(tokenizer_text):
            raise TrainingError(f"--tokenizer {overrides['tokenizer']} is not the tokenizer this run was trained "
                                f"with ({ckpt} holds its own); drop --tokenizer to resume")
    model_cfg = config_from_meta(meta, ckpt)
    check_shapes(model_cfg, params, ckpt)                         # before any model is built
    try:
        tokenizer = Tokenizer.loads(tokenizer_text, source=f"{ckpt}'s tokenizer")
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if tokenizer.vocab_size != model_cfg.vocab_size:
        raise CheckpointError(f"{ckpt}: its tokenizer has {tokenizer.vocab_size} tokens, its model "
                              f"{model_cfg.vocab_size}: the file is corrupt or was edited")
    d = prepare_data(cfg, tokenizer_text)
    if identity.get("text_sha256") and d.corpus_sha256 != identity["text_sha256"]:
        what = cfg.text or "the Shakespeare corpus"
        if not allow_new_data:
            raise TrainingError(f"{what} is not the text this run was trained on (its content changed, "
                                f"sha256 {d.corpus_sha256[:12]} now, {identity['text_sha256'][:12]} in {ckpt}); "
                                f"pass the original file with --text, or --allow-new-data to continue on this text")
        print(f"warning: {what} is new text (--allow-new-data); the run will not repeat an uninterrupted one")
    model = Transformer(model_cfg, seed=cfg.seed, dtype=np.dtype(cfg.dtype))
    model.load_state_dict(params)
    opt = AdamW(model.named_parameters(), cfg.lr, (cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    run = Run(cfg, tokenizer, tokenizer_text, d.train, d.val, d.corpus_sha256, model, opt,
              np.random.default_rng(cfg.seed))
    try:
        opt.load_state_dict(optim)
        run.rng.bit_generator.state = meta["rng"]                 # where the batch stream is
        run.step, run.tokens, run.train_time = int(meta["step"]), int(meta["tokens"]), float(meta["train_time"])
        run.metrics = list(meta["metrics"])
        run.ranks = int(meta.get("ranks", 1))
        if run.step < 0 or not all(isinstance(r, dict) for r in run.metrics):
            raise ValueError("step or metrics out of range")
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{ckpt}: the training state is corrupt ({type(e).__name__}: {e})") from None
    return run


# ---------------------------------------------------------------------------- signals, progress, plot
class StopOnSignal:
    """with StopOnSignal() as stop: ... — Ctrl-C or SIGTERM sets stop.requested (train_loop then
    saves after the current step and stops); a second signal stops at once."""
    requested = False

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def format_seconds(s):
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """One status line: redrawn in place (\\r) on a terminal, printed every `every` steps otherwise."""

    def __init__(self, every, out=None):
        self.out = out or sys.stdout
        self.tty, self.every, self.shown = self.out.isatty(), every, False

    def update(self, step, line):
        if self.tty:
            self.out.write("\r" + line + "\x1b[K")
            self.shown = True
        elif step % self.every == 0:
            self.out.write(line + "\n")
        self.out.flush()

    def print(self, text):
        """A normal line of output, below the status line."""
        if self.shown:
            self.out.write("\r\x1b[K")
            self.shown = False
        self.out.write(text + "\n")
        self.out.flush()


def plot_losses(metrics, path, title):
    """loss.png: train loss per step (faint) and smoothed, val loss at each evaluation, against
    tokens seen. Uses matplotlib's Figure directly (Agg), so no global pyplot state."""
    from matplotlib.figure import Figure
    steps = [r for r in metrics if "loss" in r]
    evals = [r for r in metrics if "val_loss" in r]
    fig = Figure(figsize=(8, 5), dpi=110)
    ax = fig.subplots()
    if steps:
        x, y = np.array([r["tokens"] for r in steps]), np.array([r["loss"] for r in steps])
        ax.plot(x, y, color="tab:blue", alpha=0.25, linewidth=0.8)
        k = max(1, len(y) // 50)                                          # moving average of k steps
        smooth = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(x[k - 1:], smooth, color="tab:blue", label=f"train (mean of {k} steps)" if k > 1 else "train")
    periodic = [r for r in evals if not r.get("final")]
    if periodic:
        ax.plot([r["tokens"] for r in periodic], [r["val_loss"] for r in periodic], "o-",
                color="tab:orange", label="val (held-out text, sampled windows)")
    final = [r for r in evals if r.get("final")]
    if final:
        ax.plot([r["tokens"] for r in final], [r["val_loss"] for r in final], "*", markersize=12,
                color="tab:red", label=f"val, all held-out tokens: {final[-1]['val_loss']:.3f}")
    ax.set(title=title, xlabel="tokens seen", ylabel="loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, suffix=".png") as f:
        fig.savefig(f, format="png")


def compile_kernels(run):
    """A tiny forward + backward and AdamW update on scratch arrays, before the clock starts:
    Numba compiles its kernels for this dtype on first use (then loads them from its disk
    cache), which should not eat into a --minutes budget. The model's weights, the optimizer
    and the random streams are not touched. Returns the seconds it took."""
    t0 = time.perf_counter()
    ids = np.zeros((1, min(8, run.config.context) + 1), dtype=np.int64)
    _, loss = run.model(ids[:, :-1], ids[:, 1:])
    loss.backward()
    run.opt.zero_grad()
    scratch = np.zeros(4, dtype=run.model.dtype)
    kernels.adamw_step(scratch, scratch.copy(), scratch.copy(), scratch.copy(), 1e-3, 0.9, 0.99, 1e-8, 0.1, 1)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------- command line
def build_parser():
    """The flags; each sets the TrainConfig field of the same name. Defaults are TrainConfig's
    (argparse leaves unset flags out, so --resume can tell them from the checkpoint's values)."""
    d = TrainConfig
    p = argparse.ArgumentParser(prog="python -m tinyllm train", description=__doc__.split("\n")[0],
                                argument_default=argparse.SUPPRESS)
    p.add_argument("--preset", help=f"model shape: {' | '.join(PRESETS)} (default {d.preset})")
    p.add_argument("--text", help="train on this UTF-8 file (default: Shakespeare)")
    p.add_argument("--tokenizer", help="use this tokenizer file instead of training one")
    p.add_argument("--vocab-size", type=int, help="BPE vocabulary (default: the preset's, at least 512)")
    p.add_argument("--out", help="output folder (default: runs/PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.npz")
    p.add_argument("--allow-new-data", action="store_true",
                   help="with --resume: continue on a corpus whose content differs from the checkpoint's")
    p.add_argument("--data-parallel", action="store_true",
                   help="one rank of a data-parallel run: mpirun -n N python -m tinyllm train --data-parallel "
                        "...; --batch-size is per rank (needs tinyllm[mpi]; see tinyllm/ddp.py)")
    shape = p.add_argument_group("model shape (default: the preset's; recorded in the checkpoint)")
    shape.add_argument("--dim", type=int, help="model width")
    shape.add_argument("--n-layers", type=int)
    shape.add_argument("--n-heads", type=int, help="query heads (must divide --dim; head dim even)")
    shape.add_argument("--n-kv-heads", type=int, help="key/value heads (must divide --n-heads)")
    shape.add_argument("--ffn-dim", type=int, help="SwiGLU hidden width (default: Llama's rule from --dim)")
    shape.add_argument("--context", type=int, help="tokens per window = the model's max_seq_len")
    shape.add_argument("--rope-theta", type=float, help="RoPE base")
    shape.add_argument("--sliding-window", type=int, metavar="W",
                       help="Mistral's sliding-window attention: each token sees the last W (default: all)")
    shape.add_argument("--rope-scaling", type=float, nargs=4, metavar=("FACTOR", "LOW", "HIGH", "ORIGINAL"),
                       help="Llama 3.1 RoPE scaling: factor, low_freq_factor, high_freq_factor, "
                            "original_max_position_embeddings (e.g. 8 1 4 8192)")
    p.add_argument("--steps", type=int, help="optimizer steps (default 1000 if no --minutes)")
    p.add_argument("--minutes", type=float, help="training-time budget; the lr cosine follows it")
    p.add_argument("--batch-size", type=int, help=f"(default {d.batch_size})")
    p.add_argument("--grad-accum", type=int, help=f"micro-batches per optimizer step (default {d.grad_accum})")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--min-lr", type=float, help=f"(default {d.min_lr})")
    p.add_argument("--warmup", type=int, help=f"linear warm-up steps (default {d.warmup})")
    p.add_argument("--weight-decay", type=float, help=f"(default {d.weight_decay})")
    p.add_argument("--beta1", type=float, help=f"(default {d.beta1})")
    p.add_argument("--beta2", type=float, help=f"(default {d.beta2})")
    p.add_argument("--grad-clip", type=float, help=f"max global gradient norm, 0 = off (default {d.grad_clip})")
    p.add_argument("--seed", type=int, help=f"(default {d.seed})")
    p.add_argument("--dtype", choices=["float32", "float64"], help=f"(default {d.dtype})")
    p.add_argument("--eval-every", type=int, help=f"steps between evaluations + checkpoints (default {d.eval_every})")
    p.add_argument("--eval-windows", type=int,
                   help=f"val windows per periodic eval, 0 = all; the final one uses all (default {d.eval_windows})")
    p.add_argument("--sample-prompt", help="prompt of the samples (default: start of a document)")
    p.add_argument("--sample-tokens", type=int, help=f"tokens per sample at each eval (default {d.sample_tokens})")
    p.add_argument("--final-sample-tokens", type=int, help=f"(default {d.final_sample_tokens})")
    p.add_argument("--log-every", type=int,
                   help=f"steps between progress lines when not on a terminal (default {d.log_every})")
    return p


def parse_flags(argv):
    """argv -> ({TrainConfig field: value} for the flags given, resume?, allow_new_data?)."""
    flags = vars(build_parser().parse_args(argv))
    flags.pop("data_parallel", None)
    return flags, flags.pop("resume", False), flags.pop("allow_new_data", False)


def main(argv=None, parallel=None):
    """python -m tinyllm train ...; returns the exit code (0, 1 on an error, 130 when interrupted).
    With --data-parallel every rank goes to tinyllm/ddp.py, which calls this again on rank 0 with
    `parallel` (that rank then shares the run it builds with the others, and trains with them)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if parallel is None and "--data-parallel" in argv:
        from tinyllm import ddp                        # imports mpi4py: only on this path
        return ddp.main(argv)
    flags, resume, allow_new_data = parse_flags(argv)
    try:
        out = flags.get("out") or os.path.join("runs", flags.get("preset", TrainConfig.preset))
        if not resume:
            cfg = TrainConfig(**flags)                 # bad options fail before anything is written
        with RunFolder(out) as folder:                 # one writer per folder, until we return
            if folder.removed:
                print(f"removed {len(folder.removed)} temporary file(s) left by an interrupted run: "
                      f"{', '.join(os.path.basename(p) for p in folder.removed)}")
            ranks = parallel.size if parallel else 1
            if resume:
                run = resume_run(out, flags, allow_new_data)
                if run.ranks != ranks:                 # the global batch is ranks x --batch-size windows
                    raise TrainingError(f"{out} was trained by {run.ranks} process(es), this is {ranks}: resume it "
                                        f"with as many ({'mpirun -n %d ... --data-parallel' % run.ranks if run.ranks > 1 else 'without --data-parallel'})")
                print(f"resuming {folder.ckpt} at step {run.step}")
            elif os.path.exists(folder.ckpt):
                raise TrainingError(f"{out} already holds a run ({folder.ckpt}); pass --resume to continue "
                                    f"it, or choose another --out (nothing was overwritten)")
            else:
                run = new_run(cfg)
                run.ranks = ranks
            if parallel:
                parallel.share(run)                    # the other ranks start from this very state
            c = run.config
            run.model.summary()
            print(f"data: {len(run.train_ids):,} train / {len(run.val_ids):,} val tokens in "
                  f"{os.path.dirname(run.train_ids.filename)}; {c.batch_size} x {c.context} tokens "
                  f"x {c.grad_accum} per step" + (f" x {parallel.size} ranks" if parallel else "") + "; "
                  + (f"{c.minutes} minutes" if c.minutes else f"{c.steps} steps"))
            progress = Progress(c.log_every)
            progress.print(f"Numba kernels ready in {compile_kernels(run):.1f} s (compiled on first use, "
                           f"then cached; not counted in the training time)")
            if run.finished() and run.metrics and run.metrics[-1].get("final"):
                folder.start_logs(run)
                print(f"the run in {out} is complete (step {run.step}); give a larger --steps or --minutes "
                      f"with --resume to train it further")
                return 0
            with StopOnSignal() as stop:
                if parallel:                           # stop when any rank is asked to (parallel.requested)
                    parallel.local_stop, stop = stop, parallel
                return train_loop(run, folder, progress, stop, parallel)
    except (TrainingError, CheckpointError, ValueError, OSError, RuntimeError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
