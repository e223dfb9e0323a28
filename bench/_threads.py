"""Thread settings for the benchmarks, the same as the Makefile's and `python -m tinyllm`'s.

Two BLAS and two Numba threads on the 2-core machine we measure on, except where
`python -m tinyllm COMMAND` picks otherwise (tinyllm/__main__.py: training threads sleep at
once; generation threads spin briefly, and its BLAS runs on one thread). They are read when NumPy and Numba start, so
a benchmark calls `use(...)` before it imports either:

    import _threads
    _threads.use("train")          # or "generate"
"""
import os

from tinyllm.__main__ import thread_settings   # imports nothing but os and sys


def use(command):
    thread_settings(command)                       # first: its choices win over the defaults below
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "2")
