"""Training: python -m tinyllm train --preset shakespeare --minutes 10 --out runs/shakespeare

The command line of tinyllm/train.py: the flags (each a TrainConfig field), the run folder
(tinyllm/run_folder.py) locked for the run, a new run or --resume, Ctrl-C / SIGTERM (stop after
the current step and save), the progress line, and the exit code. With --data-parallel every
rank goes through tinyllm/ddp.py, which calls main again on rank 0.
"""
import argparse
import os
import signal
import sys
import time

import numpy as np

from autograd import kernels
from tinyllm.checkpoint import CheckpointError
from tinyllm.run_folder import RunFolder, resume_run
from tinyllm.train import PRESETS, Progress, TrainConfig, TrainingError, new_run, train_loop


# ---------------------------------------------------------------------------- signals, compiling
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
