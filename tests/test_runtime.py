"""autograd/runtime.py: the thread and memory policy that `import autograd` applies by itself."""
import os
import subprocess
import sys

import pytest

from autograd import runtime

PLAIN_ENV = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}


def _python(code, **env):
    out = subprocess.run([sys.executable, "-c", code], env=dict(PLAIN_ENV, **env),
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("numpy_first", [False, True])
def test_import_applies_the_policy_whether_or_not_numpy_came_first(numpy_first):
    code = ("import numpy\n" if numpy_first else "") + (
        "import os, autograd\n"
        "print(os.environ['OPENBLAS_THREAD_TIMEOUT'], os.environ['GOMP_SPINCOUNT'])")
    assert _python(code).split() == [runtime.THREAD_ENV["OPENBLAS_THREAD_TIMEOUT"],
                                      runtime.THREAD_ENV["GOMP_SPINCOUNT"]]


def test_a_setting_the_user_made_wins():
    code = "import autograd, os; print(os.environ['GOMP_SPINCOUNT'])"
    assert _python(code, GOMP_SPINCOUNT="123") == "123"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc are Linux's")
def test_an_already_loaded_openblas_rereads_its_environment():
    """NumPy first: OpenBLAS has read its settings already; the policy makes it read them again,
    and matrix products still give the right answer afterwards."""
    code = ("import numpy as np\n"
            "from autograd import runtime\n"
            "ok = runtime.reread_openblas_env()\n"
            "a = np.random.default_rng(0).random((300, 300))\n"
            "print(ok, np.allclose(a @ a, np.einsum('ij,jk->ik', a, a)))")
    loaded, right = _python(code).split()
    if runtime._loaded_library("openblas") is None and loaded == "False":
        pytest.skip("this NumPy does not use OpenBLAS")
    assert (loaded, right) == ("True", "True")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_malloc_keeps_freed_blocks():
    assert runtime.reuse_freed_memory() is True
