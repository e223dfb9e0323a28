"""Generation speed of the `shakespeare` preset through the library, beside llama2.c's run.c.

255 new tokens after a 1-token prompt (the whole 256-position context, so no window restart),
with the KV cache, batch 1, 2 cores. Each side is a fresh
interpreter (or process), alternating for --rounds rounds:

    greedy     tinyllm.generate.generate(model, [0], 255, temperature=0), bench/_generate.py
    top-p 0.9  the same with temperature 0.8, top_p 0.9
    run.c      llama2.c's run.c on the same weights exported as model.bin + tokenizer.bin
               (`python -m tinyllm export CKPT --format llama2c`), greedy (-t 0), -n 256 positions
               from the prompt "the" (run.c's own tok/s: positions after the first over its time);
               only with --llama2c PATH_TO_BUILT_run (built by you beside the project, e.g.
               gcc -Ofast -march=native -fopenmp run.c -lm), started with OMP_NUM_THREADS=2 only

Random weights by default (--ckpt measures a trained model). Each tinyllm round is one process
that warms up and then generates --repeats times; its figure is the median of those. We print the
median of the rounds with their range, and the load average before and after.

    .venv/bin/python bench/generate_speed.py [--rounds 5] [--ckpt CKPT] [--llama2c ./run]
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402


def ours(args, top_p):
    cmd = [H.python(), H.ROOT / "bench" / "_generate.py", "--tokens", args.tokens, "--top-p", top_p]
    if args.ckpt:
        cmd += ["--ckpt", args.ckpt]
    run = H.run(cmd, H.our_env())
    return statistics.median(json.loads(run.out.strip().splitlines()[-1])["tok_s"]), run.rss_mb


def run_c(args, folder):
    cmd = [args.llama2c, os.path.join(folder, "model.bin"), "-z", os.path.join(folder, "tokenizer.bin"),
           "-t", "0", "-n", args.tokens + 1, "-i", "the"]
    run = H.run(cmd, H.reference_env())
    return run.err, run.rss_mb


def export_for_run_c(args, folder):
    """model.bin + tokenizer.bin of the bench's model (random weights saved first, or --ckpt)."""
    code = ("import sys\nfrom tinyllm import ModelConfig, Transformer\n"
            "from tinyllm.checkpoint import load_model\n"
            "from tinyllm.export import export_llama2c, export_llama2c_tokenizer\n"
            "from tinyllm.tokenizer import Tokenizer\n"
            "ckpt, folder = sys.argv[1], sys.argv[2]\n"
            "if ckpt:\n    model, meta = load_model(ckpt)\n    tok = Tokenizer.loads(meta['tokenizer'])\n"
            "else:\n    model = Transformer(ModelConfig.preset('shakespeare'), seed=0)\n"
            "    tok = Tokenizer.train('the quick brown fox ' * 50, 300)\n"
            "export_llama2c(model, folder + '/model.bin')\n"
            "export_llama2c_tokenizer(tok, folder + '/tokenizer.bin', model.cfg.vocab_size)\n")
    H.run([H.python(), "-c", code, args.ckpt, folder], H.our_env())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=255)
    ap.add_argument("--ckpt", default="", help="a trained checkpoint instead of random weights")
    ap.add_argument("--llama2c", default="", help="a built llama2.c run binary, to run beside ours")
    args = ap.parse_args()
    print(H.load_line("before"))
    print(f"{args.ckpt or 'shakespeare preset, random weights'}; {args.tokens} new tokens after a 1-token prompt")
    print(f"tinyllm env: {H.show_env(H.our_env())}" + (f"\nrun.c env:   {H.show_env(H.reference_env())}"
                                                       if args.llama2c else ""))
    sides = {"greedy": [], "top-p 0.9": [], "run.c greedy": []}
    rss = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.llama2c:
            export_for_run_c(args, tmp)
        for r in range(args.rounds):
            (g, rss["greedy"]), (p, rss["top-p 0.9"]) = ours(args, 0), ours(args, 0.9)
            sides["greedy"].append(g)
            sides["top-p 0.9"].append(p)
            line = f"  round {r + 1}: tinyllm greedy {g:7.0f} tok/s | top-p 0.9 {p:7.0f} tok/s"
            if args.llama2c:
                out, rss["run.c greedy"] = run_c(args, tmp)
                sides["run.c greedy"].append(float(re.search(r"achieved tok/s: ([\d.]+)", out).group(1)))
                line += f" | run.c {sides['run.c greedy'][-1]:7.0f} tok/s"
            print(line + f"   (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\nmedian of {args.rounds} rounds (min-max), tokens/s:")
    for name, values in sides.items():
        if values:
            print(f"  {name:14s}{H.spread(values):>22s}   peak RSS {rss[name]:.0f} MB")
    if sides["run.c greedy"]:
        ratios = [a / b for a, b in zip(sides["greedy"], sides["run.c greedy"])]
        print(f"tinyllm greedy / run.c greedy: {H.spread(ratios, '{:.2f}')}x, round by round")
    print(H.load_line("after"))


if __name__ == "__main__":
    main()
