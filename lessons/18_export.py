"""Lesson 18 — Leaving the nest: exporting to llama2.c and Hugging Face.

A model trained here is a Llama in the same sense as Meta's: same blocks, same parameter names
(`layers.0.attention.wq.weight`), same shapes. So it can run elsewhere — in Andrej Karpathy's
llama2.c (`run.c`, one C file) or in Hugging Face transformers — if we write its numbers in the
layout those programs read. Two formats, two lessons in file formats:

    llama2.c model.bin   a 28-byte header of 7 int32, then every weight as raw little-endian
                         float32, in a fixed order, layers stacked. No names: order IS the format.
    Hugging Face         config.json (the shape) + model.safetensors (a JSON header naming each
                         tensor, its dtype, shape and byte range, then the raw bytes). Names differ
                         (`model.layers.0.self_attn.q_proj.weight`) and so does one convention:
                         RoPE's pairing, which forces a permutation of the rows of wq and wk.

In the library, tinyllm/export.py:

    export_llama2c / load_llama2c         write / read model.bin
    export_hf / load_hf                   write / read a Hugging Face folder
    interleaved_to_half / half_to_interleaved   the RoPE row permutation and its inverse
    tinyllm/safetensors.py                the safetensors format (NumPy only, no torch)

Sections
  1. The model to export
  2. llama2.c: the bytes, read back
  3. RoPE, two ways: interleaved pairs vs rotate_half (figure)
  4. Hugging Face: names, permutation, safetensors; reload and compare
  5. Half precision: what float16 / bfloat16 export costs
  6. The real transformers (when installed)

Run:       python lessons/18_export.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 18        (write the Meta → Hugging Face row permutation)
"""
# %%
import json
import os
import struct

import numpy as np

from _common import CHECKPOINTS, OUT_DIR, REPO_DIR, plt, save_figure, section, max_rel_error

from autograd import kernels, no_grad
from tinyllm.export import (export_hf, export_llama2c, half_to_interleaved, hf_name, interleaved_to_half,
                            llama2c_num_floats, load_hf, load_llama2c)
from tinyllm.generate import generate, load_for_generation
from tinyllm.model import ModelConfig, Transformer
from tinyllm.safetensors import read_safetensors

rng = np.random.default_rng(0)
EXPORT_DIR = OUT_DIR / "18_export"


# %%
# ============================================================================================
section("1. The model to export")
# The trained model of lesson 14 (or of `make train-shakespeare`) if there is one; else a random
# one — the export does not care whether the numbers are any good.
found = [p for p in CHECKPOINTS if p.exists()]
if found:
    model, tok = load_for_generation(str(found[0]))
    print(f"exporting {found[0].relative_to(REPO_DIR)}")
else:
    model, tok = Transformer(ModelConfig(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512,
                                         max_seq_len=64), seed=0), None
    print("no trained checkpoint (run lesson 14 for one): exporting a randomly initialised model")
cfg = model.cfg
print(f"dim {cfg.dim}, {cfg.n_layers} layers, {cfg.n_heads} heads / {cfg.n_kv_heads} kv heads, "
      f"vocab {cfg.vocab_size}, {'tied' if cfg.tie_embeddings else 'untied'} embeddings, "
      f"{model.num_params():,} parameters")
tokens = (np.array(tok.encode("Romeo.\nBut soft, what light")) if tok else rng.integers(0, cfg.vocab_size, 12))[None]
with no_grad():
    logits = model(tokens).data                                   # the reference every copy must match


# %%
# ============================================================================================
section("2. llama2.c")
path = export_llama2c(model, str(EXPORT_DIR / "model.bin"))
size = os.path.getsize(path)
header = struct.unpack("<7i", open(path, "rb").read(28))
print(f"{os.path.relpath(path, REPO_DIR)}: {size:,} bytes")
print("header (7 little-endian int32):", dict(zip(
    ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len"], header)))
# run.c knows the order: embedding (V, D); then for each KIND the stack over layers: attention
# norms (L, D), wq (L, D, D), wk (L, kv, D), wv, wo, ffn norms, w1 (L, F, D), w2 (L, D, F), w3;
# the final norm (D); two RoPE tables (T, hd/2) that run.c ignores; the output head if untied
# (the sign of vocab_size in the header says: negative = untied).
assert size == 28 + 4 * llama2c_num_floats(cfg)
floats = np.frombuffer(open(path, "rb").read(), dtype="<f4", offset=28)
emb = floats[: cfg.vocab_size * cfg.dim].reshape(cfg.vocab_size, cfg.dim)
print(f"the first V·D floats are the embedding: equal to tok_embeddings.weight: "
      f"{np.array_equal(emb, model.tok_embeddings.weight.data.astype(np.float32))}")
back = load_llama2c(path)
with no_grad():
    err = max_rel_error(back(tokens).data, logits, floor=1e-6)
print(f"load_llama2c → logits vs the original: max rel error {err:.1e} (float32 both ways: exact)")
assert err == 0.0 or model.dtype != np.float32


# %%
# ============================================================================================
section("3. RoPE, two ways")
# RoPE rotates pairs of a query/key vector by position-dependent angles (lesson 08). WHICH
# elements form a pair is a convention:
#   Meta / llama2.c / tinyllm: interleaved, pair j = (x[2j], x[2j+1])
#   Hugging Face:              halves,      pair j = (x[j],  x[j + hd/2])   ("rotate_half")
# with the same angle t·θ_j for pair j. Same maths, different memory layout. If we copied wq
# as is, HF would rotate the wrong pairs together. Fix it once, in the weights: reorder the
# OUTPUT rows of wq and wk inside each head so that what Meta had at 2j+c, HF finds at c·hd/2+j.
# Then q_HF = P q_Meta for a fixed permutation P, and the two RoPEs are related through it:
# RoPE_HF(P q) = P RoPE_Meta(q) (the same rotation of the same pair, stored elsewhere). So every
# score q·k is unchanged (P is orthogonal: Pq · Pk = q · k). v, wo, the norms, the MLP need nothing.
def rope_half(x, pos, theta=10000.0):
    """Hugging Face's RoPE for x (T, hd): x·cos + rotate_half(x)·sin (the definition HF uses)."""
    hd = x.shape[-1]
    freqs = np.outer(pos, theta ** (-np.arange(0, hd, 2) / hd))                 # (T, hd/2)
    cos, sin = np.cos(np.concatenate([freqs, freqs], -1)), np.sin(np.concatenate([freqs, freqs], -1))
    rotated = np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], -1)
    return x * cos + rotated * sin


hd, T = 8, 5
W = rng.standard_normal((hd, 16))                       # one head's wq, Meta's row order
x = rng.standard_normal((T, 16))
cos, sin = kernels.rope_tables(T, hd, dtype=np.float64)
q_meta = kernels.rope((x @ W.T)[None, :, None, :], cos, sin)[0, :, 0]          # (T, hd) interleaved
q_hf = rope_half(x @ interleaved_to_half(W, 1).T, np.arange(T))                # (T, hd) halves
perm = interleaved_to_half(np.arange(hd)[:, None], 1)[:, 0]
print(f"within a head of {hd}, HF row r holds Meta row {perm.tolist()}")
err = max_rel_error(q_hf, q_meta[:, perm], floor=1e-9)
print(f"HF RoPE on permuted rows == Meta RoPE, permuted: max rel error {err:.1e}")
assert err < 1e-12
scores_meta, scores_hf = q_meta @ q_meta.T, q_hf @ q_hf.T
print(f"scores q·k identical in both layouts: max rel error {max_rel_error(scores_hf, scores_meta, floor=1e-9):.1e}")
q_wrong = rope_half(x @ W.T, np.arange(T))             # forgot the permutation
print(f"without the permutation the scores are off by up to "
      f"{max_rel_error(q_wrong @ q_wrong.T, scores_meta, floor=1e-9):.0%} — a model that loads fine and talks nonsense")
assert np.array_equal(half_to_interleaved(interleaved_to_half(W, 1), 1), W)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
P = np.zeros((hd, hd))
P[np.arange(hd), perm] = 1
axes[0].imshow(P, cmap="Greys")
axes[0].set_xticks(range(hd))
axes[0].set_yticks(range(hd))
axes[0].set_xlabel("Meta row (within one head)")
axes[0].set_ylabel("Hugging Face row")
axes[0].set_title("interleaved_to_half: the row permutation P")
axes[0].grid(False)
colors = plt.cm.tab10(np.arange(hd // 2))
for row, (layout, pair_of) in enumerate((("Meta: pair j = (2j, 2j+1)", lambda i: i // 2),
                                          ("HF: pair j = (j, j + hd/2)", lambda i: i % (hd // 2)))):
    for i in range(hd):
        axes[1].add_patch(plt.Rectangle((i, 1 - row), 0.9, 0.6, color=colors[pair_of(i)]))
        axes[1].text(i + 0.45, 1.3 - row, f"{i}", ha="center", va="center", fontsize=10)
    axes[1].text(-0.2, 1.3 - row, layout, ha="right", va="center", fontsize=9)
axes[1].set_xlim(-4.5, hd + 0.2)
axes[1].set_ylim(-0.2, 1.9)
axes[1].axis("off")
axes[1].set_title("Elements of one head's q, coloured by the RoPE pair they belong to\n"
                  "(pair j rotates by angle t·θ_j in both layouts)")
save_figure(fig, "18_rope_permutation.png")


# %%
# ============================================================================================
section("4. Hugging Face")
folder = export_hf(model, str(EXPORT_DIR / "hf"))
config = json.load(open(os.path.join(folder, "config.json")))
print(f"{os.path.relpath(folder, REPO_DIR)}/config.json: " + ", ".join(
    f"{k}={config[k]}" for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                 "num_key_value_heads", "vocab_size", "rms_norm_eps", "tie_word_embeddings")))
tensors, metadata = read_safetensors(os.path.join(folder, "model.safetensors"))
print(f"model.safetensors: {len(tensors)} tensors, e.g.")
for ours in ("tok_embeddings.weight", "layers.0.attention.wq.weight", "layers.0.attention.wk.weight",
             "layers.0.feed_forward.w1.weight"):
    t = tensors[hf_name(ours)]
    print(f"   {ours:32s} → {hf_name(ours):44s} {str(t.dtype):8s} {t.shape}")
wq = model.layers[0].attention.wq.weight.data
print(f"q_proj is wq with its rows permuted per head: "
      f"{np.array_equal(tensors[hf_name('layers.0.attention.wq.weight')], interleaved_to_half(wq, cfg.n_heads))}; "
      f"v_proj is wv as is: {np.array_equal(tensors[hf_name('layers.0.attention.wv.weight')], model.layers[0].attention.wv.weight.data)}")
back = load_hf(folder)
with no_grad():
    err = max_rel_error(back(tokens).data, logits, floor=1e-6)
print(f"load_hf (permutation undone) → logits vs the original: max rel error {err:.1e}")
assert err == 0.0 or model.dtype != np.float32
if tok is not None:
    a = generate(model, tokens[0], 20, temperature=0)
    b = generate(back, tokens[0], 20, temperature=0)
    print(f"greedy continuation, original vs reloaded: {tok.decode(a)!r} / same: {a == b}")


# %%
# ============================================================================================
section("5. Half precision")
# Hugging Face models are usually shipped in 16-bit floats: half the bytes. float16 keeps 10
# mantissa bits (~3 decimal digits) and a small range; bfloat16 keeps float32's range but only
# 7 mantissa bits. How far do the logits move?
for dtype in ("float16", "bfloat16"):
    f = export_hf(model, str(EXPORT_DIR / f"hf_{dtype}"), dtype=dtype)
    m16 = load_hf(f)
    with no_grad():
        l16 = m16(tokens).data
    scale_err = np.abs(l16 - logits).max() / np.abs(logits).max()
    same_argmax = np.mean(l16.argmax(-1) == logits.argmax(-1))
    print(f"{dtype:9s}: {os.path.getsize(os.path.join(f, 'model.safetensors')):>9,} bytes "
          f"(float32: {os.path.getsize(os.path.join(folder, 'model.safetensors')):,}); logits off by "
          f"{scale_err:.1e} of their range; same top token at {same_argmax:.0%} of positions")


# %%
# ============================================================================================
section("6. The real transformers")
# The lessons never import PyTorch or transformers. tests/test_interop.py (marked `interop`) loads
# the exported folders with transformers' LlamaForCausalLM and compares logits (to ~1e-5 relative);
# run it where torch is installed:  make test-interop
print("the interop check runs outside the lessons, in a side venv with torch and transformers:\n"
      "    make test-interop      (tests/test_interop.py: transformers' LlamaForCausalLM vs tinyllm logits)")

print("\nThat is the end of the lessons: you have built, trained, sampled and exported a Llama. "
      "Exercise: python lessons/exercise.py 18")
