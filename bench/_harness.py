"""What every benchmark here shares: fresh processes, the reference's own environment, alternating
rounds, medians with their range, and the load average.

Rules (the project's way of measuring):
* Each side runs as a fresh interpreter, the way a user's script runs it. Ours imports the
  library and nothing else: no thread or allocator settings in its environment (the library
  applies its own, autograd/runtime.py). The reference (PyTorch, transformers, ...) runs with
  its own defaults: only its thread counts are set.
* Both sides warm up, then alternate in rounds (A B A B ...), so both see the same machine; we
  quote the median of the rounds and their min-max.
* The load average is printed before and after; a figure taken at a 1-minute load above 1.5 is
  marked as not a result.
"""
import os
from collections import namedtuple
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

Result = namedtuple("Result", "out err rss_mb seconds")
ROOT = Path(__file__).resolve().parent.parent
MAX_LOAD = 1.5
_BASE_VARS = ("PATH", "HOME", "LANG", "TMPDIR")


def base_env():
    """The environment with nothing but PATH, HOME, LANG, TMPDIR: no thread settings of anyone's."""
    return {k: os.environ[k] for k in _BASE_VARS if k in os.environ}


def our_env():
    """Ours: a plain environment. Full speed needs no variable (autograd/runtime.py)."""
    return base_env()


def reference_env(threads=2):
    """A reference's environment: its own defaults, only the thread counts set."""
    return dict(base_env(), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def show_env(env):
    extra = {k: v for k, v in env.items() if k not in _BASE_VARS}
    return " ".join(f"{k}={v}" for k, v in sorted(extra.items())) or "(no settings)"


def load_line(when):
    """'load average (before): 0.12 0.30 0.41', with a warning when the machine is busy."""
    one, five, fifteen = os.getloadavg()
    warn = f"   <-- above {MAX_LOAD}: figures taken now are NOT results, rerun on a quiet machine" \
        if one > MAX_LOAD else ""
    return f"load average ({when}): {one:.2f} {five:.2f} {fifteen:.2f}{warn}"


def run(cmd, env, timeout=3600):
    """Run cmd to the end -> Result(out, err, rss_mb, seconds): its output, its own peak RSS in MB
    and its wall time. The child is reaped
    with os.wait4, whose rusage is that process's alone. A non-zero exit raises with its stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... exited {proc.returncode}:\n{stderr[-3000:]}")
    return Result(stdout, stderr, usage.ru_maxrss / 1024, wall)


def spread(values, fmt="{:.0f}"):
    """'median (min-max)' of a list of numbers."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def python():
    """This interpreter (the project's .venv when run by `make bench`)."""
    return sys.executable
