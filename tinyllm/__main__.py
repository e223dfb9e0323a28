"""Command line: python -m tinyllm COMMAND [options]

    train      train a model (python -m tinyllm train --help)
    generate   sample text from a checkpoint
    export     write a checkpoint as a Hugging Face or llama2.c model
    tokenizer  train / use / inspect a BPE tokenizer
    chat       chat with SmolLM2-135M-Instruct (or another GGUF model)
"""
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "train":
        from tinyllm.train_cli import main as run
    elif command == "generate":
        from tinyllm.generate import main as run
    elif command == "export":
        from tinyllm.export import main as run
    elif command == "chat":
        from tinyllm.chat import main as run
    elif command == "tokenizer":
        from tinyllm.tokenizer_cli import main as run
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
