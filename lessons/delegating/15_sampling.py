"""DELEGATING on purpose (the check must refuse it): the library's filtered_probs."""
import numpy as np

from tinyllm.sampling import filtered_probs


def softmax_with_temperature(logits, temperature):
    return filtered_probs(logits, temperature=temperature)


def top_p_filter(probs, p):
    return filtered_probs(np.log(probs), top_p=p)
