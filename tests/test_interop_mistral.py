"""Mistral's sliding window and Llama 3.1's RoPE scaling against transformers: exported folders
loaded by MistralForCausalLM / LlamaForCausalLM give tinyllm's logits and every parameter's
gradient, for sequences longer than the window, and the same greedy tokens far past it.

transformers' Mistral masks with `kv_idx > q_idx - sliding_window` (masking_utils.py,
sliding_window_overlay): query i sees keys i - W < j <= i, W keys counting itself, the
convention of autograd/attention.py.

Needs torch + transformers (never tinyllm dependencies); skipped without them. Run with:
    PYTHONPATH=$PWD /path/to/torch-venv/bin/python -m pytest -m interop tests/test_interop_mistral.py
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from autograd import no_grad                                    # noqa: E402
from tinyllm import ModelConfig                                 # noqa: E402
from tinyllm.export import export_hf, half_to_interleaved, hf_name, load_hf   # noqa: E402
from tinyllm.generate import generate                           # noqa: E402
from support import unit_scale_model                            # noqa: E402

pytestmark = pytest.mark.interop
torch.set_num_threads(2)

LOGIT_TOL, GRAD_TOL = 1e-4, 1e-3          # relative to the largest |logit| / |gradient entry|
SCALING = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "original_max_position_embeddings": 32}      # hd 16: 1 pair kept, 1 smoothed, 6 scaled

CASES = {
    "mistral-w8-untied-gqa": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256,
                                         max_seq_len=64, tie_embeddings=False, sliding_window=8),
    "mistral-w5-tied-mqa": ModelConfig(dim=64, n_layers=3, n_heads=4, n_kv_heads=1, vocab_size=256,
                                       max_seq_len=64, sliding_window=5),
    "llama3-scaled-rope": ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=256,
                                      max_seq_len=64, rope_theta=500000.0, rope_scaling=SCALING),
}


def hf_model(folder):
    kwargs = {"dtype": torch.float32} if int(transformers.__version__.split(".")[0]) >= 5 \
        else {"torch_dtype": torch.float32}
    return transformers.AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()


def relative(ours, theirs):
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("case", list(CASES))
def test_logits_and_every_gradient_match_transformers(tmp_path, case):
    cfg = CASES[case]
    model = unit_scale_model(cfg, seed=3)
    export_hf(model, tmp_path / "hf")
    hf = hf_model(tmp_path / "hf")
    kind = "MistralForCausalLM" if cfg.sliding_window else "LlamaForCausalLM"
    assert type(hf).__name__ == kind
    assert getattr(hf.config, "sliding_window", None) == cfg.sliding_window
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, cfg.vocab_size, (2, 48))                   # T = 48 > W
    targets = rng.integers(0, cfg.vocab_size, (2, 48))

    logits, loss = model(tokens, targets)
    model.zero_grad()
    loss.backward()
    theirs = hf(torch.as_tensor(tokens)).logits
    their_loss = torch.nn.functional.cross_entropy(theirs.reshape(-1, cfg.vocab_size),
                                                   torch.as_tensor(targets).reshape(-1))
    their_loss.backward()

    rel = relative(logits.data, theirs.detach().numpy())
    print(f"\n[interop] {case}: logits max rel diff {rel:.3g}")
    assert rel < LOGIT_TOL
    hf_params = dict(hf.named_parameters())
    worst = 0.0
    for name, p in model.named_parameters():
        g = hf_params[hf_name(name)].grad.numpy()
        if name.endswith("attention.wq.weight"):
            g = half_to_interleaved(g, cfg.n_heads)
        elif name.endswith("attention.wk.weight"):
            g = half_to_interleaved(g, cfg.n_kv_heads)
        err = relative(p.grad, g)
        worst = max(worst, err)
        assert err < GRAD_TOL, (name, err)
    print(f"[interop] {case}: worst parameter gradient rel diff {worst:.3g} "
          f"over {len(hf_params)} parameters")


def test_the_window_matters_to_transformers_too(tmp_path):
    """The comparison above can fail: the same weights exported without the window differ."""
    cfg = CASES["mistral-w8-untied-gqa"]
    model = unit_scale_model(cfg, seed=3)
    full = unit_scale_model(ModelConfig(**{**cfg.to_dict(), "sliding_window": None}), seed=3)
    export_hf(full, tmp_path / "hf")
    tokens = np.random.default_rng(1).integers(0, cfg.vocab_size, (1, 48))
    with no_grad(), torch.no_grad():
        rel = relative(model(tokens).data, hf_model(tmp_path / "hf")(torch.as_tensor(tokens)).logits.numpy())
    print(f"\n[interop] window dropped: logits rel diff {rel:.3g} (must differ)")
    assert rel > 1e-2


@pytest.mark.parametrize("case", ["mistral-w8-untied-gqa", "llama3-scaled-rope"])
def test_greedy_generation_64_tokens_past_the_window(tmp_path, case):
    """Our cached generation (the rolling cache for Mistral) against transformers' generate, 80
    new tokens: past the window by far more than 64, and for Mistral past max_seq_len = 64 too."""
    cfg = CASES[case]
    model = unit_scale_model(cfg, seed=5)
    export_hf(model, tmp_path / "hf")
    hf = hf_model(tmp_path / "hf")
    prompt = [7, 100, 3, 42, 9, 11]
    n_new = 80 if cfg.sliding_window else cfg.max_seq_len - len(prompt)   # a full-attention Llama stops at its context
    ours = generate(model, prompt, n_new, temperature=0)
    hf.generation_config.eos_token_id = None
    with torch.no_grad():
        theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=n_new, do_sample=False,
                             eos_token_id=None, pad_token_id=0)[0].tolist()[len(prompt):]
    first_diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    print(f"\n[interop] {case}: greedy {len(ours)} tokens, first difference at {first_diff}")
    assert theirs == ours
    assert len(set(ours)) > 5                          # not a degenerate repetition


def test_save_pretrained_mistral_loads(tmp_path):
    """A MistralForCausalLM built and saved by transformers loads into tinyllm with its window."""
    config = transformers.MistralConfig(
        hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=256, max_position_embeddings=64, rms_norm_eps=1e-5,
        sliding_window=6, tie_word_embeddings=False, initializer_range=0.3)
    torch.manual_seed(0)
    hf = transformers.MistralForCausalLM(config).eval()
    hf.save_pretrained(tmp_path / "hf")
    hf = hf_model(tmp_path / "hf")
    model = load_hf(tmp_path / "hf")
    assert model.cfg.sliding_window == 6
    tokens = np.random.default_rng(2).integers(0, 256, (2, 40))
    with no_grad(), torch.no_grad():
        rel = relative(model(tokens).data, hf(torch.as_tensor(tokens)).logits.numpy())
    print(f"\n[interop] save_pretrained Mistral → load_hf: logits rel diff {rel:.3g}")
    assert rel < LOGIT_TOL
