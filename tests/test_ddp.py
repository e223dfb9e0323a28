"""Data-parallel training (tinyllm/ddp.py) under a real MPI: N ranks × batch B take exactly the
steps of one process × batch N·B, and the ranks' weights stay bit-identical.

The ranks run in `mpiexec -n 2` subprocesses (MPICH from the tinyllm[mpi] extra, which `make
test` installs). The tests skip, saying why, only when mpi4py is absent or MPI cannot start here.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
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


def test_the_single_process_path_never_imports_mpi4py(tmp_path):
    code = ("import sys; from tinyllm.__main__ import main; "
            f"main(['train', '--preset', 'tiny', '--text', {str(HERE / 'ddp_setup.py')!r}, '--vocab-size', '260', "
            f"'--steps', '1', '--context', '8', '--sample-tokens', '1', '--final-sample-tokens', '1', "
            f"'--out', {str(tmp_path / 'run')!r}]); import tinyllm.ddp; assert 'mpi4py' not in sys.modules, 'imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **ONE_THREAD})
    assert r.returncode == 0, r.stderr[-2000:]


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


def test_sync_catches_ranks_whose_weights_differ_by_one_ulp(launcher, tmp_path):
    out = tmp_path / "caught.txt"
    run_ranks(launcher, [str(HERE / "ddp_ranks.py"), str(out), "desync"])
    assert "the ranks' weights differ" in out.read_text()


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    rng = np.random.default_rng(0)
    words = "the king said to his queen that night was dark and cold".split()
    path.write_text("\n".join(" ".join(rng.choice(words, size=8)) + "." for _ in range(120)) + "\n")
    return str(path)


def test_train_cli_data_parallel_with_resume_equals_one_process(launcher, tmp_path, text):
    """mpiexec -n 2 python -m tinyllm train --data-parallel --batch-size 2, 2 steps then --resume to
    4, leaves the run folder of python -m tinyllm train --batch-size 4 --steps 4: the same step
    losses and checkpoint. (A constant lr after warm-up, so a longer budget keeps the schedule.)"""
    common = ["-m", "tinyllm", "train", "--preset", "tiny", "--text", text, "--vocab-size", "300",
              "--eval-every", "2", "--context", "16", "--warmup", "1", "--lr", "3e-3", "--min-lr", "3e-3",
              "--dtype", "float64", "--sample-tokens", "4", "--final-sample-tokens", "4"]
    ddp = ["--data-parallel", "--batch-size", "2", "--out", str(tmp_path / "ddp")]
    run_ranks(launcher, [*common, *ddp, "--steps", "2"])
    r = run_ranks(launcher, [*common, *ddp, "--steps", "4", "--resume"])
    assert "resuming" in r.stdout
    one = subprocess.run([sys.executable, *common, "--batch-size", "4", "--steps", "4", "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **ONE_THREAD})
    assert one.returncode == 0, one.stderr
    for name in ("ckpt.npz", "metrics.jsonl", "loss.png", "samples.txt", "tokenizer.json"):
        assert (tmp_path / "ddp" / name).exists(), name
    recs = {k: [json.loads(line) for line in open(tmp_path / k / "metrics.jsonl") if '"loss"' in line]
            for k in ("ddp", "one")}
    assert [r["step"] for r in recs["ddp"]] == [r["step"] for r in recs["one"]] == [1, 2, 3, 4]
    for a, b in zip(recs["ddp"], recs["one"]):
        for key in ("loss", "grad_norm", "tokens"):
            assert abs(a[key] - b[key]) <= 1e-10 * abs(b[key]), (key, a, b)
    # resuming needs the same number of ranks: the global batch is ranks x --batch-size windows
    again = subprocess.run([sys.executable, *common, "--steps", "6", "--resume", "--out", str(tmp_path / "ddp")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "trained by 2 process(es), this is 1" in again.stderr
    a, b = np.load(tmp_path / "ddp" / "ckpt.npz"), np.load(tmp_path / "one" / "ckpt.npz")
    for k in b.files:
        if b[k].dtype.kind == "f" and b[k].size:
            assert relative(a[k], b[k]) <= 1e-10, k


def test_a_dead_rank_stops_the_others(launcher, tmp_path, text):
    """kill -9 of rank 1 mid-run: mpiexec ends rank 0 too (it does not wait forever in the
    all-reduce) and says which process died; the last checkpoint stays intact."""
    out = tmp_path / "run"
    argv = [launcher, "-n", "2", sys.executable, "-m", "tinyllm", "train", "--data-parallel", "--preset", "tiny",
            "--text", text, "--vocab-size", "300", "--context", "16", "--batch-size", "2", "--steps", "100000",
            "--eval-every", "5", "--sample-tokens", "4", "--out", str(out)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, **ONE_THREAD})
    try:
        deadline = time.monotonic() + 120
        while not (out / "ckpt.npz").exists():                    # trained a few steps, saved once
            assert p.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        rank0 = int((out / ".lock").read_text().split()[1].rstrip(","))
        ranks = [int(d) for d in os.listdir("/proc") if d.isdigit() and int(d) != rank0
                 and str(out).encode() in _cmdline(d) and b"--data-parallel" in _cmdline(d)
                 and b"mpiexec" not in _cmdline(d)]
        assert len(ranks) == 1, ranks
        os.kill(ranks[0], signal.SIGKILL)
        output, _ = p.communicate(timeout=60)                    # not a hang
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert "BAD TERMINATION" in output or "Killed" in output, output[-1500:]
    assert not os.path.exists(f"/proc/{rank0}") or b"tinyllm" not in _cmdline(str(rank0))
    from tinyllm.checkpoint import read_checkpoint
    meta, _, _ = read_checkpoint(str(out / "ckpt.npz"))
    assert meta["step"] % 5 == 0 and meta["ranks"] == 2


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_an_error_on_rank_0_mid_run_ends_the_other_ranks(launcher, tmp_path, text):
    """Rank 0 fails at its first evaluation (say, a full disk) while rank 1 waits in the next
    all-reduce: rank 0 says so and calls MPI_Abort, so the job ends instead of hanging."""
    code = ("import sys; from tinyllm import train, train_cli\n"
            "def fail(*a, **k): raise OSError('no space left on device (simulated)')\n"
            "train.evaluate_and_save = fail\n"
            f"sys.exit(train_cli.main(['--data-parallel', '--preset', 'tiny', '--text', {text!r}, '--vocab-size', '300', "
            f"'--context', '16', '--batch-size', '2', '--steps', '1000', '--eval-every', '3', "
            f"'--out', {str(tmp_path / 'run')!r}]))")
    r = subprocess.run([launcher, "-n", "2", sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, env={**os.environ, **ONE_THREAD})
    assert r.returncode != 0                              # the job ended (within the timeout), not hung
    assert "no space left on device (simulated)" in r.stderr
    # rank 0 also says it is ending the others, unless the launcher tore the job down first
    # (seen once in CI: only the error line reached stderr); that line is not what matters here
