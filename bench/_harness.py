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
  marked as not a result. A benchmark keeping both cores busy lifts the load by itself, so
  settle() waits for it to fall before each timed process starts; and run() measures what the
  load average cannot tell apart from our own work: the CPU time other processes took while
  that process ran (Result.others, in cores), from /proc/stat's busy time minus the child's own.
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

Result = namedtuple("Result", "out err rss_mb seconds others")
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


def settle(max_load=1.0, timeout=120):
    """Wait (up to timeout seconds) until the 1-minute load average is at most max_load."""
    t0 = time.perf_counter()
    while os.getloadavg()[0] > max_load and time.perf_counter() - t0 < timeout:
        time.sleep(2)


def machine_busy():
    """Seconds of CPU time all processes have used since boot (all cores; /proc/stat's non-idle
    ticks), or None where there is no /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]                                   # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")   # user .. steal


def run(cmd, env, timeout=3600):
    """Run cmd to the end -> Result(out, err, rss_mb, seconds, others): its output, its own peak
    RSS in MB, its wall time, and the cores other processes kept busy meanwhile on average (None
    without /proc/stat). The child is reaped with os.wait4, whose rusage is that process's alone.
    A non-zero exit raises with its stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy0, own0 = machine_busy(), sum(os.times()[:2])
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        wall = time.perf_counter() - t0
        busy1, own1 = machine_busy(), sum(os.times()[:2])
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... exited {proc.returncode}:\n{stderr[-3000:]}")
    others = None if busy0 is None else max(
        0.0, (busy1 - busy0) - (usage.ru_utime + usage.ru_stime) - (own1 - own0)) / wall
    return Result(stdout, stderr, usage.ru_maxrss / 1024, wall, others)


def spread(values, fmt="{:.0f}"):
    """'median (min-max)' of a list of numbers."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def python():
    """This interpreter (the project's .venv when run by `make bench`)."""
    return sys.executable
