"""Data parallelism on one 2-core machine: 1 process x 2 threads against 2 processes x 1 thread
(mpiexec -n 2, tinyllm/ddp.py), training the `shakespeare` preset at the same global batch of
16 x 256 tokens, float32. Each side is a fresh set of processes (bench/_ddp_step.py) with only
its thread counts set (OMP/OPENBLAS/NUMBA_NUM_THREADS); they warm up, then alternate for
--rounds rounds of --steps timed steps. Per round: tokens/s from the median step, and for the
2-rank side the all-reduce's share of the step (measured around the Allreduce call on rank 0,
which includes waiting for the slower rank), and the same Allreduce alone after a Barrier. Prints the median of the rounds, their range, and
the load average before and after.

The gradient all-reduce moves 2(N-1)/N x the gradient's bytes per rank per step; lessons/
22_data_parallel.py turns that into the scaling expected over N machines on a network.

    .venv/bin/python bench/ddp_speed.py [--rounds 5] [--steps 5] [--warmup 2]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402
from _torch_side import write_random_tokens  # noqa: E402

TOKENS_PER_STEP = 16 * 256


def threads(n):
    return {"OMP_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n), "NUMBA_NUM_THREADS": str(n)}


def side(ranks, token_file, args):
    step = [H.ROOT / "bench" / "_ddp_step.py", token_file, "--steps", args.steps, "--warmup", args.warmup]
    if ranks == 1:
        cmd, env = [H.python(), *step], dict(H.our_env(), **threads(2))
    else:
        cmd = [Path(H.python()).parent / "mpiexec", "-n", ranks, H.python(), *step, "--ranks"]
        env = dict(H.our_env(), **threads(1))
    out = json.loads(H.run(cmd, env).out.strip().splitlines()[-1])
    step_ms = statistics.median(out["step_ms"])
    share = statistics.median(a / s for a, s in zip(out["allreduce_ms"], out["step_ms"]))
    return {"tok_s": TOKENS_PER_STEP / step_ms * 1e3, "share": share, "allreduce_ms": statistics.median(out["allreduce_ms"]),
            "pure_ms": statistics.median(out["pure_ms"]) if out["pure_ms"] else 0.0, "grad_mb": out["grad_mb"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round and side")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first, each side, each round")
    args = ap.parse_args()
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        sys.exit("bench/ddp_speed.py needs the tinyllm[mpi] extra: .venv/bin/pip install -e '.[mpi]'")
    print(H.load_line("before"))
    results = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        token_file = write_random_tokens(os.path.join(tmp, "tokens.bin"), 2048)
        for r in range(args.rounds):
            for ranks in (1, 2) if r % 2 == 0 else (2, 1):
                results[ranks].append(side(ranks, token_file, args))
                x = results[ranks][-1]
                print(f"round {r + 1}: {ranks} process(es): {x['tok_s']:,.0f} tok/s"
                      + (f", all-reduce {x['allreduce_ms']:.1f} ms = {100 * x['share']:.1f}% of the step"
                         if ranks > 1 else ""), flush=True)
    print(H.load_line("after"))
    one, two = results[1], results[2]
    print(f"\nshakespeare preset, float32, global batch 16 x 256 tokens, gradient {one[0]['grad_mb']:.1f} MB; "
          f"median of {args.rounds} rounds (min-max)")
    print(f"  1 process  x 2 threads : {H.spread([x['tok_s'] for x in one])} tok/s")
    print(f"  2 processes x 1 thread : {H.spread([x['tok_s'] for x in two])} tok/s  "
          f"(mpiexec -n 2, MPICH shared memory)")
    print(f"  all-reduce share of the 2-process step: {H.spread([100 * x['share'] for x in two], '{:.1f}')} %  "
          f"({H.spread([x['allreduce_ms'] for x in two], '{:.1f}')} ms, including waiting for the slower rank)")
    print(f"  the all-reduce alone (after a Barrier): {H.spread([x['pure_ms'] for x in two], '{:.1f}')} ms for "
          f"{one[0]['grad_mb']:.1f} MB")


if __name__ == "__main__":
    main()
