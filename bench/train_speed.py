"""Training throughput of the `shakespeare` model, beside PyTorch eager in the same run.

A training step as tinyllm/train.py runs it: a batch of 16 random windows x 256 tokens,
forward + cross-entropy, backward, global-norm clipping, fused AdamW (the whole step, optimizer
included, is what tokens/s counts), with malloc keeping freed memory for reuse as train.py
sets it (autograd/memory.py). Theirs: ../shared/bench/torch_ref.py --bench-steps with the
same dims and the same uint16 token file (random ids; the values do not change the speed).
The two alternate in rounds, so both see the same machine load; we quote medians.

Then a per-op profile of a few of our steps: every op in autograd.functional is wrapped by a
timer for its forward and for its backward closure (in this script only; the library is not
touched), so the next thing to optimise is at the top of the table.

    .venv/bin/python bench/train_speed.py [--steps 6] [--rounds 3] [--profile-steps 2]
"""
import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _threads  # noqa: E402
_threads.use("train")  # thread settings, before NumPy and Numba load

import numpy as np

from _torch_side import run_torch_bench, torch_python, write_random_tokens  # noqa: E402

import autograd.functional as F  # noqa: E402
from autograd.memory import reuse_freed_memory  # noqa: E402
from autograd.tensor import Tensor  # noqa: E402
from tinyllm.model import ModelConfig, Transformer  # noqa: E402
from tinyllm.optim import AdamW, clip_grad_norm  # noqa: E402
from tinyllm.train import get_batch  # noqa: E402

B, T = 16, 256


class OpTimer:
    """Times every public op of autograd.functional: its forward call, and its backward closure
    when the graph is walked. Nested ops (split calls getitem) count once, in the outer op.

        with OpTimer() as timer: ...      then timer.fwd[name], timer.bwd[name], timer.calls[name]
    """

    def __init__(self):
        self.fwd, self.bwd, self.calls = defaultdict(float), defaultdict(float), defaultdict(int)
        self.depth, self.originals = 0, {}

    def __enter__(self):
        for name, fn in vars(F).items():
            if callable(fn) and not name.startswith("_") and getattr(fn, "__module__", "") == F.__name__ \
                    and name not in ("unbroadcast",):
                self.originals[name] = fn
                setattr(F, name, self._wrap(name, fn))
        return self

    def __exit__(self, *exc):
        for name, fn in self.originals.items():
            setattr(F, name, fn)

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                self.depth -= 1
            self.fwd[name] += time.perf_counter() - t0
            self.calls[name] += 1
            if isinstance(out, Tensor) and out._backward is not None:
                backward = out._backward
                def timed_backward(g):
                    t1 = time.perf_counter()
                    backward(g)
                    self.bwd[name] += time.perf_counter() - t1
                out._backward = timed_backward
            return out
        return timed


def our_step(model, opt, tokens, rng, times):
    """One training step (as Run.train_step); appends its phase times (s) to `times`."""
    t0 = time.perf_counter()
    batch = get_batch(tokens, B, T, rng)                                   # (B, T+1)
    t1 = time.perf_counter()
    _, loss = model(batch[:, :-1], batch[:, 1:])
    float(loss.data)                                                       # the NaN check reads it
    t2 = time.perf_counter()
    loss.backward()
    t3 = time.perf_counter()
    clip_grad_norm(opt.params, 1.0)
    t4 = time.perf_counter()
    opt.step(1e-3)
    opt.zero_grad()
    t5 = time.perf_counter()
    for key, dt in zip(("batch", "forward", "backward", "clip", "adamw", "step"),
                       (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)):
        times[key].append(dt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per round and side")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile-steps", type=int, default=2, help="steps of the per-op profile (0 = skip)")
    args = ap.parse_args()

    reuse_freed_memory()                # as tinyllm/train.py does (autograd/memory.py)
    cfg = ModelConfig.preset("shakespeare")
    model = Transformer(cfg, seed=0)
    opt = AdamW(model.named_parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    print(f"shakespeare preset: {model.num_params():,} params, batch {B} x {T} = {B * T} tokens/step, "
          f"threads {os.environ['OMP_NUM_THREADS']}, load average {os.getloadavg()[0]:.2f} (other jobs skew both sides)")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        token_file = write_random_tokens(os.path.join(tmp, "tokens.bin"), cfg.vocab_size)
        tokens = np.memmap(token_file, dtype=np.uint16, mode="r")
        warm = defaultdict(list)
        for _ in range(2):
            our_step(model, opt, tokens, rng, warm)                        # JIT, caches
        python = torch_python()
        ours, theirs = [], []                                              # per round
        for r in range(args.rounds):
            times = defaultdict(list)
            for _ in range(args.steps):
                our_step(model, opt, tokens, rng, times)
            ours.append({k: 1e3 * np.median(v) for k, v in times.items()})
            line = f"  round {r + 1}: tinyllm {ours[-1]['step']:7.1f} ms/step"
            if python:
                theirs.append(run_torch_bench(python, token_file, cfg.vocab_size, args.steps))
                line += f" | torch {theirs[-1]['step_ms']:7.1f} ms/step"
            print(line, flush=True)

        med = {k: float(np.median([o[k] for o in ours])) for k in ours[0]}
        print(f"\nmedian over {args.rounds} rounds of the per-round medians ({args.steps} steps each):")
        print(f"{'':9s}{'fwd ms':>9s}{'bwd ms':>9s}{'opt ms':>9s}{'step ms':>9s}{'tok/s':>9s}")
        # torch_ref's fwd includes drawing the batch and its opt includes clipping; ours grouped alike
        our_row = (med["batch"] + med["forward"], med["backward"], med["clip"] + med["adamw"], med["step"])
        print(f"{'tinyllm':9s}" + "".join(f"{x:9.1f}" for x in our_row) + f"{B * T / med['step'] * 1e3:9.0f}")
        if theirs:
            tm = {k: float(np.median([t[k] for t in theirs])) for k in theirs[0]}
            print(f"{'torch':9s}" + "".join(f"{tm[k]:9.1f}" for k in ("fwd_ms", "bwd_ms", "opt_ms", "step_ms"))
                  + f"{B * T / tm['step_ms'] * 1e3:9.0f}")
            print(f"\nratio tinyllm/torch training tokens/s (ratio of medians): {tm['step_ms'] / med['step']:.2f}x")
        else:
            print("(no torch ratio: the torch side was skipped)")
        print(f"our optimizer phase: clip {med['clip']:.1f} ms + AdamW (gather grads, fused kernel, "
              f"zero_grad) {med['adamw']:.1f} ms; batch {med['batch']:.1f} ms")

        if args.profile_steps:
            profile(model, opt, tokens, rng, args.profile_steps)


def profile(model, opt, tokens, rng, steps):
    times = defaultdict(list)
    with OpTimer() as timer:
        for _ in range(steps):
            our_step(model, opt, tokens, rng, times)
    step = 1e3 * np.mean(times["step"])
    per = lambda d, name: 1e3 * d[name] / steps                            # ms per step
    names = sorted(timer.calls, key=lambda n: -(timer.fwd[n] + timer.bwd[n]))
    print(f"\nper-op profile, mean of {steps} steps (step {step:.0f} ms with the timers on):")
    print(f"{'op':20s}{'calls':>7s}{'fwd ms':>9s}{'bwd ms':>9s}{'total':>9s}{'% step':>8s}")
    for n in names:
        total = per(timer.fwd, n) + per(timer.bwd, n)
        if total >= 0.05:
            print(f"{n:20s}{timer.calls[n] // steps:7d}{per(timer.fwd, n):9.1f}{per(timer.bwd, n):9.1f}"
                  f"{total:9.1f}{100 * total / step:7.1f}%")
    fwd_ops = sum(timer.fwd.values()) / steps * 1e3
    bwd_ops = sum(timer.bwd.values()) / steps * 1e3
    rest = [("forward outside ops (model.py glue, batch)", 1e3 * np.mean(times["forward"]) + 1e3 * np.mean(times["batch"]) - fwd_ops),
            ("backward outside ops (graph walk, leaf grads)", 1e3 * np.mean(times["backward"]) - bwd_ops),
            ("clip_grad_norm", 1e3 * np.mean(times["clip"])),
            ("AdamW step + zero_grad", 1e3 * np.mean(times["adamw"]))]
    for label, ms in rest:
        print(f"{label:47s}{ms:9.1f} ms{100 * ms / step:7.1f}%")


if __name__ == "__main__":
    main()
