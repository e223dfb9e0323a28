"""The tokenizer's command line and terminal rendering (the tokenizer itself is tinyllm/tokenizer.py).

    python -m tinyllm tokenizer train --shakespeare --vocab-size 2048 --out tok.json
    python -m tinyllm tokenizer encode|show --tokenizer tok.json "some text"
    python -m tinyllm tokenizer decode --tokenizer tok.json 72 101
"""
import argparse
import sys
import time

from tinyllm.tokenizer import PATTERNS, Tokenizer, escape_invisible


def visualise(pieces, color=None):
    """Show tokens (the (text, id) pieces of Tokenizer.pieces): alternating
    ANSI background colours, or |-separated plain text when color is False
    (default: colour only on a terminal). Invisible characters are escaped;
    in colour a line break shows as \u21b5 and still breaks the line."""
    if color is None:
        color = sys.stdout.isatty()
    if not color:
        return "|" + "|".join(escape_invisible(t) for t, _ in pieces) + "|"
    backgrounds = ("\x1b[48;5;153m", "\x1b[48;5;223m", "\x1b[48;5;157m", "\x1b[48;5;217m")
    out = []
    for k, (t, _) in enumerate(pieces):
        shown = "\u21b5\n".join(escape_invisible(line) for line in t.split("\n"))
        out.append(backgrounds[k % len(backgrounds)] + "\x1b[30m" + shown + "\x1b[0m")
    return "".join(out)



# -- command line ------------------------------------------------------------

def main(argv):
    """python -m tinyllm tokenizer train|encode|decode|show ..."""
    parser = argparse.ArgumentParser(prog="python -m tinyllm tokenizer", description="Train, use and inspect a byte-level BPE tokenizer.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a tokenizer")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="a UTF-8 text file (its last 10%% of lines are held out)")
    source.add_argument("--shakespeare", action="store_true", help="the Shakespeare corpus (train split)")
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--pattern", choices=sorted(PATTERNS), default="gpt4", help="pre-split regex")
    p.add_argument("--out", required=True, help="tokenizer file; a .vocab listing is written beside it")
    for name, help_text in [("encode", "print the ids of TEXT"), ("show", "show TEXT's tokens")]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--tokenizer", required=True)
        p.add_argument("text")
    p = sub.add_parser("decode", help="print the text of token ids")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("ids", nargs="+", type=int)
    args = parser.parse_args(argv)

    try:
        if args.command == "train":
            from tinyllm import data
            train_text, val_text = (data.load_shakespeare() if args.shakespeare
                                    else data.load_text_file(args.text))
            t0 = time.perf_counter()
            tok = Tokenizer.train(train_text, args.vocab_size, PATTERNS[args.pattern])
            seconds = time.perf_counter() - t0
            tok.save(args.out)
            vocab_path = (args.out[:-5] if args.out.endswith(".json") else args.out) + ".vocab"
            tok.save_vocab(vocab_path)
            print(f"trained vocab {tok.vocab_size} on {len(train_text.encode()):,} bytes "
                  f"in {seconds:.2f} s -> {args.out}, {vocab_path}")
            if val_text:
                n = len(tok.encode(val_text, disallowed_special=()))
                print(f"held-out text: {len(val_text.encode()) / n:.3f} bytes per token")
            return 0
        tok = Tokenizer.load(args.tokenizer)
        if args.command == "encode":
            print(" ".join(map(str, tok.encode(args.text, allowed_special="all"))))
        elif args.command == "decode":
            print(tok.decode(args.ids))
        else:
            pieces = tok.pieces(args.text)
            print(visualise(pieces))
            print(f"{len(pieces)} tokens: {[i for _, i in pieces]}")
        return 0
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
