"""Check for exercise 15: impl.softmax_with_temperature and impl.top_p_filter against
tinyllm/generate.py filtered_probs."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from tinyllm.sampling import filtered_probs

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.sampling.filtered_probs",
    "tinyllm.sampling.kept_tokens",
    "tinyllm.sampling.most_probable",
    "tinyllm.sampling.sample_next",
    "tinyllm.generate.sample_next",
]
# make exercise N=15 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Temperature divides the logits before the softmax. Top-p keeps the most probable tokens until "
     "their total reaches p.",
    "Sort most probable first (np.argsort(-probs, kind='stable')), take np.cumsum, and keep up to and"
     " INCLUDING the token where the sum reaches p.",
    "keep = np.searchsorted(cumulative, p) + 1 tokens; zero the rest; renormalise. See "
     "lessons/solutions/15_sampling.py.",
]

HINT_T = ("divide the logits by the temperature, subtract their max, exp, normalise "
          "(lessons/15_sampling.py, section 3)")
HINT_P = ("sort by probability (most probable first, np.argsort(-probs, kind='stable')), take the cumulative "
          "sum, keep up to and INCLUDING the first token where it reaches p, zero the rest, renormalise "
          "(section 4)")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(15)
    # 1) temperature: ordinary, large logits (overflow without the max-shift), sharp and flat
    for logits, t in ((rng.standard_normal(50) * 3, 1.0), (rng.standard_normal(50) * 3, 0.3),
                      (rng.standard_normal(50) * 3, 2.5), (np.array([1000.0, 999.0, 990.0]), 1.0)):
        got = impl.softmax_with_temperature(logits, t)
        expect_close(f"softmax_with_temperature(τ={t}, logits up to {logits.max():.4g})", got,
                     filtered_probs(logits, temperature=t), HINT_T, tol=1e-10, floor=1e-300)

    # 2) top-p, against the library on model-like distributions and on hand-made edge cases
    cases = []
    for p in (0.1, 0.5, 0.9, 0.99, 1.0):
        logits = rng.standard_normal(300) * 2.5
        cases.append((filtered_probs(logits), p, f"a random 300-token distribution, p={p}"))
    cases += [(np.array([0.5, 0.25, 0.125, 0.125]), 0.74, "[0.5, 0.25, 0.125, 0.125], p=0.74 (2 tokens reach it)"),
              (np.array([0.5, 0.25, 0.125, 0.125]), 0.76, "[0.5, 0.25, 0.125, 0.125], p=0.76 (3 tokens needed)"),
              (np.array([0.7, 0.2, 0.1]), 0.5, "[0.7, 0.2, 0.1], p=0.5 (the top token alone is enough)"),
              (np.array([0.1, 0.3, 0.3, 0.3]), 0.5, "[0.1, 0.3, 0.3, 0.3], p=0.5 (ties: lower index first)"),
              (np.full(8, 1 / 8), 0.3, "uniform over 8, p=0.3")]
    for probs, p, what in cases:
        expected = filtered_probs(np.log(probs), temperature=1.0, top_p=p)
        got = impl.top_p_filter(probs.copy(), p)
        if got is not None and np.shape(got) == probs.shape:
            kept_mine, kept_lib = int(np.count_nonzero(got)), int(np.count_nonzero(expected))
            if kept_mine != kept_lib:
                raise CheckFailure(
                    f"top_p_filter ({what}): you keep {kept_mine} tokens holding {probs[np.asarray(got) > 0].sum():.4f}, "
                    f"the library keeps {kept_lib} holding {probs[expected > 0].sum():.4f} "
                    f"(error: a different kept set)\nHINT: {HINT_P}")
        expect_close(f"top_p_filter ({what})", got, expected, HINT_P, tol=1e-10, floor=1e-12)
