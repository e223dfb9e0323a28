"""DELEGATING on purpose (the check must refuse it): train calls the library's trainer.
(get_pair_counts and merge have no library function of their own to call.)"""
from tinyllm.tokenizer import train_bpe


def train(chunk_counts, num_merges):
    return train_bpe(chunk_counts, num_merges)
