"""A training run's output folder, and resuming a run from it (the outer layer of tinyllm/train.py).

OUT holds:

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
import contextlib
import dataclasses
import errno
import json
import os
import re
import sys
import time

import numpy as np

from tinyllm.checkpoint import CheckpointError, check_shapes, config_from_meta, read_checkpoint, save_checkpoint
from tinyllm.files import atomic_write, remove_stale_temp_files, write_error
from tinyllm.model import Transformer
from tinyllm.optim import AdamW
from tinyllm.tokenizer import Tokenizer
from tinyllm.train import (RUN_IDENTITY, ConfigError, Run, TrainConfig, TrainingError, flag, prepare_data,
                           read_tokenizer, text_hash)

try:
    import fcntl                                   # POSIX; elsewhere runs are not locked
except ImportError:                                # pragma: no cover
    fcntl = None


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
