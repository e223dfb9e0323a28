"""Export: Hugging Face (safetensors + config.json) and llama2.c (model.bin) round trips, the RoPE
row permutation against an independent NumPy re-implementation of Hugging Face's rotate_half Llama,
the exact llama2.c byte layout, the safetensors reader on hand-made and damaged files, and the CLI."""
import json
import math
import os
import struct

import numpy as np
import pytest

from autograd import no_grad
from tinyllm import ModelConfig
from tinyllm.__main__ import main as cli
from tinyllm.checkpoint import save_checkpoint
from tinyllm.export import (ExportError, export_hf, export_llama2c, half_to_interleaved, hf_config,
                            hf_state_dict, interleaved_to_half, llama2c_num_floats, load_hf, load_llama2c)
from support import unit_scale_model
from tinyllm.safetensors import (SafetensorsError, bfloat16_to_float32, float32_to_bfloat16,
                                 read_safetensors, write_safetensors)


def random_model(seed=0, dtype=np.float32, **overrides):
    """The tiny preset with unit-scale weights (support.unit_scale_model)."""
    return unit_scale_model(ModelConfig.preset("tiny", **overrides), seed, dtype)


def logits(model, tokens):
    with no_grad():
        return model(tokens).data


def tokens_for(model, batch=2, seed=1):
    cfg = model.cfg
    return np.random.default_rng(seed).integers(0, cfg.vocab_size, (batch, cfg.max_seq_len))


def same_config(a, b):
    """Equal as models: a file stores the SwiGLU width, not the rule (multiple_of) that made it."""
    ignore = ("hidden_dim", "multiple_of")
    da, db = ({k: v for k, v in c.to_dict().items() if k not in ignore} for c in (a, b))
    return da == db and a.ffn_dim == b.ffn_dim


def same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


TIED = [True, False]
# tiny has 4 query heads: MQA, GQA, MHA; and a wider head, since with tiny's head_dim 4 the
# Meta→HF permutation is its own inverse (a 2×2 transpose), which would hide a wrong inverse
SHAPES = [dict(n_kv_heads=1), dict(n_kv_heads=2), dict(n_kv_heads=4), dict(n_kv_heads=2, dim=48)]
SHAPE_IDS = ["kv1", "kv2", "kv4", "kv2-hd12"]


# ---------------------------------------------------------------------------- the permutation
def test_permutation_moves_rows_as_the_formula_says():
    n, hd, d_in = 3, 8, 2
    w = np.arange(n * hd)[:, None] * np.ones((1, d_in))          # row r holds the value r
    hf = interleaved_to_half(w, n)
    for h in range(n):
        for c in range(2):
            for j in range(hd // 2):
                assert hf[h * hd + c * hd // 2 + j, 0] == h * hd + 2 * j + c
    np.testing.assert_array_equal(half_to_interleaved(hf, n), w)
    assert not np.array_equal(hf, w)


def hf_reference_logits(tensors, config, tokens):
    """Hugging Face's LlamaForCausalLM forward, written from its definition in NumPy for one sequence:
    RMSNorm, RoPE as q·cos + rotate_half(q)·sin with cos = cat(freqs, freqs), repeat_kv (each kv head
    serves consecutive query heads), causal softmax attention, SwiGLU, lm_head (= embedding if tied)."""
    D, H, Hkv = config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]
    hd, eps, theta = config["head_dim"], config["rms_norm_eps"], config["rope_parameters"]["rope_theta"]
    T = len(tokens)

    def rms(x, w):
        return w * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)

    def rotate_half(x):
        return np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], axis=-1)

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    freqs = np.outer(np.arange(T), inv_freq)                              # (T, hd/2)
    cos, sin = np.cos(np.concatenate([freqs, freqs], -1)), np.sin(np.concatenate([freqs, freqs], -1))
    mask = np.triu(np.full((T, T), -np.inf), 1)
    x = tensors["model.embed_tokens.weight"][tokens]                      # (T, D)
    for i in range(config["num_hidden_layers"]):
        w = {k[len(f"model.layers.{i}."):]: v for k, v in tensors.items() if k.startswith(f"model.layers.{i}.")}
        h = rms(x, w["input_layernorm.weight"])
        q = (h @ w["self_attn.q_proj.weight"].T).reshape(T, H, hd).transpose(1, 0, 2)     # (H, T, hd)
        k = (h @ w["self_attn.k_proj.weight"].T).reshape(T, Hkv, hd).transpose(1, 0, 2)   # (Hkv, T, hd)
        v = (h @ w["self_attn.v_proj.weight"].T).reshape(T, Hkv, hd).transpose(1, 0, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = np.repeat(k, H // Hkv, axis=0), np.repeat(v, H // Hkv, axis=0)           # (H, T, hd)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        x = x + (p @ v).transpose(1, 0, 2).reshape(T, D) @ w["self_attn.o_proj.weight"].T
        h = rms(x, w["post_attention_layernorm.weight"])
        gate, up = h @ w["mlp.gate_proj.weight"].T, h @ w["mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w["mlp.down_proj.weight"].T
    x = rms(x, tensors["model.norm.weight"])
    return x @ tensors.get("lm_head.weight", tensors["model.embed_tokens.weight"]).T


@pytest.mark.parametrize("tied", TIED)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_hf_weights_under_rotate_half_reproduce_our_forward(tied, shape):
    model = random_model(seed=len(shape), dtype=np.float64, tie_embeddings=tied, **shape)
    tokens = tokens_for(model, batch=1)[0]
    ours = logits(model, tokens)[0]
    tensors, config = hf_state_dict(model), hf_config(model.cfg)
    assert ("lm_head.weight" in tensors) == (not tied)
    theirs = hf_reference_logits(tensors, config, tokens)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-10)
    # the check can fail: HF's RoPE on the unpermuted (interleaved) rows gives other logits
    raw = {k: v for k, v in tensors.items()}
    for i in range(model.cfg.n_layers):
        raw[f"model.layers.{i}.self_attn.q_proj.weight"] = model.state_dict()[f"layers.{i}.attention.wq.weight"]
        raw[f"model.layers.{i}.self_attn.k_proj.weight"] = model.state_dict()[f"layers.{i}.attention.wk.weight"]
    assert np.abs(hf_reference_logits(raw, config, tokens) - ours).max() > 1e-2


# ---------------------------------------------------------------------------- Hugging Face round trip
@pytest.mark.parametrize("tied", TIED)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_export_hf_then_load_hf_gives_identical_logits(tmp_path, tied, shape):
    model = random_model(seed=10, tie_embeddings=tied, **shape)
    export_hf(model, tmp_path / "hf")
    back = load_hf(tmp_path / "hf")
    assert same_config(back.cfg, model.cfg) and back.dtype == np.float32
    assert same_parameters(back, model)
    tokens = tokens_for(model)
    np.testing.assert_allclose(logits(back, tokens), logits(model, tokens), rtol=0, atol=1e-6)


@pytest.mark.parametrize("tied", TIED)
def test_hf_folder_contents(tmp_path, tied):
    model = random_model(tie_embeddings=tied)
    out = export_hf(model, tmp_path / "hf", bos_token_id=30, eos_token_id=31)
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp")] == []      # temp dir cleaned up
    c = json.loads((tmp_path / "hf" / "config.json").read_text())
    cfg = model.cfg
    assert c["architectures"] == ["LlamaForCausalLM"] and c["model_type"] == "llama"
    assert (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["num_attention_heads"],
            c["num_key_value_heads"], c["head_dim"], c["vocab_size"], c["max_position_embeddings"]) == \
           (16, cfg.ffn_dim, 2, 4, 2, 4, 32, 16)
    assert c["rms_norm_eps"] == 1e-5 and c["rope_theta"] == 10000.0
    assert c["rope_parameters"] == {"rope_type": "default", "rope_theta": 10000.0}
    assert c["tie_word_embeddings"] is tied and c["hidden_act"] == "silu"
    assert c["attention_bias"] is False and c["mlp_bias"] is False and c["torch_dtype"] == "float32"
    assert (c["bos_token_id"], c["eos_token_id"]) == (30, 31)
    tensors, metadata = read_safetensors(tmp_path / "hf" / "model.safetensors")
    assert metadata == {"format": "pt"}
    assert ("lm_head.weight" in tensors) == (not tied)
    assert len(tensors) == 3 + 9 * cfg.n_layers - tied
    assert tensors["model.layers.1.mlp.gate_proj.weight"].shape == (cfg.ffn_dim, 16)
    np.testing.assert_array_equal(tensors["model.layers.1.mlp.down_proj.weight"],
                                  model.state_dict()["layers.1.feed_forward.w2.weight"])
    np.testing.assert_array_equal(tensors["model.layers.0.self_attn.k_proj.weight"],
                                  interleaved_to_half(model.state_dict()["layers.0.attention.wk.weight"], 2))


def test_export_hf_over_an_existing_folder_replaces_the_files(tmp_path):
    export_hf(random_model(seed=1), tmp_path / "hf")
    (tmp_path / "hf" / "README.md").write_text("kept")
    model = random_model(seed=2, tie_embeddings=False)
    export_hf(model, tmp_path / "hf")
    assert same_parameters(load_hf(tmp_path / "hf"), model)
    assert (tmp_path / "hf" / "README.md").read_text() == "kept"
    assert [n for n in os.listdir(tmp_path / "hf") if n.startswith(".tmp")] == []


@pytest.mark.parametrize("dtype,code,tol", [("float16", "F16", 2 ** -11), ("bfloat16", "BF16", 2 ** -8)])
def test_export_hf_in_half_precision(tmp_path, dtype, code, tol):
    model = random_model()
    export_hf(model, tmp_path / "hf", dtype=dtype)
    header_len = int.from_bytes((tmp_path / "hf" / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((tmp_path / "hf" / "model.safetensors").read_bytes()[8:8 + header_len])
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {code}
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["torch_dtype"] == dtype
    back = load_hf(tmp_path / "hf")
    assert back.dtype == np.float32
    for name, a in model.state_dict().items():
        b = back.state_dict()[name]
        assert np.all(np.abs(b - a) <= tol * np.abs(a) + 1e-30), name       # rounded to nearest
        if dtype == "float16":
            np.testing.assert_array_equal(b, a.astype(np.float16).astype(np.float32))
    assert not same_parameters(back, model)


# ---------------------------------------------------------------------------- load_hf refuses what it cannot represent
def _edit_config(folder, **changes):
    path = folder / "config.json"
    c = json.loads(path.read_text())
    c.update(changes)
    path.write_text(json.dumps(c))


@pytest.mark.parametrize("changes,message", [
    ({"rope_parameters": None, "rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "RoPE type 'linear'"),
    ({"rope_parameters": {"rope_type": "yarn", "factor": 2.0}}, "RoPE type 'yarn'"),
    ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5}}, "valid Llama"),   # no factors
    ({"model_type": "mistral", "sliding_window": 0}, "sliding_window"),
    ({"hidden_act": "gelu"}, "silu"),
    ({"attention_bias": True}, "biases"),
    ({"mlp_bias": True}, "biases"),
    ({"model_type": "gemma"}, "model_type"),
    ({"head_dim": 8}, "head_dim"),
    ({"num_key_value_heads": 3}, "does not divide"),
    ({"num_key_value_heads": 0}, "valid Llama"),
    ({"num_attention_heads": 0}, "valid Llama"),
    ({"hidden_size": "wide"}, "valid Llama"),
    ({"vocab_size": None}, "valid Llama"),
    ({"intermediate_size": 40}, "shape"),
    ({"tie_word_embeddings": False}, "missing \\['lm_head.weight'\\]"),
])
def test_load_hf_refuses_llamas_it_cannot_represent(tmp_path, changes, message):
    export_hf(random_model(), tmp_path / "hf")
    _edit_config(tmp_path / "hf", **changes)
    with pytest.raises(ExportError, match=message):
        load_hf(tmp_path / "hf")


def test_windowed_model_exports_as_mistral_and_loads_back(tmp_path):
    model = random_model(sliding_window=5)
    export_hf(model, tmp_path / "hf")
    c = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert c["architectures"] == ["MistralForCausalLM"] and c["model_type"] == "mistral"
    assert c["sliding_window"] == 5
    back = load_hf(tmp_path / "hf")
    assert (back.cfg.sliding_window, back.cfg.rope_scaling) == (model.cfg.sliding_window, model.cfg.rope_scaling)
    assert back.cfg.rope_theta == model.cfg.rope_theta and same_parameters(back, model)
    _edit_config(tmp_path / "hf", sliding_window=None)             # a Mistral with full attention
    assert load_hf(tmp_path / "hf").cfg.sliding_window is None
    c.pop("sliding_window")                                        # absent: MistralConfig's 4096
    (tmp_path / "hf" / "config.json").write_text(json.dumps(c))
    assert load_hf(tmp_path / "hf").cfg.sliding_window == 4096


def test_scaled_rope_exports_as_llama3_and_loads_back(tmp_path):
    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8}
    model = random_model(rope_scaling=scaling, rope_theta=500000.0)
    export_hf(model, tmp_path / "hf")
    c = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert c["model_type"] == "llama" and "sliding_window" not in c
    assert c["rope_scaling"] == {"rope_type": "llama3", **scaling}
    assert c["rope_parameters"] == {"rope_type": "llama3", "rope_theta": 500000.0, **scaling}
    back = load_hf(tmp_path / "hf")
    assert (back.cfg.sliding_window, back.cfg.rope_scaling) == (model.cfg.sliding_window, model.cfg.rope_scaling)
    assert back.cfg.rope_theta == model.cfg.rope_theta and same_parameters(back, model)
    _edit_config(tmp_path / "hf", rope_parameters=None)            # the 4.x form alone
    assert load_hf(tmp_path / "hf").cfg.rope_scaling == scaling
    with pytest.raises(ExportError, match="sliding window nor RoPE scaling"):
        export_llama2c(model, tmp_path / "model.bin")


def test_load_hf_missing_files(tmp_path):
    with pytest.raises(ExportError, match="no config.json"):
        load_hf(tmp_path)
    export_hf(random_model(), tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        load_hf(tmp_path / "hf")
    export_hf(random_model(), tmp_path / "hf")
    os.remove(tmp_path / "hf" / "model.safetensors")
    with pytest.raises(ExportError, match="no model.safetensors"):
        load_hf(tmp_path / "hf")


def test_load_hf_reads_sharded_weights(tmp_path):
    model = random_model(tie_embeddings=False)
    export_hf(model, tmp_path / "hf")
    tensors, _ = read_safetensors(tmp_path / "hf" / "model.safetensors")
    names = sorted(tensors)
    halves = {"a.safetensors": names[:len(names) // 2], "b.safetensors": names[len(names) // 2:]}
    for shard, keys in halves.items():
        write_safetensors(tmp_path / "hf" / shard, {k: tensors[k] for k in keys}, {"format": "pt"})
    os.remove(tmp_path / "hf" / "model.safetensors")
    weight_map = {k: shard for shard, keys in halves.items() for k in keys}
    (tmp_path / "hf" / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert same_parameters(load_hf(tmp_path / "hf"), model)


# ---------------------------------------------------------------------------- safetensors
def _hand_made(header, data):
    """A safetensors file built byte by byte, independent of write_safetensors."""
    head = json.dumps(header).encode()
    return len(head).to_bytes(8, "little") + head + data


def test_bfloat16_conversion_known_values():
    # 1.0 = 0x3F800000 → 0x3F80; -2.0 → 0xC000; 1 + 2^-8 is halfway: ties to even (0x3F80);
    # 1 + 3·2^-8 is halfway between 0x3F81 and 0x3F82: to even 0x3F82; 1 + 2^-8 + 2^-20 rounds up
    x = np.array([1.0, -2.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, np.inf, 3.4e38],
                 dtype=np.float32)
    np.testing.assert_array_equal(float32_to_bfloat16(x),
                                  np.array([0x3F80, 0xC000, 0x3F80, 0x3F82, 0x3F81, 0x7F80, 0x7F80], np.uint16))
    assert np.isnan(bfloat16_to_float32(float32_to_bfloat16(np.array([np.nan], np.float32))))[0]
    np.testing.assert_array_equal(bfloat16_to_float32(np.array([0x3F80, 0xC049, 0x0001], np.uint16)),
                                  np.array([1.0, -3.140625, 2.0 ** -133], np.float32))


def test_reading_hand_made_bf16_f16_f64(tmp_path):
    bf16 = np.array([0x3F80, 0xC049, 0x4000, 0x0000], dtype="<u2")     # 1, -3.140625, 2, 0
    f16 = np.array([0.5, -65504.0, 6e-8], dtype="<f2")
    f64 = np.array([[1 / 3]], dtype="<f8")
    data = bf16.tobytes() + f16.tobytes() + f64.tobytes()
    path = tmp_path / "x.safetensors"
    path.write_bytes(_hand_made({
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
        "h": {"dtype": "F16", "shape": [3], "data_offsets": [8, 14]},
        "d": {"dtype": "F64", "shape": [1, 1], "data_offsets": [14, 22]}}, data))
    tensors, meta = read_safetensors(path)
    assert meta == {"format": "pt"}
    assert tensors["w"].dtype == np.float32
    np.testing.assert_array_equal(tensors["w"], [[1.0, -3.140625], [2.0, 0.0]])
    assert tensors["h"].dtype == np.float16 and tensors["h"][1] == -65504.0
    assert tensors["d"].dtype == np.float64 and tensors["d"][0, 0] == 1 / 3


def test_write_then_read_safetensors(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": np.float16([1.5, 2]),
              "c": rng.standard_normal(7), "empty": np.zeros((0, 4), np.float32)}
    write_safetensors(tmp_path / "x.safetensors", arrays, {"format": "pt"})
    blob = (tmp_path / "x.safetensors").read_bytes()
    assert (8 + int.from_bytes(blob[:8], "little")) % 8 == 0              # data starts 8-byte aligned
    back, meta = read_safetensors(tmp_path / "x.safetensors")
    assert meta == {"format": "pt"}
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape
        np.testing.assert_array_equal(back[k], a)
    with pytest.raises(SafetensorsError, match="cannot store dtype int64"):
        write_safetensors(tmp_path / "y.safetensors", {"i": np.arange(3)})


def _good_file():
    return _hand_made({"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                       "y": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}},
                      np.arange(5, dtype="<f4").tobytes())


@pytest.mark.parametrize("blob,message", [
    (b"", "too short"),
    (b"\x10\x00\x00", "too short"),
    ((10 ** 6).to_bytes(8, "little") + b"{}", "runs past the end"),
    (_good_file()[:-1], "out of range"),                                   # truncated data
    (_good_file()[:20], "runs past the end"),                              # truncated header
    (_good_file() + b"\x00" * 4, "trailing"),
    (_hand_made({"x": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}}, b"\x00" * 4), "unsupported dtype 'Q4'"),
    (_hand_made({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\x00" * 4), "needs 8"),
    (_hand_made({"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\x00" * 8), "gap"),
    (_hand_made({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\x00" * 8), "overlap"),
    (_hand_made({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\x00" * 4), "bad shape"),
    (_hand_made({"x": {"dtype": "F32", "shape": [1]}}, b"\x00" * 4), "needs dtype, shape and data_offsets"),
    (_hand_made([1, 2], b""), "expected an object"),
    (b"\x04\x00\x00\x00\x00\x00\x00\x00{{{{", "not valid JSON"),
])
def test_corrupt_safetensors_give_clear_errors(tmp_path, blob, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(SafetensorsError, match=message):
        read_safetensors(path)


def test_good_hand_made_file_reads(tmp_path):
    (tmp_path / "ok.safetensors").write_bytes(_good_file())        # the base of the corrupt cases is fine
    tensors, _ = read_safetensors(tmp_path / "ok.safetensors")
    np.testing.assert_array_equal(tensors["x"], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(tensors["y"], [4])


# ---------------------------------------------------------------------------- llama2.c
@pytest.mark.parametrize("tied", TIED)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_export_llama2c_then_load_gives_identical_logits(tmp_path, tied, shape):
    model = random_model(seed=20, tie_embeddings=tied, **shape)
    path = export_llama2c(model, tmp_path / "model.bin")
    back = load_llama2c(path)
    assert same_config(back.cfg, model.cfg)
    assert same_parameters(back, model)
    tokens = tokens_for(model)
    np.testing.assert_allclose(logits(back, tokens), logits(model, tokens), rtol=0, atol=1e-6)


@pytest.mark.parametrize("tied", TIED)
def test_llama2c_byte_layout(tmp_path, tied):
    model = random_model(tie_embeddings=tied)
    cfg, s = model.cfg, model.state_dict()
    blob = export_llama2c(model, tmp_path / "model.bin").read_bytes()
    d, f, L, V, T, hd = cfg.dim, cfg.ffn_dim, cfg.n_layers, cfg.vocab_size, cfg.max_seq_len, cfg.head_dim
    kv = cfg.n_kv_heads * hd
    # the size formula of llama-formats.md, written out again here
    floats = V * d + L * (2 * d + d * d + 2 * kv * d + d * d + 3 * d * f) + d + T * hd + (0 if tied else V * d)
    assert len(blob) == 28 + 4 * floats == 28 + 4 * llama2c_num_floats(cfg)
    assert struct.unpack("<7i", blob[:28]) == (16, f, 2, 4, 2, V if tied else -V, 16)
    body = np.frombuffer(blob, "<f4", offset=28)
    at = {}                                   # where each block starts, in floats
    pos = 0
    for name, size in [("emb", V * d), ("attn_norm", L * d), ("wq", L * d * d), ("wk", L * kv * d),
                       ("wv", L * kv * d), ("wo", L * d * d), ("ffn_norm", L * d), ("w1", L * f * d),
                       ("w2", L * d * f), ("w3", L * f * d), ("norm", d), ("cos", T * hd // 2),
                       ("sin", T * hd // 2), ("cls", 0 if tied else V * d)]:
        at[name] = pos
        pos += size
    assert pos == body.size

    def block(name, shape, layer=0):
        n = int(np.prod(shape))
        return body[at[name] + layer * n: at[name] + (layer + 1) * n].reshape(shape)

    np.testing.assert_array_equal(block("emb", (V, d)), s["tok_embeddings.weight"])
    np.testing.assert_array_equal(block("attn_norm", (d,), 1), s["layers.1.attention_norm.weight"])
    np.testing.assert_array_equal(block("wq", (d, d), 1), s["layers.1.attention.wq.weight"])   # interleaved rows
    np.testing.assert_array_equal(block("wk", (kv, d), 1), s["layers.1.attention.wk.weight"])
    np.testing.assert_array_equal(block("w1", (f, d), 1), s["layers.1.feed_forward.w1.weight"])
    np.testing.assert_array_equal(block("w2", (d, f), 0), s["layers.0.feed_forward.w2.weight"])
    np.testing.assert_array_equal(block("w3", (f, d), 1), s["layers.1.feed_forward.w3.weight"])
    np.testing.assert_array_equal(block("norm", (d,)), s["norm.weight"])
    pos_angle = np.outer(np.arange(T), 10000.0 ** (-np.arange(0, hd, 2) / hd))
    np.testing.assert_allclose(block("cos", (T, hd // 2)), np.cos(pos_angle), atol=1e-7)
    np.testing.assert_allclose(block("sin", (T, hd // 2)), np.sin(pos_angle), atol=1e-7)
    if not tied:
        np.testing.assert_array_equal(block("cls", (V, d)), s["output.weight"])


def test_llama2c_size_of_the_published_stories15M_bin():
    """karpathy/tinyllamas' stories15M.bin (dim 288, 6 layers, 6 heads, vocab 32000, seq_len 256,
    tied) is 60,816,028 bytes; our stories15M preset must describe exactly that file."""
    assert 28 + 4 * llama2c_num_floats(ModelConfig.preset("stories15M")) == 60_816_028


def test_llama2c_refuses_what_run_c_hard_codes_otherwise(tmp_path):
    for change in ({"norm_eps": 1e-6}, {"rope_theta": 500000.0}):
        with pytest.raises(ExportError, match="llama2.c fixes"):
            export_llama2c(random_model(**change), tmp_path / "model.bin")
    assert not (tmp_path / "model.bin").exists()


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:-4], "truncated"),
    (lambda b: b + b"\x00" * 4, "trailing data"),
    (lambda b: b[:20], "shorter than the 28-byte"),
    (lambda b: struct.pack("<I", 0x616B3432) + b[4:], "v1/v2"),
    (lambda b: struct.pack("<i", -16) + b[4:], "non-positive"),
    (lambda b: b[:12] + struct.pack("<i", 3) + b[16:], "not divisible"),           # n_heads 3
])
def test_damaged_llama2c_files_give_clear_errors(tmp_path, damage, message):
    blob = export_llama2c(random_model(), tmp_path / "model.bin").read_bytes()
    (tmp_path / "bad.bin").write_bytes(damage(blob))
    with pytest.raises(ExportError, match=message):
        load_llama2c(tmp_path / "bad.bin")
    with pytest.raises(ExportError, match="not found"):
        load_llama2c(tmp_path / "absent.bin")


# ---------------------------------------------------------------------------- command line
def test_cli_exports_both_formats(tmp_path, capsys):
    model = random_model(tie_embeddings=False)
    save_checkpoint(tmp_path / "ckpt.npz", model, meta={"step": 7})
    assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "llama2c",
                "--out", str(tmp_path / "model.bin")]) == 0
    out = capsys.readouterr().out
    assert "config.json" in out and "model.bin" in out
    tokens = tokens_for(model)
    for back in (load_hf(tmp_path / "hf"), load_llama2c(tmp_path / "model.bin")):
        np.testing.assert_allclose(logits(back, tokens), logits(model, tokens), rtol=0, atol=1e-6)
    c = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert c["eos_token_id"] is None and c["bos_token_id"] is None      # no tokenizer in the checkpoint


def test_cli_uses_the_checkpoints_end_of_text_token(tmp_path):
    from tinyllm.tokenizer import Tokenizer
    tokenizer = Tokenizer.train("to be or not to be, that is the question " * 4, vocab_size=262)
    tokenizer.save(tmp_path / "tok.json")
    assert tokenizer.eot_id == 261
    model = random_model(vocab_size=262)
    save_checkpoint(tmp_path / "ckpt.npz", model, meta={"tokenizer": (tmp_path / "tok.json").read_text()})
    assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    c = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert c["eos_token_id"] == c["bos_token_id"] == 261


def test_cli_float64_checkpoint_exports_float32(tmp_path):
    model = random_model(dtype=np.float64)
    save_checkpoint(tmp_path / "ckpt.npz", model)
    assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "llama2c", "--out", str(tmp_path / "m.bin")]) == 0
    back = load_llama2c(tmp_path / "m.bin")
    np.testing.assert_array_equal(back.state_dict()["norm.weight"], model.state_dict()["norm.weight"].astype(np.float32))


@pytest.mark.parametrize("setup,args,code,message", [
    (None, ["--format", "hf"], 1, "checkpoint not found"),
    ("garbage", ["--format", "hf"], 1, "not a readable checkpoint"),
    ("truncated", ["--format", "llama2c"], 1, "not a readable checkpoint"),
    ("eps", ["--format", "llama2c"], 1, "llama2.c fixes"),
    ("bad-tokenizer", ["--format", "hf"], 1, "tokenizer is corrupt"),
    ("good", ["--format", "llama2c", "--dtype", "bfloat16"], 1, "--format hf only"),
    ("good", ["--format", "onnx"], 2, "invalid choice"),
    ("good", [], 2, "required"),
])
def test_cli_errors_are_one_line_and_no_traceback(tmp_path, capsys, setup, args, code, message):
    ckpt = tmp_path / "ckpt.npz"
    if setup == "garbage":
        ckpt.write_bytes(b"not a zip file at all")
    elif setup in ("truncated", "good", "eps", "bad-tokenizer"):
        save_checkpoint(ckpt, random_model(**({"norm_eps": 1e-6} if setup == "eps" else {})),
                        meta={"tokenizer": '{"merges": ['} if setup == "bad-tokenizer" else None)
        if setup == "truncated":
            ckpt.write_bytes(ckpt.read_bytes()[:300])
    out = tmp_path / "out"
    assert cli(["export", str(ckpt), *args, "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if code == 1:
        assert err.count("\n") == 1 and err.startswith("error: ")
    assert not out.exists()


def test_llama2c_tokenizer_bin_layout(tmp_path):
    """tokenizer.bin as run.c reads it: max length, then (score, len, bytes) per id, padded to the
    model's vocabulary with "<padN>" pieces; merges scored so that earlier merges win."""
    import struct
    from tinyllm.export import export_llama2c_tokenizer
    from tinyllm.tokenizer import Tokenizer
    tok = Tokenizer.train("the cat sat on the mat, the cat ate " * 20, 270)
    path = export_llama2c_tokenizer(tok, tmp_path / "tokenizer.bin", vocab_size=tok.vocab_size + 3)
    blob = path.read_bytes()
    (max_len,), at, pieces, scores = struct.unpack_from("<I", blob), 4, [], []
    while at < len(blob):
        score, n = struct.unpack_from("<fi", blob, at)
        pieces.append(blob[at + 8:at + 8 + n])
        scores.append(score)
        at += 8 + n
    assert pieces[:tok.vocab_size] == list(tok.vocab) and pieces[tok.vocab_size:] == [f"<pad{i}>".encode() for i in range(tok.vocab_size, tok.vocab_size + 3)]
    assert max_len == max(map(len, tok.vocab))
    merges = scores[256:tok.vocab_size - 1]
    assert merges == sorted(merges, reverse=True) and scores[tok.eot_id] == -1e9
