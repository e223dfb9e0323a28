"""One side of bench/train_speed.py: training steps of the `shakespeare` preset through the library
API, in a fresh interpreter, the way a user's script runs them (NumPy imported first, no settings).

A step: a batch of 16 random windows x 256 tokens from a uint16 token file, forward +
cross-entropy, backward, global-norm clip, AdamW. Prints one JSON line: the time of each timed
step and of its phases (ms). With --profile, also the linear layers' share: their time inside the
steps (F.linear's forward and backward) and their GFLOP/s, beside NumPy's `@` on the same shapes
alone in the same process.

    python bench/_train_step.py TOKENS.bin [--steps 8] [--warmup 10] [--profile]
"""
import argparse
import json
import time
from collections import defaultdict

import numpy as np                                   # first, as a user's script would

import autograd.functional as F
from tinyllm import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm

B, T = 16, 256


def step(model, opt, tokens, rng, times):
    t0 = time.perf_counter()
    ix = rng.integers(0, len(tokens) - T - 1, B)
    batch = np.stack([tokens[i:i + T + 1] for i in ix]).astype(np.int64)        # (B, T+1)
    _, loss = model(batch[:, :-1], batch[:, 1:])
    float(loss.data)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    clip_grad_norm(opt.params, 1.0)
    opt.step(1e-3)
    opt.zero_grad()
    t3 = time.perf_counter()
    for key, dt in (("fwd", t1 - t0), ("bwd", t2 - t1), ("opt", t3 - t2), ("step", t3 - t0)):
        times[key].append(1e3 * dt)


class LinearTimer:
    """Wraps F.linear (the model calls it through the module) to time its forward and backward and
    record the (rows, in, out) shapes it sees."""

    def __init__(self):
        self.seconds, self.flops, self.shapes = 0.0, 0.0, defaultdict(int)

    def __enter__(self):
        self.real = F.linear
        F.linear = self.linear
        return self

    def __exit__(self, *exc):
        F.linear = self.real

    def linear(self, x, w):
        t0 = time.perf_counter()
        y = self.real(x, w)
        self.seconds += time.perf_counter() - t0
        n, (o, i) = x.data.size // w.shape[1], w.shape
        self.flops += 2 * n * i * o
        self.shapes[(n, i, o)] += 1
        backward = y._backward
        def timed_backward(g):
            t1 = time.perf_counter()
            backward(g)
            self.seconds += time.perf_counter() - t1
            self.flops += 4 * n * i * o                  # dL/dx and dL/dW
        y._backward = timed_backward
        return y


def blas_alone(shapes, dtype, repeats=5):
    """GFLOP/s of NumPy's `@` on the same products as the linear layers (forward, dL/dx, dL/dW),
    alone: best of `repeats`, weighted by how often each shape occurs."""
    total_flops = total_s = 0.0
    for (n, i, o), count in shapes.items():
        x, w, g = (np.random.rand(*s).astype(dtype) for s in ((n, i), (o, i), (n, o)))
        best = min(_timed(lambda: (x @ w.T, g @ w, g.T @ x)) for _ in range(repeats))
        total_flops += count * 6 * n * i * o
        total_s += count * best
    return total_flops / total_s / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokens")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    tokens = np.fromfile(args.tokens, dtype=np.uint16)
    cfg = ModelConfig.preset("shakespeare")
    model = Transformer(cfg, seed=0)
    opt = AdamW(model.named_parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    warm, times = defaultdict(list), defaultdict(list)
    for _ in range(args.warmup):
        step(model, opt, tokens, rng, warm)
    for _ in range(args.steps):
        step(model, opt, tokens, rng, times)
    result = dict(times)
    if args.profile:
        with LinearTimer() as timer:
            prof = defaultdict(list)
            for _ in range(2):
                step(model, opt, tokens, rng, prof)
        result["linear_share"] = timer.seconds / (sum(prof["step"]) / 1e3)
        result["linear_gflops"] = timer.flops / timer.seconds / 1e9
        result["blas_alone_gflops"] = blas_alone(timer.shapes, model.dtype)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
