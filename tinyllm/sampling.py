"""Sampling the next token from the model's logits: the math, without the model.

One token at a time: the model gives logits z (V,) for the next token; we turn them into
probabilities and draw one:

    temperature τ   p = softmax(z / τ): τ < 1 sharpens, τ > 1 flattens; τ = 0 means argmax (greedy)
    top-k           keep only the k most probable tokens (k = 0: all)
    top-p (nucleus) keep the smallest set of most probable tokens whose total probability ≥ p
                    (Holtzman et al. 2020); p = 1: all

then renormalise what is kept and sample from it. tinyllm/generate.py runs the loop around it.
"""
import math
import numbers

import numpy as np


# ---------------------------------------------------------------------------- the options
def check_sampling_options(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=None):
    """Raise a ValueError (one line, naming the option) unless temperature is finite and ≥ 0,
    top_k an integer ≥ 0, 0 < top_p ≤ 1, and max_new_tokens (if given) an integer ≥ 1."""
    if not _is_real(temperature) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature}")
    if not _is_int(top_k) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 = all tokens), got {top_k}")
    if not _is_real(top_p) or not 0 < top_p <= 1:                  # NaN fails the comparison
        raise ValueError(f"top_p must be in (0, 1] (1 = all tokens), got {top_p}")
    if max_new_tokens is not None and (not _is_int(max_new_tokens) or max_new_tokens < 1):
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens}")


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


# ---------------------------------------------------------------------------- sampling
def kept_tokens(logits, temperature=1.0, top_k=0, top_p=1.0):
    """(ids, probs): the tokens sampling may pick (ascending ids) and their probabilities.

    softmax(logits / temperature), cut to the top_k most probable, then (renormalised) to the
    smallest set of most probable tokens whose mass is ≥ top_p of the mass left (summed in id
    order), renormalised again. Where tied tokens straddle a cut, the lower ids are kept.
    temperature 0: the argmax alone.

    No step sorts the whole vocabulary: the top_k cut is a partition, and the nucleus is sorted
    out of the candidates of probability ≥ t, t lowered tenfold until they hold enough mass
    (at a low temperature a few dozen of SmolLM2's 49,152 tokens; sorting all of them, twice,
    took longer than the model's step)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)                 # (V,)
    check_sampling_options(temperature, top_k, top_p)
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or inf: the model's weights are broken")
    if temperature == 0:
        return np.array([np.argmax(z)]), np.ones(1)
    e = np.exp((z - z.max()) / temperature)
    probs = e / e.sum()                                                  # (V,)
    keep = np.ones(len(z), dtype=bool)
    if 0 < top_k < len(z):
        keep = most_probable(z, keep, top_k)
    if top_p < 1:
        goal = top_p * probs[keep].sum()
        pk = np.where(keep, probs, 0.0)
        t = pk.max()
        while True:                       # candidates: the tokens of keep with probability ≥ t
            t = t / 10 if t > 1e-300 else 0.0
            candidates = keep & (pk >= t)
            if t > 0 and pk[candidates].sum() < goal:
                continue                                                 # not enough mass yet
            mass = np.cumsum(np.sort(pk[candidates])[::-1])              # most probable first
            n = int(np.searchsorted(mass, goal)) + 1                     # first prefix with mass ≥ goal
            if n <= len(mass) or t == 0:
                break
        keep = most_probable(z, candidates, min(n, len(mass)))
    ids = np.flatnonzero(keep)
    kept = probs[ids]
    return ids, kept / kept.sum()


def most_probable(z, keep, n):
    """keep (a mask) narrowed to its n tokens of largest logit z; of tokens tied at the cut the
    lower ids stay, as a stable sort from most to least probable would have them. A partition
    finds the cut (the n-th largest value) without sorting the rest."""
    zk = z[keep]
    cut = np.partition(zk, len(zk) - n)[len(zk) - n]                     # the n-th largest logit
    out = keep & (z > cut)
    ties = np.flatnonzero(keep & (z == cut))
    out[ties[:n - int(out.sum())]] = True
    return out


def filtered_probs(logits, temperature=1.0, top_k=0, top_p=1.0):
    """The whole distribution sample_next draws from, (V,) float64: kept_tokens' probabilities,
    zero elsewhere."""
    ids, probs = kept_tokens(logits, temperature, top_k, top_p)
    full = np.zeros(np.size(logits))
    full[ids] = probs
    return full


def sample_next(logits, temperature=1.0, top_k=0, top_p=1.0, rng=None):
    """One token id drawn from kept_tokens(logits, ...) (the argmax when temperature is 0)."""
    if temperature == 0:
        return int(np.argmax(logits))
    ids, probs = kept_tokens(logits, temperature, top_k, top_p)
    rng = np.random.default_rng() if rng is None else rng
    cdf = np.cumsum(probs)
    i = np.searchsorted(cdf, rng.random() * cdf[-1], side="right")     # inverse-CDF draw
    return int(ids[min(i, len(ids) - 1)])
