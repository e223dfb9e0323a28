"""tinyllm/quant.py: Q8_0 / Q4_1 kernels equal their NumPy references and "dequantise, then
float32 matvec"; the quantised decoder equals the float decoder run on the dequantised weights."""
import numpy as np
import pytest
from numba import njit

from autograd import no_grad
from support import unit_scale_model
from tinyllm import gguf, quant
from tinyllm.decode import Decoder
from tinyllm.model import ModelConfig


def random_matrix(N, K, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, K)) * rng.uniform(0.1, 3, (N, 1))).astype(np.float32)


@pytest.mark.parametrize("N,K", [(1, 32), (7, 64), (130, 576)])
def test_q8_0_kernel_equals_reference_and_dequantised_matvec(N, K):
    w = quant.quantize(random_matrix(N, K), "q8_0")
    x = np.random.default_rng(1).standard_normal(K).astype(np.float32)
    W = quant.dequantize(w)[:N]                                       # (N, K) float32
    exact = W.astype(np.float64) @ x.astype(np.float64)
    bound = 1e-5 * (np.abs(W) @ np.abs(x)).astype(np.float64)         # float32 round-off, per row
    for got in (quant.matvec(w, x, rows=N), quant.matvec_reference(w, x)[:N], W @ x):
        assert got.dtype == np.float32 and got.shape == (N,)
        assert np.all(np.abs(got - exact) <= bound + 1e-30)


@pytest.mark.parametrize("N,K", [(1, 32), (7, 64), (64, 96), (130, 576)])
def test_q4_1_kernel_equals_reference_and_the_formula_on_quantised_activations(N, K):
    W = random_matrix(N, K)
    w = quant.quantize(W, "q4_1")
    rng = np.random.default_rng(1)
    x = rng.standard_normal(K).astype(np.float32)
    x[:32] *= 0                                                       # an all-zero block of x
    x[-1] = 40.0                                                      # a block with one outlier
    xi, dx, xsum = quant.quantize_activations(x)
    assert np.all(np.abs(xi) <= 127) and np.all(np.abs(xi * dx[:, None] - x.reshape(-1, 32)) <= dx[:, None] * 0.5001)
    # y_r = Σ_b (d δ Σ_c q ξ + m Σ_c x) in float64 from the dequantised pieces: q = (W − m) / d
    G = quant.dequantize(w)[:N].astype(np.float64).reshape(N, -1, 32)    # (N, nb, 32) = d q + m
    nb = K // 32
    d = quant.scales_of(w)[:N, :, 0].astype(np.float64)               # (N, nb)
    m = quant.scales_of(w)[:N, :, 1].astype(np.float64)
    q = np.rint((G - m[..., None]) / np.where(d > 0, d, 1)[..., None])
    exact = (d * dx * np.einsum("rbc,bc->rb", q, xi) + m * xsum).sum(1)
    bound = 1e-5 * (np.abs(G).reshape(N, K) @ np.abs(x)).astype(np.float64)
    for got in (quant.matvec(w, x, rows=N), quant.matvec_reference(w, x)[:N]):
        assert got.dtype == np.float32 and got.shape == (N,)
        assert np.all(np.abs(got - exact) <= bound + 1e-30)
    # against the float activations: each x is off by at most δ/2 of its block
    full = G.reshape(N, K) @ x.astype(np.float64)
    assert np.all(np.abs(exact - full) <= (d * q.sum(-1) * dx / 2).sum(1) * 1.0001 + 1e-9)
    assert np.abs(exact - full).max() > 0                             # and x was rounded


@pytest.mark.parametrize("fmt", ["q8_0", "q4_1"])
def test_rows_are_interleaved_by_64_and_padded(fmt):
    W = random_matrix(70, 64)
    w = quant.quantize(W, fmt)
    per_block = 32 if fmt == "q8_0" else 16                           # bytes of a block's numbers
    n_scales = 1 if fmt == "q8_0" else 2                              # d, or d and m
    assert w[0].shape == (2, 2 * per_block * 64) and w[1].shape == (2, 2 * n_scales * 64)
    assert w[1].dtype == np.uint16                                    # float16 bits
    back = quant.dequantize(w)
    assert back.shape == (128, 64) and np.all(back[70:] == 0)
    encode, dtype = ((gguf.quantize_q8_0, gguf.Q8_0_BLOCK) if fmt == "q8_0" else
                     (gguf.quantize_q4_1, gguf.Q4_1_BLOCK))
    raw = np.frombuffer(encode(W), dtype).reshape(70, 2)
    # byte j of block b of row r sits at [r // 64, (per_block · b + j) · 64 + r % 64]
    for r, b, j in [(0, 0, 0), (5, 1, 15), (63, 0, 7), (64, 1, 3), (69, 0, 9)]:
        assert w[0][r // 64, (per_block * b + j) * 64 + r % 64] == raw["qs"][r, b, j]
        assert w[1][r // 64, 64 * n_scales * b + r % 64] == raw["d"][r, b].view(np.uint16)
        if fmt == "q4_1":
            assert w[1][r // 64, 128 * b + 64 + r % 64] == raw["m"][r, b].view(np.uint16)
    out = np.full(70, np.nan, np.float32)
    quant._qmatvec(w[0], w[1], np.ones(64, np.float32), out)           # writes rows < 70 only
    assert np.all(np.isfinite(out))
    row = np.empty(64, np.float32)
    quant._dequantize_row(w[0], w[1], 69, row)                        # the embedding's lookup
    np.testing.assert_array_equal(row, back[69])


@pytest.mark.parametrize("fmt,ggml_type", [("q8_0", gguf.Q8_0), ("q4_1", gguf.Q4_1)])
def test_blocks_keep_the_gguf_bytes_and_dequantise_like_gguf(fmt, ggml_type):
    W = random_matrix(5, 96)
    raw = np.frombuffer((gguf.quantize_q8_0 if fmt == "q8_0" else gguf.quantize_q4_1)(W), np.uint8)
    w = quant.from_gguf_bytes(raw, ggml_type, W.shape)
    np.testing.assert_array_equal(quant.dequantize(w)[:5], gguf.dequantize(raw, ggml_type).reshape(W.shape))
    block = 34 if fmt == "q8_0" else 20                               # the quants are GGUF's bytes
    qs = quant._rows(w[0], 3 * (32 if fmt == "q8_0" else 16))[:5]
    np.testing.assert_array_equal(qs.reshape(15, -1).view(np.uint8),
                                  raw.reshape(15, block)[:, 2 if fmt == 'q8_0' else 4:])
    # the error is at most half a step d of each block (plus float16 rounding of d and m)
    d = quant.scales_of(w)[:5].reshape(5, 3, -1)[..., 0]
    err = np.abs(quant.dequantize(w)[:5] - W).reshape(5, 3, 32)
    assert np.all(err <= 0.5 * d[..., None] * 1.01 + 2e-3 * np.abs(W).reshape(5, 3, 32).max(-1, keepdims=True))


@njit
def _halves(bits, out):
    for i in range(bits.shape[0]):
        out[i] = quant._half(bits[i])


def test_half_widens_every_finite_float16_exactly():
    bits = np.arange(1 << 16, dtype=np.uint16)
    finite = np.isfinite(bits.view(np.float16))                        # all but ±inf and the NaNs
    out = np.empty(len(bits), np.float32)
    _halves(bits, out)
    np.testing.assert_array_equal(out[finite], bits.view(np.float16)[finite].astype(np.float32))
    assert np.signbit(out[0x8000]) and out[0x0001] == np.float32(2.0 ** -24)   # -0, smallest subnormal


@pytest.mark.parametrize("fmt,ggml_type", [("q8_0", gguf.Q8_0), ("q4_1", gguf.Q4_1)])
def test_a_block_whose_scale_is_not_finite_is_refused(fmt, ggml_type):
    raw = np.frombuffer((gguf.quantize_q8_0 if fmt == "q8_0" else gguf.quantize_q4_1)(random_matrix(2, 64)),
                        gguf.Q8_0_BLOCK if fmt == "q8_0" else gguf.Q4_1_BLOCK).copy()
    raw["d"][3] = np.inf
    with pytest.raises(ValueError, match="not a finite number"):
        quant.from_gguf_bytes(raw.view(np.uint8), ggml_type, (2, 64))


def test_unknown_format_and_ragged_rows_are_refused():
    with pytest.raises(ValueError, match="unknown quantisation"):
        quant.quantize(np.zeros((2, 32)), "q3")
    with pytest.raises(ValueError, match="takes a matrix"):
        quant.quantize(np.zeros(64), "q8_0")
    w = quant.quantize(np.full((2, 33), 127.0), "q8_0")            # padded with zero columns
    np.testing.assert_array_equal(quant.dequantize(w)[:2], np.pad(np.full((2, 33), 127.0), ((0, 0), (0, 31))))


def model_for(n_kv_heads, tie, seed=0, window=None, hidden_dim=96, gain=3.0):
    """unit_scale_model (weights of std 3/√fan_in), or another gain: at 3 each sub-layer multiplies
    a small change of its input by ~10-40, which turns Q4_1's activation rounding chaotic (one
    rounding that flips between two implementations changes every later logit); gain 1 does not."""
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, vocab_size=50,
                      hidden_dim=hidden_dim, max_seq_len=24, tie_embeddings=tie, sliding_window=window)
    model = unit_scale_model(cfg, seed, np.float32)
    for _, p in model.named_parameters():
        if p.data.ndim == 2:
            p.data *= np.float32(gain / 3)
    return model


def dequantised_copy(model, dec):
    """The float model whose weights are exactly what the quantised decoder's blocks stand for."""
    w = dec.w
    L, cfg = len(model.layers), model.cfg
    hd = cfg.head_dim
    nq, nk = cfg.n_heads * hd, cfg.n_kv_heads * hd
    D, F = cfg.dim, cfg.ffn_dim                  # (the rows are padded to groups of 64: cut them)
    qkv, wo = quant.dequantize(w["wqkv"]), quant.dequantize(w["wo"])[:, :D]
    w13, w2 = quant.dequantize(w["w13"]), quant.dequantize(w["w2"])[:, :D, :F]
    for l, b in enumerate(model.layers):
        b.attention.wq.weight.data[...] = qkv[l, :nq]
        b.attention.wk.weight.data[...] = qkv[l, nq:nq + nk]
        b.attention.wv.weight.data[...] = qkv[l, nq + nk:nq + 2 * nk]
        b.attention.wo.weight.data[...] = wo[l]
        b.feed_forward.w1.weight.data[...] = w13[l, :F]
        b.feed_forward.w3.weight.data[...] = w13[l, F:2 * F]
        b.feed_forward.w2.weight.data[...] = w2[l]
    model.tok_embeddings.weight.data[...] = quant.dequantize(w["emb"])[:cfg.vocab_size]
    model.output.weight.data[...] = quant.dequantize(w["head"])[:cfg.vocab_size]
    return model


@pytest.mark.parametrize("fmt", ["q8_0", "q4_1"])
@pytest.mark.parametrize("n_kv_heads,tie,window,hidden", [(4, True, None, 96), (2, False, None, 72),
                                                          (1, True, 6, 96)])
def test_quantised_decoder_equals_float_decoder_on_dequantised_weights(fmt, n_kv_heads, tie, window, hidden):
    gain = 3.0 if fmt == "q8_0" else 1.0
    model = model_for(n_kv_heads, tie, window=window, hidden_dim=hidden, gain=gain)
    qdec = quant.QuantizedDecoder.from_model(model, fmt)
    ref = dequantised_copy(model_for(n_kv_heads, tie, window=window, hidden_dim=hidden, gain=gain), qdec)
    ids = np.random.default_rng(1).integers(0, 50, 30 if window else 24)
    with no_grad():
        dec = Decoder(ref)
        want = np.stack([dec.prefill(ids[:5])] + [dec.step(t) for t in ids[5:]])
        got = np.stack([qdec.prefill(ids[:5])] + [qdec.step(t) for t in ids[5:]])
        err = np.abs(got - want).max() / np.abs(want).max()
        if fmt == "q8_0":                                     # float32 round-off
            assert got.dtype == np.float32 and err < 1e-5, err
        else:
            # Q4_1 rounds the activations too (8 bits per block; the kernel equals its reference
            # above), and whether a number rounds up or down flips on a float32 round-off of its
            # input, so no second implementation follows it exactly token after token. Over the
            # sequence the rounding costs 2-9% of the largest logit of these random models at
            # gain 1 (SwiGLU's heavy-tailed outputs get the coarsest steps); a wrong layout,
            # padding, head or window costs O(1).
            assert got.dtype == np.float32 and err < 0.15, err
    # and quantisation changed something (the test would pass vacuously otherwise)
    with no_grad():
        orig = Decoder(model).prefill(ids[:5])
    assert np.abs(orig - want[0]).max() > 1e-4


def test_quantised_decoder_checks_its_input():
    qdec = quant.QuantizedDecoder.from_model(model_for(2, True), "q8_0")
    with pytest.raises(ValueError, match="not in"):
        qdec.prefill([50])
    with pytest.raises(ValueError, match="at least one token"):
        qdec.feed([])
    with pytest.raises(ValueError, match="unknown quantisation"):
        quant.QuantizedDecoder.from_model(model_for(2, True), "int3")


@pytest.mark.parametrize("fmt", ["q8_0", "q4_1"])
def test_gguf_blocks_are_kept_as_they_are(tmp_path, fmt):
    model = model_for(2, False)
    path = tmp_path / "m.gguf"
    gguf.save_gguf(model, path, quant=quant.FORMATS[fmt])
    f = gguf.read_gguf(path)
    assert f.tensors["blk.1.attn_output.weight"].ggml_type == quant.FORMATS[fmt]
    assert f.tensors["token_embd.weight"].ggml_type == gguf.Q8_0      # as llama.cpp's 4-bit files
    from_file, _ = quant.QuantizedDecoder.from_gguf(path)
    from_model = quant.QuantizedDecoder.from_model(model, fmt)
    assert from_file.fmt == fmt
    for key, w in from_model.w.items():
        for a, b in zip(w, from_file.w[key]):
            np.testing.assert_array_equal(a, b)
    ids = [3, 1, 4, 1, 5]
    np.testing.assert_array_equal(from_file.prefill(ids), from_model.prefill(ids))


# ---------------------------------------------------------------------------- export --format gguf
def test_cli_exports_gguf_in_each_quantisation(tmp_path, capsys):
    from tinyllm.__main__ import main as cli
    from tinyllm.checkpoint import save_checkpoint
    from tinyllm.tokenizer import Tokenizer
    tokenizer = Tokenizer.train("to be or not to be, that is the question " * 4, vocab_size=262)
    tokenizer.save(tmp_path / "tok.json")
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=262, hidden_dim=96,
                      max_seq_len=24, tie_embeddings=False)
    model = unit_scale_model(cfg)
    save_checkpoint(tmp_path / "ckpt.npz", model, meta={"tokenizer": (tmp_path / "tok.json").read_text()})
    ids = [5, 200, 7, 9, 261]
    with no_grad():
        want = np.stack([model(np.array(ids[:t + 1])[None]).data[0, -1] for t in range(len(ids))])
    for q in ("f32", "q8_0", "q4_1"):
        out = tmp_path / f"m-{q}.gguf"
        assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "gguf", "--quant", q, "--out", str(out)]) == 0
        f = gguf.read_gguf(out)
        assert f.tensors["blk.0.ffn_down.weight"].type_name == q.upper()
        back, tok = gguf.load_gguf(out)
        assert tok.encode("to be or not") == tokenizer.encode("to be or not")
        if q == "f32":
            with no_grad():
                got = np.stack([back(np.array(ids[:t + 1])[None]).data[0, -1] for t in range(len(ids))])
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        else:                                    # the quantised decoder on the file's own blocks
            qdec, _ = quant.QuantizedDecoder.from_gguf(out)
            got = np.stack([qdec.prefill(ids[:1])] + [qdec.step(t) for t in ids[1:]])
            with no_grad():
                dec = Decoder(back)                  # the file dequantised by load_gguf
                ref = np.stack([dec.prefill(ids[:1])] + [dec.step(t) for t in ids[1:]])
            # Q8_0: float32 round-off. Q4_1 also rounds its activations, which this unit-scale
            # model amplifies (see the decoder test above); its blocks are the file's bytes
            # (test_gguf_blocks_are_kept_as_they_are)
            tol = 1e-5 if q == "q8_0" else 0.15
            assert np.abs(got - ref).max() < tol * np.abs(ref).max()
            assert np.abs(got - want).max() > 1e-4          # and it is not the float model
    assert "GGUF, q4_1" in capsys.readouterr().out
    assert cli(["export", str(tmp_path / "ckpt.npz"), "--format", "hf", "--quant", "q8_0",
                "--out", str(tmp_path / "x")]) == 1
    assert "--quant applies to --format gguf only" in capsys.readouterr().err


def test_generate_and_chat_take_a_quantised_decoder(tmp_path, capsys):
    from tinyllm.__main__ import main as cli
    from tinyllm.checkpoint import save_checkpoint
    from tinyllm.generate import generate
    model = model_for(2, True)
    save_checkpoint(tmp_path / "ckpt.npz", model)
    qdec = quant.QuantizedDecoder.from_model(model, "q4_1")
    new = generate(qdec, [1, 2, 3], 10, temperature=0)
    logits = qdec.prefill([1, 2, 3])                       # greedy, by hand
    want = []
    for _ in range(10):
        want.append(int(np.argmax(logits)))
        logits = qdec.step(want[-1])
    assert new == want
    with pytest.raises(ValueError, match="KV cache only"):
        generate(qdec, [1, 2, 3], 5, use_cache=False)
    from tinyllm.tokenizer import Tokenizer
    tokenizer = Tokenizer.train("to be or not to be, that is the question " * 4, vocab_size=262)
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=262, hidden_dim=96,
                      max_seq_len=24)
    save_checkpoint(tmp_path / "ckpt.npz", unit_scale_model(cfg), meta={"tokenizer": tokenizer.dumps()})
    args = ["generate", "--ckpt", str(tmp_path / "ckpt.npz"), "--prompt", "to be", "--max-new-tokens", "6",
            "--temperature", "0"]
    assert cli(args + ["--quant", "q8_0"]) == 0
    assert capsys.readouterr().out.startswith("to be")
    assert cli(args + ["--quant", "q4_1", "--no-cache"]) == 1
    assert "KV cache only" in capsys.readouterr().err
