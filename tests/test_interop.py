"""Interop with the real thing: exported folders loaded by transformers' LlamaForCausalLM give the
same logits (and greedy tokens) as tinyllm; folders written by transformers' save_pretrained load
into tinyllm; our safetensors files are read by the safetensors package and vice versa.

Needs torch + transformers + safetensors (never tinyllm dependencies); skipped without them.
Run with:  .venv-torch/bin/python -m pytest -m interop tests/test_interop.py

llama2.c's run.c is not available here (no internet, and no registry package ships it), so model.bin
is checked through this path instead: model.bin → load_llama2c → export_hf → transformers, plus the
byte-layout tests in test_export.py.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
st_numpy = pytest.importorskip("safetensors.numpy")
st_torch = pytest.importorskip("safetensors.torch")

from autograd import no_grad                                    # noqa: E402
from tinyllm import ModelConfig                                 # noqa: E402
from tinyllm import export as export_module                     # noqa: E402
from tinyllm.export import export_hf, export_llama2c, load_hf, load_llama2c   # noqa: E402
from tinyllm.safetensors import read_safetensors, write_safetensors          # noqa: E402
from support import unit_scale_model as random_model                         # noqa: E402

pytestmark = pytest.mark.interop
torch.set_num_threads(2)

REL_TOL = 1e-4          # max |Δlogit| / max |logit|, float32 against float32

CASES = {
    "tiny-tied-gqa": ModelConfig.preset("tiny"),
    "tiny-untied-mqa": ModelConfig.preset("tiny", n_kv_heads=1, tie_embeddings=False),
    "tiny-tied-mha": ModelConfig.preset("tiny", n_kv_heads=4),
    "d64-untied-gqa": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256,
                                  max_seq_len=64, tie_embeddings=False),
    "d64-tied-gqa": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256, max_seq_len=64),
}


def our_logits(model, tokens):
    with no_grad():
        return model(tokens).data


def hf_model(folder):
    kwargs = {"dtype": torch.float32} if int(transformers.__version__.split(".")[0]) >= 5 \
        else {"torch_dtype": torch.float32}
    return transformers.LlamaForCausalLM.from_pretrained(folder, **kwargs).eval()


def hf_logits(model, tokens):
    with torch.no_grad():
        return model(torch.as_tensor(tokens)).logits.float().numpy()


def differences(a, b):
    """(max absolute difference, max absolute difference / max |logit|)."""
    diff = float(np.abs(a - b).max())
    return diff, diff / float(np.abs(b).max())


def report(label, a, b):
    abs_diff, rel_diff = differences(a, b)
    print(f"\n[interop] {label}: max |Δlogit| {abs_diff:.3g}, relative {rel_diff:.3g}, "
          f"max |logit| {np.abs(b).max():.3g}")
    return abs_diff, rel_diff


def tokens_for(cfg, batch=2, seed=1):
    return np.random.default_rng(seed).integers(0, cfg.vocab_size, (batch, cfg.max_seq_len))


# ---------------------------------------------------------------------------- tinyllm → transformers
@pytest.mark.parametrize("case", list(CASES))
def test_exported_hf_logits_match_transformers(tmp_path, case):
    cfg = CASES[case]
    model = random_model(cfg, seed=3)
    export_hf(model, tmp_path / "hf")
    hf = hf_model(tmp_path / "hf")
    assert hf.config.num_key_value_heads == cfg.n_kv_heads and hf.config.rms_norm_eps == cfg.norm_eps
    assert (hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()) == cfg.tie_embeddings
    tokens = tokens_for(cfg)
    _, rel = report(case, our_logits(model, tokens), hf_logits(hf, tokens))
    assert rel < REL_TOL


def test_forgetting_the_rope_permutation_is_caught(tmp_path, monkeypatch):
    """The comparison above can fail: export with wq/wk rows left interleaved."""
    cfg = CASES["d64-untied-gqa"]
    model = random_model(cfg, seed=3)
    monkeypatch.setattr(export_module, "interleaved_to_half", lambda w, n: w)
    export_hf(model, tmp_path / "hf")
    tokens = tokens_for(cfg)
    _, rel = report("no permutation (must differ)", our_logits(model, tokens), hf_logits(hf_model(tmp_path / "hf"), tokens))
    assert rel > 1e-2


def test_greedy_generation_matches_transformers(tmp_path):
    cfg = CASES["d64-untied-gqa"]
    model = random_model(cfg, seed=5)
    export_hf(model, tmp_path / "hf")
    hf = hf_model(tmp_path / "hf")
    prompt = [7, 100, 3, 42]
    ours = list(prompt)
    for _ in range(40):
        ours.append(int(our_logits(model, np.array(ours))[0, -1].argmax()))
    hf.generation_config.eos_token_id = None
    with torch.no_grad():
        theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=40, do_sample=False,
                             eos_token_id=None, pad_token_id=0)[0].tolist()
    assert theirs == ours
    assert len(set(ours[len(prompt):])) > 3           # not a degenerate repetition of one token


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_export_loads_in_transformers(tmp_path, dtype):
    cfg = CASES["d64-untied-gqa"]
    export_hf(random_model(cfg, seed=4), tmp_path / "hf", dtype=dtype)
    hf = hf_model(tmp_path / "hf")                   # weights upcast to float32 by transformers
    back = load_hf(tmp_path / "hf")                  # weights upcast to float32 by our reader
    tokens = tokens_for(cfg)
    _, rel = report(f"{dtype} export", our_logits(back, tokens), hf_logits(hf, tokens))
    assert rel < REL_TOL


# ---------------------------------------------------------------------------- transformers → tinyllm
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("save_dtype", ["float32", "bfloat16"])
def test_load_hf_reads_save_pretrained(tmp_path, tied, save_dtype):
    config = transformers.LlamaConfig(
        hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=256, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=tied, initializer_range=0.3)
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():                            # make the norms non-trivial too
        for name, p in hf.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.2 * torch.randn_like(p))
    if save_dtype == "bfloat16":
        hf = hf.to(torch.bfloat16)
    hf.save_pretrained(tmp_path / "hf")
    # compare with a fresh float32 load of the saved folder: hf.float() would keep RoPE's inv_freq
    # buffer rounded to bfloat16 by .to(), which alone moves the logits by ~2%
    hf = hf_model(tmp_path / "hf")
    tensors, _ = read_safetensors(tmp_path / "hf" / "model.safetensors")
    assert ("lm_head.weight" in tensors) == (not tied)
    model = load_hf(tmp_path / "hf")
    assert model.cfg.tie_embeddings == tied and model.cfg.n_kv_heads == 2 and model.cfg.ffn_dim == 160
    tokens = tokens_for(model.cfg)
    _, rel = report(f"save_pretrained {save_dtype} {'tied' if tied else 'untied'} → load_hf",
                    our_logits(model, tokens), hf_logits(hf, tokens))
    assert rel < REL_TOL


# ---------------------------------------------------------------------------- llama2.c via the HF path
@pytest.mark.parametrize("case", ["d64-untied-gqa", "d64-tied-gqa"])
def test_llama2c_file_through_transformers(tmp_path, case):
    """model.bin → load_llama2c → export_hf → transformers gives the original model's logits."""
    cfg = CASES[case]
    model = random_model(cfg, seed=6)
    back = load_llama2c(export_llama2c(model, tmp_path / "model.bin"))
    tokens = tokens_for(cfg)
    np.testing.assert_array_equal(our_logits(back, tokens), our_logits(model, tokens))
    export_hf(back, tmp_path / "hf")
    _, rel = report(f"llama2.c {case} via HF", our_logits(model, tokens), hf_logits(hf_model(tmp_path / "hf"), tokens))
    assert rel < REL_TOL


# ---------------------------------------------------------------------------- safetensors both ways
def test_our_safetensors_read_by_the_safetensors_package(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": np.float16([1.5, -2, 3e-5]),
              "c": rng.standard_normal((2, 2, 2))}
    write_safetensors(tmp_path / "x.safetensors", arrays, {"format": "pt"})
    theirs = st_numpy.load_file(tmp_path / "x.safetensors")
    assert theirs.keys() == arrays.keys()
    for k in arrays:
        assert theirs[k].dtype == arrays[k].dtype
        np.testing.assert_array_equal(theirs[k], arrays[k])
    write_safetensors(tmp_path / "y.safetensors", {"a": arrays["a"]}, dtype="BF16")
    bf16 = st_torch.load_file(tmp_path / "y.safetensors")["a"]
    assert bf16.dtype == torch.bfloat16
    np.testing.assert_array_equal(bf16.float().numpy(), torch.tensor(arrays["a"]).bfloat16().float().numpy())


def test_safetensors_package_files_read_by_us(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(4, 6) * 100
    tensors = {"f32": x, "f16": x.half(), "bf16": x.bfloat16(), "f64": x.double()}
    st_torch.save_file(tensors, tmp_path / "x.safetensors", metadata={"format": "pt"})
    ours, meta = read_safetensors(tmp_path / "x.safetensors")
    assert meta == {"format": "pt"}
    for k, t in tensors.items():
        expected = t.float().numpy() if k == "bf16" else t.numpy()
        assert ours[k].dtype == expected.dtype, k
        np.testing.assert_array_equal(ours[k], expected)
