"""autograd/runtime.py: the thread, memory and kernel-cache policy that `import autograd` applies
by itself."""
import os
import shutil
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


def test_the_kernel_cache_is_named_after_the_sources_and_a_user_setting_wins():
    code = "import autograd, numba; print(numba.core.config.CACHE_DIR)"
    assert _python(code) == runtime.kernel_cache_dir()
    assert os.path.basename(runtime.kernel_cache_dir()).startswith("numba-")
    assert _python(code, NUMBA_CACHE_DIR="/tmp/elsewhere") == "/tmp/elsewhere"


def test_an_edited_kernel_reaches_the_cached_kernels_that_call_it_from_other_files(tmp_path):
    """Numba's cache checks only a function's own file: g (in tinyllm/) compiled with f (in
    autograd/) would keep the old f after f's file is edited. With the cache folder named after
    all the sources, the edit makes a new folder and g is compiled again."""
    for package in ("autograd", "tinyllm"):
        (tmp_path / package).mkdir()
    shutil.copy(runtime.__file__, tmp_path / "autograd" / "runtime.py")
    (tmp_path / "autograd" / "__init__.py").write_text("from autograd import runtime\nruntime.apply()\n")
    callee = tmp_path / "autograd" / "callee.py"
    callee.write_text("from numba import njit\n\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    (tmp_path / "tinyllm" / "__init__.py").write_text("")
    (tmp_path / "tinyllm" / "caller.py").write_text(
        "from numba import njit\nfrom autograd.callee import f\n\n\n"
        "@njit(cache=True)\ndef g(x):\n    return f(x) * 10\n")

    def run():
        return subprocess.run([sys.executable, "-c", "import autograd\nfrom tinyllm.caller import g\nprint(g(1))"],
                              cwd=tmp_path, env=PLAIN_ENV, capture_output=True, text=True, check=True).stdout.strip()
    assert run() == "20"
    caches = tmp_path / "autograd" / "__pycache__"
    first = [p.name for p in caches.glob("numba-*")]
    assert len(first) == 1 and any((caches / first[0]).rglob("caller.g-*.nbi"))   # g was cached
    assert run() == "20"
    callee.write_text(callee.read_text().replace("x + 1", "x + 2"))
    assert run() == "30"
    assert len(list(caches.glob("numba-*"))) == 2


def test_old_kernel_caches_are_removed(tmp_path, monkeypatch):
    for package in ("autograd", "tinyllm"):
        (tmp_path / package).mkdir()
    caches = tmp_path / "autograd" / "__pycache__"
    for i in range(6):
        (caches / f"numba-old{i}").mkdir(parents=True)
        os.utime(caches / f"numba-old{i}", (1000 + i, 1000 + i))
    monkeypatch.setattr(runtime, "ROOT", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    import numba.core.config
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", numba.core.config.CACHE_DIR)
    path = runtime.use_kernel_cache()
    kept = sorted(p.name for p in caches.glob("numba-*"))
    assert len(kept) == runtime.KEEP_KERNEL_CACHES and os.path.basename(path) in kept
    assert set(kept) - {os.path.basename(path)} == {"numba-old3", "numba-old4", "numba-old5"}
