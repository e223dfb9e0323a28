"""One side of bench/generate_speed.py: new tokens per second through `tinyllm.generate.generate`,
in a fresh interpreter, as a user's script calls it (no settings). Prints one JSON line.

    python bench/_generate.py [--ckpt CKPT] [--tokens 256] [--top-p 0.9] [--repeats 3]
"""
import argparse
import json
import time

import numpy as np

from tinyllm import ModelConfig, Transformer
from tinyllm.checkpoint import load_model
from tinyllm.generate import generate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--top-p", type=float, default=0.0, help="0: greedy; else temperature 0.8 and this top-p")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model = load_model(args.ckpt)[0] if args.ckpt else Transformer(ModelConfig.preset("shakespeare"), seed=0)
    options = dict(temperature=0.0) if not args.top_p else dict(temperature=0.8, top_p=args.top_p)
    prompt = [0]
    generate(model, prompt, 16, rng=np.random.default_rng(0), **options)          # warm up (JIT, caches)
    rates = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        out = generate(model, prompt, args.tokens, rng=np.random.default_rng(r), **options)
        rates.append(len(out) / (time.perf_counter() - t0))
    print(json.dumps({"tok_s": rates}))


if __name__ == "__main__":
    main()
