"""WRONG on purpose (the check must catch it): the merge moves on by ONE token after a match,
so the second token of a merged pair can start another match: merge([1, 1, 1], (1, 1), 9)
gives [9, 9, 1], which turns 3 tokens into tokens for 4. Counting and the loop are right."""


def get_pair_counts(chunks, freqs):
    counts = {}
    for ids, f in zip(chunks, freqs):
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + f
    return counts


def merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 1                               # should be 2: the pair is consumed
        else:
            out.append(ids[i])
            i += 1
    return out


def train(chunk_counts, num_merges):
    chunks = [list(text.encode("utf-8")) for text in chunk_counts]
    freqs = list(chunk_counts.values())
    merges = []
    for k in range(num_merges):
        counts = get_pair_counts(chunks, freqs)
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        chunks = [merge(ids, best, 256 + k) for ids in chunks]
    return merges
