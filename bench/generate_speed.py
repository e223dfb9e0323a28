"""Generation speed of the `shakespeare` model: with the KV cache and without it.

256 new tokens after a 1-token prompt, sampled as the CLI does (temperature 0.8, top-p 0.9).
Random weights by default: the model's step does not depend on them, but sampling does, and
random weights are its worst case (nearly uniform probabilities: top-p keeps ~90% of the
vocabulary, which must be sorted); --ckpt runs/shakespeare/ckpt.npz measures a trained model. With the cache, each new token is one forward of
a single position (attending over the KV cache); without it, every step re-runs the forward over the
whole prefix. The two alternate in rounds; we quote the median tokens/s of each.

Then where the time of one cached token goes: the one-token step (tinyllm/decode.py), the
sampling (filter + draw), and the rest (Python in generate.py).

Threads as `python -m tinyllm generate` sets them (bench/_threads.py): idle OpenMP threads
spin briefly before they sleep, so the one-token step uses both cores.

    .venv/bin/python bench/generate_speed.py [--tokens 256] [--rounds 3]
"""
import argparse
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _threads  # noqa: E402
_threads.use("generate")  # thread settings, before NumPy and Numba load

import numpy as np

import tinyllm.generate as G  # noqa: E402
from tinyllm.checkpoint import load_model  # noqa: E402
from tinyllm.decode import Decoder  # noqa: E402
from tinyllm.model import ModelConfig, Transformer  # noqa: E402


def tokens_per_second(model, n, use_cache, seed=0):
    t0 = time.perf_counter()
    out = G.generate(model, [0], n, 0.8, 0, 0.9, np.random.default_rng(seed), use_cache=use_cache)
    return len(out) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ckpt", default="", help="a trained checkpoint instead of random weights")
    args = ap.parse_args()
    if args.ckpt:
        model, _ = load_model(args.ckpt)
    else:
        model = Transformer(ModelConfig.preset("shakespeare"), seed=0)
    print(f"{args.ckpt or 'shakespeare preset, random weights'}: {model.num_params():,} params, "
          f"{args.tokens} new tokens after a 1-token prompt, Numba threads {os.environ['NUMBA_NUM_THREADS']}, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, load average {os.getloadavg()[0]:.2f}")
    G.generate(model, [0], 8)                                               # JIT, caches
    G.generate(model, [0], 2, use_cache=False)
    cached, uncached = [], []
    for r in range(args.rounds):
        cached.append(tokens_per_second(model, args.tokens, True, r))
        uncached.append(tokens_per_second(model, args.tokens, False, r))
        print(f"  round {r + 1}: KV cache {cached[-1]:7.1f} tok/s | no cache {uncached[-1]:6.1f} tok/s", flush=True)
    c, u = np.median(cached), np.median(uncached)
    print(f"\nmedian: KV cache {c:.1f} tok/s, no cache {u:.1f} tok/s -> the cache is {c / u:.1f}x faster")
    profile(model, args.tokens)


def profile(model, n):
    """Time per cached token, split into the model's one-token step, sampling, and the rest."""
    spent = defaultdict(float)

    def timed(key, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t0
        return wrapper

    real_sample, real_step, real_prefill = G.sample_next, Decoder.step, Decoder.prefill
    G.sample_next = timed("sample_next (filter + draw)", real_sample)
    Decoder.step = timed("Decoder.step (decode.py, one position)", real_step)
    Decoder.prefill = timed("Decoder.prefill (the prompt, one forward)", real_prefill)
    try:
        t0 = time.perf_counter()
        G.generate(model, [0], n, 0.8, 0, 0.9, np.random.default_rng(0))
        total = time.perf_counter() - t0
    finally:
        G.sample_next, Decoder.step, Decoder.prefill = real_sample, real_step, real_prefill
    per = lambda s: 1e3 * s / n                                             # ms per token
    print(f"\nper cached token: {per(total):.3f} ms with the timers on ({n / total:.0f} tok/s), "
          f"{G.generation_threads()} Numba threads")
    for name, s in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{name:46s}{per(s):9.3f} ms{100 * s / total:6.1f}%")
    rest = total - sum(spent.values())
    print(f"{'rest (Python in generate.py)':46s}{per(rest):9.3f} ms{100 * rest / total:6.1f}%")


if __name__ == "__main__":
    main()
