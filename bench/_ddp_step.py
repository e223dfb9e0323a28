"""One side of bench/ddp_speed.py: training steps of the `shakespeare` preset at a global batch of
16 windows x 256 tokens, in one process (plain tinyllm.train.train_step) or as one of N ranks
under mpiexec (tinyllm/ddp.py: 16/N windows per rank, gradients averaged by one Allreduce).
Rank 0 prints one JSON line: each timed step's wall time, the time spent in the gradient
Allreduce (which includes waiting for the slower rank), and the same Allreduce timed again
after a Barrier (the transfer alone), in ms.

    python bench/_ddp_step.py TOKENS.bin [--steps 5] [--warmup 2] [--ranks]     (--ranks: under mpiexec)
"""
import argparse
import json
import time

import numpy as np

from tinyllm import ModelConfig, Transformer
from tinyllm.optim import AdamW
from tinyllm.train import get_batch, train_step

B, T = 16, 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--ranks", action="store_true", help="one rank of a data-parallel run (mpiexec)")
    args = ap.parse_args()
    tokens = np.fromfile(args.tokens, dtype=np.uint16)
    model = Transformer(ModelConfig.preset("shakespeare", vocab_size=2048, max_seq_len=T), seed=0)
    opt = AdamW(model.named_parameters(), 1e-3)
    rng = np.random.default_rng(0)
    parallel = None
    if args.ranks:
        from tinyllm.ddp import DataParallel
        parallel = DataParallel()
    n = parallel.size if parallel else 1
    draw = parallel.get_batch if parallel else get_batch
    steps, reduce_ms, pure_ms = [], [], []
    for i in range(args.warmup + args.steps):
        if parallel:
            parallel.comm.Barrier()                       # every step starts together
            before = parallel.reduce_seconds
        t0 = time.perf_counter()
        batch = draw(tokens, B // n, T, rng)
        train_step(model, opt, [batch], 1e-3, 1.0, parallel and parallel.all_reduce)
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            steps.append(1e3 * dt)
            reduce_ms.append(1e3 * (parallel.reduce_seconds - before) if parallel else 0.0)
            if parallel:                                  # the transfer alone: the same buffer, ranks in step
                scratch = parallel.buffer.copy()
                parallel.comm.Barrier()
                t0 = time.perf_counter()
                parallel.comm.Allreduce(parallel.MPI.IN_PLACE, scratch, op=parallel.MPI.SUM)
                pure_ms.append(1e3 * (time.perf_counter() - t0))
    if parallel is None or parallel.rank == 0:
        print(json.dumps({"ranks": n, "step_ms": steps, "allreduce_ms": reduce_ms, "pure_ms": pure_ms,
                          "grad_mb": opt.flat.nbytes / 1e6}))


if __name__ == "__main__":
    main()
