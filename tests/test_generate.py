"""Sampling filters, their statistics, KV-cache generation vs the uncached model, streaming text."""
import io
import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import no_grad
from tinyllm.generate import Utf8Stream, generate, main
from tinyllm.sampling import filtered_probs, kept_tokens, sample_next
from tinyllm.kv_cache import KVCache
from tinyllm.model import ModelConfig, Transformer
from tinyllm.tokenizer import Tokenizer


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """The tiny model's kernels are too small to split over threads (see test_optim.py)."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


logits_strategy = st.lists(st.floats(-8, 8), min_size=2, max_size=40).map(np.array)


@settings(max_examples=60, deadline=None)
@given(logits_strategy, st.floats(0.05, 1.0))
def test_top_p_keeps_the_smallest_prefix_reaching_p(logits, p):
    full = filtered_probs(logits)
    kept = filtered_probs(logits, top_p=p) > 0
    order = np.argsort(-logits, kind="stable")
    n = int(kept.sum())
    assert kept[order[:n]].all()                                # the kept tokens are the most probable
    mass = np.cumsum(full[order])
    assert mass[n - 1] >= p - 1e-12                             # enough mass ...
    assert n == 1 or mass[n - 2] < p                            # ... and one token fewer is not


@settings(max_examples=60, deadline=None)
@given(logits_strategy, st.integers(1, 50))
def test_top_k_keeps_k_most_probable(logits, k):
    probs = filtered_probs(logits, top_k=k)
    kept = probs > 0
    assert kept.sum() == min(k, len(logits))
    assert logits[kept].min() >= logits[~kept].max(initial=-np.inf)
    assert probs.sum() == pytest.approx(1.0)


def kept_tokens_by_full_sort(z, temperature, top_k, top_p):
    """kept_tokens the slow way: sort all V tokens, cut to k, cut to the nucleus."""
    e = np.exp((z - z.max()) / temperature)
    probs = e / e.sum()
    ids = np.argsort(-z, kind="stable")[:top_k or None]
    mass = np.cumsum(probs[ids])
    ids = ids[:int(np.searchsorted(mass, top_p * probs[np.sort(ids)].sum())) + 1]   # mass in id order
    return ids, probs[ids] / probs[ids].sum()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-6, 6), min_size=2, max_size=300), st.floats(0.3, 2.0),
       st.integers(0, 20), st.sampled_from([1.0, 0.9, 0.5, 0.05, 1e-4]))
def test_kept_tokens_equals_a_full_stable_sort(values, temperature, top_k, top_p):
    z = np.array(values, dtype=np.float64) / 2                  # many ties
    ids, probs = kept_tokens(z, temperature, top_k, top_p)
    ref_ids, ref_probs = kept_tokens_by_full_sort(z, temperature, top_k, top_p)
    order = np.argsort(ref_ids)                                  # kept_tokens gives ascending ids
    ref_ids, ref_probs = ref_ids[order], ref_probs[order]
    assert ids.tolist() == ref_ids.tolist()
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-12)


def test_temperature_zero_is_argmax_and_temperature_scales():
    logits = np.array([0.1, 2.0, -1.0, 1.9])
    assert sample_next(logits, temperature=0) == 1
    assert all(sample_next(logits, 0, top_p=0.3, rng=np.random.default_rng(s)) == 1 for s in range(5))
    cold, hot = filtered_probs(logits, 0.5), filtered_probs(logits, 2.0)
    assert cold.max() > filtered_probs(logits).max() > hot.max()
    with pytest.raises(ValueError, match="top_p"):
        filtered_probs(logits, top_p=0)
    with pytest.raises(ValueError, match="NaN"):
        filtered_probs(np.array([0.0, np.nan]))


def test_top_p_applies_to_the_renormalised_top_k():
    logits = np.log([0.1, 0.4, 0.2, 0.3])
    np.testing.assert_allclose(filtered_probs(logits, top_k=2), [0, 4 / 7, 0, 3 / 7])
    np.testing.assert_allclose(filtered_probs(logits, top_p=0.5), [0, 4 / 7, 0, 3 / 7])   # 0.4 < 0.5
    np.testing.assert_allclose(filtered_probs(logits, top_k=2, top_p=0.5), [0, 1, 0, 0])  # 4/7 ≥ 0.5


def chi2_critical(df, z=3.09):
    """Upper 0.1% point of chi-square(df) by the Wilson-Hilferty approximation (z of 0.999)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.8), (1.0, 6, 0.9)])
def test_sample_frequencies_match_the_filtered_distribution(temperature, top_k, top_p):
    logits = np.random.default_rng(1).standard_normal(12) * 1.5
    probs = filtered_probs(logits, temperature, top_k, top_p)
    rng, n = np.random.default_rng(123), 6000
    counts = np.bincount([sample_next(logits, temperature, top_k, top_p, rng) for _ in range(n)],
                         minlength=len(logits))
    assert counts[probs == 0].sum() == 0                        # filtered tokens never appear
    kept = probs > 0
    expected = n * probs[kept]
    chi2 = float(((counts[kept] - expected) ** 2 / expected).sum())
    assert chi2 < chi2_critical(max(int(kept.sum()) - 1, 1)), (chi2, counts, expected)


def test_cached_generation_equals_uncached_tokens_and_logits():
    cfg = ModelConfig.preset("tiny")                             # context 16
    model = Transformer(cfg, seed=3, dtype=np.float64)           # float64: no near-tie flips
    prompt = [5, 9, 2, 30, 7]
    # 40 new tokens cross the context twice, so the window restart is exercised too
    cached = generate(model, prompt, 40, temperature=0, use_cache=True)
    uncached = generate(model, prompt, 40, temperature=0, use_cache=False)
    assert cached == uncached and len(cached) == 40
    seq = np.array(prompt + cached[:cfg.max_seq_len - len(prompt)])   # one full window
    with no_grad():
        full = model(seq[None]).data[0]                          # (T, V) in one forward
        cache = KVCache(cfg, dtype=np.float64)
        steps = [model(seq[None, :len(prompt)], cache=cache).data[0]]
        steps += [model(seq[None, t:t + 1], cache=cache).data[0] for t in range(len(prompt), len(seq))]
    np.testing.assert_allclose(np.concatenate(steps), full, rtol=1e-9, atol=1e-12)


def test_sampled_generation_is_reproducible_and_stops_at_eos():
    model = Transformer(ModelConfig.preset("tiny"), seed=0)
    a = generate(model, [1, 2], 12, 1.0, 0, 0.95, np.random.default_rng(7))
    b = generate(model, [1, 2], 12, 1.0, 0, 0.95, np.random.default_rng(7))
    assert a == b
    stream = []
    out = generate(model, [1, 2], 50, temperature=0, stream=stream.append)
    assert stream == out
    eos = generate(model, [1, 2], 5, temperature=0)[2]
    stopped = generate(model, [1, 2], 50, temperature=0, eos_id=eos)
    assert stopped[-1] == eos and eos not in stopped[:-1]


def test_prompt_longer_than_context_is_a_clear_error():
    model = Transformer(ModelConfig.preset("tiny"), seed=0)
    with pytest.raises(ValueError, match="longer than the model's context of 16"):
        generate(model, list(range(17)), 5)
    with pytest.raises(ValueError, match="empty"):
        generate(model, [], 5)


def test_stream_prints_multibyte_characters_whole():
    tok = Tokenizer([])                                          # bytes only: é and ✓ span 2-3 tokens
    text = "héllo ✓"
    out = io.StringIO()
    stream = Utf8Stream(tok, out)
    seen = []
    for i in tok.encode(text):
        stream(i)
        seen.append(out.getvalue())
    stream.close()
    assert out.getvalue() == text
    assert all("\ufffd" not in s for s in seen)                  # never a half character
    assert seen[1] == "h" and seen[2] == "hé"                    # é's first byte printed nothing


def test_stream_escapes_control_characters():
    tok = Tokenizer([])
    out = io.StringIO()
    stream = Utf8Stream(tok, out)
    for i in tok.encode("a\x1b[2Jb\r\tc\nd\x7f"):
        stream(i)
    stream.close()
    assert out.getvalue() == "a\\x1b[2Jb\\x0d\tc\nd\\x7f"                # ESC, CR, DEL visible


@pytest.mark.parametrize("content,message", [(None, "not found"), (b"garbage", "not a readable checkpoint")])
def test_cli_bad_checkpoint_is_one_clear_line(tmp_path, capsys, content, message):
    path = tmp_path / "ckpt.npz"
    if content is not None:
        path.write_bytes(content)
    assert main(["--ckpt", str(path), "--prompt", "hi"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- options and windows
@pytest.mark.parametrize("kwargs,message", [
    ({"temperature": float("nan")}, "temperature must be a finite number >= 0"),
    ({"temperature": float("inf")}, "temperature must be a finite number >= 0"),
    ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
    ({"top_p": float("nan")}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"top_k": -1}, "top_k must be an integer >= 0"),
    ({"top_k": 2.5}, "top_k must be an integer >= 0"),
    ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
])
def test_generate_refuses_bad_options(kwargs, message):
    model = Transformer(ModelConfig.preset("tiny"), seed=0)
    args = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, [1, 2], **args)


@pytest.mark.parametrize("argv,message", [
    (["--temperature", "nan"], "--temperature must be a finite number >= 0"),
    (["--top-p", "nan"], "--top-p must be in (0, 1]"),
    (["--top-k", "-3"], "--top-k must be an integer >= 0"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be an integer >= 1"),
])
def test_cli_refuses_bad_options_in_one_line(tmp_path, capsys, argv, message):
    assert main(["--ckpt", str(tmp_path / "nothing.npz"), *argv]) == 1   # checked before loading
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_windowed_generation_runs_past_the_context_and_equals_uncached():
    """A sliding-window model (W = 6, context 16) generates 40 tokens after a 20-token prompt,
    longer than its context: no restart, the rolling cache gives the uncached tokens."""
    cfg = ModelConfig.preset("tiny", sliding_window=6)
    model = Transformer(cfg, seed=3, dtype=np.float64)
    prompt = list(np.random.default_rng(0).integers(0, 32, 20))
    cached = generate(model, prompt, 40, temperature=0, use_cache=True)
    uncached = generate(model, prompt, 40, temperature=0, use_cache=False)
    assert cached == uncached and len(cached) == 40
    with no_grad():                                      # and both are the windowed model's argmax
        logits = model(np.array(prompt + cached)[None]).data[0]
    assert list(logits[len(prompt) - 1:-1].argmax(-1)) == cached
