"""Command line: python -m tinyllm COMMAND [options]

    train      train a model (python -m tinyllm train --help)
    generate   sample text from a checkpoint
    export     write a checkpoint as a Hugging Face or llama2.c model
    tokenizer  train / use / inspect a BPE tokenizer
    chat       chat with SmolLM2-135M-Instruct (or another GGUF model)
"""
import os
import sys


def thread_settings(command):
    """Environment for the threads, read when NumPy and Numba start (so set before they load).

    Training: Numba (OpenMP) and OpenBLAS take turns on the same cores, so their idle threads
    should sleep at once rather than spin against each other (15-20% faster steps on 2 cores).
    Generation keeps OpenMP's default (spin briefly, then sleep): a token is ~25 short parallel
    loops, and waking a sleeping thread for each costs more than the loop (tinyllm/generate.py).
    Its BLAS work (the prompt, at batch 1) runs on one thread, which leaves the cores to Numba's
    (bench/generate_speed.py: ~10% more tokens/s, and the uncached reference 25 -> 36 tok/s).
    Settings already in the environment win."""
    if command in ("generate", "chat"):
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    else:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    thread_settings(command)
    if command == "train":
        from tinyllm.train import main as run
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
