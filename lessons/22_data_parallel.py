"""Lesson 22 — data parallelism: N processes, one big batch.

A model that trains too slowly on one machine can train on N of them: every process ("rank")
holds the whole model, takes 1/N of each batch, computes its gradient, and the ranks AVERAGE
their gradients before the same optimizer step. This is how nanoGPT and llama2.c train with
PyTorch DDP, and llm.c with MPI + NCCL. Nothing about the model changes: it is the batch that is
split. Three facts carry the whole method:

  * the gradient of a mean is the mean of the gradients, so N ranks × batch B take exactly the
    step of one process × batch N·B (section 1: shown exactly, with MPI when it is installed);
  * an all-reduce gives every rank the same sum, so the ranks' weights stay identical (section 2:
    the ring algorithm, which sends 2(N−1)/N × the gradient's bytes per rank, whatever N);
  * the all-reduce is a cost paid every step, so the speed-up over N machines is
    N·t_compute / (t_compute + t_communicate) (section 3: a table for a 10 Gb/s network).

In the library:

    tinyllm/ddp.py    DataParallel: get_batch (rank r's rows of the global batch), all_reduce
                      (one MPI Allreduce over a flat buffer of every gradient + the loss), sync
                      (agreeing on time, stopping and a hash of the weights), share/receive (rank 0
                      sends the run), follow (the other ranks' loop); pack / unpack
    tinyllm/train.py  train_step(..., all_reduce): clip by the global norm AFTER averaging
    tests/test_ddp.py the exact test: 2 ranks × B == 1 process × 2B (float64 1e-10, float32 1e-5)
    bench/ddp_speed.py  1 process × 2 threads against 2 processes × 1 thread on one machine

Sections
  1. Averaging gradients is one bigger batch (exact, with MPI if present, else simulated)
  2. The flat buffer and the ring all-reduce (figure)
  3. What it costs: a scaling table for N machines on a 10 Gb/s network
  4. What breaks determinism
  5. Running it, on one machine and across machines

Run:       python lessons/22_data_parallel.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 22               (pack/unpack and N ranks averaged)
"""
# %%
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import FAST, REPO_DIR, max_rel_error, pick, plt, save_figure, section

from tinyllm import ddp
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm
from tinyllm.train import get_batch, train_step

rng = np.random.default_rng(0)

# %%
# ============================================================================================
section("1. Averaging gradients is one bigger batch")
# The loss of a batch is the mean over its rows: L = (1/NB) Σ_i ℓ_i. Split the NB rows over N
# ranks of B rows each; rank r's loss is L_r = (1/B) Σ_{i in r} ℓ_i, so L = (1/N) Σ_r L_r, and
# since the gradient is linear, ∇L = (1/N) Σ_r ∇L_r. Averaging the ranks' gradients IS the
# gradient of the big batch. Clip after averaging (the global norm is the norm of ∇L, not of
# any ∇L_r), and every rank then takes the same AdamW step from the same weights.
#
# First in one process: N "ranks" one after another, each on its slice of the rows.
cfg = ModelConfig.preset("tiny", vocab_size=64, max_seq_len=16)
model = Transformer(cfg, seed=1, dtype=np.float64)
batch = rng.integers(0, 64, size=(8, 17))
params = model.parameters()
model.zero_grad()
_, loss = model(batch[:, :-1], batch[:, 1:])
loss.backward()
whole = ddp.pack([p.grad for p in params], np.empty(sum(p.size for p in params)))
for n_ranks in (2, 4, 8):
    rows = len(batch) // n_ranks
    total, losses = np.zeros_like(whole), []
    for r in range(n_ranks):
        part = batch[r * rows:(r + 1) * rows]
        model.zero_grad()
        _, l_r = model(part[:, :-1], part[:, 1:])
        l_r.backward()
        losses.append(float(l_r.data))
        total += ddp.pack([p.grad for p in params], np.empty_like(whole))   # the all-reduce's SUM
    print(f"{n_ranks} ranks x {rows} rows: loss {np.mean(losses):.12f} vs {float(loss.data):.12f}; "
          f"gradient max rel. error {max_rel_error(total / n_ranks, whole):.1e}")


# Then for real, if mpi4py and an MPI are installed (pip install -e '.[mpi]'): the test's own
# worker, tests/ddp_ranks.py, trains 5 steps on 2 ranks × 3 rows, comparing the ranks' weight
# hashes after every step; here one process trains the same 5 steps on 6 rows.
def mpi_launcher():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


launcher = mpi_launcher()
sys.path.insert(0, str(REPO_DIR / "tests"))
import ddp_setup  # noqa: E402   (the model, data and settings both sides share)

steps, B = 5, 3
if launcher:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ranks.npz")
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        done = subprocess.run([launcher, "-n", "2", sys.executable, str(REPO_DIR / "tests" / "ddp_ranks.py"),
                               out, "float64", str(steps), str(B)], capture_output=True, text=True, env=env,
                              timeout=300)
        ranks = dict(np.load(out)) if done.returncode == 0 else None
    if ranks is None:
        print(f"mpiexec failed ({done.stderr.strip()[-300:]}); simulating the ranks instead")
else:
    ranks = None
    print("mpi4py is not installed: the 2 ranks are simulated in this process (the same arithmetic: "
          "each rank's gradient on its rows, summed, ÷ 2). Install the extra to see real MPI: "
          "pip install -e '.[mpi]'")
if ranks is None:                                      # simulate: the ranks' gradients, averaged
    m, o, tokens, gen = ddp_setup.build("float64")
    losses, agreed = [], []
    for _ in range(steps):
        big = get_batch(tokens, 2 * B, ddp_setup.CONTEXT, gen)
        grads, ls = [], []
        for r in range(2):
            m.zero_grad()
            _, l_r = m(big[r * B:(r + 1) * B, :-1], big[r * B:(r + 1) * B, 1:])
            l_r.backward()
            ls.append(float(l_r.data))
            grads.append(ddp.pack([p.grad for p in o.params], np.empty_like(o.flat)))
        for p, g in zip(o.params, ddp.unpack((grads[0] + grads[1]) / 2, [p.shape for p in o.params])):
            p.grad = g
        clip_grad_norm(o.params, ddp_setup.CLIP)
        o.step(ddp_setup.LR)
        o.zero_grad()
        losses.append(np.mean(ls))
        agreed.append(True)                            # one copy of the weights: trivially the same
    ranks = {"losses": np.array(losses), "flat": o.flat.copy(), "agreed": np.array(agreed)}
    how = "2 simulated ranks"
else:
    how = "2 MPI ranks (mpiexec -n 2)"
model1, opt1, tokens, gen = ddp_setup.build("float64")
losses1 = [train_step(model1, opt1, [get_batch(tokens, 2 * B, ddp_setup.CONTEXT, gen)], ddp_setup.LR,
                      ddp_setup.CLIP)[0] for _ in range(steps)]
print(f"{how} x batch {B} against 1 process x batch {2 * B}, {steps} AdamW steps (float64):")
for i, (a, b) in enumerate(zip(ranks["losses"], losses1), 1):
    print(f"  step {i}: loss {a:.15f} | {b:.15f}")
print(f"  final weights: max rel. error {max_rel_error(ranks['flat'], opt1.flat):.1e}; ranks' weight hashes "
      f"equal after every step: {bool(np.all(ranks['agreed']))}")
# Not bit-identical to the single process: the sums run in another order (1e-16, not 0).
# But the ranks are bit-identical to EACH OTHER: they start equal, receive the same averaged
# buffer, and run the same deterministic AdamW kernel on it.


# %%
# ============================================================================================
section("2. The flat buffer and the ring all-reduce")
# One Allreduce per step over ONE contiguous buffer: every gradient is packed into it (AdamW's
# layout, parameter i at [off_i, off_(i+1))), the loss at the end, and after the call each
# p.grad is a view of the averaged buffer (ddp.unpack). One big message instead of one per
# tensor: each message pays a latency (microseconds in shared memory, tens of microseconds on a
# network), and the big one runs at the wire's bandwidth.
#
# How does MPI sum a buffer across N ranks? The classic bandwidth-optimal way is the RING:
# cut the buffer into N chunks. Reduce-scatter: for N−1 steps each rank sends one chunk to its
# right neighbour and adds the chunk it receives from its left; afterwards rank r holds the
# full sum of chunk (r+1) mod N. All-gather: N−1 more steps pass the finished chunks around.
# Each rank sends 2(N−1) chunks of size S/N: 2(N−1)/N · S bytes, whatever N is.
def ring_all_reduce(buffers):
    """Sum N equal-length 1-D arrays the way a ring does; returns each rank's result and the
    number of elements each rank sent."""
    N = len(buffers)
    chunks = [np.array_split(b.astype(np.float64).copy(), N) for b in buffers]   # chunks[rank][c]
    sent = 0
    for s in range(N - 1):                                                # reduce-scatter
        msgs = [(r, (r - s) % N, chunks[r][(r - s) % N].copy()) for r in range(N)]
        for r, c, data in msgs:
            chunks[(r + 1) % N][c] += data
        sent += len(msgs[0][2])
    for s in range(N - 1):                                                # all-gather
        msgs = [(r, (r + 1 - s) % N, chunks[r][(r + 1 - s) % N].copy()) for r in range(N)]
        for r, c, data in msgs:
            chunks[(r + 1) % N][c] = data
        sent += len(msgs[0][2])
    return [np.concatenate(c) for c in chunks], sent


size = 1200
for N in (2, 3, 4, 8):
    bufs = [rng.standard_normal(size) for _ in range(N)]
    results, sent = ring_all_reduce(bufs)
    exact = np.sum(bufs, axis=0)
    print(f"N={N}: every rank has the sum (max rel. error {max(max_rel_error(r, exact) for r in results):.0e}); "
          f"each rank sent {sent} of {size} elements = {sent / size:.3f} x S; 2(N-1)/N = {2 * (N - 1) / N:.3f}")

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
N = 4
angles = np.pi / 2 - 2 * np.pi * np.arange(N) / N
xy = np.c_[np.cos(angles), np.sin(angles)]
for r in range(N):
    a, b = xy[r], xy[(r + 1) % N]
    ax.annotate("", xy=a + 0.78 * (b - a), xytext=a + 0.22 * (b - a),
                arrowprops=dict(arrowstyle="-|>", lw=2, color="tab:blue"))
    ax.add_patch(plt.Circle(a, 0.2, color="tab:orange", zorder=3))
    ax.text(*a, f"rank {r}", ha="center", va="center", zorder=4, fontsize=9)
ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal",
       title=f"ring all-reduce, N={N}: each step every rank sends\none chunk (S/N) to its right neighbour")
ax.axis("off")
ns = np.arange(1, 33)
ax2.plot(ns, 2 * (ns - 1) / ns, "o-", ms=3)
ax2.axhline(2, color="gray", ls="--", lw=1)
ax2.set(xlabel="ranks N", ylabel="bytes sent per rank / gradient bytes",
        title="2(N−1)/N: the traffic per rank barely grows with N")
save_figure(fig, "22_ring_allreduce.png")


# %%
# ============================================================================================
section("3. What it costs: N machines on a 10 Gb/s network")
# Per step, per machine: compute t_c (forward + backward of its own batch, the same on every
# machine: each keeps batch B, so N machines process N× the tokens) and communicate
#     t_a(N) = 2(N−1)/N · S / bandwidth + 2(N−1) · latency,   S = 4 bytes × parameters (float32).
# Without overlapping the two, the speed-up is N · t_c / (t_c + t_a). (PyTorch DDP overlaps the
# all-reduce of the last layers' gradients with the backward of the first ones, "buckets";
# ddp.py does not, which is the simple, pessimistic case.)
# t_c here: this machine's FLOP rate, measured on one shakespeare step, times each shape's
# FLOPs per step (6 per parameter per token + attention, Transformer.flops_per_token).
bandwidth, latency = 10e9 / 8, 50e-6              # 10 Gb/s = 1.25 GB/s; 50 µs per message
B_tok = 16 * 256                                   # tokens per machine per step
shapes = {"shakespeare": ModelConfig.preset("shakespeare"),
          "stories15M": ModelConfig.preset("stories15M")}   # dim 288, 6 layers, 6 heads, vocab 32000, T 256
print("stories15M: llama2.c's shape — dim 288, 6 layers, 6 heads (6 kv), vocab 32000, context 256")

probe = Transformer(shapes["shakespeare"], seed=0)
probe_opt = AdamW(probe.named_parameters(), 1e-3)
tok = np.random.default_rng(0).integers(0, 2048, size=50_000).astype(np.uint16)
b_probe = pick(4, 1)
train_step(probe, probe_opt, [get_batch(tok, b_probe, 256, rng)], 1e-3, 1.0)        # warm-up
t0 = time.perf_counter()
for _ in range(pick(2, 1)):
    train_step(probe, probe_opt, [get_batch(tok, b_probe, 256, rng)], 1e-3, 1.0)
dt = (time.perf_counter() - t0) / pick(2, 1)
flops_rate = probe.flops_per_token(256) * b_probe * 256 / dt
print(f"this machine: one shakespeare step on {b_probe} x 256 tokens took {dt:.2f} s -> "
      f"~{flops_rate / 1e9:.1f} GFLOP/s (a busy or small machine gives a lower figure; rerun on yours)")
del probe, probe_opt

Ns = (1, 2, 4, 8, 16, 32, 64)
GPU_RATE = 20e12                                   # for contrast: a GPU sustaining 20 TFLOP/s
for name, c in shapes.items():
    m = Transformer(c, seed=0)
    P = m.num_params()
    S = 4 * P
    t_c = m.flops_per_token(256) * B_tok / flops_rate
    t_gpu = m.flops_per_token(256) * B_tok / GPU_RATE
    print(f"\n{name}: {P / 1e6:.2f} M parameters, gradient {S / 1e6:.1f} MB; compute per step "
          f"(16 x 256 tokens per machine): {t_c:.2f} s here, {1e3 * t_gpu:.1f} ms at {GPU_RATE / 1e12:.0f} TFLOP/s")
    print(f"   {'N':>3} {'all-reduce':>11} | {'here: share':>11} {'speed-up':>9} | {'GPU: share':>10} {'speed-up':>9}")
    for N in Ns:
        t_a = 0.0 if N == 1 else 2 * (N - 1) / N * S / bandwidth + 2 * (N - 1) * latency
        print(f"   {N:>3} {1e3 * t_a:>8.1f} ms | {100 * t_a / (t_c + t_a):>10.1f}% {N * t_c / (t_c + t_a):>8.1f}x "
              f"| {100 * t_a / (t_gpu + t_a):>9.0f}% {N * t_gpu / (t_gpu + t_a):>8.1f}x")
    del m
# The all-reduce approaches 2·S / bandwidth (tens of milliseconds for these shapes at 1.25 GB/s),
# while a NumPy step on a few cores takes seconds: on a CPU the network is nearly free and N machines give nearly N×. On GPUs a step takes milliseconds, which
# is why GPU clusters need 100-400 Gb/s links (NVLink, InfiniBand) and overlap the all-reduce
# with the backward pass. On ONE 2-core machine, 2 ranks share the same 2 cores, so the gain is
# only in how well 1-thread ranks use a core against 2-thread BLAS: bench/ddp_speed.py measures it.


# %%
# ============================================================================================
section("4. What breaks determinism")
# The ranks must stay bit-identical, or they slowly drift apart (each would then train its own
# model). What keeps them equal: the same start (rank 0 broadcasts its weights and AdamW state),
# the same averaged gradient (the all-reduce gives every rank the same bytes), and a deterministic
# step. What breaks it:
a, b, c = np.float32(1e8), np.float32(-1e8), np.float32(1.0)
print(f"float addition is not associative: (a + b) + c = {(a + b) + c}, a + (b + c) = {a + (b + c)} (float32)")
# * So any change in the ORDER of a sum changes the last bits: a different N (the ring sums
#   the chunks in another order), another MPI or reduction algorithm (MPI picks by message size),
#   another BLAS or thread count in the matmuls or in the gradient-norm dot product.
# * Per-rank randomness not drawn from the shared stream (dropout, sampling): seed it by rank
#   on purpose, or not at all.
# * Reading the data in a rank-dependent order: ddp.py draws the global batch from ONE generator
#   that every rank holds, and rank r keeps rows [rB, (r+1)B), so a resume (same N) continues
#   the same stream; a different N would be a different run, so --resume refuses it.
# The ranks check it: at each evaluation, DataParallel.sync compares a hash of every rank's
# weights (an Allreduce(MAX) over [h, −h]: max(h) = −max(−h) only if all h are equal) and
# stops with an error if they differ; tests/test_ddp.py compares sha256 after every step.
# The single process with batch N·B is NOT bit-identical to N ranks: same math, other order
# (section 1: ~1e-16 in float64, ~1e-7 in float32).


# %%
# ============================================================================================
section("5. Running it, on one machine and across machines")
print("""On one machine (the extra installs MPICH, whose mpiexec lands in .venv/bin):
    pip install -e '.[mpi]'                      # or: make train-shakespeare-ddp NP=2 MINUTES=10
    .venv/bin/mpiexec -n 2 .venv/bin/python -m tinyllm train --data-parallel \\
        --preset shakespeare --batch-size 8 --minutes 10 --out runs/shakespeare
  --batch-size is per rank: 2 ranks x 8 = the single-process default of 16 windows per step.
  Share the cores: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / NUMBA_NUM_THREADS = cores / ranks.

Across machines: the same command, with a host file (one machine per line, ranks per machine):
    $ cat hosts
    node1:2
    node2:2
    $ mpiexec -f hosts -n 4 /same/path/.venv/bin/python -m tinyllm train --data-parallel ...
  (MPICH: -f hosts; Open MPI: --hostfile hosts with lines "node1 slots=2".) Every machine needs
  the same environment at the same path and password-less ssh from the first one. Only rank 0
  reads the corpus and writes the run folder: the token ids, the weights and AdamW's state are
  broadcast to the others. A rank that dies ends the job (mpiexec kills the rest; an error on a
  rank calls MPI_Abort); resume with the same N: mpiexec ... --data-parallel --resume.""")
