"""How tinyllm uses the machine's cores, memory and compiled kernels: the one place that decides it.

`import autograd` applies this once (so `import tinyllm`, a lesson, the tests and
`python -m tinyllm` all run alike); nothing needs to be set in the environment for full speed.
A setting the user already put in the environment wins over ours.

Threads
-------
Two thread pools share the cores:

    OpenBLAS   NumPy's matrix products: the linear layers, most of a training step;
    OpenMP     Numba's `prange` loops (GNU libgomp): the fused kernels and the one-token decoder.

A training step hands work from one pool to the other hundreds of times. When a pool's threads
run out of work they busy-wait ("spin") for a while, in case more comes, before they sleep. By
default that while is long: 2^28 cycles (~0.1 s) for OpenBLAS, 300,000 spins for libgomp. So
after every matrix product an idle BLAS thread sits on the core that the next Numba kernel needs,
and after every kernel an idle Numba thread sits on the core BLAS needs. We shorten both:

    OPENBLAS_THREAD_TIMEOUT=4   BLAS threads sleep after 2^4 cycles. A product wakes them again
                                (a few µs, small beside a product of a few ms).
    GOMP_SPINCOUNT=10000        Numba threads spin ~10,000 times (a fraction of a millisecond),
                                then sleep: long enough to bridge the back-to-back loops of one
                                decoded token (five a layer), short enough to give the core back
                                to BLAS between the kernels of a training step.

libgomp reads its variable when Numba first runs a parallel loop, and OpenBLAS reads its own when
NumPy loads. If NumPy was imported before us, OpenBLAS has read it already: we ask it to read
its environment again and restart its (idle) threads, through two functions its library exports.
Where that is not possible (another BLAS, another OS) nothing happens, and only speed differs.

Memory
------
A training step allocates and frees about a gigabyte of activations and gradients, in arrays of a
few MB. glibc's malloc gives blocks that big (from 128 KiB, a threshold that adapts up to 32 MiB)
straight from the kernel with mmap, and returns them with munmap when freed; the next step's
arrays are then fresh pages, which the kernel zeroes on first touch (~45,000 page faults per step
of the `shakespeare` model). Raising malloc's mmap threshold to its maximum (32 MiB) and its trim
threshold to 1 GiB keeps freed blocks on malloc's heap, where the next step finds them again.
The price: the process keeps its peak memory instead of returning it between steps.

bench/train_speed.py prints a step's time under this policy beside PyTorch's.

Compiled kernels
----------------
Numba keeps each jitted function's machine code on disk (`cache=True`) and compiles it again
when the function's own file changes. But a function is compiled together with the jitted
functions it calls from other files (the quantised decoder's step in tinyllm/quant.py holds
_rmsnorm of tinyllm/decode.py and _expf of autograd/kernels.py), and Numba does not look at
their files: edit _expf and the cached step would go on running the old one. So the cache lives
in a folder named after a hash of every source file of autograd/ and tinyllm/,

    autograd/__pycache__/numba-<hash>/

and an edit anywhere in them compiles the kernels afresh (once, as they are first called) into
a new folder. The newest KEEP_KERNEL_CACHES folders are kept, older ones removed. A NUMBA_CACHE_DIR
the user set wins; where the folder cannot be written (a read-only install), Numba's default is
left in place.
"""
import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import shutil
import sys

THREAD_ENV = {"OPENBLAS_THREAD_TIMEOUT": "4", "GOMP_SPINCOUNT": "10000"}

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3        # mallopt parameters, from glibc's <malloc.h>
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024              # glibc's ceiling on 64-bit systems

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the folder of autograd/, tinyllm/
SOURCE_PACKAGES = ("autograd", "tinyllm")
KEEP_KERNEL_CACHES = 4


def apply():
    """Set the thread and memory policy for this process (idempotent)."""
    numpy_was_loaded = "numpy" in sys.modules
    ours = {k: v for k, v in THREAD_ENV.items() if k not in os.environ}
    os.environ.update(ours)
    if numpy_was_loaded and "OPENBLAS_THREAD_TIMEOUT" in ours:
        reread_openblas_env()
    reuse_freed_memory()
    use_kernel_cache()


def kernel_cache_dir():
    """autograd/__pycache__/numba-<the first 16 hex digits of a sha256 over the sources>."""
    h = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        folder = os.path.join(ROOT, package)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as f:
                    h.update(f"{package}/{name}\0".encode() + f.read())
    return os.path.join(ROOT, "autograd", "__pycache__", "numba-" + h.hexdigest()[:16])


def use_kernel_cache():
    """Point Numba's on-disk cache at kernel_cache_dir() and remove old ones. The folder, or None
    where the user's NUMBA_CACHE_DIR wins or the folder cannot be made."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    path = kernel_cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
        os.utime(path)                                 # the newest, for the pruning below
    except OSError:
        return None
    parent = os.path.dirname(path)
    olds = sorted((os.path.join(parent, n) for n in os.listdir(parent)
                   if n.startswith("numba-") and os.path.join(parent, n) != path),
                  key=os.path.getmtime, reverse=True)
    for old in olds[KEEP_KERNEL_CACHES - 1:]:
        shutil.rmtree(old, ignore_errors=True)
    from numba.core import config                      # read when a function is jitted
    config.CACHE_DIR = path
    return path


def _loaded_library(fragment):
    """The path of a shared library this process has loaded whose file name holds `fragment`."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if fragment in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None


def reread_openblas_env():
    """Make an already-loaded OpenBLAS take the environment again: openblas_read_env() reads
    the variables, blas_thread_shutdown_() stops the idle pool, and the next product starts it
    with the new settings. True if it took effect."""
    path = _loaded_library("openblas")
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)
        read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
    except (OSError, AttributeError):
        return False
    read_env()
    shutdown()
    return True


def reuse_freed_memory():
    """Tell glibc's malloc to keep freed blocks up to 32 MiB for reuse. True if it took effect;
    False where there is no glibc (macOS, Windows, musl), which manage memory their own way."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(M_TRIM_THRESHOLD, 1 << 30))


def share_cores(n_processes):
    """Give this process its share of the machine's cores, in both pools, when n_processes of
    ours run side by side on it (data-parallel ranks on one machine): each gets cores // n."""
    import numba
    n = max(1, (os.cpu_count() or 1) // n_processes)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    path = _loaded_library("openblas")
    if path is not None:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(ctypes.c_int(n))
                break
    return n


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with n Numba threads (this thread's setting; restored afterwards). For
    measuring a kernel on one core, and for tests that check results do not depend on it."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)
