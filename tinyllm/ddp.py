"""Data-parallel training over MPI: mpirun -n N python -m tinyllm train --data-parallel ...

N processes ("ranks", on one machine or many) each hold the whole model. Every step:

    rank r: its B rows of the global batch ──▶ forward + backward ──▶ gradient g_r (and loss L_r)
    all ranks: Allreduce(SUM) over one flat buffer [g_r | L_r], then ÷ N  ──▶ ḡ = (1/N) Σ_r g_r
    every rank: clip by ‖ḡ‖, the same AdamW step ──▶ the same weights, bit for bit

Why this is one big batch: the loss of a batch is a mean over its rows, so the mean of the N
ranks' losses over B rows each is the loss over all N·B rows, and the gradient of a mean is the
mean of the gradients. So N ranks × batch B take exactly the step one process takes with batch
N·B (up to the order of float additions); tests/test_ddp.py checks it to 1e-10 in float64.

The global batch: every rank holds the same batch generator (seeded, and restored on resume) and
draws all N·B window starts of the step; rank r keeps rows [r·B, (r+1)·B). A single process with
batch N·B draws the very same windows: that is what makes the equality exact, and it makes the
ranks' streams reproducible without any extra state.

Rank 0 is the run's writer (train_cli.py's main and train.py's train_loop, as in a single-process
run): it prepares the data, builds or resumes the run inside its RunFolder, and shares it with the other
ranks: the config, the training tokens, the weights and AdamW's moments, the batch generator's
state (`share` / `receive`: plain buffers and JSON, no pickle). The other ranks run `follow`,
the same steps without printing, evaluating or writing. After each step the ranks agree on the
step's time (the slowest rank's: the --minutes budget and the lr cosine run on it) and on
stopping (Ctrl-C on any rank stops all, after the step, and rank 0 saves), with one small
Allreduce(MAX); at each evaluation they check that their weights are identical (a sha256 of the
flat parameter buffer, compared across ranks). A rank that fails makes the others stop:
an error on one rank calls MPI's Abort, which ends every rank (MPI also ends the job when a rank
dies), rather than leaving them waiting in the next Allreduce.

This module is imported only with --data-parallel: a single-process run never imports mpi4py.
mpi4py and an MPI library come from the optional extra: pip install 'tinyllm[mpi]' (MPICH's
wheel, whose mpiexec is then in the environment's bin/).
"""
import dataclasses
import hashlib
import json
import sys
import time
import traceback

import numpy as np

from autograd import runtime
from tinyllm import train, train_cli
from tinyllm.model import Transformer
from tinyllm.optim import AdamW


def mpi():
    """mpi4py's MPI module, or a TrainingError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise train.TrainingError(f"--data-parallel needs mpi4py and an MPI library ({e}); install them with "
                              f"pip install 'tinyllm[mpi]' (or: make train-shakespeare-ddp)") from None
    return MPI


class DataParallel:
    """This process's place among the N ranks, and the collective steps of a data-parallel run."""

    def __init__(self, comm=None):
        self.MPI = mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED).Get_size()   # ranks on this machine
        self.threads = runtime.share_cores(local)          # they share its cores
        self.buffer = None                 # [all gradients | loss], flat, in the model's dtype
        self.local_stop = None             # this rank's StopOnSignal
        self.requested = False             # the ranks' agreed stop (train_loop reads it as stop.requested)
        self.shared = False                # rank 0 has sent the run (or the news that there is none)
        self.reduce_seconds = 0.0          # time spent in the gradient Allreduce (bench/ddp_speed.py)

    # -- the batch
    def get_batch(self, tokens, batch_size, context, rng):
        """This rank's (B, T+1) rows of the step's global batch of N·B windows."""
        rows = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
        return train.get_batch(tokens, self.size * batch_size, context, rng)[rows]

    def start(self):
        """Wait until every rank is ready to train (kernels compiled), so no step's time counts
        another rank's start-up."""
        self.comm.Barrier()

    # -- the gradient all-reduce
    def all_reduce(self, opt, loss):
        """Average every parameter's .grad and the loss over the ranks, in one Allreduce over a
        flat contiguous buffer laid out as AdamW's (param i at [off[i], off[i+1])), the loss last.
        Afterwards each p.grad is a view of the averaged buffer. Returns the mean loss."""
        n = opt.offsets[-1]
        if self.buffer is None or self.buffer.dtype != opt.flat.dtype:
            self.buffer = np.empty(n + 1, dtype=opt.flat.dtype)
        buf = self.buffer
        pack([np.zeros(p.shape, buf.dtype) if p.grad is None else p.grad for p in opt.params], buf[:n])
        buf[n] = loss
        t0 = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)        # Σ over ranks, on every rank
        self.reduce_seconds += time.perf_counter() - t0
        buf *= buf.dtype.type(1.0 / self.size)                              # mean
        for p, g in zip(opt.params, unpack(buf[:n], [p.shape for p in opt.params])):
            p.grad = g                                                      # views: no copy
        return float(buf[n])

    # -- agreeing after each step
    def sync(self, dt, opt=None):
        """The step's time as the slowest rank's, and stop if any rank was asked to; with opt, also
        check that every rank holds the same weights. One Allreduce(MAX) over four float64:
        [dt, stop, h, −h] with h a 48-bit hash of the weights, so max(h) = −max(−h) iff all equal."""
        h = float(int.from_bytes(weights_hash(opt)[:6], "little")) if opt is not None else 0.0
        local = bool(self.local_stop is not None and self.local_stop.requested)
        buf = np.array([dt, float(local), h, -h])
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.MAX)
        self.requested = self.requested or buf[1] > 0
        if buf[2] != -buf[3]:
            raise train.TrainingError("the ranks' weights differ (their hashes do not agree): the ranks did not "
                                  "take the same steps (a different MPI, BLAS or thread count can change the "
                                  "last bit of a sum); stopping")
        return float(buf[0])

    # -- sharing the run (rank 0) / receiving it (the others)
    def share(self, run, code=1):
        """Rank 0: send the run to the other ranks (None: there is none, they exit with code)."""
        self.shared = True
        if run is None:
            bcast_json(self.comm, {"exit": code})
            return
        meta = {"config": dataclasses.asdict(run.config), "vocab_size": run.model.cfg.vocab_size,
                "rng": run.rng.bit_generator.state, "step": run.step, "tokens": run.tokens,
                "train_time": run.train_time, "t": run.opt.t, "n_train": len(run.train_ids)}
        bcast_json(self.comm, meta)
        self.comm.Bcast(np.ascontiguousarray(run.train_ids), root=0)
        for buf in (run.opt.flat, run.opt.m, run.opt.v):
            self.comm.Bcast(buf, root=0)

    def receive(self):
        """The other ranks: the Run rank 0 shares (with no tokenizer, no val data), or the exit
        code rank 0 stopped with when there is no run (a bad flag, --help, a busy folder)."""
        meta = bcast_json(self.comm, None)
        if "exit" in meta:
            return int(meta["exit"])
        cfg = train.TrainConfig(**meta["config"])
        train_ids = np.empty(meta["n_train"], dtype=np.uint16)
        self.comm.Bcast(train_ids, root=0)
        model = Transformer(cfg.model_config(meta["vocab_size"]), seed=cfg.seed, dtype=np.dtype(cfg.dtype))
        opt = AdamW(model.named_parameters(), cfg.lr, (cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
        for buf in (opt.flat, opt.m, opt.v):                 # the weights are views of opt.flat
            self.comm.Bcast(buf, root=0)
        opt.t = meta["t"]
        rng = np.random.default_rng(cfg.seed)
        rng.bit_generator.state = meta["rng"]
        return train.Run(cfg, None, "", train_ids, None, "", model, opt, rng,
                     meta["step"], meta["tokens"], meta["train_time"])

    def abort(self, code=1):
        """End every rank. Abort also tears down the launcher's forwarding of our output, which can
        drop the error printed just before it (seen in CI): flush, and give it a moment first."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.5)
        self.comm.Abort(code)


def pack(grads, out):
    """Copy the arrays `grads`, in order, into consecutive slices of the 1-D buffer out; returns out."""
    start = 0
    for g in grads:
        out[start:start + g.size] = g.reshape(-1)
        start += g.size
    return out


def unpack(flat, shapes):
    """Views of the 1-D buffer flat, one per shape, laid out one after another (pack's inverse)."""
    views, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[start:start + size].reshape(shape))
        start += size
    return views


def weights_hash(opt):
    """sha256 of the flat parameter buffer (every weight, in AdamW's layout)."""
    return hashlib.sha256(opt.flat.view(np.uint8)).digest()


def bcast_json(comm, obj):
    """Rank 0's obj (JSON-able) on every rank: its length, then its UTF-8 bytes."""
    data = np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8) if comm.Get_rank() == 0 else None
    n = np.array([0 if data is None else data.size], dtype=np.int64)
    comm.Bcast(n, root=0)
    if data is None:
        data = np.empty(int(n[0]), dtype=np.uint8)
    comm.Bcast(data, root=0)
    return json.loads(data.tobytes().decode("utf-8"))


def follow(run, parallel):
    """Ranks 1..N−1: rank 0's training steps (train.py's train_loop) without its writing. Returns
    0, or 130 when the ranks agreed to stop."""
    cfg = run.config
    if not run.finished():
        train_cli.compile_kernels(run)                               # as rank 0 does, before the clock starts
        parallel.start()
    while not run.finished():
        if parallel.requested:
            return 130
        lr = run.lr()
        t0 = time.perf_counter()
        batches = [parallel.get_batch(run.train_ids, cfg.batch_size, cfg.context, run.rng)
                   for _ in range(cfg.grad_accum)]
        train.train_step(run.model, run.opt, batches, lr, cfg.grad_clip, parallel.all_reduce)
        run.step += 1
        check = run.opt if run.step % cfg.eval_every == 0 else None
        run.train_time += parallel.sync(time.perf_counter() - t0, check)
        run.tokens += cfg.batch_size * cfg.context * cfg.grad_accum * parallel.size
    return 0


def main(argv):
    """python -m tinyllm train --data-parallel ... on every rank (started by mpirun/mpiexec)."""
    try:
        parallel = DataParallel()
    except train.TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if parallel.rank == 0:
        try:
            code = train_cli.main(argv, parallel=parallel)
        except SystemExit as e:                    # argparse: --help, or a bad flag (it printed why)
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        if not parallel.shared:                    # stopped before the run existed: so do the others
            parallel.share(None, code)
        elif code not in (0, 130):                 # failed during training: the others are waiting
            print(f"rank 0 stopped with an error; ending the other {parallel.size - 1} rank(s)", file=sys.stderr)
            parallel.abort(code)
        return code
    try:
        run = parallel.receive()
        if isinstance(run, int):
            return run                             # rank 0 printed why
        with train_cli.StopOnSignal() as stop:
            parallel.local_stop = stop
            return follow(run, parallel)
    except train.Diverged:
        return 1                                   # every rank saw the same loss: rank 0 reports it
    except BaseException as e:
        if isinstance(e, train.TrainingError):
            print(f"rank {parallel.rank}: error: {e}", file=sys.stderr)
        else:
            traceback.print_exc()
        parallel.abort(1)
