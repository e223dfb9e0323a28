"""Our quantised GGUF files in the real tools: the `gguf` package reads the blocks we wrote (and
dequantises them as we do), and transformers, which dequantises a GGUF to float32, gives the
logits of our quantised decoder to float32 round-off.

Run: PYTHONPATH=. /path/to/venv-torch/bin/python -m pytest -m interop tests/test_quant_interop.py
"""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf_package = pytest.importorskip("gguf")

from support import unit_scale_model                             # noqa: E402
from tinyllm import gguf, quant                                  # noqa: E402
from tinyllm.model import ModelConfig                            # noqa: E402
from tinyllm.tokenizer import Tokenizer                          # noqa: E402

pytestmark = pytest.mark.interop
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tokenizer = Tokenizer.train("to be or not to be, that is the question " * 4, vocab_size=262)
    cfg = ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=262, hidden_dim=96,
                      max_seq_len=64, tie_embeddings=False)
    return unit_scale_model(cfg, seed=3), tokenizer


@pytest.mark.parametrize("fmt", ["q8_0", "q4_1"])
def test_exported_gguf_in_the_gguf_package_and_transformers(tmp_path, model_and_tokenizer, fmt):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    model, tokenizer = model_and_tokenizer
    path = tmp_path / f"tiny-{fmt}.gguf"
    gguf.save_gguf(model, path, tokenizer, quant=quant.FORMATS[fmt])
    ours = gguf.read_gguf(path)
    reader = GGUFReader(str(path))
    for t in reader.tensors:
        assert t.tensor_type == ours.tensors[t.name].ggml_type, t.name
        want = dequantize(t.data, t.tensor_type).astype(np.float32)
        np.testing.assert_array_equal(ours.array(t.name), want, err_msg=t.name)

    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(tmp_path), gguf_file=path.name, dtype=torch.float32).eval()
    ids = np.random.default_rng(0).integers(0, 262, 40)
    with torch.no_grad():
        theirs = hf(torch.tensor(ids[None])).logits[0].numpy()                # (T, V)
    qdec, _ = quant.QuantizedDecoder.from_gguf(path)
    assert qdec.fmt == fmt
    got = np.stack([qdec.prefill(ids[:1])] + [qdec.step(t) for t in ids[1:]])
    err = np.abs(got - theirs).max() / np.abs(theirs).max()
    print(f"{fmt}: max |ours - transformers| / max |logit| = {err:.2e}")
    assert err < 1e-5, err


@pytest.mark.skipif(not gguf.smollm2_path().exists(), reason="SmolLM2 is not cached: python -c "
                    "'from tinyllm.gguf import fetch_smollm2; fetch_smollm2()'")
def test_smollm2_q4_1_blocks_kept_as_they_are_match_transformers():
    path = gguf.smollm2_path()
    qdec, tokenizer = quant.QuantizedDecoder.from_gguf(path, max_seq_len=64)
    assert qdec.fmt == "q4_1" and quant.fmt_of(qdec.w["emb"]) == "q8_0"
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    ids = tokenizer.encode("The quick brown fox jumps over the lazy dog. To be, or not to be")
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0].numpy()
    got = np.stack([qdec.prefill(ids[:1])] + [qdec.step(t) for t in ids[1:]])
    err = np.abs(got - theirs).max() / np.abs(theirs).max()
    print(f"SmolLM2 Q4_1: max |ours - transformers| / max |logit| = {err:.2e} over {len(ids)} tokens")
    assert err < 1e-4, err
