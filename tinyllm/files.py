"""Writing files so that a crash never leaves a half-written one behind.

`atomic_write(path)` hands out a temporary file in the same folder; only when the block
finishes without error is the data flushed to disk and the file renamed over `path`
(os.replace is atomic on POSIX). On any error the temporary file is removed and
whatever was at `path` before is untouched.
"""
import contextlib
import os
import tempfile


def umask_mode(mode=0o666):
    """`mode` less the process umask: the permissions open() would have given (mkstemp gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_write(path, suffix=""):
    """with atomic_write("ckpt.npz") as f: f.write(...)   — binary file object, renamed on success."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
