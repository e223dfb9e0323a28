"""Writing files so that a crash never leaves a half-written one behind.

`atomic_write(path)` hands out a temporary file in the same folder; only when the block
finishes without error is the data flushed to disk and the file renamed over `path`
(os.replace is atomic on POSIX). On any error the temporary file is removed and
whatever was at `path` before is untouched, and the error names `path`, not the temporary
file. A process killed mid-write (kill -9) leaves its `.tmp-*` file behind:
`remove_stale_temp_files` clears them at the start of the next run in that folder.
"""
import contextlib
import errno
import os
import shutil
import tempfile
import time

TEMP_PREFIX = ".tmp-"


class WriteError(OSError):
    """Writing `filename` failed; the message names it and says why in plain words."""

    def __str__(self):
        return self.strerror


def umask_mode(mode=0o666):
    """`mode` less the process umask: the permissions open() would have given (mkstemp gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def first_non_folder(path):
    """The first ancestor of path that exists but is not a folder, or None."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts)):
        prefix = os.sep.join(parts[:i])
        if os.path.exists(prefix) and not os.path.isdir(prefix):
            return prefix
    return None


def write_error(path, e):
    """A WriteError naming `path` (the file asked for) for the OSError `e` raised writing it."""
    if isinstance(e, WriteError):
        return e
    blocker = first_non_folder(path)
    if blocker:
        why = f"{blocker} is a file, not a folder"
    elif e.errno == errno.ENOSPC:
        why = "no space left on the device"
    elif e.errno == errno.EDQUOT:
        why = "disk quota exceeded"
    elif e.errno in (errno.EACCES, errno.EPERM):
        why = f"permission denied (cannot write in {os.path.dirname(os.path.abspath(path))})"
    elif e.errno == errno.EROFS:
        why = "the file system is read-only"
    elif e.errno == errno.EISDIR or os.path.isdir(path):
        why = "it is a folder"
    else:
        why = e.strerror or str(e)
    err = WriteError(e.errno, f"cannot write {path}: {why}")
    err.filename = path
    return err


@contextlib.contextmanager
def atomic_write(path, suffix=""):
    """with atomic_write("ckpt.npz") as f: f.write(...)   — binary file object, renamed on success."""
    tmp = None
    try:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=suffix)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise write_error(path, e) from e
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp):
    if tmp is not None and os.path.exists(tmp):
        os.remove(tmp)


def remove_stale_temp_files(folder, before=None):
    """Remove our temporary files (TEMP_PREFIX*) in folder older than `before` (a time.time(),
    default now): what a process killed mid-write left. Returns the names removed. Call it only
    while holding the folder's lock (tinyllm/run_folder.py RunFolder), so no live writer owns them."""
    before = time.time() if before is None else before
    removed = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        if not name.startswith(TEMP_PREFIX):
            continue
        try:
            if os.lstat(path).st_mtime > before:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed
