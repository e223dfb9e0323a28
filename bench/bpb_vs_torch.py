"""Held-out bits per byte of a finished `make train-shakespeare` run, beside torch_ref trained for
the same minutes on the same token files.

    make train-shakespeare                        # ours: runs/shakespeare (10 minutes)
    .venv/bin/python bench/bpb_vs_torch.py --run runs/shakespeare [--minutes 10]

Theirs: ../shared/bench/torch_ref.py --vocab tokens on the run's own train/val token files, the
same model shape and the same hyper-parameters as `python -m tinyllm train`'s defaults (AdamW
lr 1e-3 → 1e-4 cosine over the time budget, 100 warm-up steps, betas 0.9/0.99, weight decay
0.1, clip 1.0, batch 16 × 256). Both budgets count training time only (evaluation excluded).
Their final loss is a full pass over the same non-overlapping val windows as our final eval,
turned into bits per byte with the run's tokenizer (UTF-8 bytes of each target token).

Takes as long as the budget. Without a finished run (no --run, no final eval) it says so and
exits 0, so `make bench` passes over it.
"""
import argparse
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _torch_side import TORCH_REF, run_torch, torch_python  # noqa: E402

from tinyllm.tokenizer import Tokenizer  # noqa: E402
from tinyllm.train import token_byte_lengths  # noqa: E402


def our_final(run):
    """The final eval record of a run's metrics.jsonl, or None."""
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        finals = [r for r in map(json.loads, f) if r.get("final")]
    return finals[-1] if finals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="", help="a finished training run folder (runs/shakespeare)")
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    ours = our_final(args.run) if args.run else None
    if ours is None:
        print(f"no finished run given (--run {args.run or '?'} has no final eval): nothing to compare; "
              f"run `make train-shakespeare`, then this script with --run runs/shakespeare")
        return 0
    python = torch_python()
    if python is None:
        print("no PyTorch side venv (.venv-torch): make test-interop creates it; skipping")
        return 0
    data = os.path.join(args.run, "data")
    train = next(os.path.join(data, f) for f in sorted(os.listdir(data)) if f.startswith("train-"))
    val = next(os.path.join(data, f) for f in sorted(os.listdir(data)) if f.startswith("val-"))
    with open(os.path.join(args.run, "tokenizer.json"), encoding="utf-8") as f:
        tokenizer = Tokenizer.loads(f.read(), source="the run's tokenizer.json")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "torch.json")
        run_torch(python, ["--data", train, "--val-data", val, "--vocab", "tokens",
                           "--vocab-size", str(tokenizer.vocab_size), "--minutes", str(args.minutes),
                           "--eval-interval", "100", "--log-interval", "50", "--json", out])
        with open(out) as f:
            theirs = json.load(f)
    ids = np.fromfile(val, dtype=np.uint16).astype(np.int64)
    T = theirs["args"]["ctx"]
    n = (len(ids) - 1) // T                                   # their full val pass: n windows of T
    targets = ids[1:n * T + 1]
    their_bpb = theirs["final_val_full"] * targets.size / math.log(2) / token_byte_lengths(tokenizer)[targets].sum()
    print(f"\n{'':10s}{'steps':>7s}{'train s':>9s}{'val nats/token':>16s}{'val bits/byte':>15s}")
    print(f"{'tinyllm':10s}{ours['step']:7d}{ours['time']:9.0f}{ours['val_loss']:16.4f}{ours['val_bpb']:15.4f}")
    print(f"{'torch_ref':10s}{theirs['steps']:7d}{theirs['train_time_s']:9.0f}{theirs['final_val_full']:16.4f}"
          f"{their_bpb:15.4f}")
    print(f"(same {targets.size:,} held-out target tokens; {TORCH_REF})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
