"""Check for exercise 12: impl.get_pair_counts, impl.merge, impl.train against
tinyllm/tokenizer.py (train_naive, train_bpe, and the str.replace merge the library uses)."""
from collections import Counter

from _harness import CheckFailure, no_delegating
from tinyllm.tokenizer import count_chunks, train_bpe, train_naive

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.tokenizer.train_naive",
    "tinyllm.tokenizer.train_bpe",
    "tinyllm.tokenizer.Tokenizer.train",
]
# make exercise N=12 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Three loops: over chunks (weighted by frequency) for counting, over positions for merging, over "
     "rounds for training.",
    "merge: scan with an index i; on a match append new_id and skip BOTH tokens (i += 2), else copy "
     "one (i += 1). train: pick min(counts, key=lambda p: (-counts[p], p)).",
    "See lessons/solutions/12_bpe.py.",
]

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n"
        "aaaa aaa aa a abab ababab 1111111 ... !!! — naïve café ΩΩΩ\n")


def _library_merge(ids, pair, new_id):
    """The library's merge (tinyllm/tokenizer.py train_bpe / _encode_chunk): ids as characters,
    str.replace, which scans left to right without overlap."""
    s = "".join(map(chr, ids))
    return [ord(c) for c in s.replace(chr(pair[0]) + chr(pair[1]), chr(new_id))]


def _first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check(impl):
    impl = no_delegating(impl, TRAPS)
    # 1) pair counts, weighted by chunk frequency
    chunks = [[1, 2, 1, 2], [2, 1], [5], [], [1, 1, 1]]
    freqs = [3, 2, 7, 1, 1]
    expected = Counter()
    for ids, f in zip(chunks, freqs):
        for p in zip(ids, ids[1:]):
            expected[p] += f
    got = impl.get_pair_counts(chunks, freqs)
    if got is None or dict(got) != dict(expected):
        raise CheckFailure(
            f"get_pair_counts({chunks}, {freqs}): yours {dict(got) if got is not None else None}, "
            f"expected {dict(expected)} (error: the counts differ)"
            "\nHINT: every adjacent pair (ids[i], ids[i+1]) of a chunk counts freq times, and a chunk "
            "of one id has no pair (lessons/12_bpe.py, section 3)")

    # 2) merge: left to right, no overlap, the pair's two tokens consumed
    cases = [([1, 2, 1, 2], (1, 2)), ([1, 1, 1], (1, 1)), ([1, 1, 1, 1], (1, 1)), ([3, 1, 2, 1], (2, 1)),
             ([7], (7, 7)), ([], (1, 2)), ([2, 1, 2, 2, 1, 2], (2, 1)), ([4, 5, 4, 5, 4], (5, 4))]
    for ids, pair in cases:
        want = _library_merge(ids, pair, 300)
        got = impl.merge(list(ids), pair, 300)
        if got is None or list(got) != want:
            at = _first_difference(list(got or []), want)
            raise CheckFailure(
                f"merge({ids}, {pair}, 300): yours {got}, expected {want} (error: first difference at "
                f"position {at})\nHINT: scan left to right; after a match, skip BOTH tokens of the pair "
                "(i += 2), so [1, 1, 1] with (1, 1) becomes [300, 1], not [300, 300]")

    # 3) the training loop: the same merges as the library's two trainers
    counts = count_chunks(TEXT)
    for n in (1, 20, 60):
        want = train_naive(counts, n)
        assert want == train_bpe(counts, n)      # the library agrees with itself
        got = impl.train(counts, n)
        got = [tuple(m) for m in (got or [])]
        if got != want:
            at = _first_difference(got, want)
            raise CheckFailure(
                f"train(counts, {n}): {len(got)} merges; first error at merge {at}: yours "
                f"{got[at] if at < len(got) else 'none'}, tinyllm.tokenizer.train_naive "
                f"{want[at] if at < len(want) else 'none'}"
                "\nHINT: each round picks the most frequent pair, ties broken by the SMALLEST pair: "
                "min(counts, key=lambda p: (-counts[p], p)); merge k makes id 256 + k")
    # a text whose chunks all become single tokens: training stops early
    counts = {"ab": 5, " ab": 1}
    want, got = train_naive(counts, 10), [tuple(m) for m in (impl.train(counts, 10) or [])]
    if got != want:
        raise CheckFailure(f"train({counts}, 10): yours {got}, expected {want} (error: different merges)"
                           "\nHINT: stop when no chunk has two tokens left (no pairs to count)")
