"""Exercise 15: the temperature softmax and top-p (nucleus) filtering.

Read lessons/15_sampling.py, sections 3 and 4, then write the two functions below.
Check it:   python lessons/exercise.py 15
Stuck?      make exercise N=15 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check compares them with tinyllm/generate.py, filtered_probs.
"""
import numpy as np


def softmax_with_temperature(logits, temperature):
    """softmax(logits / temperature) over a 1-D array, as float64; temperature > 0.
    Subtract the maximum before exp so that no logit overflows."""
    raise NotImplementedError("softmax_with_temperature: see lessons/15_sampling.py, section 3")


def top_p_filter(probs, p):
    """Keep the smallest set of most probable tokens whose total probability is >= p, set every
    other token to 0, renormalise to sum 1. probs: 1-D, sums to 1; 0 < p <= 1.
    Equal probabilities are ranked by index (the lower index counts as more probable).
    Returns a new float64 array."""
    raise NotImplementedError("top_p_filter: see lessons/15_sampling.py, section 4")
