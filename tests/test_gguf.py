"""tinyllm/gguf.py: the reader against the writer, dequantisation against plain loops over the
block layouts, our models and tokenizers through GGUF and back, and bad files (each a GGUFError
with a clear message, never a crash or a huge allocation). No download: the fixtures are written
here. The real SmolLM2 file is used only when it is cached (marked slow)."""
import struct
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from autograd import no_grad
from tinyllm import ModelConfig
from tinyllm import gguf
from tinyllm.gguf import (F16, F32, Q4_0, Q4_1, Q8_0, GGUFError, load_gguf, read_gguf, save_gguf,
                          write_gguf)
from tinyllm.model import Transformer
from tinyllm.tokenizer import GPT2_PATTERN, SMOLLM_PATTERN, Tokenizer, bytes_to_unicode

import regex


# ---------------------------------------------------------------------------- references
def f16(raw):
    return float(np.frombuffer(bytes(raw), "<f2")[0])


def dequantize_loops(raw, ggml_type):
    """The block layouts spelled out one number at a time (the reference for the vectorised code)."""
    raw, out = bytes(raw), []
    if ggml_type == Q8_0:
        for k in range(0, len(raw), 34):
            d = f16(raw[k:k + 2])
            out += [np.float32(d) * np.float32(q) for q in np.frombuffer(raw[k + 2:k + 34], np.int8)]
    elif ggml_type == Q4_0:
        for k in range(0, len(raw), 18):
            d, qs = f16(raw[k:k + 2]), raw[k + 2:k + 18]
            out += [np.float32(d) * np.float32((qs[j] & 15) - 8) for j in range(16)]
            out += [np.float32(d) * np.float32((qs[j] >> 4) - 8) for j in range(16)]
    elif ggml_type == Q4_1:
        for k in range(0, len(raw), 20):
            d, m, qs = np.float32(f16(raw[k:k + 2])), np.float32(f16(raw[k + 2:k + 4])), raw[k + 4:k + 20]
            out += [d * np.float32(qs[j] & 15) + m for j in range(16)]
            out += [d * np.float32(qs[j] >> 4) + m for j in range(16)]
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("ggml_type, block_bytes", [(Q8_0, 34), (Q4_0, 18), (Q4_1, 20)])
def test_dequantize_equals_the_block_layout(ggml_type, block_bytes):
    rng = np.random.default_rng(ggml_type)
    raw = rng.integers(0, 256, 7 * block_bytes, dtype=np.uint8)
    for k in range(0, len(raw), block_bytes):          # finite float16 scales
        raw[k:k + 2] = np.frombuffer(np.float16(rng.normal()).tobytes(), np.uint8)
        if ggml_type == Q4_1:
            raw[k + 2:k + 4] = np.frombuffer(np.float16(rng.normal()).tobytes(), np.uint8)
    np.testing.assert_array_equal(gguf.dequantize(raw, ggml_type), dequantize_loops(raw, ggml_type))


def test_dequantize_float_types():
    x = np.random.default_rng(0).normal(size=64).astype(np.float32)
    np.testing.assert_array_equal(gguf.dequantize(x.view(np.uint8), F32), x)
    np.testing.assert_array_equal(gguf.dequantize(x.astype(np.float16).view(np.uint8), F16),
                                  x.astype(np.float16).astype(np.float32))
    bf16 = (x.view(np.uint32) >> 16).astype(np.uint16)            # truncation to bfloat16
    np.testing.assert_array_equal(gguf.dequantize(bf16.view(np.uint8), gguf.BF16),
                                  (bf16.astype(np.uint32) << 16).view(np.float32))


@pytest.mark.parametrize("quantize, ggml_type, tol", [(gguf.quantize_q8_0, Q8_0, 1 / 127),
                                                      (gguf.quantize_q4_1, Q4_1, 1 / 15)])
def test_quantize_round_trip(quantize, ggml_type, tol):
    x = np.random.default_rng(1).normal(size=(8, 64)).astype(np.float32)
    y = gguf.dequantize(np.frombuffer(quantize(x), np.uint8), ggml_type).reshape(x.shape)
    span = np.abs(x).max() * 2
    assert np.abs(x - y).max() <= tol * span
    assert np.abs(x - y).max() > 0                                # it really is quantised


# ---------------------------------------------------------------------------- writer ↔ reader
def test_write_read_round_trip(tmp_path):
    x = np.arange(96, dtype=np.float32).reshape(3, 32) / 7
    meta = {"general.architecture": "test", "a.int": -3, "a.big": 2 ** 63 + 5, "a.float": 0.5,
            "a.bool": True, "a.str": "naïve 🙂", "a.ints": [1, 2, 3], "a.strs": ["x", "", "ü"]}
    write_gguf(tmp_path / "t.gguf", meta, {"x": (x, F32), "h": (x, F16), "q": (x, Q8_0), "v": (x[0], F32)})
    f = read_gguf(tmp_path / "t.gguf")
    assert f.metadata == meta
    assert f.tensors["x"].shape == (3, 32) and f.tensors["v"].shape == (32,)
    np.testing.assert_array_equal(f.array("x"), x)
    np.testing.assert_array_equal(f.array("h"), x.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(f.array("q"), x, atol=np.abs(x).max() / 127)


def tiny_tokenizer():
    text = "the quick brown fox jumps over the lazy dog 123 4567, naïve café! " * 20
    return Tokenizer.train(text, 300, special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>"))


@pytest.mark.parametrize("quant", [F32, F16, Q8_0])
def test_our_model_through_gguf(tmp_path, quant):
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, max_seq_len=32)
    model, tok = Transformer(cfg, seed=3), tiny_tokenizer()
    save_gguf(model, tmp_path / "m.gguf", tok, quant=quant)
    back, tok2 = load_gguf(tmp_path / "m.gguf")
    assert back.cfg == replace(cfg, hidden_dim=cfg.ffn_dim)       # the SwiGLU width is stored
    tokens = np.random.default_rng(0).integers(0, 300, (2, 32))
    with no_grad():
        want, got = model(tokens).data, back(tokens).data
    if quant == F32:
        np.testing.assert_array_equal(got, want)
    else:
        assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    for s in ["the lazy fox 42 naïve", "<|im_start|>user\nhi<|im_end|>", "  \n\t 🙂"]:
        assert tok2.encode(s, allowed_special="all") == tok.encode(s, allowed_special="all")
        assert tok2.decode(tok2.encode(s, allowed_special="all")) == s


def test_untied_model_through_gguf(tmp_path):
    cfg = ModelConfig.preset("tiny", tie_embeddings=False, vocab_size=256, dim=32)
    model = Transformer(cfg, seed=1)
    save_gguf(model, tmp_path / "m.gguf", Tokenizer([], GPT2_PATTERN))
    back, _ = load_gguf(tmp_path / "m.gguf")
    assert not back.cfg.tie_embeddings
    np.testing.assert_array_equal(back.output.weight.data, model.output.weight.data)


# ---------------------------------------------------------------------------- bad files
@pytest.fixture
def good_file(tmp_path):
    cfg = ModelConfig(dim=32, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=256, max_seq_len=16)
    path = tmp_path / "good.gguf"
    save_gguf(Transformer(cfg), path, Tokenizer([], GPT2_PATTERN), quant=Q8_0)
    return path


def rewrite(path, data):
    out = path.with_name("bad.gguf")
    out.write_bytes(bytes(data))
    return out


def header_offsets(path):
    """{name: offset of its tensor info's type field} (so a test can lie there)."""
    data = path.read_bytes()
    f = read_gguf(path)
    out = {}
    for name in f.tensors:
        key = struct.pack("<Q", len(name)) + name.encode()
        at = data.index(key) + len(key)
        n_dims = struct.unpack_from("<I", data, at)[0]
        out[name] = at + 4 + 8 * n_dims
    return out


def test_good_file_loads(good_file):
    model, tok = load_gguf(good_file)
    assert model.cfg.dim == 32 and tok.vocab_size == 256


@pytest.mark.parametrize("cut", [0, 3, 10, 23, 40, 200, -100, -1])
def test_truncated(good_file, cut):
    data = good_file.read_bytes()
    with pytest.raises(GGUFError, match="truncated|too short"):
        load_gguf(rewrite(good_file, data[:cut]))


def test_wrong_magic(good_file):
    data = bytearray(good_file.read_bytes())
    data[:4] = b"GGML"
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_gguf(rewrite(good_file, data))


@pytest.mark.parametrize("code, name", [(12, "Q4_K"), (99, "unknown type 99")])
def test_unknown_quant_type(good_file, code, name):
    data = bytearray(good_file.read_bytes())
    at = header_offsets(good_file)["blk.0.attn_q.weight"]
    data[at:at + 4] = struct.pack("<I", code)
    with pytest.raises(GGUFError, match=f"'blk.0.attn_q.weight' is stored as {name}"):
        read_gguf(rewrite(good_file, data))


@pytest.mark.parametrize("offset, message", [(2 ** 40, "lying offset"), (32, "overlap"),
                                             (5, "lying offset")])
def test_lying_offsets(good_file, offset, message):
    data = bytearray(good_file.read_bytes())
    at = header_offsets(good_file)["output_norm.weight"] + 4
    data[at:at + 8] = struct.pack("<Q", offset)
    with pytest.raises(GGUFError, match=message):
        read_gguf(rewrite(good_file, data))


def test_lying_dims(good_file):
    data = bytearray(good_file.read_bytes())
    name = b"output_norm.weight"
    at = data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name) + 4
    data[at:at + 8] = struct.pack("<Q", 2 ** 62)                  # its one dimension
    with pytest.raises(GGUFError, match="impossible dimension"):
        read_gguf(rewrite(good_file, data))
    data[at:at + 8] = struct.pack("<Q", 4096)                     # plausible, but past the end
    with pytest.raises(GGUFError, match="lying offset|overlap"):
        read_gguf(rewrite(good_file, data))


@pytest.mark.parametrize("field_at, value, message", [
    (8, 2 ** 60, "cannot fit"),                # tensor count
    (16, 2 ** 60, "cannot fit"),               # metadata count
    (24, 2 ** 62, "truncated"),                # the first key's length
])
def test_absurd_counts_allocate_nothing(good_file, field_at, value, message):
    data = bytearray(good_file.read_bytes())
    data[field_at:field_at + 8] = struct.pack("<Q", value)
    with pytest.raises(GGUFError, match=message):
        read_gguf(rewrite(good_file, data))


def test_absurd_array_count(tmp_path):
    write_gguf(tmp_path / "a.gguf", {"general.architecture": "llama", "x": [1, 2, 3], "s": ["a"]}, {})
    data = bytearray((tmp_path / "a.gguf").read_bytes())
    for key in (b"x", b"s"):
        at = data.index(struct.pack("<Q", 1) + key) + 9 + 4 + 4    # key, value type, element type
        bad = bytearray(data)
        bad[at:at + 8] = struct.pack("<Q", 2 ** 61)
        with pytest.raises(GGUFError, match="claims"):
            read_gguf(rewrite(tmp_path / "a.gguf", bad))


def test_unknown_architecture_and_missing_tensors(tmp_path):
    write_gguf(tmp_path / "a.gguf", {"general.architecture": "mamba"}, {})
    with pytest.raises(GGUFError, match="architecture 'mamba' is not supported"):
        load_gguf(tmp_path / "a.gguf")
    cfg = ModelConfig.preset("tiny", vocab_size=256)
    save_gguf(Transformer(cfg), tmp_path / "b.gguf", Tokenizer([], GPT2_PATTERN))
    f = read_gguf(tmp_path / "b.gguf")
    tensors = {n: (f.array(n), F32) for n in f.tensors if n != "blk.1.ffn_up.weight"}
    write_gguf(tmp_path / "c.gguf", f.metadata, tensors)
    with pytest.raises(GGUFError, match="missing tensors \\['blk.1.ffn_up.weight'\\]"):
        load_gguf(tmp_path / "c.gguf")


def test_missing_file(tmp_path):
    with pytest.raises(GGUFError, match="cannot read"):
        read_gguf(tmp_path / "nope.gguf")


def test_wrong_sha256_is_refused(tmp_path):
    (tmp_path / gguf.SMOLLM2_FILE).write_bytes(b"GGUF not really")
    with pytest.raises(RuntimeError, match="sha256 is .* expected b179c952"):
        gguf.fetch_smollm2(tmp_path)


def fuzz_one(tmp_path_factory, data):
    """Mutate a few bytes of a valid file (and maybe cut it): load_gguf gives a model or a
    ValueError (GGUFError, or the tokenizer's / config's clear error), nothing else."""
    folder = tmp_path_factory.getbasetemp() / "fuzz"
    folder.mkdir(exist_ok=True)
    cfg = ModelConfig(dim=32, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=256, max_seq_len=16)
    path = folder / "good.gguf"
    if not path.exists():
        save_gguf(Transformer(cfg), path, Tokenizer([], GPT2_PATTERN), quant=Q8_0)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    bad = folder / "bad.gguf"
    bad.write_bytes(bytes(raw))
    try:
        load_gguf(bad)
    except ValueError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzzed_files_load_or_fail_clearly(tmp_path_factory, data):
    fuzz_one(tmp_path_factory, data)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(st.data())
def test_fuzzed_files_load_or_fail_clearly_2000(tmp_path_factory, data):
    fuzz_one(tmp_path_factory, data)


# ---------------------------------------------------------------------------- the smollm split
def smollm_two_stage(text):
    """Hugging Face's SmolLM2 pre-tokenizer as it is written: Digits(individual_digits=True), then
    GPT-2's split on each piece between digits."""
    out = []
    for piece in regex.split(r"(\p{N})", text):
        if piece:
            out += regex.findall(GPT2_PATTERN, piece)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(" \t\n\r\u00a0\u3000aZé東🙂1٣²'s.,!-?") + ["ll", "ve", "'t"]),
                max_size=30).map("".join))
def test_smollm_single_regex_equals_the_two_stages(text):
    assert regex.findall(SMOLLM_PATTERN, text) == smollm_two_stage(text)


def test_missing_byte_is_an_error_not_a_loss():
    spell = bytes_to_unicode()
    tokens = [bytes([b]) for b in range(256) if b != 4] + [b"ab"]
    tok = Tokenizer.from_vocab(tokens, [(b"a", b"b")], GPT2_PATTERN, {})
    assert tok.decode(tok.encode("abc")) == "abc"
    with pytest.raises(ValueError, match="'\\\\x04', which this tokenizer's vocabulary has no token"):
        tok.encode("ab\x04c")
    assert spell[32] == "Ġ" and spell[10] == "Ċ" and len(set(spell.values())) == 256


# ---------------------------------------------------------------------------- the real file
REAL = gguf.smollm2_path()


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="SmolLM2 is not cached (python -c 'from tinyllm.gguf "
                                               "import fetch_smollm2; fetch_smollm2()')")
def test_smollm2_chat_two_turns():
    from tinyllm.chat import Chat
    model, tok = load_gguf(REAL, max_seq_len=256)
    assert model.cfg.n_layers == 30 and model.cfg.ffn_dim == 1536 and model.cfg.rope_theta == 100000
    chat = Chat(model, tok, read_gguf(REAL).metadata["tokenizer.chat_template"])
    first, _, _ = chat.reply("What is the capital of France?", 32, temperature=0)
    second, _, _ = chat.reply("And of Germany?", 32, temperature=0)
    assert "Paris" in first and "Berlin" in second
    # what the cache holds after two turns is the whole conversation: one more step on it gives
    # the logits of the plain forward over every token so far
    with no_grad():
        want = model(np.array(chat.ids + chat.pending)[None]).data[0, -1]
    got = chat.decoder.feed(chat.pending)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert tok.decode(chat.ids).startswith("<|im_start|>system\nYou are a helpful AI assistant")


@pytest.mark.parametrize("key, value, message", [
    ("llama.embedding_length", 2 ** 30, "shape"),           # a huge model: refused before it is built
    ("llama.vocab_size", 10 ** 9, "shape"),
    ("llama.block_count", 2 ** 30, "only .* tensors"),
    ("llama.feed_forward_length", 1.5, "not a positive integer"),
    ("llama.attention.head_count", 0, "not a positive integer"),
    ("llama.rope.freq_base", -1.0, "not a positive number"),
    ("llama.attention.layer_norm_rms_epsilon", float("nan"), "not a positive number"),
])
def test_lying_metadata_is_refused_before_allocating(tmp_path, good_file, key, value, message):
    f = read_gguf(good_file)
    meta = dict(f.metadata, **{key: value})
    write_gguf(tmp_path / "m.gguf", meta, {n: (f.array(n), F32) for n in f.tensors})
    with pytest.raises(GGUFError, match=message):
        load_gguf(tmp_path / "m.gguf")
