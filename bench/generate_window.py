"""Generation speed with a sliding window: the `shakespeare` model with W = 64 against the same
weights with full attention, 1,000 new tokens after a 1-token prompt (past the 256 context).

The windowed model runs on its rolling KV cache (64 slots) without ever restarting; the
full-attention one restarts its window whenever it fills the 256-token context (the last 128
tokens prefilled again, tinyllm/generate.py). Sampling as the CLI does (temperature 0.8, top-p
0.9). Random weights by default (a step does not depend on them); --ckpt measures a trained
windowed checkpoint (e.g. from `python -m tinyllm train --preset shakespeare --sliding-window 64`),
its full-attention twin being the same weights with sliding_window None.

The two alternate in rounds; we print the median tokens/s of each with min–max, and the load
average before and after (on a busy machine absolute figures drop, the ratio less so).

    .venv/bin/python bench/generate_window.py [--tokens 1000] [--rounds 5] [--ckpt CKPT]
"""
import argparse
import dataclasses
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import tinyllm.generate as G  # noqa: E402
from tinyllm.checkpoint import load_model  # noqa: E402
from tinyllm.model import ModelConfig, Transformer  # noqa: E402


def tokens_per_second(model, n, seed):
    t0 = time.perf_counter()
    out = G.generate(model, [0], n, 0.8, 0, 0.9, np.random.default_rng(seed))
    return len(out) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--ckpt", default="", help="a trained windowed checkpoint instead of random weights")
    args = ap.parse_args()
    if args.ckpt:
        windowed, _ = load_model(args.ckpt)
    else:
        windowed = Transformer(ModelConfig.preset("shakespeare", sliding_window=args.window), seed=0)
    full = Transformer(dataclasses.replace(windowed.cfg, sliding_window=None), dtype=windowed.dtype)
    full.load_state_dict(windowed.state_dict())
    print(f"{args.ckpt or 'shakespeare preset, random weights'}: window {windowed.cfg.sliding_window} vs full, "
          f"{args.tokens} new tokens, {args.rounds} alternating rounds, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    for m in (windowed, full):
        G.generate(m, [0], 8)                                         # JIT, caches
    speeds = {"window": [], "full": []}
    for r in range(args.rounds):
        speeds["window"].append(tokens_per_second(windowed, args.tokens, r))
        speeds["full"].append(tokens_per_second(full, args.tokens, r))
    for name, s in speeds.items():
        print(f"  {name:>6}: {statistics.median(s):7.0f} tokens/s (min {min(s):.0f}, max {max(s):.0f})")
    ratio = statistics.median(speeds["window"]) / statistics.median(speeds["full"])
    print(f"  window / full: {ratio:.2f}; load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
