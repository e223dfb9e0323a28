"""Imported first by every benchmark: the Makefile's thread settings, for direct runs too.

Two BLAS and two Numba threads on the 2-core machine we measure on; idle threads of each sleep
at once instead of spinning against the other (OMP_WAIT_POLICY, OPENBLAS_THREAD_TIMEOUT).
They are read when NumPy and Numba start, so this module must be imported before them.
"""
import os

for name, value in [("OMP_NUM_THREADS", "2"), ("OPENBLAS_NUM_THREADS", "2"), ("NUMBA_NUM_THREADS", "2"),
                    ("OMP_WAIT_POLICY", "PASSIVE"), ("OPENBLAS_THREAD_TIMEOUT", "4")]:
    os.environ.setdefault(name, value)
