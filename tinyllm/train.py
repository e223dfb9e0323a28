"""Training: python -m tinyllm train --preset shakespeare --minutes 10 --out runs/shakespeare

    text ──BPE──▶ uint16 token files ──random windows──▶ (B, T+1) batches
         ──▶ forward + cross-entropy ──▶ backward ──▶ clip ‖g‖ ──▶ AdamW (warm-up + cosine lr)

The file reads top to bottom in the order a run happens:

    TrainConfig      every option, checked (what the CLI fills, or a lesson builds directly)
    prepare_data     tokenizer + train/val token files      get_batch   (B, T+1) random windows
    train_step       forward, backward, clip, AdamW         evaluate    held-out nats/token, bits/byte
    new_run          tokenizer, data, model, optimizer, RNG: a Run (all a checkpoint restores)
    train_loop       the loop: step, log, every eval_every steps evaluate + sample + checkpoint

The outer layer is in two more files: tinyllm/run_folder.py (RunFolder: the output folder, its
lock, logs, checkpoint and plot; resume_run: a Run back from OUT/ckpt.npz) and
tinyllm/train_cli.py (the command line: flags, Ctrl-C, the progress line, main).

Data-parallel training over N processes (mpirun -n N ... --data-parallel) is tinyllm/ddp.py; here
it is a `parallel` argument of train_loop and an `all_reduce` argument of train_step.

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
short sample, and a checkpoint (tinyllm/run_folder.py: what the output folder holds).
"""
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from autograd import no_grad
from tinyllm import data
from tinyllm.files import atomic_write
from tinyllm.generate import encode_prompt, generate, printable
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm, lr_at, step_progress
from tinyllm.tokenizer import ENDOFTEXT, Tokenizer


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
