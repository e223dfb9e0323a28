"""Checkpoints: one .npz file (a zip of .npy arrays) plus a JSON header — no pickle anywhere.

    model/<param name>        the model's parameters (e.g. model/layers.0.attention.wq.weight)
    optim/<key>/<param name>  optimizer state arrays (AdamW's m and v), if saved
    meta.json                 UTF-8 JSON stored as a uint8 array: format version, model config,
                              step, RNG state, tokenizer, anything else the trainer records

Loading uses np.load(allow_pickle=False), so a downloaded checkpoint cannot run code.
Writing goes to a temporary file in the same folder, then os.replace() — atomic on POSIX,
so a crash mid-write never destroys the previous checkpoint.
"""
import json
import os
import zipfile

import numpy as np

from tinyllm.files import atomic_write

FORMAT = "tinyllm-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is missing, not a tinyllm checkpoint, corrupt, or does not fit the model."""


def save_checkpoint(path, model, meta=None, optim_state=None):
    """Write model parameters (+ optimizer arrays {key: {name: array}}) and `meta` atomically."""
    header = {"format": FORMAT, "version": VERSION, "config": model.cfg.to_dict(), **(meta or {})}
    arrays = {f"model/{name}": data for name, data in model.state_dict().items()}
    for key, named in (optim_state or {}).items():
        arrays.update({f"optim/{key}/{name}": a for name, a in named.items()})
    arrays["meta.json"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, suffix=".npz") as f:
        np.savez(f, **arrays)


def read_checkpoint(path):
    """-> (meta dict, {param name: array}, {optim key: {param name: array}}), validated."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): not a zip archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = {name: z[name] for name in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {e}") from e
    if "meta.json" not in files:
        raise CheckpointError(f"{path} has no meta.json: not a tinyllm checkpoint")
    try:
        meta = json.loads(files.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: meta.json is corrupt: {e}") from e
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, "
                              f"expected {FORMAT!r} version {VERSION}")
    params, optim = {}, {}
    for name, array in files.items():
        kind, _, rest = name.partition("/")
        if kind == "model":
            params[rest] = array
        elif kind == "optim":
            key, _, pname = rest.partition("/")
            optim.setdefault(key, {})[pname] = array
    return meta, params, optim


def load_model(path, dtype=None):
    """A Transformer rebuilt from a checkpoint's config and parameters (+ the checkpoint's meta)."""
    from tinyllm.model import ModelConfig, Transformer
    meta, params, _ = read_checkpoint(path)
    try:
        cfg = ModelConfig(**meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config {meta.get('config')}: {e}") from e
    dtype = dtype or next(iter(params.values())).dtype
    model = Transformer(cfg, dtype=dtype)
    try:
        model.load_state_dict(params)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    return model, meta
