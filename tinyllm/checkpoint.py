"""Checkpoints: one .npz file (a zip of .npy arrays) plus a JSON header — no pickle anywhere.

    model/<param name>        the model's parameters (e.g. model/layers.0.attention.wq.weight)
    optim/<key>/<param name>  optimizer state arrays (AdamW's m and v), if saved
    meta.json                 UTF-8 JSON stored as a uint8 array: format version, model config,
                              step, RNG state, tokenizer, anything else the trainer records

Reading never trusts the file: every .npy header is parsed on its own and checked against the
bytes the zip entry really holds before any array is allocated (a header claiming 10¹² floats
is refused, not allocated), only plain numeric dtypes are accepted (never pickled objects), and
`load_model` checks every parameter's shape against the config before building the model.
Anything wrong is a CheckpointError (a ValueError) whose message names the file.
Writing goes to a temporary file in the same folder, then os.replace() — atomic on POSIX,
so a crash mid-write never destroys the previous checkpoint.
"""
import json
import math
import os
import struct
import zipfile

import numpy as np

from tinyllm.files import atomic_write

FORMAT = "tinyllm-checkpoint"
VERSION = 1
MAX_CONTEXT = 1 << 17          # the longest max_seq_len a checkpoint may claim (Llama 3.1's 131072)


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


# ---------------------------------------------------------------------------- reading
def _read_npy(z, info):
    """One .npy entry of the zip as an array, its header checked against the entry's size."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"entry {info.filename!r} uses an unsupported compression")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise ValueError(f"entry {info.filename!r} claims {info.file_size} bytes but stores {info.compress_size}")
    if info.file_size > 1032 * info.compress_size + 1024:         # deflate's ratio is at most ~1032:1
        raise ValueError(f"entry {info.filename!r} claims {info.file_size} bytes from {info.compress_size}")
    with z.open(info) as f:
        major, minor = np.lib.format.read_magic(f)
        if (major, minor) == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif (major, minor) == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"entry {info.filename!r}: .npy version {major}.{minor} is not supported")
        if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"entry {info.filename!r} has dtype {dtype}, not a plain number type")
        if any(n < 0 for n in shape):
            raise ValueError(f"entry {info.filename!r} has a negative dimension {shape}")
        n_bytes = math.prod(shape) * dtype.itemsize
        if n_bytes > info.file_size:                               # checked before reading anything
            raise ValueError(f"entry {info.filename!r}: shape {shape} needs {n_bytes} bytes, "
                             f"the entry holds {info.file_size}")
        raw = f.read(n_bytes + 1)
    if len(raw) != n_bytes:
        raise ValueError(f"entry {info.filename!r}: shape {shape} needs {n_bytes} bytes, found {len(raw)}")
    array = np.frombuffer(bytearray(raw), dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def read_checkpoint(path):
    """-> (meta dict, {param name: array}, {optim key: {param name: array}}), validated."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a checkpoint file (it is OUT/ckpt.npz of a run)")
    try:
        with open(path, "rb") as raw_file:
            if not zipfile.is_zipfile(raw_file):
                raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): "
                                      f"not a zip archive")
            with zipfile.ZipFile(raw_file) as z:
                files = {}
                for info in z.infolist():
                    if not info.filename.endswith(".npy"):
                        raise ValueError(f"unexpected entry {info.filename!r}")
                    files[info.filename[:-len(".npy")]] = _read_npy(z, info)
    except CheckpointError:
        raise
    except PermissionError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, TypeError, OSError, EOFError,
            KeyError, NotImplementedError, OverflowError, struct.error, MemoryError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated?): {e}") from None
    if "meta.json" not in files:
        raise CheckpointError(f"{path} has no meta.json: not a tinyllm checkpoint")
    try:
        meta = json.loads(files.pop("meta.json").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{path}: meta.json is corrupt: {e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: meta.json is corrupt: not a JSON object")
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


# ---------------------------------------------------------------------------- shapes, before building
def config_from_meta(meta, path):
    """The checkpoint's ModelConfig, validated (a CheckpointError naming path otherwise)."""
    from tinyllm.model import ModelConfig
    config = meta.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model config in meta.json")
    try:
        cfg = ModelConfig(**config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad model config: {e}") from None
    if cfg.max_seq_len > MAX_CONTEXT:
        raise CheckpointError(f"{path}: bad model config: max_seq_len {cfg.max_seq_len} is beyond "
                              f"the {MAX_CONTEXT} tinyllm reads")
    return cfg


def param_shapes(cfg):
    """{name: shape} of a Transformer(cfg)'s parameters, without building it (tests check it
    against the model). n_layers is read from the count first, so a lying config costs nothing."""
    D, hd, F = cfg.dim, cfg.head_dim, cfg.ffn_dim
    layer = {"attention_norm.weight": (D,), "attention.wq.weight": (cfg.n_heads * hd, D),
             "attention.wk.weight": (cfg.n_kv_heads * hd, D), "attention.wv.weight": (cfg.n_kv_heads * hd, D),
             "attention.wo.weight": (D, cfg.n_heads * hd), "ffn_norm.weight": (D,),
             "feed_forward.w1.weight": (F, D), "feed_forward.w2.weight": (D, F),
             "feed_forward.w3.weight": (F, D)}
    shapes = {"tok_embeddings.weight": (cfg.vocab_size, D)}
    for i in range(cfg.n_layers):
        shapes.update({f"layers.{i}.{name}": shape for name, shape in layer.items()})
    shapes["norm.weight"] = (D,)
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (cfg.vocab_size, D)
    return shapes


def check_shapes(cfg, params, path):
    """Every parameter of cfg is in params with its shape, and nothing else (before any model exists)."""
    expected_count = 2 + 9 * cfg.n_layers + (0 if cfg.tie_embeddings else 1)
    if len(params) != expected_count:
        raise CheckpointError(f"{path}: holds {len(params)} parameter arrays but its config "
                              f"(n_layers {cfg.n_layers}, {'tied' if cfg.tie_embeddings else 'untied'}) "
                              f"needs {expected_count}: the file is corrupt or was edited")
    for name, shape in param_shapes(cfg).items():
        if name not in params:
            raise CheckpointError(f"{path}: parameter {name} is missing: the file is corrupt or was edited")
        if params[name].shape != shape:
            raise CheckpointError(f"{path}: {name} has shape {params[name].shape}, its config needs "
                                  f"{shape}: the file is corrupt or was edited")
        if params[name].dtype.kind != "f":
            raise CheckpointError(f"{path}: {name} has dtype {params[name].dtype}, not a float type")


def load_model(path, dtype=None):
    """A Transformer rebuilt from a checkpoint's config and parameters (+ the checkpoint's meta)."""
    from tinyllm.model import Transformer
    meta, params, _ = read_checkpoint(path)
    cfg = config_from_meta(meta, path)
    check_shapes(cfg, params, path)
    dtype = np.dtype(dtype or next(iter(params.values())).dtype)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float32)
    model = Transformer(cfg, dtype=dtype)
    model.load_state_dict(params)
    return model, meta
