"""Training: python -m tinyllm train --preset shakespeare --minutes 10 --out runs/shakespeare

    text ──BPE──▶ uint16 token files ──random windows──▶ (B, T+1) batches
         ──▶ forward + cross-entropy ──▶ backward ──▶ clip ‖g‖ ──▶ AdamW (warm-up + cosine lr)

The corpus is Shakespeare (tinyllm/data.py; three whole plays held out for validation) or any
UTF-8 file (--text; its last 10% of lines held out). A byte-level BPE tokenizer is trained on
the training split (or --tokenizer FILE is used), then both splits are tokenized once into
uint16 files under OUT/data/, named by a hash of the tokenizer and the text, so they are
rebuilt only when either changes (../shared/bench/torch_ref.py reads the same files).

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

--resume continues from OUT/ckpt.npz exactly where it stopped (same batches, same losses as an
uninterrupted run); Ctrl-C or SIGTERM stops at the end of the current step and saves first. A
NaN or inf loss stops training with an error; the checkpoint on disk is the last good one. With --steps
the run is deterministic for a given --seed; with --minutes the lr follows the clock (the
cosine runs over training time, as torch_ref's --minutes), so it is not.
"""
import argparse
import hashlib
import json
import math
import os
import signal
import sys
import time

import numpy as np

from autograd import kernels, no_grad
from autograd.memory import reuse_freed_memory
from tinyllm import data
from tinyllm.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from tinyllm.files import atomic_write
from tinyllm.generate import encode_prompt, generate, printable
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm, lr_at, step_progress
from tinyllm.tokenizer import ENDOFTEXT, Tokenizer

# Flags that define a run: on --resume they must be what the checkpoint was trained with.
RUN_IDENTITY = ("preset", "text", "tokenizer", "vocab_size", "batch_size", "context",
                "grad_accum", "seed", "dtype")


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, bad data, mismatched resume); the message says why."""


# ---------------------------------------------------------------------------- files
def write_atomic(path, data):
    """Write bytes or str to path all at once (tinyllm.files.atomic_write: never half-written)."""
    with atomic_write(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def text_hash(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- data
def load_corpus(text_path):
    """(train text, val text): --text FILE, or Shakespeare with <|endoftext|> between works."""
    if text_path:
        return data.load_text_file(text_path)
    return data.load_shakespeare(separator=ENDOFTEXT)


def tokenize_to_file(tokenizer, tokenizer_text, text, folder, split):
    """The text's token ids as a read-only uint16 memmap, cached as folder/{split}-{hash}.bin."""
    key = text_hash(tokenizer_text, text)
    path = os.path.join(folder, f"{split}-{key}.bin")
    if not os.path.exists(path):
        ids = np.array(tokenizer.encode(text, allowed_special="all"), dtype=np.uint16)
        if ids.size == 0:
            raise TrainingError(f"the {split} text is empty: nothing to tokenize")
        write_atomic(path, ids.tobytes())
        for name in os.listdir(folder):                      # stale files of older tokenizers/texts
            if name.startswith(split + "-") and name.endswith(".bin") and name != os.path.basename(path):
                os.remove(os.path.join(folder, name))
    return np.memmap(path, dtype=np.uint16, mode="r")


def prepare_data(args, tokenizer_text=None):
    """Tokenizer + train/val token memmaps. tokenizer_text (from a checkpoint) wins over
    --tokenizer FILE, which wins over training a new one on the train split."""
    train_text, val_text = load_corpus(args.text)
    if tokenizer_text is None and args.tokenizer:
        with open(args.tokenizer, encoding="utf-8") as f:
            tokenizer_text = f.read()
    if tokenizer_text is None:
        t0 = time.perf_counter()
        tokenizer = Tokenizer.train(train_text, args.vocab_size)
        print(f"trained a BPE tokenizer: {tokenizer.vocab_size} tokens in {time.perf_counter() - t0:.1f} s")
        path = os.path.join(args.out, "tokenizer.json")
        tokenizer.save(path)
        with open(path, encoding="utf-8") as f:
            tokenizer_text = f.read()
    else:
        tokenizer = Tokenizer.loads(tokenizer_text, source="the checkpoint's tokenizer")
        write_atomic(os.path.join(args.out, "tokenizer.json"), tokenizer_text)
    tokenizer.save_vocab(os.path.join(args.out, "tokenizer.vocab"))
    if tokenizer.vocab_size > 65536:
        raise TrainingError(f"vocab of {tokenizer.vocab_size} tokens does not fit the uint16 token files")
    folder = os.path.join(args.out, "data")
    os.makedirs(folder, exist_ok=True)
    train = tokenize_to_file(tokenizer, tokenizer_text, train_text, folder, "train")
    val = tokenize_to_file(tokenizer, tokenizer_text, val_text, folder, "val")
    if len(train) < args.context + 1:
        raise TrainingError(f"the training text is only {len(train)} tokens; a window needs "
                            f"context + 1 = {args.context + 1} (use more text or a smaller --context)")
    if len(val) < 2:
        raise TrainingError(f"the validation text is only {len(val)} tokens; need at least 2")
    return tokenizer, tokenizer_text, train, val


def get_batch(tokens, batch_size, T, rng):
    """(B, T+1) int64: batch_size windows of T+1 tokens starting at random positions."""
    starts = rng.integers(0, len(tokens) - T, size=batch_size)          # window [s, s + T]
    return np.stack([tokens[s:s + T + 1] for s in starts]).astype(np.int64)


# ---------------------------------------------------------------------------- evaluation
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
    ids = encode_prompt(tokenizer, prompt)[-model.cfg.max_seq_len:]
    new = generate(model, ids, max_new_tokens, 0.8, 0, 0.9, np.random.default_rng(seed), tokenizer.eot_id)
    return prompt + tokenizer.decode([i for i in new if i != tokenizer.eot_id])


# ---------------------------------------------------------------------------- display and plot
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


# ---------------------------------------------------------------------------- the run
class Run:
    """Everything a training run holds, and how it is checkpointed and restored."""

    def __init__(self, args, resume_from=None):
        """A fresh run from args, or (resume_from = read_checkpoint's triple) a restored one."""
        self.args = args
        meta, params, optim = resume_from or ({}, None, None)
        self.tokenizer, self.tokenizer_text, self.train_ids, self.val_ids = prepare_data(
            args, meta.get("tokenizer"))
        if resume_from:
            self.cfg = ModelConfig(**meta["config"])
        else:
            self.cfg = ModelConfig.preset(args.preset, vocab_size=self.tokenizer.vocab_size)
        if args.context > self.cfg.max_seq_len:
            raise TrainingError(f"--context {args.context} is longer than the {args.preset} "
                                f"model's max_seq_len {self.cfg.max_seq_len}")
        self.model = Transformer(self.cfg, seed=args.seed, dtype=np.dtype(args.dtype))
        self.rng = np.random.default_rng(args.seed)                      # the batches
        self.step, self.tokens, self.train_time, self.metrics = 0, 0, 0.0, []
        if resume_from:
            now = {"train": os.path.basename(self.train_ids.filename), "val": os.path.basename(self.val_ids.filename)}
            if meta.get("data") != now:
                print(f"warning: the text changed since the checkpoint ({meta.get('data')} -> {now}); "
                      f"training continues on the new tokens, so it will not repeat an uninterrupted run")
            self.model.load_state_dict(params)
            self.rng.bit_generator.state = meta["rng"]                  # where the batch stream is
            self.step, self.tokens = meta["step"], meta["tokens"]
            self.train_time, self.metrics = meta["train_time"], meta["metrics"]
        self.opt = AdamW(self.model.named_parameters(), args.lr, (args.beta1, args.beta2),
                         weight_decay=args.weight_decay)
        if resume_from:
            self.opt.load_state_dict(optim)
        self.token_bytes = token_byte_lengths(self.tokenizer)
        self.ckpt_path = os.path.join(args.out, "ckpt.npz")
        self.metrics_path = os.path.join(args.out, "metrics.jsonl")

    def save(self):
        """Checkpoint atomically, refusing a state that is not finite (it would be useless)."""
        if not np.isfinite(self.opt.flat).all():
            raise TrainingError(f"parameters are not finite at step {self.step}; not saving, "
                                f"{self.ckpt_path} keeps the last good state")
        meta = {"step": self.step, "tokens": self.tokens, "train_time": self.train_time,
                "rng": self.rng.bit_generator.state, "args": vars(self.args),
                "tokenizer": self.tokenizer_text, "metrics": self.metrics,
                "data": {"train": os.path.basename(self.train_ids.filename),
                         "val": os.path.basename(self.val_ids.filename)}}
        save_checkpoint(self.ckpt_path, self.model, meta, self.opt.state_dict())

    def log(self, record):
        self.metrics.append(record)
        self.metrics_file.write(json.dumps(record) + "\n")
        self.metrics_file.flush()

    def lr(self):
        a = self.args
        if a.minutes:
            progress = self.train_time / (a.minutes * 60)
        else:
            progress = step_progress(self.step, a.steps, a.warmup)
        return lr_at(self.step, progress, a.lr, a.min_lr, a.warmup)

    def done(self):
        a = self.args
        return (a.steps and self.step >= a.steps) or (a.minutes and self.train_time >= a.minutes * 60)

    def train_step(self, lr):
        """One optimizer step over grad_accum micro-batches; returns (mean loss, grad norm)."""
        a, losses = self.args, []
        for _ in range(a.grad_accum):
            batch = get_batch(self.train_ids, a.batch_size, a.context, self.rng)   # (B, T+1)
            _, loss = self.model(batch[:, :-1], batch[:, 1:])
            losses.append(float(loss.data))
            if not math.isfinite(losses[-1]):
                self.diverged(f"the loss is {losses[-1]}")
            loss.backward(np.asarray(1.0 / a.grad_accum, dtype=loss.dtype))   # mean over micro-batches
        norm = clip_grad_norm(self.opt.params, a.grad_clip) if a.grad_clip else 0.0
        if not math.isfinite(norm):
            self.diverged(f"the gradient norm is {norm}")
        self.opt.step(lr)
        self.opt.zero_grad()
        return sum(losses) / len(losses), norm

    def compile_kernels(self):
        """A tiny forward + backward and AdamW update on scratch arrays, before the clock starts:
        Numba compiles its kernels for this dtype on first use (~30 s on a fresh machine, then
        loaded from its disk cache in ~1 s), which should not eat into a --minutes budget.
        The model's weights, the optimizer and the random streams are not touched."""
        t0 = time.perf_counter()
        ids = np.zeros((1, min(8, self.args.context) + 1), dtype=np.int64)
        _, loss = self.model(ids[:, :-1], ids[:, 1:])
        loss.backward()
        self.opt.zero_grad()
        scratch = np.zeros(4, dtype=self.model.dtype)
        kernels.adamw_step(scratch, scratch.copy(), scratch.copy(), scratch.copy(), 1e-3, 0.9, 0.99,
                           1e-8, 0.1, 1)
        return time.perf_counter() - t0

    def diverged(self, what):
        kept = (f"{self.ckpt_path} still holds the last good state" if os.path.exists(self.ckpt_path)
                else "no checkpoint had been written yet")
        raise TrainingError(f"training stopped at step {self.step + 1}: {what}. Nothing from this "
                            f"step was saved; {kept}. Try a lower --lr (now {self.args.lr}) or "
                            f"check the data, then --resume.")

    def evaluate_and_save(self, progress, final=False):
        a = self.args
        t0 = time.perf_counter()
        result = evaluate(self.model, self.val_ids, a.context, a.batch_size, self.token_bytes,
                          0 if final else a.eval_windows)
        record = {"step": self.step, "tokens": self.tokens, "time": round(self.train_time, 2),
                  **result, **({"final": True} if final else {})}
        self.log(record)
        text = sample_text(self.model, self.tokenizer, a.sample_prompt,
                           a.final_sample_tokens if final else a.sample_tokens, a.seed + self.step)
        with open(os.path.join(a.out, "samples.txt"), "a", encoding="utf-8") as f:
            f.write(f"=== step {self.step}, {self.tokens:,} tokens, val loss {result['val_loss']:.4f} ===\n"
                    f"{text}\n\n")
        self.save()
        plot_losses(self.metrics, os.path.join(a.out, "loss.png"),
                    f"{a.out}: {a.preset} preset, {self.model.num_params() / 1e6:.2f} M parameters, "
                    f"vocab {self.cfg.vocab_size}")
        progress.print(f"{'final ' if final else ''}eval step {self.step}: val loss {result['val_loss']:.4f} "
                       f"nats/token, {result['val_bpb']:.4f} bits/byte on {result['val_tokens']:,} "
                       f"tokens ({time.perf_counter() - t0:.1f} s)\n--- sample ---\n{printable(text)}\n---")

    def run(self):
        a = self.args
        tokens_per_step = a.batch_size * a.context * a.grad_accum
        stop = {"requested": False}

        def on_stop_signal(signum, frame):                 # Ctrl-C or kill: finish the step, save, stop
            stop["requested"] = True
            signal.signal(signal.SIGINT, signal.default_int_handler)   # a second one stops at once
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

        previous_handlers = {s: signal.signal(s, on_stop_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        progress = Progress(a.log_every)
        progress.print(f"Numba kernels ready in {self.compile_kernels():.1f} s (compiled on first use, "
                       f"then cached; not counted in the training time)")
        recent = []                                        # recent step times, for tokens/s and ETA
        self.metrics_file = open(self.metrics_path, "a", encoding="utf-8")
        try:
            while not self.done():
                if stop["requested"]:
                    self.save()
                    progress.print(f"interrupted: saved step {self.step} to {self.ckpt_path}; "
                                   f"continue with --resume")
                    return 130
                lr = self.lr()
                t0 = time.perf_counter()
                loss, norm = self.train_step(lr)
                dt = time.perf_counter() - t0
                self.step, self.tokens, self.train_time = self.step + 1, self.tokens + tokens_per_step, self.train_time + dt
                self.log({"step": self.step, "tokens": self.tokens, "loss": loss, "lr": lr,
                          "grad_norm": norm, "time": round(self.train_time, 3)})
                recent = (recent + [dt])[-20:]
                step_time = float(np.median(recent))
                if a.minutes:
                    eta = a.minutes * 60 - self.train_time
                else:
                    eta = (a.steps - self.step) * step_time
                progress.update(self.step, f"step {self.step}{f'/{a.steps}' if a.steps else ''} | "
                                f"loss {loss:.4f} | lr {lr:.2e} | {tokens_per_step / step_time:,.0f} tok/s | "
                                f"ETA {format_seconds(eta)}")
                if self.step % a.eval_every == 0 and not self.done():
                    self.evaluate_and_save(progress)
            self.evaluate_and_save(progress, final=True)
        finally:
            self.metrics_file.close()
            for s, handler in previous_handlers.items():
                signal.signal(s, handler)
        return 0


# ---------------------------------------------------------------------------- command line
def build_parser():
    p = argparse.ArgumentParser(prog="python -m tinyllm train", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="shakespeare", help="model shape: tiny | shakespeare | stories15M")
    p.add_argument("--text", default=None, help="train on this UTF-8 file (default: Shakespeare)")
    p.add_argument("--tokenizer", default=None, help="use this tokenizer file instead of training one")
    p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default: the preset's)")
    p.add_argument("--out", default=None, help="output folder (default: runs/PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.npz")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps (default 1000 if no --minutes)")
    p.add_argument("--minutes", type=float, default=0.0, help="training-time budget; the lr cosine follows it")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--context", type=int, default=None, help="tokens per window (default: the preset's max)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm (0 = off)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--eval-every", type=int, default=100, help="steps between evaluations + checkpoints")
    p.add_argument("--eval-windows", type=int, default=16, help="val windows per periodic eval (the final one uses all)")
    p.add_argument("--sample-prompt", default="", help="prompt of the samples (default: start of a document)")
    p.add_argument("--sample-tokens", type=int, default=64, help="tokens per sample at each eval")
    p.add_argument("--final-sample-tokens", type=int, default=200)
    p.add_argument("--log-every", type=int, default=10, help="steps between progress lines when not on a terminal")
    return p


def parse_args(argv):
    """Flags; with --resume, the checkpoint's flags are the defaults and RUN_IDENTITY ones must match."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join("runs", args.preset)
    ckpt = os.path.join(args.out, "ckpt.npz")
    resume_from = None
    if args.resume:
        resume_from = read_checkpoint(ckpt)
        saved = resume_from[0].get("args")
        if not isinstance(saved, dict):
            raise CheckpointError(f"{ckpt} was not written by tinyllm train (no args in it)")
        parser.set_defaults(**{k: v for k, v in saved.items() if k not in ("resume", "out")})
        args = parser.parse_args(argv)
        args.out = args.out or os.path.join("runs", args.preset)
        changed = [f"--{k.replace('_', '-')} {saved.get(k)!r} -> {getattr(args, k)!r}"
                   for k in RUN_IDENTITY if saved.get(k) != getattr(args, k)]
        if changed:
            raise TrainingError(f"--resume must continue the same run; changed: {', '.join(changed)}")
    elif os.path.exists(ckpt):
        raise TrainingError(f"{args.out} already holds a run ({ckpt}); pass --resume to continue "
                            f"it, or choose another --out (nothing was overwritten)")
    if not args.steps and not args.minutes:
        args.steps = 1000
    cfg = ModelConfig.preset(args.preset)
    args.vocab_size = args.vocab_size or cfg.vocab_size
    args.context = args.context or cfg.max_seq_len
    for name in ("batch_size", "context", "grad_accum", "eval_every", "log_every"):
        if getattr(args, name) < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1")
    return args, resume_from


def main(argv=None):
    try:
        args, resume_from = parse_args(sys.argv[1:] if argv is None else argv)
        os.makedirs(args.out, exist_ok=True)
        reuse_freed_memory()                               # ~20% faster steps (autograd/memory.py)
        run = Run(args, resume_from)
        if not resume_from:
            write_atomic(run.metrics_path, "")
        else:                                              # drop records written after the checkpoint
            write_atomic(run.metrics_path, "".join(json.dumps(r) + "\n" for r in run.metrics))
            print(f"resuming {run.ckpt_path} at step {run.step}")
        run.model.summary()
        print(f"data: {len(run.train_ids):,} train / {len(run.val_ids):,} val tokens in "
              f"{os.path.dirname(run.train_ids.filename)}; {args.batch_size} x {args.context} tokens "
              f"x {args.grad_accum} per step; " + (f"{args.minutes} minutes" if args.minutes else f"{args.steps} steps"))
        return run.run()
    except (TrainingError, CheckpointError, ValueError, OSError, RuntimeError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
