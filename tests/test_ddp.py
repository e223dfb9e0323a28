"""Data-parallel training (tinyllm/ddp.py) under a real MPI: N ranks × batch B take exactly the
steps of one process × batch N·B, and the ranks' weights stay bit-identical.

The ranks run in `mpiexec -n 2` subprocesses (MPICH from the tinyllm[mpi] extra, which `make
test` installs). The tests skip, saying why, only when mpi4py is absent or MPI cannot start here.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyllm.train import get_batch, train_step

import ddp_setup

HERE = Path(__file__).resolve().parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}   # 2 ranks, 2 cores


def mpiexec():
    """The mpiexec beside this Python (the extra's MPICH), else one on PATH, else None."""
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def launcher():
    """mpiexec, checked to start 2 ranks that can talk; else the test is skipped with the reason."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install -e '.[mpi]'; `make test` installs it)")
    exe = mpiexec()
    if exe is None:
        pytest.skip("no mpiexec found (pip install -e '.[mpi]' puts MPICH's in the venv)")
    probe = "from mpi4py import MPI; c = MPI.COMM_WORLD; assert c.allreduce(1) == c.Get_size() == 2"
    try:
        r = subprocess.run([exe, "-n", "2", sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip(f"MPI cannot start here: `{exe} -n 2` did not finish in 60 s")
    if r.returncode != 0:
        pytest.skip(f"MPI cannot start here: `{exe} -n 2` failed: {(r.stderr or r.stdout).strip()[-300:]}")
    return exe


def run_ranks(launcher, args, cwd=None, timeout=300):
    env = {**os.environ, **ONE_THREAD}
    r = subprocess.run([launcher, "-n", "2", sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=cwd)
    assert r.returncode == 0, f"mpiexec failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def relative(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_two_ranks_equal_one_process_with_twice_the_batch(launcher, tmp_path, dtype, tol):
    steps, B = 5, 3
    out = tmp_path / "ranks.npz"
    run_ranks(launcher, [str(HERE / "ddp_ranks.py"), str(out), dtype, str(steps), str(B)])
    ranks = np.load(out)
    assert int(ranks["ranks"]) == 2
    assert ranks["agreed"].all(), f"the ranks' weights differ after step(s) {np.flatnonzero(~ranks['agreed']) + 1}"

    model, opt, tokens, rng = ddp_setup.build(dtype)       # one process, batch 2B, the same stream
    before = opt.flat.copy()
    losses, norms = [], []
    for _ in range(steps):
        loss, norm = train_step(model, opt, [get_batch(tokens, 2 * B, ddp_setup.CONTEXT, rng)],
                                ddp_setup.LR, ddp_setup.CLIP)
        losses.append(loss)
        norms.append(norm)
    assert max(norms) > ddp_setup.CLIP                     # clipping by the global norm took part
    assert relative(ranks["losses"], np.array(losses)) <= tol
    assert relative(ranks["norms"], np.array(norms)) <= tol
    assert relative(ranks["flat"], opt.flat) <= tol
    if dtype == "float64":                                 # the updates too, not just the weights
        assert relative(ranks["flat"] - before, opt.flat - before) <= tol


def test_train_cli_data_parallel_equals_one_process(launcher, tmp_path):
    """mpiexec -n 2 python -m tinyllm train --data-parallel --batch-size 2 leaves the run folder of
    python -m tinyllm train --batch-size 4: the same losses, evaluations and checkpoint."""
    text = tmp_path / "text.txt"
    rng = np.random.default_rng(0)
    words = "the king said to his queen that night was dark and cold".split()
    text.write_text("\n".join(" ".join(rng.choice(words, size=8)) + "." for _ in range(120)) + "\n")
    common = ["-m", "tinyllm", "train", "--preset", "tiny", "--text", str(text), "--vocab-size", "300",
              "--steps", "4", "--eval-every", "2", "--context", "16", "--warmup", "1", "--dtype", "float64",
              "--sample-tokens", "4", "--final-sample-tokens", "4"]
    run_ranks(launcher, [*common, "--data-parallel", "--batch-size", "2", "--out", str(tmp_path / "ddp")])
    one = subprocess.run([sys.executable, *common, "--batch-size", "4", "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **ONE_THREAD})
    assert one.returncode == 0, one.stderr
    for name in ("ckpt.npz", "metrics.jsonl", "loss.png", "samples.txt", "tokenizer.json"):
        assert (tmp_path / "ddp" / name).exists(), name
    recs = {k: [json.loads(line) for line in open(tmp_path / k / "metrics.jsonl")] for k in ("ddp", "one")}
    assert [sorted(r) for r in recs["ddp"]] == [sorted(r) for r in recs["one"]]
    for a, b in zip(recs["ddp"], recs["one"]):
        for key in ("loss", "grad_norm", "val_loss", "tokens"):
            if key in a:
                assert abs(a[key] - b[key]) <= 1e-10 * abs(b[key]), (key, a, b)
    a, b = np.load(tmp_path / "ddp" / "ckpt.npz"), np.load(tmp_path / "one" / "ckpt.npz")
    for k in b.files:
        if b[k].dtype.kind == "f" and b[k].size:
            assert relative(a[k], b[k]) <= 1e-10, k
