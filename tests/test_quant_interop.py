"""Our quantised GGUF files in the real tools: the `gguf` package reads the blocks we wrote (and
dequantises them as we do), and transformers, which dequantises a GGUF to float32, gives the
logits of our Q8_0 decoder to float32 round-off and those of our float32 load of any file
exactly. Our Q4_1 decoder also rounds the activations to 8 bits per block (as llama.cpp does,
tinyllm/quant.py), so against transformers it is held to what that costs: the same next-token
log-likelihood within a few tenths of a percent, the same top token nearly everywhere.

Run: PYTHONPATH=. /path/to/venv-torch/bin/python -m pytest -m interop tests/test_quant_interop.py
"""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf_package = pytest.importorskip("gguf")

from autograd import no_grad                                     # noqa: E402
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
    back, _ = gguf.load_gguf(path)                                        # float32, dequantised
    with no_grad():
        mine = back(ids[None]).data[0]
    assert np.abs(mine - theirs).max() < 1e-5 * np.abs(theirs).max()
    qdec, _ = quant.QuantizedDecoder.from_gguf(path)
    assert qdec.fmt == fmt
    got = np.stack([qdec.prefill(ids[:1])] + [qdec.step(t) for t in ids[1:]])
    err = np.abs(got - theirs).max() / np.abs(theirs).max()
    print(f"{fmt}: max |ours - transformers| / max |logit| = {err:.2e}")
    if fmt == "q8_0":
        assert err < 1e-5, err
    else:
        assert_same_predictions(got, theirs, ids)


def assert_same_predictions(got, theirs, ids, nll_rtol=0.02, top1=0.8):
    """Teacher-forced: the mean negative log-likelihood of each next token agrees within nll_rtol,
    and the most probable token agrees at ≥ top1 of the positions."""
    def nll(z):
        z = z.astype(np.float64)
        logp = z - z.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        return -logp[np.arange(len(ids) - 1), ids[1:]].mean()
    a, b = nll(got[:-1]), nll(theirs[:-1])
    same = (got.argmax(1) == theirs.argmax(1)).mean()
    print(f"  next-token NLL ours {a:.4f} vs transformers {b:.4f}; same top token at {same:.0%}")
    assert abs(a - b) <= nll_rtol * b and same >= top1, (a, b, same)


@pytest.mark.skipif(not gguf.smollm2_path().exists(), reason="SmolLM2 is not cached: python -c "
                    "'from tinyllm.gguf import fetch_smollm2; fetch_smollm2()'")
def test_smollm2_q4_1_blocks_kept_as_they_are_match_transformers():
    path = gguf.smollm2_path()
    qdec, tokenizer = quant.QuantizedDecoder.from_gguf(path, max_seq_len=256)
    assert qdec.fmt == "q4_1" and quant.fmt_of(qdec.w["emb"]) == "q8_0"
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    ids = tokenizer.encode(
        "The quick brown fox jumps over the lazy dog. To be, or not to be, that is the question: "
        "whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune, or to "
        "take arms against a sea of troubles and by opposing end them. Paris is the capital of France, "
        "and Berlin is the capital of Germany. Water boils at one hundred degrees Celsius at sea level. "
        "A language model predicts the next token from the tokens before it; quantisation stores its "
        "weights in fewer bits, so that decoding, which reads every weight once per token, is faster.")
    with torch.no_grad():
        theirs = hf(torch.tensor([ids])).logits[0].numpy()
    got = np.stack([qdec.prefill(ids[:1])] + [qdec.step(t) for t in ids[1:]])
    err = np.abs(got - theirs).max() / np.abs(theirs).max()
    print(f"SmolLM2 Q4_1: max |ours - transformers| / max |logit| = {err:.2e} over {len(ids)} tokens")
    assert_same_predictions(got, theirs, np.array(ids))
