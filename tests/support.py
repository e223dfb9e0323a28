"""Shared by the tests (not collected: no test_ prefix)."""
import json
import math
import time
import tracemalloc

import numpy as np

from tinyllm import Transformer


def unit_scale_model(cfg, seed=0, dtype=np.float32):
    """A Transformer whose weights give unit-scale activations (std 3/√fan_in, norms 1 ± 0.2), so
    attention is peaked and RoPE and the head layout matter: at the default 0.02 init the logits
    are nearly uniform and a wrong permutation or cache would be hard to see."""
    model = Transformer(cfg, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for _, p in model.named_parameters():
        if p.data.ndim == 1:
            p.data[...] = 1 + 0.2 * rng.standard_normal(p.shape)
        else:
            p.data[...] = rng.standard_normal(p.shape) * (3 / math.sqrt(p.shape[1]))
    return model


def train_argv(corpus, out, *extra):
    """`python -m tinyllm train` arguments for a fast tiny run on the test corpus."""
    return ["train", "--preset", "tiny", "--text", str(corpus), "--vocab-size", "300", "--out", str(out),
            "--batch-size", "4", "--warmup", "2", "--lr", "3e-3", "--eval-windows", "4",
            "--sample-tokens", "8", "--final-sample-tokens", "8", *extra]


# ---------------------------------------------------------------------------- lying files
# (tests/test_faults.py, tests/test_fuzz_loaders.py)
def rewrite_checkpoint(path, edit_meta=None, edit_arrays=None):
    """Rewrite a checkpoint (a valid zip) with its meta.json and/or arrays edited."""
    with np.load(path) as z:
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def peak_bytes(fn):
    """(result or exception, peak bytes allocated while fn ran, seconds)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = fn()
    except Exception as e:                                       # noqa: BLE001 (returned for checking)
        result = e
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, peak, time.perf_counter() - t0


# ---------------------------------------------------------------------------- kernel checks
# (tests/test_kernels.py, tests/test_attention.py)
DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def close(a, b, dtype, floor=0.0):
    """a (a kernel's result in dtype) is within TOL[dtype] of b (float64 truth), relative to
    max(max |b|, floor): a floor of 1 turns it into an absolute check where the truth is ~0."""
    assert np.asarray(a).dtype == dtype
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor, 1e-300)
    assert err <= TOL[dtype], f"relative error {err:.3e} > {TOL[dtype]:.0e}"


def numgrad(f, inputs, which, r, eps=1e-6):
    """Central-difference gradient of L = sum(f(*inputs) * r) w.r.t. inputs[which] (float64)."""
    x = inputs[which]
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        orig = x[idx]
        x[idx] = orig + eps
        plus = np.sum(f(*inputs) * r)
        x[idx] = orig - eps
        minus = np.sum(f(*inputs) * r)
        x[idx] = orig
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def check_grad(analytic, numeric, tol=1e-6):
    err = np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-3)
    assert err < tol, f"backward vs finite differences: relative error {err:.3e}"


def randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)
