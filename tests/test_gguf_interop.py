"""SmolLM2-135M-Instruct from its GGUF file, ours against the real tools on the same file:

* dequantisation equals the `gguf` package's, tensor by tensor;
* float32 logits within 1e-4 (relative to the largest) of transformers' LlamaForCausalLM loaded
  from the same GGUF (transformers dequantises it to float32), over a 64-token prompt;
* 64 greedy tokens identical (our jitted decoder against transformers' generate);
* the tokenizer: ids identical to Hugging Face `tokenizers` running SmolLM2's own pipeline
  (Digits(individual_digits) then ByteLevel, the BPE from the file) on the whole Shakespeare
  corpus and on 1,000 random Unicode strings; decode(encode(s)) == s;
* the ChatML we render equals transformers' apply_chat_template.

Needs the cached model (tinyllm.gguf.fetch_smollm2) and torch, transformers, gguf, tokenizers
(test-side only). Run: PYTHONPATH=. /path/to/venv-torch/bin/python -m pytest -m interop tests/test_gguf_interop.py
"""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf_package = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")

from autograd import no_grad                                     # noqa: E402
from tinyllm import gguf                                         # noqa: E402
from tinyllm.chat import Chat, default_system_prompt, render_chatml   # noqa: E402
from tinyllm.generate import generate                            # noqa: E402

pytestmark = pytest.mark.interop
PATH = gguf.smollm2_path()
if not PATH.exists():
    pytest.skip("SmolLM2 is not cached: python -c 'from tinyllm.gguf import fetch_smollm2; "
                "fetch_smollm2()'", allow_module_level=True)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def ours():
    return gguf.load_gguf(PATH, max_seq_len=256)


@pytest.fixture(scope="module")
def theirs():
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(PATH.parent), gguf_file=PATH.name, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def hf_tokenizer():
    return transformers.AutoTokenizer.from_pretrained(str(PATH.parent), gguf_file=PATH.name)


@pytest.fixture(scope="module")
def smollm2_pipeline(hf_tokenizer):
    """SmolLM2's tokenizer as its tokenizer.json describes it: the file's BPE, then
    Digits(individual_digits=True) and ByteLevel(use_regex=True) as pre-tokenizer. (transformers'
    GGUF loader knows no 'smollm' pre-tokenizer and leaves the digits unsplit.)"""
    from tokenizers import pre_tokenizers
    backend = tokenizers.Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    return backend


def test_dequantisation_equals_the_gguf_package():
    from gguf import GGUFReader
    from gguf.quants import dequantize
    reader = GGUFReader(str(PATH))
    f = gguf.read_gguf(PATH)
    kinds = set()
    for t in reader.tensors:
        want = dequantize(t.data, t.tensor_type).astype(np.float32)
        got = f.array(t.name)
        assert got.shape == want.shape, t.name
        np.testing.assert_array_equal(got, want, err_msg=t.name)
        kinds.add(t.tensor_type.name)
    assert kinds == {"F32", "Q4_1", "Q8_0"}


@pytest.mark.parametrize("ggml_type", ["Q4_0", "Q8_0", "Q4_1", "F16", "BF16"])
def test_dequantisation_of_random_blocks_equals_the_gguf_package(ggml_type):
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize
    qtype = GGMLQuantizationType[ggml_type]
    block, block_bytes = gguf_package.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (64, block_bytes * 8), dtype=np.uint8)
    if ggml_type in ("Q4_0", "Q8_0", "Q4_1"):          # finite float16 scales (and minimums)
        scales = rng.normal(size=(64, 8, 2)).astype(np.float16).view(np.uint8).reshape(64, 8, 4)
        view = raw.reshape(64, 8, block_bytes)
        view[:, :, :2] = scales[:, :, :2]
        if ggml_type == "Q4_1":
            view[:, :, 2:4] = scales[:, :, 2:4]
    elif ggml_type == "F16":
        raw = rng.normal(size=(64, 8)).astype(np.float16).view(np.uint8)
    want = dequantize(raw, qtype).astype(np.float32)
    got = gguf.dequantize(raw.reshape(-1), getattr(gguf, ggml_type)).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


CHAT_PROMPT = ("<|im_start|>user\nExplain in two sentences why the sky is blue, and what a rainbow "
            "has to do with it. Be brief.<|im_end|>\n<|im_start|>assistant\n")


def prompt_ids(tok):
    ids = tok.encode(CHAT_PROMPT, allowed_special="all")
    ids += tok.encode(" The sky looks blue because sunlight is scattered by the molecules of air, "
                      "and blue light, with its short wavelength, is scattered far more than red light. "
                      "A rainbow, on the other hand, comes from refraction in raindrops.")
    return ids[:64]


def test_logits_match_transformers(ours, theirs):
    model, tok = ours
    ids = prompt_ids(tok)
    assert len(ids) == 64
    with no_grad():
        got = model(np.array(ids)[None]).data[0]
    with torch.no_grad():
        want = theirs(torch.tensor([ids])).logits[0].float().numpy()
    rel = np.abs(got - want).max() / np.abs(want).max()
    print(f"\n[interop] SmolLM2 logits over 64 tokens: max relative difference {rel:.2e}")
    assert rel <= REL_TOL


def test_greedy_tokens_match_transformers(ours, theirs):
    model, tok = ours
    ids = tok.encode(CHAT_PROMPT, allowed_special="all")
    got = generate(model, ids, 64, temperature=0)               # the jitted decoder
    with torch.no_grad():
        out = theirs.generate(torch.tensor([ids]), max_new_tokens=64, do_sample=False,
                              eos_token_id=None, pad_token_id=0, min_new_tokens=64)
    want = out[0, len(ids):].tolist()
    print(f"\n[interop] greedy: {tok.decode(got)!r}")
    assert got == want


def test_chat_template_matches_transformers(ours, hf_tokenizer):
    _, tok = ours
    template = gguf.read_gguf(PATH).metadata["tokenizer.chat_template"]
    system = default_system_prompt(template)
    conversations = [
        [{"role": "user", "content": "What is the capital of France?"}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi!\nThere."}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
         {"role": "user", "content": "c 🙂"}],
    ]
    for messages in conversations:
        for gen in (True, False):
            want = hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            assert render_chatml(messages, system, gen) == want
    # what Chat feeds for a first turn is that text, tokenized
    chat = Chat(ours[0], tok, template)
    want = hf_tokenizer.apply_chat_template(conversations[0], tokenize=False, add_generation_prompt=True)
    assert chat.turn_ids(conversations[0][0]["content"]) == tok.encode(want, allowed_special="all")


def random_strings(n, seed=0):
    """Random Unicode text: runs from many scripts and categories, digits, whitespace runs,
    emoji, apostrophes; no surrogates, and none of the 8 control bytes SmolLM2 has no token for."""
    rng = np.random.default_rng(seed)
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x370, 0x400), range(0x400, 0x530),
             range(0x590, 0x700), range(0x900, 0x980), range(0x3040, 0x3100), range(0x4E00, 0x4F00),
             range(0xAC00, 0xAD00), range(0x1F300, 0x1F650), range(0x2000, 0x2070), range(0x660, 0x66A),
             range(0xFF10, 0xFF1A), range(0x2150, 0x2190), range(0x1D400, 0x1D500), range(0x10000, 0x10100)]
    specials = list(" \t\n\r\x0b\x0c\u00a0\u3000'") + ["'s", "'ll", "'ve", " 123", "  ", "\n\n", "\r\n"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.integers(1, 25)):
            if rng.random() < 0.3:
                parts.append(specials[rng.integers(len(specials))])
            else:
                pool = pools[rng.integers(len(pools))]
                parts.append("".join(chr(pool[i]) for i in rng.integers(0, len(pool), rng.integers(1, 6))))
        out.append("".join(parts))
    return out


def test_tokenizer_matches_on_random_strings(ours, smollm2_pipeline):
    _, tok = ours
    strings = random_strings(1500)
    bad = []
    for s in strings:
        got = tok.encode(s, disallowed_special=())
        want = smollm2_pipeline.encode(s, add_special_tokens=False).ids
        if got != want:
            bad.append(s)
        assert tok.decode(got) == s
    assert not bad, f"{len(bad)} of {len(strings)} differ, e.g. {bad[:3]!r}"


def test_tokenizer_matches_on_shakespeare(ours, smollm2_pipeline):
    from tinyllm.data import load_shakespeare
    _, tok = ours
    try:
        train, val = load_shakespeare()
    except RuntimeError as e:
        pytest.skip(f"Shakespeare corpus unavailable: {e}")
    text = train + "\n" + val
    got = tok.encode(text, disallowed_special=())
    want = smollm2_pipeline.encode(text, add_special_tokens=False).ids
    print(f"\n[interop] Shakespeare: {len(text):,} characters, {len(got):,} tokens")
    assert got == want
    assert tok.decode(got) == text


def test_transformers_gguf_tokenizer_differs_only_around_digits(ours, hf_tokenizer):
    """transformers' own GGUF tokenizer leaves digits unsplit; on text without digits it agrees."""
    _, tok = ours
    for s in random_strings(300, seed=1):
        if not any(c.isdigit() or c.isnumeric() for c in s):
            assert tok.encode(s, disallowed_special=()) == hf_tokenizer.encode(s, add_special_tokens=False)
