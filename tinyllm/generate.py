"""Sampling text from a trained model.

    python -m tinyllm generate --ckpt runs/shakespeare/ckpt.npz --prompt "ROMEO:" \\
        --temperature 0.8 --top-p 0.9 --top-k 0 --seed 1 --max-new-tokens 200

One token at a time: the model gives logits z (V,) for the next token; we turn them into
probabilities and draw one:

    temperature τ   p = softmax(z / τ): τ < 1 sharpens, τ > 1 flattens; τ = 0 means argmax (greedy)
    top-k           keep only the k most probable tokens (k = 0: all)
    top-p (nucleus) keep the smallest set of most probable tokens whose total probability ≥ p
                    (Holtzman et al. 2020); p = 1: all

then renormalise what is kept and sample from it.

The KV cache: the prompt goes through the model once (start_pos=0), which stores every layer's
keys and values; afterwards each new token is fed alone at its position and attends over the
cache, so a step costs one token's forward instead of the whole prefix's. The one-token steps
run in tinyllm/decode.py, the same forward pass written as one jitted loop (as llama2.c does).

Threads: a one-token step is ~25 matrix-vector products, each split between the Numba threads.
That pays only if idle threads spin briefly before sleeping (OpenMP's default, which
`python -m tinyllm generate` keeps); with OMP_WAIT_POLICY=PASSIVE (set for training, where
Numba's and OpenBLAS's threads take turns) each wake-up costs ~0.1 ms, so generation then runs
on one thread (bench/generate_speed.py on 2 cores: ~1300 tokens/s of steps with two spinning
threads, ~750 with one, ~200 with two sleeping ones).

Context: a prompt longer than the model's context (max_seq_len) is an error. When generation
fills the context, the window restarts: the last max_seq_len // 2 tokens are fed again as a
fresh prompt (positions from 0), so the model always sees at least half a context of history.
"""
import argparse
import codecs
import contextlib
import os
import sys

import numba
import numpy as np

from autograd import no_grad
from tinyllm.decode import Decoder


# ---------------------------------------------------------------------------- sampling
def kept_tokens(logits, temperature=1.0, top_k=0, top_p=1.0):
    """(ids, probs): the tokens sampling may pick (ascending ids) and their probabilities.

    softmax(logits / temperature), cut to the top_k most probable, then (renormalised) to the
    smallest set of most probable tokens whose mass is ≥ top_p, renormalised again. Where tied
    tokens straddle a cut, the lower ids are kept. temperature 0: the argmax alone."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)                 # (V,)
    if temperature < 0 or top_k < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature >= 0, top_k >= 0, 0 < top_p <= 1; got "
                         f"{temperature}, {top_k}, {top_p}")
    if not np.isfinite(z).all():
        raise ValueError("logits contain NaN or inf: the model's weights are broken")
    if temperature == 0:
        return np.array([np.argmax(z)]), np.ones(1)
    e = np.exp((z - z.max()) / temperature)
    probs = e / e.sum()                                                  # (V,)
    keep = np.ones(len(z), dtype=bool)
    if 0 < top_k < len(z):
        keep = most_probable(z, keep, top_k)
    if top_p < 1:
        mass = np.cumsum(np.sort(probs[keep])[::-1])                     # most probable first
        n = int(np.searchsorted(mass, top_p * mass[-1])) + 1             # first prefix with mass ≥ p
        keep = most_probable(z, keep, n)
    ids = np.flatnonzero(keep)
    kept = probs[ids]
    return ids, kept / kept.sum()


def most_probable(z, keep, n):
    """keep (a mask) narrowed to its n tokens of largest logit z; of tokens tied at the cut the
    lower ids stay, as a stable sort from most to least probable would have them. Sorting the
    values (not argsort) finds the cut: ~15 µs for 2048 tokens, against ~100 µs for argsort."""
    cut = np.sort(z[keep])[-n]                                           # the n-th largest logit
    out = keep & (z > cut)
    ties = np.flatnonzero(keep & (z == cut))
    out[ties[:n - int(out.sum())]] = True
    return out


def filtered_probs(logits, temperature=1.0, top_k=0, top_p=1.0):
    """The whole distribution sample_next draws from, (V,) float64: kept_tokens' probabilities,
    zero elsewhere."""
    ids, probs = kept_tokens(logits, temperature, top_k, top_p)
    full = np.zeros(np.size(logits))
    full[ids] = probs
    return full


def sample_next(logits, temperature=1.0, top_k=0, top_p=1.0, rng=None):
    """One token id drawn from kept_tokens(logits, ...) (the argmax when temperature is 0)."""
    if temperature == 0:
        return int(np.argmax(logits))
    ids, probs = kept_tokens(logits, temperature, top_k, top_p)
    rng = np.random.default_rng() if rng is None else rng
    cdf = np.cumsum(probs)
    i = np.searchsorted(cdf, rng.random() * cdf[-1], side="right")     # inverse-CDF draw
    return int(ids[min(i, len(ids) - 1)])


# ---------------------------------------------------------------------------- generation
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0, rng=None,
             eos_id=None, stream=None, use_cache=True):
    """Sample up to max_new_tokens ids after prompt_ids; returns the new ids (a list).

    Stops early after eos_id (which is included). stream(token_id) is called for each new token
    as soon as it is drawn. use_cache=False re-runs the model on the whole window every step
    (the slow reference the KV cache must agree with)."""
    ctx = model.cfg.max_seq_len
    ids = [int(i) for i in prompt_ids]
    check_prompt(ids, ctx)
    rng = np.random.default_rng() if rng is None else rng
    new, start = [], 0                                   # the model sees ids[start:]
    with no_grad(), numba_threads(generation_threads()):   # see "Threads" in the docstring
        decoder = Decoder(model) if use_cache else None
        logits = _forward(model, decoder, ids)
        while len(new) < max_new_tokens:
            next_id = sample_next(logits, temperature, top_k, top_p, rng)
            new.append(next_id)
            if stream is not None:
                stream(next_id)
            if next_id == eos_id or len(new) == max_new_tokens:
                break
            ids.append(next_id)
            if len(ids) - start > ctx:                   # window full: restart on its last half
                start = len(ids) - ctx // 2
                logits = _forward(model, decoder, ids[start:])
            elif use_cache:                              # one token, at the next position
                logits = decoder.step(next_id)
            else:
                logits = _forward(model, decoder, ids[start:])
    return new


def check_prompt(ids, context):
    """A prompt must hold at least one token and fit the model's context."""
    if not len(ids):
        raise ValueError("the prompt is empty: give at least one token (e.g. <|endoftext|>)")
    if len(ids) > context:
        raise ValueError(f"the prompt is {len(ids)} tokens, longer than the model's context of "
                         f"{context}; shorten it")


def generation_threads():
    """All Numba threads, or 1 when idle OpenMP threads sleep at once (OMP_WAIT_POLICY=PASSIVE)."""
    return 1 if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else numba.get_num_threads()


@contextlib.contextmanager
def numba_threads(n):
    """Run the block with n Numba threads (this thread's setting; restored afterwards)."""
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _forward(model, decoder, ids):
    """Logits (V,) after a whole window: with a decoder, its prefill (one batched forward that
    fills the KV cache); without one, the model's plain forward over the window."""
    if decoder is not None:
        return decoder.prefill(ids)
    return model(np.array(ids)[None]).data[0, -1]


# ---------------------------------------------------------------------------- text
# C0 control characters and DEL, but for tab and newline, as visible escapes (\x1b, ...): an
# untrained model may emit any byte, and a raw ESC or carriage return would steer the terminal.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F] if c not in (0x09, 0x0A)}


def printable(text):
    """text with its control characters (other than tab and newline) escaped, for a terminal."""
    return text.translate(_CONTROLS)


class Utf8Stream:
    """Prints token ids as text as they arrive. A token may hold part of a multi-byte UTF-8
    character; the incremental decoder keeps those bytes until the character is complete.
    Control characters are printed as escapes (`printable`)."""

    def __init__(self, tokenizer, out=None):
        self.tokenizer, self.out = tokenizer, out or sys.stdout
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def __call__(self, token_id):
        if token_id in self.tokenizer.special_tokens.values():
            return                                       # <|endoftext|> ends a sample; not text
        self.out.write(printable(self.decoder.decode(self.tokenizer.decode_bytes([token_id]))))
        self.out.flush()

    def close(self):
        self.out.write(printable(self.decoder.decode(b"", final=True)))
        self.out.flush()


def load_for_generation(ckpt, tokenizer_path=None):
    """(model, tokenizer) from a checkpoint; the tokenizer is the one saved in it unless given."""
    from tinyllm.checkpoint import CheckpointError, load_model
    from tinyllm.tokenizer import Tokenizer
    model, meta = load_model(ckpt)
    if tokenizer_path:
        tokenizer = Tokenizer.load(tokenizer_path)
    elif "tokenizer" in meta:
        tokenizer = Tokenizer.loads(meta["tokenizer"], source="the checkpoint's tokenizer")
    else:
        raise CheckpointError(f"{ckpt} holds no tokenizer; pass --tokenizer FILE")
    if tokenizer.vocab_size > model.cfg.vocab_size:
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                              f"{model.cfg.vocab_size}: they do not belong together")
    return model, tokenizer


def encode_prompt(tokenizer, prompt):
    """Prompt text -> ids; an empty prompt starts from <|endoftext|> (the start of a document)."""
    ids = tokenizer.encode(prompt, allowed_special="all") if prompt else []
    if not ids:
        if tokenizer.eot_id is None:
            raise ValueError("empty prompt and the tokenizer has no <|endoftext|> to start from")
        ids = [tokenizer.eot_id]
    return ids


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinyllm generate",
                                     description="Sample text from a checkpoint (streamed as it is drawn).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="checkpoint .npz written by train")
    source.add_argument("--gguf", help="a llama-architecture GGUF file (e.g. SmolLM2's, tinyllm/gguf.py)")
    parser.add_argument("--prompt", default="", help="text to continue (default: start of a document)")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (argmax)")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most probable tokens (0 = all)")
    parser.add_argument("--top-p", type=float, default=0.9, help="nucleus: smallest set with mass ≥ p (1 = all)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer file (default: the checkpoint's own)")
    parser.add_argument("--no-cache", action="store_true", help="re-run the whole window every token (slow)")
    args = parser.parse_args(argv)
    from tinyllm.checkpoint import CheckpointError
    try:
        kept_tokens(np.zeros(1), args.temperature, args.top_k, args.top_p)   # check the knobs first
        if args.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
        if args.gguf:
            from tinyllm.gguf import load_gguf
            if args.tokenizer:
                raise ValueError("--tokenizer goes with --ckpt; a GGUF file carries its own")
            model, tokenizer = load_gguf(args.gguf)
        else:
            model, tokenizer = load_for_generation(args.ckpt, args.tokenizer)
        prompt_ids = encode_prompt(tokenizer, args.prompt)
        check_prompt(prompt_ids, model.cfg.max_seq_len)                 # before printing anything
        stream = Utf8Stream(tokenizer)
        sys.stdout.write(args.prompt)
        generate(model, prompt_ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                 np.random.default_rng(args.seed), tokenizer.eot_id, stream, not args.no_cache)
        stream.close()
        sys.stdout.write("\n")
    except (CheckpointError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
