"""Fuzzing the loaders (issue 16): random bytes and mutations of a valid tokenizer file and a valid
checkpoint (hypothesis) must give a clear ValueError/OSError naming the file, or a valid load, and
never a huge allocation. 100 cases each in `make test`; 2,000 each are `slow` (make test-all)."""
import functools
import io
import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tinyllm.checkpoint import load_model, save_checkpoint
from tinyllm.model import ModelConfig, Transformer
from tinyllm.tokenizer import Tokenizer
from support import peak_bytes, rewrite_checkpoint

pytestmark = pytest.mark.usefixtures("one_numba_thread")   # tests/conftest.py


@functools.lru_cache(maxsize=None)
def valid_files():
    """A tokenizer file's text and a checkpoint's bytes, both valid, to mutate (made once)."""
    words = "the king said to his queen that night was dark and cold é ünïcödé 😀".split()
    text = " ".join(np.random.default_rng(0).choice(words, size=400))
    tokenizer = Tokenizer.train(text, 300)
    model = Transformer(ModelConfig.preset("tiny", vocab_size=tokenizer.vocab_size), seed=0)
    blob = io.BytesIO()
    save_checkpoint_to(blob, model, {"step": 1, "tokenizer": tokenizer.dumps()})
    return tokenizer.dumps(), blob.getvalue()


def save_checkpoint_to(f, model, meta):
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(os.path.join(folder, "ckpt.npz"), model, meta)
        f.write(open(os.path.join(folder, "ckpt.npz"), "rb").read())


def mutate(data, ops):
    """Apply (kind, position fraction, payload) edits to a bytes or str value."""
    for kind, where, payload in ops:
        at = int(where * len(data))
        if kind == "flip" and len(data):
            at = min(at, len(data) - 1)
            data = data[:at] + payload[:1] + data[at + 1:]
        elif kind == "insert":
            data = data[:at] + payload + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + len(payload) + 1:]
        else:                                                    # truncate
            data = data[:at]
    return data


def mutations(alphabet):
    return st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                              st.floats(0, 1), alphabet), min_size=1, max_size=4)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                           max_leaves=8)


def check_tokenizer_text(text):
    try:
        tokenizer = Tokenizer.loads(text, source="fuzz.json")
    except ValueError as e:
        assert str(e).startswith("fuzz.json"), e
        event("ValueError")
        return
    event("loaded")
    assert isinstance(tokenizer, Tokenizer) and tokenizer.vocab_size >= 256


def fuzz_tokenizer(data):
    valid, _ = valid_files()
    how = data.draw(st.sampled_from(["random text", "mutated text", "mutated field"]))
    if how == "random text":
        text = data.draw(st.text(max_size=300))
    elif how == "mutated text":
        text = mutate(valid, data.draw(mutations(st.text(min_size=1, max_size=6))))
    else:
        obj = json.loads(valid)
        key = data.draw(st.sampled_from(sorted(obj) + ["merges.item", "special_tokens.item"]))
        value = data.draw(JSON_VALUES)
        if key == "merges.item" and obj["merges"]:
            obj["merges"][data.draw(st.integers(0, len(obj["merges"]) - 1))] = value
        elif key == "special_tokens.item":
            obj["special_tokens"][data.draw(st.text(max_size=4))] = value
        else:
            obj[key] = value
        text = json.dumps(obj)
    check_tokenizer_text(text)


def check_checkpoint_bytes(blob, path):
    path.write_bytes(blob)
    result, peak, seconds = peak_bytes(lambda: load_model(path))
    event(type(result).__name__)
    if isinstance(result, Exception):
        assert isinstance(result, (ValueError, OSError)), f"{type(result).__name__}: {result}"
        assert str(path) in str(result), result                  # names the file
    assert peak < 20 * len(blob) + (4 << 20), peak                # never a huge allocation
    assert seconds < 10


def fuzz_checkpoint(data, tmp_path):
    _, valid = valid_files()
    how = data.draw(st.sampled_from(["random bytes", "mutated bytes", "mutated meta", "mutated array"]))
    if how == "random bytes":
        blob = data.draw(st.binary(max_size=2000))
    elif how == "mutated bytes":
        blob = mutate(valid, data.draw(mutations(st.binary(min_size=1, max_size=8))))
    else:
        path = tmp_path / "base.npz"
        path.write_bytes(valid)
        if how == "mutated meta":
            def edit(meta):
                section = data.draw(st.sampled_from(["top", "config"]))
                target = meta if section == "top" else meta["config"]
                target[data.draw(st.sampled_from(sorted(target)))] = data.draw(JSON_VALUES)
            rewrite_checkpoint(path, edit_meta=edit)
        else:
            def edit(arrays):
                name = data.draw(st.sampled_from(sorted(k for k in arrays if k != "meta.json")))
                shape = tuple(data.draw(st.lists(st.integers(0, 40), max_size=3)))
                dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "bool", "float16", "complex64"]))
                arrays[name] = np.zeros(shape, dtype=dtype)
            rewrite_checkpoint(path, edit_arrays=edit)
        blob = path.read_bytes()
    check_checkpoint_bytes(blob, tmp_path / "fuzz.npz")


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            derandomize=True)


@settings(max_examples=100, **FUZZ)
@given(data=st.data())
def test_fuzz_tokenizer_loader(data):
    fuzz_tokenizer(data)


@settings(max_examples=100, **FUZZ)
@given(data=st.data())
def test_fuzz_checkpoint_loader(tmp_path, data):
    fuzz_checkpoint(data, tmp_path)


@pytest.mark.slow
@settings(max_examples=2000, **FUZZ)
@given(data=st.data())
def test_fuzz_tokenizer_loader_2000(data):
    fuzz_tokenizer(data)


@pytest.mark.slow
@settings(max_examples=2000, **FUZZ)
@given(data=st.data())
def test_fuzz_checkpoint_loader_2000(tmp_path, data):
    fuzz_checkpoint(data, tmp_path)
