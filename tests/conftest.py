"""Fixtures shared by the training tests (test_train.py, test_faults.py, test_fuzz_loaders.py)."""
import numpy as np
import pytest

from autograd.runtime import numba_threads


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """~6 kB of text with some structure (and a multi-byte character) to learn from."""
    rng = np.random.default_rng(0)
    words = "the king said to his queen that night was dark and cold é".split()
    lines = [" ".join(rng.choice(words, size=8)) + "." for _ in range(120)]
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def one_numba_thread():
    """The tiny model's kernels are too small to split over threads (see test_optim.py)."""
    with numba_threads(1):
        yield
