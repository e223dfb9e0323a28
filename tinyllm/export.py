"""Export a tinyllm checkpoint as a Hugging Face Llama (or Mistral) or a llama2.c model.bin, and
read both back.

    python -m tinyllm export CKPT --format hf --out DIR          config.json + model.safetensors
    python -m tinyllm export CKPT --format llama2c --out model.bin

The layouts are llama2.c's (its export.py and run.c) and transformers' LlamaForCausalLM. Ours carry
Meta's names and shapes (nn.Linear's (out, in)), so llama2.c is a matter of writing them in the
right order; Hugging Face needs new names and one real change — RoPE's pairing:

    ours / Meta / llama2.c:  in each head, element 2j pairs with 2j+1   (interleaved)
    Hugging Face:            in each head, element j  pairs with j+hd/2 (rotate_half)

Reordering the output rows of wq and wk inside every head turns one into the other:

    HF row (head h, c·hd/2 + j) = Meta row (head h, 2j + c),   c ∈ {0, 1}, j < hd/2

q and k get the same reordering, so every q·k dot product is unchanged; v, wo, the norms, the MLP
and the embeddings are copied as they are.

A model with a sliding window is written as MistralForCausalLM (the same weights and names as
Llama, plus "sliding_window" in config.json; transformers masks keys j ≤ i - W, as we do); a
model with Llama 3.1's RoPE scaling as LlamaForCausalLM with rope_scaling {"rope_type": "llama3",
...}. load_hf reads all of these back.

API: export_hf(model, dir), load_hf(dir) -> Transformer, export_llama2c(model, path),
load_llama2c(path) -> Transformer, main(argv) for the command line.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

from autograd import kernels
from tinyllm.model import ModelConfig, Transformer
from tinyllm.files import atomic_write, umask_mode, write_error
from tinyllm.safetensors import SafetensorsError, read_safetensors, write_safetensors


class ExportError(ValueError):
    """A model that a format cannot represent, or a file that is not a model we can read."""


# ---------------------------------------------------------------------------- RoPE row order
def interleaved_to_half(w, n_heads):
    """Meta → HF: w (n_heads·hd, d_in), rows (h, 2j + c) move to (h, c·hd/2 + j)."""
    rows, d_in = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, d_in).transpose(0, 2, 1, 3).reshape(rows, d_in)


def half_to_interleaved(w, n_heads):
    """HF → Meta: the inverse of interleaved_to_half."""
    rows, d_in = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, d_in).transpose(0, 2, 1, 3).reshape(rows, d_in)


# ---------------------------------------------------------------------------- Hugging Face
# per-layer names: ours (after "layers.N.") → HF's (after "model.layers.N.")
HF_LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
HF_TOP_NAMES = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}
HF_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def hf_name(name):
    """'layers.3.attention.wq.weight' → 'model.layers.3.self_attn.q_proj.weight' (and the top-level ones)."""
    if name in HF_TOP_NAMES:
        return HF_TOP_NAMES[name]
    _, index, rest = name.split(".", 2)
    return f"model.layers.{index}.{HF_LAYER_NAMES[rest]}"


def hf_config(cfg, bos_token_id=None, eos_token_id=None, torch_dtype="float32"):
    """config.json for transformers' LlamaForCausalLM, or MistralForCausalLM for a sliding window.
    Every field that matters is written out: LlamaConfig's defaults differ from ours (e.g.
    rms_norm_eps 1e-6, untied embeddings), and MistralConfig's sliding_window is 4096 unless set."""
    mistral = cfg.sliding_window is not None
    rope = {"rope_type": "default", "rope_theta": cfg.rope_theta}
    scaling = None
    if cfg.rope_scaling:
        scaling = {"rope_type": "llama3", **cfg.rope_scaling}
        rope = {**scaling, "rope_theta": cfg.rope_theta}
    config = {
        "architectures": ["MistralForCausalLM" if mistral else "LlamaForCausalLM"],
        "model_type": "mistral" if mistral else "llama",
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.ffn_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,                                          # transformers 4.x
        "rope_parameters": rope,                                               # 5.x
        "rope_scaling": scaling,                                               # 4.x
        "tie_word_embeddings": cfg.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "torch_dtype": torch_dtype,
    }
    if mistral:
        config["sliding_window"] = cfg.sliding_window
    return config


def hf_state_dict(model):
    """{HF name: float array}: renamed, wq/wk rows permuted, no lm_head when tied."""
    cfg, out = model.cfg, {}
    for name, array in model.state_dict().items():
        if name.endswith("attention.wq.weight"):
            array = interleaved_to_half(array, cfg.n_heads)
        elif name.endswith("attention.wk.weight"):
            array = interleaved_to_half(array, cfg.n_kv_heads)
        out[hf_name(name)] = array
    return out                       # named_parameters lists a tied output once, as tok_embeddings


def export_hf(model, out_dir, bos_token_id=None, eos_token_id=None, dtype="float32"):
    """Write out_dir/config.json and out_dir/model.safetensors (dtype float32, float16 or bfloat16).

    A new folder is built under a temporary name and renamed into place; into an existing folder,
    each file is written to a temporary file and renamed over the old one (weights first)."""
    if dtype not in HF_DTYPES:
        raise ExportError(f"dtype {dtype!r}: choose from {sorted(HF_DTYPES)}")
    vocab = model.cfg.vocab_size
    for label, token in (("bos_token_id", bos_token_id), ("eos_token_id", eos_token_id)):
        if token is not None and not 0 <= token < vocab:
            raise ExportError(f"{label} {token} is outside the vocabulary 0..{vocab - 1}")
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ExportError(f"{out_dir} exists and is not a folder")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
    try:
        write_safetensors(os.path.join(tmp, "model.safetensors"), hf_state_dict(model),
                          metadata={"format": "pt"}, dtype=HF_DTYPES[dtype])
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(hf_config(model.cfg, bos_token_id, eos_token_id, dtype), f, indent=2)
            f.write("\n")
        if not os.path.exists(out_dir):
            os.chmod(tmp, umask_mode(0o777))
            os.rename(tmp, out_dir)
            return out_dir
        for name in ("model.safetensors", "config.json"):
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _config_from_hf(c, where):
    """A ModelConfig from a config.json dict, refusing Llamas we cannot represent exactly."""
    def bad(reason):
        return ExportError(f"{where}: {reason}")

    model_type = c.get("model_type", "llama")
    if model_type not in ("llama", "mistral"):
        raise bad(f"model_type {model_type!r} is not 'llama' or 'mistral'")
    if c.get("hidden_act", "silu") != "silu":
        raise bad(f"hidden_act {c['hidden_act']!r}: only silu (SwiGLU) is supported")
    for key in ("attention_bias", "mlp_bias"):
        if c.get(key, False):
            raise bad(f"{key} is true: tinyllm's Llama has no biases")
    rope = c.get("rope_parameters") or c.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        raise bad(f"rope_parameters {rope!r} is not a JSON object")
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "llama3"):
        raise bad(f"RoPE type {rope_type!r}: only 'default' and Llama 3.1's 'llama3' are supported")
    scaling = None
    if rope_type == "llama3":
        scaling = {k: rope.get(k) for k in ("factor", "low_freq_factor", "high_freq_factor")}
        scaling["original_max_position_embeddings"] = rope.get("original_max_position_embeddings",
                                                               c.get("max_position_embeddings"))
    # MistralConfig's default window is 4096 when the key is absent; null means full attention
    window = c.get("sliding_window", 4096) if model_type == "mistral" else None
    try:
        dim, n_heads = int(c["hidden_size"]), int(c["num_attention_heads"])
        if dim % n_heads or c.get("head_dim", dim // n_heads) != dim // n_heads:
            raise bad(f"head_dim {c.get('head_dim')} × {n_heads} heads != hidden_size {dim}: "
                      f"tinyllm needs head_dim = hidden_size / num_attention_heads")
        return ModelConfig(
            dim=dim, n_layers=int(c["num_hidden_layers"]), n_heads=n_heads,
            n_kv_heads=n_heads if c.get("num_key_value_heads") is None else int(c["num_key_value_heads"]),
            vocab_size=int(c["vocab_size"]), hidden_dim=int(c["intermediate_size"]),
            max_seq_len=int(c.get("max_position_embeddings", 2048)),
            norm_eps=float(c.get("rms_norm_eps", 1e-6)),                # LlamaConfig's default
            rope_theta=float(rope.get("rope_theta", c.get("rope_theta", 10000.0))),
            tie_embeddings=bool(c.get("tie_word_embeddings", False)),  # LlamaConfig's default
            sliding_window=window, rope_scaling=scaling,
        )
    except KeyError as e:
        raise bad(f"config.json lacks {e.args[0]!r}") from None
    except ExportError:
        raise
    except (TypeError, ValueError, ZeroDivisionError) as e:
        raise bad(f"config.json does not describe a valid Llama: {e}") from None


def _read_hf_weights(folder):
    """{name: array} from model.safetensors, or the shards listed in model.safetensors.index.json."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.isfile(single):
        return read_safetensors(single)[0]
    index = os.path.join(folder, "model.safetensors.index.json")
    if not os.path.isfile(index):
        raise ExportError(f"{folder}: no model.safetensors (pytorch_model.bin is a pickle and is not read)")
    with open(index) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for shard in shards:
        tensors.update(read_safetensors(os.path.join(folder, shard))[0])
    return tensors


def load_hf(folder, dtype=np.float32):
    """A Transformer from a Hugging Face Llama or Mistral folder (config.json + safetensors in
    F32/F16/BF16); Mistral's sliding_window and Llama 3.1's rope_scaling are kept."""
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ExportError(f"{folder}: no config.json (not a Hugging Face model folder?)")
    try:
        with open(config_path) as f:
            c = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError(f"{config_path} is not valid JSON: {e}") from None
    if not isinstance(c, dict):
        raise ExportError(f"{config_path}: expected a JSON object")
    cfg = _config_from_hf(c, config_path)
    tensors = _read_hf_weights(folder)
    # old checkpoints store RoPE's inverse frequencies as a buffer; we recompute them
    tensors = {k: v for k, v in tensors.items() if not k.endswith("rotary_emb.inv_freq")}
    if cfg.tie_embeddings:
        tensors.pop("lm_head.weight", None)   # transformers ties it to the embedding and ignores it too

    model = Transformer(cfg, dtype=dtype)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    state, wanted = {}, {hf_name(name): name for name in shapes}
    missing, unexpected = sorted(set(wanted) - set(tensors)), sorted(set(tensors) - set(wanted))
    if missing or unexpected:
        raise ExportError(f"{folder}: weights do not match config.json: missing {missing[:4]}, "
                          f"unexpected {unexpected[:4]}")
    for hf, ours in wanted.items():
        array = tensors[hf]
        if array.shape != shapes[ours]:
            raise ExportError(f"{folder}: {hf} has shape {array.shape}, config.json implies {shapes[ours]}")
        if ours.endswith("attention.wq.weight"):
            array = half_to_interleaved(array, cfg.n_heads)
        elif ours.endswith("attention.wk.weight"):
            array = half_to_interleaved(array, cfg.n_kv_heads)
        state[ours] = array.astype(dtype)
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------------------- llama2.c (v0)
LLAMA2C_HEADER = struct.Struct("<7i")   # dim, hidden_dim, n_layers, n_heads, n_kv_heads, ±vocab, seq_len
LLAMA2C_V1_MAGIC = 0x616B3432           # "ak42": the newer formats run.c cannot read
LLAMA2C_KINDS = ["attention_norm.weight", "attention.wq.weight", "attention.wk.weight",
                 "attention.wv.weight", "attention.wo.weight", "ffn_norm.weight",
                 "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight"]


def llama2c_num_floats(cfg):
    """Floats after the 28-byte header, as llama-formats.md counts them."""
    d, L, V, hd, kv = cfg.dim, cfg.n_layers, cfg.vocab_size, cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    body = V * d + L * (2 * d + d * d + 2 * kv * d + d * d + 3 * d * cfg.ffn_dim) + d + cfg.max_seq_len * hd
    return body + (0 if cfg.tie_embeddings else V * d)


def export_llama2c(model, path):
    """Write llama2.c's legacy v0 model.bin (what run.c reads), atomically.

    run.c hard-codes RMSNorm eps 1e-5 and RoPE base 10000, so other values are refused."""
    cfg = model.cfg
    if cfg.sliding_window is not None or cfg.rope_scaling:
        raise ExportError("llama2.c's run.c knows neither a sliding window nor RoPE scaling; "
                          "export this model with --format hf")
    if cfg.norm_eps != 1e-5 or cfg.rope_theta != 10000.0:
        raise ExportError(f"llama2.c fixes norm_eps=1e-5 and rope_theta=10000; this model has "
                          f"norm_eps={cfg.norm_eps}, rope_theta={cfg.rope_theta}")
    assert cfg.n_heads * cfg.head_dim == cfg.dim                 # ModelConfig guarantees it
    vocab = cfg.vocab_size if cfg.tie_embeddings else -cfg.vocab_size      # the sign is the tied flag
    state = model.state_dict()
    cos, sin = kernels.rope_tables(cfg.max_seq_len, cfg.head_dim, cfg.rope_theta, dtype=np.float32)
    arrays = [state["tok_embeddings.weight"]]                                      # (V, D)
    for kind in LLAMA2C_KINDS:                                                     # (L, ...) each
        arrays.append(np.stack([state[f"layers.{i}.{kind}"] for i in range(cfg.n_layers)]))
    arrays += [state["norm.weight"], cos, sin]                                     # (D,), 2 × (T, hd/2)
    if not cfg.tie_embeddings:
        arrays.append(state["output.weight"])                                      # (V, D)

    with atomic_write(path, suffix=".bin") as f:
        f.write(LLAMA2C_HEADER.pack(cfg.dim, cfg.ffn_dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads,
                                    vocab, cfg.max_seq_len))
        for a in arrays:
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return path


def export_llama2c_tokenizer(tokenizer, path, vocab_size=None):
    """Write the tokenizer as llama2.c's tokenizer.bin (what run.c reads beside model.bin):

        uint32 max_token_length, then for each id: float32 score, int32 len, len raw bytes

    Our tokens are byte strings already. The score orders run.c's greedy merges: merge i (id 256 + i)
    gets -i, so an earlier merge wins, as in our BPE; bytes get 0 and special tokens -1e9 (never
    merged into). Ids past the tokenizer, up to the model's vocab_size, are written as "<padN>"
    (run.c cannot read an empty piece).
    run.c's own prompt encoder assumes sentencepiece's conventions (a leading space piece, bytes at
    ids 3..258), so it segments prompts differently from ours; the pieces it prints are ours."""
    vocab_size = vocab_size or tokenizer.vocab_size
    special = set(tokenizer.special_tokens.values())
    pieces = [tokenizer.vocab[i] if i < len(tokenizer.vocab) else f"<pad{i}>".encode()
              for i in range(vocab_size)]
    with atomic_write(path, suffix=".bin") as f:
        f.write(struct.pack("<I", max(len(p) for p in pieces)))
        for i, piece in enumerate(pieces):
            score = -1e9 if i in special or i >= len(tokenizer.vocab) else (0.0 if i < 256 else -float(i - 256))
            f.write(struct.pack("<fi", score, len(piece)) + piece)
    return path


def load_llama2c(path, dtype=np.float32):
    """A Transformer from a llama2.c v0 model.bin; the file must be consumed exactly."""
    if not os.path.isfile(path):
        raise ExportError(f"llama2.c model not found: {path}")
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < LLAMA2C_HEADER.size:
        raise ExportError(f"{path}: {len(blob)} bytes is shorter than the 28-byte llama2.c header")
    if int.from_bytes(blob[:4], "little") == LLAMA2C_V1_MAGIC:
        raise ExportError(f"{path} is a llama2.c v1/v2 file (magic 'ak42'); only the legacy v0 format is read")
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = LLAMA2C_HEADER.unpack_from(blob)
    if min(dim, hidden, n_layers, n_heads, n_kv_heads, seq_len) <= 0 or vocab == 0:
        raise ExportError(f"{path}: header {LLAMA2C_HEADER.unpack_from(blob)} has non-positive sizes "
                          f"(not a llama2.c model.bin?)")
    try:
        cfg = ModelConfig(dim=dim, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
                          vocab_size=abs(vocab), hidden_dim=hidden, max_seq_len=seq_len,
                          norm_eps=1e-5, rope_theta=10000.0, tie_embeddings=vocab > 0)
    except ValueError as e:
        raise ExportError(f"{path}: header does not describe a valid Llama: {e}") from None
    n = llama2c_num_floats(cfg)
    expected = LLAMA2C_HEADER.size + 4 * n
    if len(blob) != expected:
        raise ExportError(f"{path} has {len(blob)} bytes but its header (dim {dim}, hidden {hidden}, "
                          f"{n_layers} layers, {n_heads}/{n_kv_heads} heads, vocab {vocab}, seq_len "
                          f"{seq_len}) implies {expected} ({'truncated' if len(blob) < expected else 'trailing data'})")
    floats = np.frombuffer(blob, dtype="<f4", offset=LLAMA2C_HEADER.size)
    position = 0

    def take(*shape):
        nonlocal position
        size = int(np.prod(shape))
        out = floats[position:position + size].reshape(shape)
        position += size
        return out

    model = Transformer(cfg, dtype=dtype)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    state = {"tok_embeddings.weight": take(cfg.vocab_size, dim)}
    for kind in LLAMA2C_KINDS:
        stacked = take(n_layers, *shapes[f"layers.0.{kind}"])
        state.update({f"layers.{i}.{kind}": stacked[i] for i in range(n_layers)})
    state["norm.weight"] = take(dim)
    take(2, seq_len, cfg.head_dim // 2)                   # the RoPE tables: recomputed, as run.c does
    if not cfg.tie_embeddings:
        state["output.weight"] = take(cfg.vocab_size, dim)
    assert position == floats.size                         # guaranteed by the size check above
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------------------- command line
def eot_id_from_meta(meta):
    """The <|endoftext|> id of the checkpoint's tokenizer, or None if the checkpoint has none.

    meta["tokenizer"] is the text of the tokenizer's saved file (Tokenizer.loads reads it)."""
    from tinyllm.tokenizer import Tokenizer
    text = meta.get("tokenizer")
    if text is None:
        return None
    try:
        return Tokenizer.loads(text, source="the checkpoint's tokenizer").eot_id
    except (TypeError, ValueError) as e:
        raise ExportError(f"the checkpoint's tokenizer is corrupt ({e})") from None


def main(argv=None):
    """python -m tinyllm export CKPT --format {hf,llama2c,gguf} --out PATH; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tinyllm export",
        description="Write a tinyllm checkpoint as a Hugging Face Llama folder, a llama2.c model.bin "
                    "or a GGUF file (llama.cpp's format, optionally quantised).")
    parser.add_argument("checkpoint", help="a .npz checkpoint written by tinyllm")
    parser.add_argument("--format", required=True, choices=["hf", "llama2c", "gguf"],
                        help="hf: folder with config.json + model.safetensors; llama2c: run.c's model.bin; "
                             "gguf: one .gguf file with the tokenizer")
    parser.add_argument("--out", required=True, help="output folder (hf) or file (llama2c)")
    parser.add_argument("--dtype", choices=sorted(HF_DTYPES), default="float32",
                        help="weight dtype for --format hf (llama2c is always float32)")
    parser.add_argument("--quant", choices=["f32", "q8_0", "q4_1"], default=None,
                        help="weights of --format gguf: f32 (default), Q8_0 or Q4_1 blocks of 32 "
                             "(with Q4_1 the embedding is Q8_0); norms stay f32")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:               # --help (0) or a usage error (2), already printed
        return e.code
    from tinyllm.checkpoint import CheckpointError, load_model
    try:
        model, meta = load_model(args.checkpoint, dtype=np.float32)
        if args.quant is not None and args.format != "gguf":
            raise ExportError("--quant applies to --format gguf only")
        if args.format == "gguf":
            from tinyllm import gguf
            if args.dtype != "float32":
                raise ExportError("--dtype applies to --format hf only; use --quant for gguf")
            quant = {"f32": gguf.F32, "q8_0": gguf.Q8_0, "q4_1": gguf.Q4_1}[args.quant or "f32"]
            if quant != gguf.F32 and (model.cfg.dim % 32 or model.cfg.ffn_dim % 32):
                raise ExportError(f"--quant {args.quant} needs dim and hidden dim multiples of 32 "
                                  f"(this model: {model.cfg.dim}, {model.cfg.ffn_dim})")
            tokenizer = None
            if meta.get("tokenizer"):
                from tinyllm.tokenizer import Tokenizer
                tokenizer = Tokenizer.loads(meta["tokenizer"], source="the checkpoint's tokenizer")
            gguf.save_gguf(model, args.out, tokenizer, quant=quant)
            print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes, GGUF, {args.quant or 'f32'}"
                  f"{', with its tokenizer' if tokenizer else ''})")
        elif args.format == "hf":
            eot = eot_id_from_meta(meta)
            export_hf(model, args.out, bos_token_id=eot, eos_token_id=eot, dtype=args.dtype)
            print(f"wrote {os.path.join(args.out, 'config.json')} and model.safetensors "
                  f"({model.num_params():,} parameters, {args.dtype}, eos_token_id {eot})")
        else:
            if args.dtype != "float32":
                raise ExportError("--dtype applies to --format hf only; llama2.c v0 is float32")
            export_llama2c(model, args.out)
            print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes, llama2.c v0, "
                  f"{'tied' if model.cfg.tie_embeddings else 'untied'} classifier)")
            if meta.get("tokenizer"):                    # run.c needs tokenizer.bin beside it
                from tinyllm.tokenizer import Tokenizer
                tok_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), "tokenizer.bin")
                export_llama2c_tokenizer(Tokenizer.loads(meta["tokenizer"], source="the checkpoint's tokenizer"),
                                         tok_path, model.cfg.vocab_size)
                print(f"wrote {tok_path} (run.c's tokenizer: {model.cfg.vocab_size} pieces)")
        return 0
    except OSError as e:                  # writing --out failed: say so about --out, not a temp file
        print(f"error: {write_error(args.out, e)}", file=sys.stderr)
        return 1
    except (CheckpointError, ExportError, SafetensorsError, KeyError, ValueError) as e:
        message = f"checkpoint lacks the entry {e}" if isinstance(e, KeyError) else str(e)
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
