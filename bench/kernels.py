"""Benchmark the Numba kernels of autograd/kernels.py and attention.py against their NumPy references.

Run:  .venv/bin/python bench/kernels.py   (threads as the library sets them: autograd/runtime.py).
Options: --quick (fewer repeats), --only NAME[,NAME],
--parallel-check (also time each parallel kernel against a serial build of the same code).

Shapes are the default model's: B=16, T=256, dim 256, 8 query heads, 4 kv heads,
head dim 32, SwiGLU hidden 688, vocab 2048, N = B*T = 4096 tokens; float32.

Every row times its contenders side by side: each repeat runs all of them once, in
turn, so a load spike from another process hits every column alike. We report the
median over the repeats (after one warm-up call that also compiles). ratio = the
reference's time / the kernel's time, so > 1 means the kernel is faster.

The last section measures start-up in fresh subprocesses: import autograd.kernels
plus the first float32 call of every kernel, with an empty Numba cache (cold,
compiles everything) and then with the cache that run wrote (warm).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import autograd.attention as A  # noqa: E402
import autograd.kernels as K  # noqa: E402

B, T, DIM, H, HKV, HD, HIDDEN, VOCAB = 16, 256, 256, 8, 4, 32, 688, 2048
N = B * T
DT = np.float32
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(DT)


def side_by_side(fns, repeat):
    """Median seconds of each function in fns, timed alternately over `repeat` rounds."""
    for f in fns:
        f()                                            # warm-up / compile
    times = [[] for _ in fns]
    for _ in range(repeat):
        for f, ts in zip(fns, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def ms(t):
    return f"{t * 1e3:9.2f}"


ROWS = []  # (name, pass, numba s, reference s, reference label)


def row(name, part, t_numba, t_ref, ref_label="numpy ref"):
    ROWS.append((name, part, t_numba, t_ref, ref_label))
    print(f"{name:<44}{part:<6}{ms(t_numba)}{ms(t_ref)}{t_ref / t_numba:8.2f}x  {ref_label}", flush=True)


def fwd_bwd(name, fwd, fwd_ref, bwd, bwd_ref, repeat, ref_label="numpy ref"):
    tf, tfr, tb, tbr = side_by_side([fwd, fwd_ref, bwd, bwd_ref], repeat)
    row(name, "fwd", tf, tfr, ref_label)
    row(name, "bwd", tb, tbr, ref_label)
    row(name, "sum", tf + tb, tfr + tbr, ref_label)


# --- the kernels at the model's shapes -------------------------------------------

def bench_softmax(r):
    x = randn(B, H, T, T)
    y = K.softmax(x, causal=True)
    g = randn(B, H, T, T)
    fwd_bwd(f"softmax causal {x.shape}",
            lambda: K.softmax(x, causal=True), lambda: K.softmax_ref(x, causal=True),
            lambda: K.softmax_backward(y, g), lambda: K.softmax_backward_ref(y, g), r)


def bench_rope(r):
    x = randn(B, T, H, HD)
    cos, sin = K.rope_tables(T, HD)
    fwd_bwd(f"rope {x.shape}",
            lambda: K.rope(x, cos, sin), lambda: K.rope_ref(x, cos, sin),
            lambda: K.rope_backward(x, cos, sin), lambda: K.rope_backward_ref(x, cos, sin), r)


def bench_rmsnorm(r):
    x, w, g = randn(N, DIM), randn(DIM), randn(N, DIM)
    _, rstd = K.rmsnorm(x, w, 1e-5)
    fwd_bwd(f"rmsnorm {x.shape}",
            lambda: K.rmsnorm(x, w, 1e-5), lambda: K.rmsnorm_ref(x, w, 1e-5),
            lambda: K.rmsnorm_backward(x, w, rstd, g), lambda: K.rmsnorm_backward_ref(x, w, rstd, g), r)


def bench_swiglu(r):
    a, b, g = randn(N, HIDDEN), randn(N, HIDDEN), randn(N, HIDDEN)
    fwd_bwd(f"swiglu {a.shape}",
            lambda: K.swiglu(a, b), lambda: K.swiglu_ref(a, b),
            lambda: K.swiglu_backward(a, b, g), lambda: K.swiglu_backward_ref(a, b, g), r)


def bench_cross_entropy(r):
    logits = randn(N, VOCAB)
    t = rng.integers(0, VOCAB, N)
    _, lse = K.cross_entropy(logits, t)
    fwd_bwd(f"cross_entropy {logits.shape}",
            lambda: K.cross_entropy(logits, t), lambda: K.cross_entropy_ref(logits, t),
            lambda: K.cross_entropy_backward(logits, t, lse, -100, 1.0),
            lambda: K.cross_entropy_backward_ref(logits, t, lse, -100, 1.0), r)


def bench_embedding(r):
    ids, g = rng.integers(0, VOCAB, N), randn(N, DIM)
    tb, tbr = side_by_side([lambda: K.embedding_backward(ids, g, VOCAB),
                            lambda: K.embedding_backward_ref(ids, g, VOCAB)], r)
    row(f"embedding_backward {(VOCAB, DIM)}", "bwd", tb, tbr, "np.add.at")


def bench_adamw(r):
    n = 5_000_000
    p, g = randn(n), randn(n)
    m, v = np.zeros(n, DT), np.abs(randn(n))
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    args = (1e-3, 0.9, 0.95, 1e-8, 0.1, 10)
    t, tr = side_by_side([lambda: K.adamw_step(p, g, m, v, *args),
                          lambda: K.adamw_step_ref(p2, g, m2, v2, *args)], r)
    row(f"adamw_step ({n:,} params)", "step", t, tr)


def attention_unfused(q, k, v, scale):
    """Forward the unfused way: BLAS scores, the softmax kernel, BLAS @ v.

    GQA without copying kv: the G query heads of a kv head are stacked as rows,
    (B, Hkv, G*T, hd) @ (B, Hkv, hd, T), so kv is never repeated.
    """
    Bq, Hq, Tq, hd = q.shape
    Hk = k.shape[1]
    qg = q.reshape(Bq, Hk, (Hq // Hk) * Tq, hd)
    s = np.matmul(qg, k.swapaxes(-1, -2)).reshape(Bq, Hq, Tq, Tq)
    s *= scale
    p = K.softmax(s, causal=True)
    o = np.matmul(p.reshape(Bq, Hk, -1, Tq), v).reshape(q.shape)
    return o, p


def attention_unfused_backward(q, k, v, p, go, scale):
    Bq, Hq, Tq, hd = q.shape
    Hk = k.shape[1]
    pg = p.reshape(Bq, Hk, -1, Tq)                     # (B, Hkv, G*T, T)
    gog = go.reshape(Bq, Hk, -1, hd)                   # (B, Hkv, G*T, hd)
    gv = np.matmul(pg.swapaxes(-1, -2), gog)           # sums over the group for free
    gp = np.matmul(gog, v.swapaxes(-1, -2)).reshape(p.shape)
    gs = K.softmax_backward(p, gp)
    gs *= scale
    gsg = gs.reshape(Bq, Hk, -1, Tq)
    gq = np.matmul(gsg, k).reshape(q.shape)
    gk = np.matmul(gsg.swapaxes(-1, -2), q.reshape(Bq, Hk, -1, hd))
    return gq, gk, gv


def bench_attention(r, label="unfused"):
    q, k, v, go = randn(B, H, T, HD), randn(B, HKV, T, HD), randn(B, HKV, T, HD), randn(B, H, T, HD)
    scale = HD ** -0.5
    o, lse = A.causal_attention(q, k, v, scale)
    _, p = attention_unfused(q, k, v, scale)
    o_ref, _ = attention_unfused(q, k, v, scale)
    assert np.allclose(o, o_ref, atol=1e-4)
    tf, tu, tb, tub = side_by_side([
        lambda: A.causal_attention(q, k, v, scale),
        lambda: attention_unfused(q, k, v, scale),
        lambda: A.causal_attention_backward(q, k, v, o, lse, go, scale),
        lambda: attention_unfused_backward(q, k, v, p, go, scale)], r)
    name = f"attention fused vs unfused {q.shape}"
    row(name, "fwd", tf, tu, label)
    row(name, "bwd", tb, tub, label)
    row(name, "sum", tf + tb, tu + tub, label)
    if label != "unfused":
        return
    # and against the plain NumPy reference (materialises repeated kv and the masked scores)
    tf, tfr, tb, tbr = side_by_side([
        lambda: A.causal_attention(q, k, v, scale),
        lambda: A.causal_attention_ref(q, k, v, scale),
        lambda: A.causal_attention_backward(q, k, v, o, lse, go, scale),
        lambda: A.causal_attention_backward_ref(q, k, v, o, lse, go, scale)], 3)
    row("attention fused vs numpy ref", "sum", tf + tb, tfr + tbr)


def bench_attention_window(r, window=64):
    """Mistral's sliding window against full causal attention, same shapes: with W = 64 of
    T = 256 a block of 4 query rows touches ~W + 3 keys instead of all earlier ones."""
    q, k, v, go = randn(B, H, T, HD), randn(B, HKV, T, HD), randn(B, HKV, T, HD), randn(B, H, T, HD)
    scale = HD ** -0.5
    o, lse = A.causal_attention(q, k, v, scale)
    ow, lsew = A.causal_attention(q, k, v, scale, window)
    tw, tf, twb, tfb = side_by_side([
        lambda: A.causal_attention(q, k, v, scale, window),
        lambda: A.causal_attention(q, k, v, scale),
        lambda: A.causal_attention_backward(q, k, v, ow, lsew, go, scale, window),
        lambda: A.causal_attention_backward(q, k, v, o, lse, go, scale)], r)
    name = f"attention window {window} vs full, T={T}"
    row(name, "fwd", tw, tf, "full causal")
    row(name, "bwd", twb, tfb, "full causal")
    row(name, "sum", tw + twb, tf + tfb, "full causal")


def bench_attention_blas1(r):
    """The fused-vs-unfused rows again in a subprocess whose BLAS runs on one thread.

    The unfused path makes 2 x 64 small batched BLAS calls per pass; with a 2-thread
    BLAS each call has to wake and sync a second thread, which is slow whenever the
    cores are busy (Numba's own threads, other processes). One BLAS thread avoids that.
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--only", "attention_one",
                          "--repeat", str(r)], env=env, capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("attention"):
            print(line, flush=True)


def bench_matmul(r):
    shapes = [((N, DIM), (DIM, HIDDEN)),               # FFN up: x @ W1
              ((N, HIDDEN), (HIDDEN, DIM)),            # FFN down
              ((B * H, T, HD), (B * H, HD, T))]        # attention scores q @ kᵀ
    for sa, sb in shapes:
        a, b = randn(*sa), randn(*sb)
        g = randn(*(sa[:-1] + sb[-1:]))
        fwd_bwd(f"matmul {sa}@{sb}",
                lambda: K.matmul(a, b), lambda: np.matmul(a, b),
                lambda: K.matmul_backward(a, b, g),
                lambda: (np.matmul(g, b.swapaxes(-1, -2)), np.matmul(a.swapaxes(-1, -2), g)),
                max(3, r // 3), "np.matmul (BLAS)")


# --- start-up ------------------------------------------------------------------------

STARTUP = r"""
import time
t0 = time.perf_counter()
import numpy as np
import autograd.attention as A
import autograd.kernels as K
t1 = time.perf_counter()
f = np.float32
x = np.ones((2, 3, 4), f); w = np.ones(4, f); g = np.ones((2, 3, 4), f)
K.matmul(x, np.ones((2, 4, 3), f)); K.matmul_backward(x, np.ones((2, 4, 3), f), np.ones((2, 3, 3), f))
y = K.softmax(np.ones((2, 3, 3), f), causal=True); K.softmax_backward(y, y)
c, s = K.rope_tables(3, 4); K.rope(np.ones((1, 3, 2, 4), f), c, s); K.rope_backward(np.ones((1, 3, 2, 4), f), c, s)
_, r = K.rmsnorm(x, w, 1e-5); K.rmsnorm_backward(x, w, r, g)
K.swiglu(x, g); K.swiglu_backward(x, g, g)
t = np.array([0, 1, 2]); _, lse = K.cross_entropy(np.ones((3, 4), f), t); K.cross_entropy_backward(np.ones((3, 4), f), t, lse, -100, 1.0)
K.embedding_backward(t, np.ones((3, 4), f), 5)
p = np.ones(8, f); K.adamw_step(p, p.copy(), np.zeros(8, f), np.zeros(8, f), 1e-3, 0.9, 0.95, 1e-8, 0.1, 1)
q = np.ones((1, 2, 3, 4), f); k = np.ones((1, 1, 3, 4), f)
o, lse = A.causal_attention(q, k, k, 0.5); A.causal_attention_backward(q, k, k, o, lse, q, 0.5)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t0:.3f}")
"""


def startup(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, cwd=root,
                         capture_output=True, text=True, check=True).stdout.split()
    wall = time.perf_counter() - t0
    return float(out[0]), float(out[1]), wall


def bench_parallel_check(r):
    """Each `parallel=True` core on all threads, on 1 thread, and compiled without parallel=True.

    The last column is what dropping parallel=True would give. It can be slower than
    one thread of the parallel build: Numba hands a prange body's arrays to LLVM as
    non-aliasing, which helps it vectorise, while a plain loop over several arrays may
    stay scalar.
    """
    import numba
    print("\nparallel=True kernels: all threads vs 1 thread vs a build without parallel=True"
          " (wall-clock medians, side by side)")
    f = DT
    s = randn(B * H, T, T)
    a, b = randn(N, HIDDEN), randn(N, HIDDEN)
    logits, t = randn(N, VOCAB), rng.integers(0, VOCAB, N)
    lse, row_loss = np.empty(N, DT), np.empty(N)
    n = 5_000_000
    p, g, m, v = randn(n), randn(n), np.zeros(n, DT), np.abs(randn(n))
    q, k, vv = randn(B, H, T, HD), randn(B, HKV, T, HD), randn(B, HKV, T, HD)
    kT, vT = np.ascontiguousarray(k.transpose(0, 1, 3, 2)), np.ascontiguousarray(vv.transpose(0, 1, 3, 2))
    o, ls = A.causal_attention(q, k, vv, 0.17)
    cases = [
        ("softmax fwd", K._softmax_fwd, (s, np.empty_like(s), True)),
        ("softmax bwd", K._softmax_bwd, (s.reshape(-1, T), s.reshape(-1, T), np.empty((B * H * T, T), DT))),
        ("swiglu fwd", K._swiglu_fwd, (a, b, np.empty_like(a))),
        ("swiglu bwd", K._swiglu_bwd, (a, b, a, np.empty_like(a), np.empty_like(a))),
        ("cross_entropy fwd", K._cross_entropy_fwd, (logits, t, -100, lse, row_loss)),
        ("cross_entropy bwd", K._cross_entropy_bwd, (logits, t, lse, -100, f(1e-4), np.zeros_like(logits))),
        ("adamw", K._adamw_kernel, (p, g, m, v, *(f(x) for x in (1 - 1e-4, .9, .1, .95, .05, 1e-3, .5, 1e-8)))),
        ("matmul (4096,256)@(256,688)", K._matmul_kernel,
         (randn(1, N, DIM), randn(1, DIM, HIDDEN), np.zeros((1, N, HIDDEN), DT))),
        ("attention fwd", A._attention_fwd, (q, kT, vT, f(0.17), T, o, ls)),
        ("attention bwd", A._attention_bwd,
         (q, kT, vT, o, ls, q, f(0.17), T, np.empty_like(q), np.zeros_like(kT), np.zeros_like(kT))),
    ]
    for name, par, args in cases:
        opts = {k: v for k, v in par.targetoptions.items() if k not in ("parallel", "cache", "nopython")}
        ser = numba.njit(**opts)(par.py_func)          # same code and flags, prange runs as range
        threads = numba.get_num_threads()

        def one_thread():
            numba.set_num_threads(1)
            par(*args)
            numba.set_num_threads(threads)

        tp, t1, ts = side_by_side([lambda: par(*args), one_thread, lambda: ser(*args)], max(3, r // 2))
        print(f"  {name:<30} {threads} threads {ms(tp)} ms   1 thread {ms(t1)} ms ({t1 / tp:4.2f}x)"
              f"   not parallel {ms(ts)} ms ({ts / tp:4.2f}x)", flush=True)


def bench_startup(r):
    print("\nstart-up (fresh subprocess; import autograd.kernels + first float32 call of every kernel)")
    cache_dir = tempfile.mkdtemp(prefix="numba-cache-")
    try:
        imp, first, wall = startup(cache_dir)          # empty cache: compiles everything
        print(f"  cold (empty Numba cache):  import {imp:6.2f} s   import+first calls {first:6.2f} s"
              f"   process wall {wall:6.2f} s", flush=True)
        warm = [startup(cache_dir) for _ in range(max(3, r // 3))]
        imp, first, wall = (statistics.median(w[i] for w in warm) for i in range(3))
        print(f"  warm (cache populated):    import {imp:6.2f} s   import+first calls {first:6.2f} s"
              f"   process wall {wall:6.2f} s   (median of {len(warm)})")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


BENCHES = {"softmax": bench_softmax, "rope": bench_rope, "rmsnorm": bench_rmsnorm,
           "swiglu": bench_swiglu, "cross_entropy": bench_cross_entropy,
           "embedding": bench_embedding, "adamw": bench_adamw, "attention": bench_attention,
           "attention_window": bench_attention_window,
           "matmul": bench_matmul, "startup": bench_startup}
OPTIONAL = {"parallel": bench_parallel_check,
            "attention_one": lambda r: bench_attention(r, "unfused, BLAS 1 thread")}
BENCHES = {**{k: v for k, v in BENCHES.items() if k not in ("matmul", "startup")},
           "attention_blas1": bench_attention_blas1,
           "matmul": bench_matmul, "startup": bench_startup}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 repeats instead of 15")
    ap.add_argument("--only", default="", help="comma-separated subset of "
                    + ",".join(list(BENCHES) + list(OPTIONAL)))
    ap.add_argument("--parallel-check", action="store_true", help="add the parallel-vs-serial table")
    ap.add_argument("--repeat", type=int, default=0, help="repeats per row (default 15, --quick 5)")
    args = ap.parse_args()
    repeat = args.repeat or (5 if args.quick else 15)
    names = args.only.split(",") if args.only else list(BENCHES)
    if args.parallel_check and "parallel" not in names:
        names.append("parallel")
    threads = {v: os.environ.get(v, "unset")
               for v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    print(f"kernels bench: float32, median of {repeat}, threads {threads}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'kernel':<44}{'pass':<6}{'numba ms':>9}{'ref ms':>9}{'ratio':>9}  reference")
    t0 = time.perf_counter()
    for name in names:
        {**BENCHES, **OPTIONAL}[name](repeat)
    print(f"\nbench total {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f} at end"
          " (> 2 means other processes shared the 2 cores: absolute times are inflated, "
          "ratios less so)")


if __name__ == "__main__":
    main()
