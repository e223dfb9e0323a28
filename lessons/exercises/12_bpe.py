"""Exercise 12: the three parts of BPE training — count pairs, merge a pair, loop.

Read lessons/12_bpe.py, sections 3 and 4, then write the three functions below.
Check it:   python lessons/exercise.py 12
Stuck?      make exercise N=12 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check compares your merges with tinyllm/tokenizer.py's train_naive and train_bpe.
"""


def get_pair_counts(chunks, freqs):
    """How often each adjacent pair of ids occurs, each chunk weighted by its frequency.

    chunks: a list of lists of token ids (one list per distinct chunk); freqs: how many times
    each chunk occurs in the text. Returns a dict {(a, b): count}. A chunk [1, 2, 1, 2] seen
    3 times contributes (1, 2): 6 and (2, 1): 3.
    """
    raise NotImplementedError("get_pair_counts: see lessons/12_bpe.py, section 3")


def merge(ids, pair, new_id):
    """A new list: every occurrence of `pair` in `ids`, scanned left to right without overlap,
    replaced by new_id. merge([1, 1, 1], (1, 1), 9) == [9, 1]."""
    raise NotImplementedError("merge: see lessons/12_bpe.py, section 3")


def train(chunk_counts, num_merges):
    """BPE training with get_pair_counts and merge: returns merges [(a, b), ...], merge k
    making token 256 + k.

    chunk_counts: {chunk text: frequency} (as tinyllm.tokenizer.count_chunks returns); each
    chunk starts as its UTF-8 bytes. Each round takes the most frequent pair, ties broken by the
    smallest pair (compare (a, b) tuples), and stops early when no pair is left.
    """
    raise NotImplementedError("train: see lessons/12_bpe.py, sections 3-4")
