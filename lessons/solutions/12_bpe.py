"""Solution 12: BPE training from its parts (compare tinyllm/tokenizer.py, train_naive)."""


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
            i += 2                               # both tokens of the pair are used up
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
            break                                # every chunk is one token
        best = min(counts, key=lambda p: (-counts[p], p))   # most frequent, then smallest
        merges.append(best)
        chunks = [merge(ids, best, 256 + k) for ids in chunks]
    return merges
