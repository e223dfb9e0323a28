"""Running ../shared/bench/torch_ref.py (the PyTorch reference) beside our benchmarks.

torch is never a dependency of tinyllm: the reference runs in its own interpreter, found at
$TORCH_PYTHON, else .venv-torch/bin/python (`make test-interop` makes it), and always with its
own defaults: bench/_harness.py's reference_env(), only the thread counts set.
"""
import os
import re
import subprocess
from pathlib import Path

from _harness import reference_env

ROOT = Path(__file__).resolve().parent.parent
TORCH_REF = ROOT.parent / "shared" / "bench" / "torch_ref.py"

# the `shakespeare` preset in torch_ref's flags
SHAKESPEARE_FLAGS = ["--n-layer", "6", "--n-head", "8", "--n-kv-head", "4", "--d-model", "256",
                     "--ffn-hidden", "688", "--ctx", "256", "--batch", "16", "--threads", "2"]


def torch_python():
    """The interpreter that has torch, or None (with the reason printed)."""
    candidates = [os.environ.get("TORCH_PYTHON"), str(ROOT / ".venv-torch" / "bin" / "python")]
    for python in candidates:
        if python and Path(python).exists():
            ok = subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0
            if ok:
                return python
    print("(torch side skipped: no interpreter with torch; set TORCH_PYTHON or run make test-interop)")
    return None


def torch_ref_command(python, *args):
    """The command line of torch_ref.py for the `shakespeare` shape, plus args."""
    if not TORCH_REF.exists():
        raise FileNotFoundError(f"{TORCH_REF} not found (the shared reference sits beside the project)")
    return [python, str(TORCH_REF), *SHAKESPEARE_FLAGS, *map(str, args)]


def run_torch(python, args):
    """torch_ref.py with args, its output going straight to the terminal (a training run)."""
    out = subprocess.run(torch_ref_command(python, *args), env=reference_env())
    if out.returncode != 0:
        raise RuntimeError(f"torch_ref.py failed with exit code {out.returncode}")


def parse_bench(stdout):
    """torch_ref.py --bench-steps output -> {'step', 'fwd', 'bwd', 'opt'} (median ms)."""
    phases = re.search(r"phases \(median ms\): fwd ([\d.]+), bwd ([\d.]+), opt ([\d.]+)", stdout)
    step = re.search(r"BENCH step median ([\d.]+) ms", stdout)
    if not (phases and step):
        raise RuntimeError(f"could not read torch_ref.py's output:\n{stdout[-2000:]}")
    fwd, bwd, opt = (float(x) for x in phases.groups())
    return {"step": float(step.group(1)), "fwd": fwd, "bwd": bwd, "opt": opt}


def write_random_tokens(path, vocab_size, n=200_000, seed=0):
    """A uint16 token file of random ids, for speed benchmarks (the values don't matter)."""
    import numpy as np
    np.random.default_rng(seed).integers(0, vocab_size, n).astype(np.uint16).tofile(path)
    return path
