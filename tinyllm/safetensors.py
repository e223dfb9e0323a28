"""A minimal safetensors reader and writer in NumPy (the format Hugging Face stores weights in).

    bytes 0..8        N, a little-endian uint64: the length of the JSON header
    bytes 8..8+N      UTF-8 JSON: {name: {"dtype": "F32", "shape": [rows, cols],
                                          "data_offsets": [begin, end]},
                                   "__metadata__": {"format": "pt"}}      (metadata: str → str)
    bytes 8+N..       the data buffer: every tensor's raw little-endian bytes, row-major;
                      data_offsets are relative to the start of the buffer, and the tensors
                      tile the buffer exactly (no gaps, no overlaps)

dtypes: F64, F32, F16 map to NumPy directly. BF16 (bfloat16: the top 16 bits of a float32 —
same exponent range, 8 bits of mantissa) has no NumPy type, so it is read by shifting each
uint16 into the high half of a uint32 and viewing that as float32 (exact), and written by
rounding float32 to the nearest bfloat16 (ties to even).

Like the checkpoint loader, nothing here can execute code: the header is JSON, the rest is numbers.
"""
import json
import os

import numpy as np

from tinyllm.files import atomic_write

DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
NUMPY_TO_SAFETENSORS = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16"}
MAX_HEADER = 100_000_000          # the reference implementation's limit too


class SafetensorsError(ValueError):
    """The file is missing, truncated, or its header does not describe its contents."""


# ---------------------------------------------------------------------------- bfloat16
def bfloat16_to_float32(bits):
    """uint16 bfloat16 bit patterns → float32 (exact: bf16 is a float32 with the low 16 bits zero)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def float32_to_bfloat16(x):
    """float32 → uint16 bfloat16 bit patterns, rounded to nearest (ties to even); NaN stays NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    nan = ((u >> 16) | np.uint32(0x0040)).astype(np.uint16)           # keep sign, force a quiet NaN
    return np.where(np.isnan(x), nan, rounded)


# ---------------------------------------------------------------------------- writing
def write_safetensors(path, tensors, metadata=None, dtype=None):
    """Write {name: array} to `path` atomically (temp file in the same folder, then rename).

    Arrays keep their float dtype (float64/32/16) unless `dtype` ("F32", "F16", "BF16") casts them all.
    metadata: {str: str}, stored as "__metadata__" (Hugging Face expects {"format": "pt"})."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in tensors.items():
        array = np.asarray(array)
        if dtype == "BF16":
            code, raw = "BF16", float32_to_bfloat16(array.astype(np.float32))
        elif dtype is not None:
            code, raw = dtype, array.astype(DTYPES[dtype])
        elif array.dtype in NUMPY_TO_SAFETENSORS:
            code, raw = NUMPY_TO_SAFETENSORS[array.dtype], array.astype(array.dtype.newbyteorder("<"))
        else:
            raise SafetensorsError(f"{name}: cannot store dtype {array.dtype} (float64/32/16 only)")
        data = np.ascontiguousarray(raw).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)          # pad with spaces so the data starts 8-byte aligned
    with atomic_write(path, suffix=".safetensors") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for data in chunks:
            f.write(data)


# ---------------------------------------------------------------------------- reading
def read_safetensors(path):
    """-> ({name: array}, metadata dict). F64/F32/F16 arrays keep their dtype; BF16 becomes float32.

    Everything in the header is checked against the file before any tensor is built."""
    if not os.path.isfile(path):
        raise SafetensorsError(f"safetensors file not found: {path}")
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: {len(blob)} bytes is too short for a safetensors file (truncated?)")
    n = int.from_bytes(blob[:8], "little")
    if n > MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError(f"{path}: header length {n} runs past the end of the {len(blob)}-byte file "
                               f"(truncated or not a safetensors file)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from e
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is a JSON {type(header).__name__}, expected an object")
    metadata = header.pop("__metadata__", None) or {}
    buffer = memoryview(blob)[8 + n:]

    spans = []                                    # (begin, end, name) to check the tiling
    for name, info in header.items():
        if not (isinstance(info, dict) and {"dtype", "shape", "data_offsets"} <= set(info)):
            raise SafetensorsError(f"{path}: entry {name!r} needs dtype, shape and data_offsets, got {info!r}")
        if info["dtype"] not in DTYPES:
            raise SafetensorsError(f"{path}: {name}: unsupported dtype {info['dtype']!r} "
                                   f"(supported: {', '.join(DTYPES)})")
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise SafetensorsError(f"{path}: {name}: bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= len(buffer)):
            raise SafetensorsError(f"{path}: {name}: data_offsets {offsets!r} out of range for a "
                                   f"{len(buffer)}-byte data buffer (truncated?)")
        expected = int(np.prod(shape)) * DTYPES[info["dtype"]].itemsize
        if offsets[1] - offsets[0] != expected:
            raise SafetensorsError(f"{path}: {name}: {offsets[1] - offsets[0]} bytes of data for shape "
                                   f"{shape} {info['dtype']}, which needs {expected}")
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise SafetensorsError(f"{path}: {name} starts at byte {begin} of the data buffer, expected "
                                   f"{position} (tensors overlap or leave a gap)")
        position = end
    if position != len(buffer):
        raise SafetensorsError(f"{path}: tensors cover {position} bytes but the data buffer has "
                               f"{len(buffer)} (trailing bytes?)")

    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = np.frombuffer(buffer[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            tensors[name] = bfloat16_to_float32(raw)
        else:
            tensors[name] = raw.astype(raw.dtype.newbyteorder("="))      # a native-order copy
    return tensors, metadata
