"""Generating text from a trained model: the sampling loop and its command line.

    python -m tinyllm generate --ckpt runs/shakespeare/ckpt.npz --prompt "ROMEO:" \\
        --temperature 0.8 --top-p 0.9 --top-k 0 --seed 1 --max-new-tokens 200

The math of choosing one token from the logits (temperature, top-k, top-p) is in
tinyllm/sampling.py; this file runs the loop: feed the prompt, sample, feed the new token, ...

The KV cache: the prompt goes through the model once, which stores every layer's keys and
values in a KVCache (tinyllm/kv_cache.py); afterwards each new token is fed alone at its
position and attends over the cache, so a step costs one token's forward instead of the whole
prefix's. The one-token steps run in tinyllm/decode.py, the same forward pass written as one
jitted loop (as llama2.c does).

Threads: a one-token step is ~25 matrix-vector products, each split between the Numba threads,
whose idle threads spin briefly before they sleep (autograd/runtime.py), so a step does not wait
for sleeping threads to wake.

Context: a prompt longer than the model's context (max_seq_len) is an error. When generation
fills the context, the window restarts: the last max_seq_len // 2 tokens are fed again as a
fresh prompt (positions from 0), so the model always sees at least half a context of history.
A model with a sliding window has neither limit: its rolling cache holds the last W positions,
RoPE is computed for any position, and generation runs on past max_seq_len without restarts.
"""
import argparse
import codecs
import sys

import numpy as np

from autograd import no_grad
from tinyllm.decode import Decoder
from tinyllm.quant import QuantizedDecoder
from tinyllm.sampling import check_sampling_options, sample_next


# ---------------------------------------------------------------------------- generation
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=0, top_p=1.0, rng=None,
             eos_id=None, stream=None, use_cache=True):
    """Sample up to max_new_tokens ids after prompt_ids; returns the new ids (a list).

    Stops early after eos_id (which is included). stream(token_id) is called for each new token
    as soon as it is drawn. use_cache=False re-runs the model on the whole window every step
    (the slow reference the KV cache must agree with). model may be a QuantizedDecoder
    (tinyllm/quant.py), which is its own decoder."""
    quantized = isinstance(model, QuantizedDecoder)
    if quantized and not use_cache:
        raise ValueError("a quantised model decodes with its KV cache only (drop --no-cache)")
    check_sampling_options(temperature, top_k, top_p, max_new_tokens)
    ctx = model.cfg.max_seq_len
    windowed = model.cfg.sliding_window is not None      # no context limit: a rolling cache
    ids = [int(i) for i in prompt_ids]
    check_prompt(ids, None if windowed else ctx)
    rng = np.random.default_rng() if rng is None else rng
    new, start = [], 0                                   # the model sees ids[start:]
    with no_grad():
        decoder = model if quantized else Decoder(model) if use_cache else None
        logits = _forward(model, decoder, ids)
        while len(new) < max_new_tokens:
            next_id = sample_next(logits, temperature, top_k, top_p, rng)
            new.append(next_id)
            if stream is not None:
                stream(next_id)
            if next_id == eos_id or len(new) == max_new_tokens:
                break
            ids.append(next_id)
            if not windowed and len(ids) - start > ctx:  # context full: restart on its last half
                start = len(ids) - ctx // 2
                logits = _forward(model, decoder, ids[start:])
            elif use_cache:                              # one token, at the next position
                logits = decoder.step(next_id)
            else:
                logits = _forward(model, decoder, ids[start:])
    return new


def check_prompt(ids, context):
    """A prompt must hold at least one token and fit the model's context (None: any length)."""
    if not len(ids):
        raise ValueError("the prompt is empty: give at least one token (e.g. <|endoftext|>)")
    if context is not None and len(ids) > context:
        raise ValueError(f"the prompt is {len(ids)} tokens, longer than the model's context of "
                         f"{context}; shorten it")


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
    parser.add_argument("--quant", choices=["q8_0", "q4_1"], default=None,
                        help="decode with quantised weights: a float checkpoint is quantised on load, "
                             "a GGUF's Q8_0/Q4_1 blocks are kept as they are")
    args = parser.parse_args(argv)
    from tinyllm.checkpoint import CheckpointError
    try:
        try:                                                            # check the knobs first
            check_sampling_options(args.temperature, args.top_k, args.top_p, args.max_new_tokens)
        except ValueError as e:                                         # named as on the command line
            option = str(e).split()[0]
            raise ValueError(f"--{option.replace('_', '-')}{str(e)[len(option):]}") from None
        if args.gguf:
            from tinyllm.gguf import load_gguf
            if args.tokenizer:
                raise ValueError("--tokenizer goes with --ckpt; a GGUF file carries its own")
            if args.quant:
                model, tokenizer = QuantizedDecoder.from_gguf(args.gguf, args.quant)
                if tokenizer is None:
                    raise ValueError(f"{args.gguf} carries no tokenizer")
            else:
                model, tokenizer = load_gguf(args.gguf)
        else:
            model, tokenizer = load_for_generation(args.ckpt, args.tokenizer)
            if args.quant:
                model = QuantizedDecoder.from_model(model, args.quant)
        prompt_ids = encode_prompt(tokenizer, args.prompt)
        windowed = model.cfg.sliding_window is not None
        check_prompt(prompt_ids, None if windowed else model.cfg.max_seq_len)   # before printing anything
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
