"""Training speed of the `shakespeare` preset through the library, beside PyTorch eager at its defaults.

A full step: batch 16 x 256 tokens (vocab 2048), forward + cross-entropy, backward, global-norm
clip, AdamW; float32, 2 cores. Each side is a fresh interpreter on the same uint16 token file:

    tinyllm    bench/_train_step.py: `import numpy`, then `from tinyllm import ...`, as a user's
               script does; a plain environment (the library sets its own threads and memory)
    CLI        `python -m tinyllm train --preset shakespeare` on the Shakespeare corpus, same
               environment: its step times from metrics.jsonl (to show the CLI is no faster)
    torch      ../shared/bench/torch_ref.py --bench-steps, same dims; only OMP/MKL_NUM_THREADS=2

Both warm up (--warmup steps, 10 by default), then they alternate for --rounds rounds of --steps
timed steps each; each round's figure is its median step, and we print the median of the rounds
and their range, the peak RSS of each process, and the load average before and after.
Then one profiled run of ours: the linear layers' share of the step and their GFLOP/s, beside
NumPy's `@` on the same shapes alone in the same process.

    .venv/bin/python bench/train_speed.py [--rounds 5] [--steps 8] [--warmup 10]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402
from _torch_side import torch_python, torch_ref_command, write_random_tokens, parse_bench  # noqa: E402

B, T, VOCAB = 16, 256, 2048


def ours(token_file, args, profile=False):
    cmd = [H.python(), H.ROOT / "bench" / "_train_step.py", token_file, "--steps", args.steps,
           "--warmup", args.warmup] + (["--profile"] if profile else [])
    run = H.run(cmd, H.our_env())
    result = json.loads(run.out.strip().splitlines()[-1])
    result["rss_mb"] = run.rss_mb
    return result


def cli(args, folder):
    """The CLI's training steps: per-step times from the run's metrics.jsonl, past the warm-up."""
    tokenizer = os.path.join(os.path.dirname(folder), "tokenizer.json")
    cmd = [H.python(), "-m", "tinyllm", "train", "--preset", "shakespeare", "--out", folder,
           "--steps", args.warmup + args.steps, "--eval-every", 10 ** 6, "--final-sample-tokens", 0]
    if os.path.exists(tokenizer):
        cmd += ["--tokenizer", tokenizer]                 # the first round's: no tokenizer training
    run = H.run(cmd, H.our_env())
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        times = [r["time"] for r in map(json.loads, f) if "loss" in r]
    if not os.path.exists(tokenizer):
        os.replace(os.path.join(folder, "tokenizer.json"), tokenizer)
    steps = [1e3 * (b - a) for a, b in zip(times, times[1:])][args.warmup - 1:]
    return {"step": statistics.median(steps), "rss": run.rss_mb}


def theirs(python, token_file, args):
    cmd = torch_ref_command(python, "--vocab", "tokens", "--data", token_file, "--vocab-size", VOCAB,
                            "--bench-steps", args.steps, "--bench-warmup", args.warmup)
    run = H.run(cmd, H.reference_env())
    result = parse_bench(run.out)
    result["rss"] = run.rss_mb
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round and side")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first, each side, each round")
    ap.add_argument("--no-cli", dest="cli", action="store_false", help="leave out the CLI side")
    args = ap.parse_args()
    print(H.load_line("before"))
    print(f"tinyllm env: {H.show_env(H.our_env())}\ntorch env:   {H.show_env(H.reference_env())}")
    python = torch_python()
    with tempfile.TemporaryDirectory() as tmp:
        token_file = write_random_tokens(os.path.join(tmp, "tokens.bin"), VOCAB)
        rows = {"tinyllm": [], "CLI": [], "torch": []}
        for r in range(args.rounds):
            a = ours(token_file, args)
            rows["tinyllm"].append({"step": statistics.median(a["step"]), "fwd": statistics.median(a["fwd"]),
                                    "bwd": statistics.median(a["bwd"]), "opt": statistics.median(a["opt"]),
                                    "rss": a["rss_mb"]})
            line = f"  round {r + 1}: tinyllm {rows['tinyllm'][-1]['step']:7.1f} ms/step"
            if args.cli:
                rows["CLI"].append(cli(args, os.path.join(tmp, f"cli-{r}")))
                line += f" | CLI {rows['CLI'][-1]['step']:7.1f} ms/step"
            if python:
                rows["torch"].append(dict(theirs(python, token_file, args)))
                line += f" | torch {rows['torch'][-1]['step']:7.1f} ms/step"
            print(line + f"   (load {os.getloadavg()[0]:.2f})", flush=True)
        print(f"\nmedian of {args.rounds} rounds (min-max), {args.steps} timed steps per round after "
              f"{args.warmup} warm-up steps; a step is {B * T} tokens:")
        print(f"{'':9s}{'step ms':>20s}{'tok/s':>8s}{'fwd ms':>9s}{'bwd ms':>9s}{'opt ms':>9s}{'peak RSS MB':>13s}")
        for name, rs in rows.items():
            if not rs:
                continue
            med = lambda k: statistics.median(r[k] for r in rs) if k in rs[0] else float("nan")  # noqa: E731
            print(f"{name:9s}{H.spread([r['step'] for r in rs]):>20s}{B * T / med('step') * 1e3:8.0f}"
                  f"{med('fwd'):9.0f}{med('bwd'):9.0f}{med('opt'):9.0f}{med('rss'):13.0f}")
        if rows["CLI"]:
            ratios = [c["step"] / o["step"] for o, c in zip(rows["tinyllm"], rows["CLI"])]
            print(f"\nCLI step time / library-API step time: {H.spread(ratios, '{:.2f}')}, round by round")
        if rows["torch"]:
            ratios = [t["step"] / o["step"] for o, t in zip(rows["tinyllm"], rows["torch"])]
            print(f"\ntinyllm / torch training speed: {H.spread(ratios, '{:.2f}')}x "
                  f"(torch step time over ours, round by round)")
        else:
            print("(no torch side: make test-interop creates .venv-torch)")
        p = ours(token_file, argparse.Namespace(steps=2, warmup=3), profile=True)
        print(f"\nlinear layers (profiled run): {100 * p['linear_share']:.0f}% of the step at "
              f"{p['linear_gflops']:.0f} GFLOP/s; NumPy's @ alone on the same shapes: {p['blas_alone_gflops']:.0f} GFLOP/s")
    print(H.load_line("after"))


if __name__ == "__main__":
    main()
