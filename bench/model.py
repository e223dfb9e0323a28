"""Forward + backward speed of the `shakespeare` model, beside PyTorch eager in the same run.

Ours: Transformer(shakespeare preset) on batch 16 x 256 tokens, float32, 2 threads: the time of
model(x, y) and of loss.backward() (no optimizer). Theirs: ../shared/bench/torch_ref.py
--bench-steps with the same dims and token file, whose fwd and bwd phase medians we compare.
The two alternate, in rounds, so both see the same machine load; medians of the rounds.

    .venv/bin/python bench/model.py [--steps 10] [--rounds 3]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _threads  # noqa: E402
_threads.use("train")  # thread settings, before NumPy and Numba load

import numpy as np

from _torch_side import run_torch_bench, torch_python, write_random_tokens  # noqa: E402

from autograd.memory import reuse_freed_memory  # noqa: E402
from tinyllm import ModelConfig, Transformer  # noqa: E402


def our_steps(model, tokens, steps, rng, B=16, T=256):
    """Median forward and backward ms over `steps` random batches."""
    fwd, bwd = [], []
    for _ in range(steps):
        ix = rng.integers(0, len(tokens) - T - 1, B)
        batch = np.stack([tokens[i:i + T + 1] for i in ix]).astype(np.int64)
        t0 = time.perf_counter()
        _, loss = model(batch[:, :-1], batch[:, 1:])
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        model.zero_grad()
        fwd.append(t1 - t0)
        bwd.append(t2 - t1)
    return 1e3 * np.median(fwd), 1e3 * np.median(bwd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round and side")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    reuse_freed_memory()                # as tinyllm/train.py does (autograd/memory.py)
    cfg = ModelConfig.preset("shakespeare")
    model = Transformer(cfg, seed=0)
    tokens_per_step = 16 * 256
    print(f"shakespeare preset: {model.num_params():,} params, batch 16 x 256 = {tokens_per_step} tokens/step")
    with tempfile.TemporaryDirectory() as tmp:
        token_file = write_random_tokens(os.path.join(tmp, "tokens.bin"), cfg.vocab_size)
        tokens = np.fromfile(token_file, dtype=np.uint16)
        rng = np.random.default_rng(0)
        our_steps(model, tokens, 2, rng)                       # warm up (JIT, caches)
        python = torch_python()
        ours, theirs = [], []
        for r in range(args.rounds):
            ours.append(our_steps(model, tokens, args.steps, rng))
            if python:
                t = run_torch_bench(python, token_file, cfg.vocab_size, args.steps)
                theirs.append((t["fwd_ms"], t["bwd_ms"]))
            print(f"  round {r + 1}: ours fwd {ours[-1][0]:.0f} ms bwd {ours[-1][1]:.0f} ms"
                  + (f" | torch fwd {theirs[-1][0]:.0f} ms bwd {theirs[-1][1]:.0f} ms" if theirs else ""))
    f, b = np.median(ours, axis=0)
    print(f"\n{'':10s} {'fwd ms':>8s} {'bwd ms':>8s} {'fwd+bwd':>8s} {'tok/s':>8s}")
    print(f"{'tinyllm':10s} {f:8.1f} {b:8.1f} {f + b:8.1f} {tokens_per_step / (f + b) * 1e3:8.0f}")
    if theirs:
        tf, tb = np.median(theirs, axis=0)
        print(f"{'torch':10s} {tf:8.1f} {tb:8.1f} {tf + tb:8.1f} {tokens_per_step / (tf + tb) * 1e3:8.0f}")
        print(f"\nratio (tinyllm tok/s over torch tok/s, forward+backward): {(tf + tb) / (f + b):.2f}x")


if __name__ == "__main__":
    main()
