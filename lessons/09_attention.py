"""Lesson 09 — Attention: one head → causal → multi-head → grouped-query.

Attention is how a token gathers information from the tokens before it. Everything else in a
Llama works on one position at a time; attention is the only place positions talk to each other.

We build it up from primitive autograd ops (matmul, exp, sum, division, masked_fill) so every
step is visible, and at each stage compare with the library:

    autograd/functional.py   causal_attention(q, k, v)        the fused op the model uses
    autograd/attention.py    causal_attention_ref / _backward_ref   its plain NumPy definition
                             _attention_fwd / _attention_bwd         the Numba kernels (four query rows at a time)
    tinyllm/model.py         Attention.forward                 projections, RoPE, GQA, output

Sections
  1. One head, by hand: scores, softmax, a weighted average of values
  2. Why divide by √head_dim
  3. The causal mask: no peeking at the future
  4. Many heads at once
  5. Grouped-query attention (GQA): fewer key/value heads, shared by groups of query heads
  6. The gradient: composed ops == the fused kernel, and both == finite differences
  7. What a trained model attends to (heatmaps)

Run:       python lessons/09_attention.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 09           (write the attention forward and backward, GQA included)
"""
# %%
import math

import numpy as np

from _common import plt, save_figure, section, max_rel_error, trained_model

import autograd.functional as F
from autograd import Tensor, gradcheck, kernels, no_grad

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. One head, by hand")
# A sequence of T token vectors x (T, D). Each position makes three vectors with three
# learned matrices:
#     query q = x Wq   "what am I looking for?"
#     key   k = x Wk   "what do I contain?"
#     value v = x Wv   "what do I hand over if you pick me?"
# Position i scores every position j by the dot product q_i · k_j, turns its row of scores
# into probabilities with a softmax, and takes the probability-weighted average of the values:
#     out_i = Σ_j softmax_j(q_i · k_j / √hd) v_j
T, D, hd = 6, 16, 8
x = Tensor(rng.standard_normal((T, D)))
Wq, Wk, Wv = (Tensor(rng.standard_normal((D, hd)) / math.sqrt(D), requires_grad=True) for _ in range(3))

q, k, v = x @ Wq, x @ Wk, x @ Wv                       # (T, hd) each
scores = q @ k.T / math.sqrt(hd)                       # (T, T): row i = how much i likes each j
e = (scores - scores.data.max(axis=-1, keepdims=True)).exp()   # subtract the row max: exp can't overflow
probs = e / e.sum(axis=-1, keepdims=True)              # softmax over j; every row sums to 1
out = probs @ v                                        # (T, hd): weighted averages of value rows

print("scores (T, T), row i = query position, column j = key position:")
print(np.array2string(scores.data, precision=2, suppress_small=True))
print("row sums of the probabilities:", np.round(probs.data.sum(axis=-1), 12))
assert np.allclose(probs.data.sum(axis=-1), 1.0)
# Each output row really is a convex combination of the value rows: it lies inside their range.
assert np.all(out.data <= v.data.max(axis=0) + 1e-12) and np.all(out.data >= v.data.min(axis=0) - 1e-12)
# The library's softmax (a Numba kernel, autograd/kernels.py `_softmax_fwd`) agrees:
print(f"our softmax vs F.softmax: max rel error {max_rel_error(probs.data, F.softmax(scores).data):.1e}")


# %%
# ============================================================================================
section("2. Why divide by √head_dim")
# If q and k have independent unit-variance entries, q·k is a sum of hd products, so its
# variance is hd. Without the 1/√hd the scores grow with the head size, the softmax saturates
# (one weight ≈ 1, the rest ≈ 0) and its gradient vanishes. With it, the variance stays ~1.
for head_dim in (8, 64, 512):
    qs, ks = rng.standard_normal((2, 2000, head_dim))
    dots = (qs * ks).sum(-1)
    p_raw = kernels.softmax_ref(dots[:64].reshape(8, 8))
    p_scaled = kernels.softmax_ref((dots[:64] / math.sqrt(head_dim)).reshape(8, 8))
    print(f"hd={head_dim:4d}: var(q·k) = {dots.var():7.1f}   var(q·k/√hd) = {(dots / math.sqrt(head_dim)).var():.2f}"
          f"   mean max-prob of an 8-way softmax: raw {p_raw.max(-1).mean():.2f}, scaled {p_scaled.max(-1).mean():.2f}")


# %%
# ============================================================================================
section("3. The causal mask")
# A language model predicts token t+1 from tokens 0..t. During training all T positions are
# predicted at once, so position i must not see positions j > i — or it would copy the answer.
# Set those scores to -inf before the softmax: exp(-inf) = 0, so they get exactly zero weight.
def causal_attention_by_hand(q, k, v):
    """softmax(q kᵀ/√hd + mask) v from primitive ops, for q, k, v (..., T, hd)."""
    T, hd = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(*range(k.ndim - 2), k.ndim - 1, k.ndim - 2) / math.sqrt(hd)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)        # True above the diagonal: j > i
    scores = F.masked_fill(scores, future, -np.inf)
    e = (scores - scores.data.max(axis=-1, keepdims=True)).exp()
    probs = e / e.sum(axis=-1, keepdims=True)
    return probs @ v, probs


out_c, probs_c = causal_attention_by_hand(q, k, v)
print("causal probabilities (upper triangle is exactly 0):")
print(np.array2string(probs_c.data, precision=2, suppress_small=True))
assert np.all(np.triu(probs_c.data, k=1) == 0.0)
# The real test of causality: change the LAST token; every earlier output must stay the same.
x2 = x.data.copy()
x2[-1] += 10.0
x2 = Tensor(x2)
out_c2, _ = causal_attention_by_hand(x2 @ Wq, x2 @ Wk, x2 @ Wv)
print("outputs 0..T-2 unchanged when token T-1 changes:", np.array_equal(out_c.data[:-1], out_c2.data[:-1]),
      "| output T-1 changed:", not np.allclose(out_c.data[-1], out_c2.data[-1]))
assert np.array_equal(out_c.data[:-1], out_c2.data[:-1])


# %%
# ============================================================================================
section("4. Many heads at once")
# One head can only form one kind of weighted average per position. A model has H heads, each
# with its own hd-sized slice of the projections, so different heads can look for different
# things (the previous token, the start of the line, a matching name, ...). With D = H·hd the
# cost is the same as one big head. No loop over heads: reshape and transpose so the heads
# become a batch axis, and the batched matmul does all of them at once.
#     x (B, T, D) → q = x Wqᵀ (B, T, H·hd) → reshape (B, T, H, hd) → transpose (B, H, T, hd)
# This is exactly what tinyllm/model.py `Attention.forward` does (there with F.linear).
B, T, H, hd = 2, 8, 4, 8
D = H * hd
x = Tensor(rng.standard_normal((B, T, D)))
wq = Tensor(rng.standard_normal((H * hd, D)) / math.sqrt(D), requires_grad=True)


def heads(t, n):
    """(B, T, n·hd) → (B, n, T, hd)."""
    return t.reshape(B, T, n, hd).transpose(0, 2, 1, 3)


q = heads(F.linear(x, wq), H)
print(f"x {x.shape} → q {q.shape}  (B, H, T, hd)")
# The batched matmul really is H independent heads: head 2 alone gives the same numbers.
o_all, _ = causal_attention_by_hand(q, q, q)
o_h2, _ = causal_attention_by_hand(q[:, 2], q[:, 2], q[:, 2])
print(f"head 2 computed alone vs in the batch: max rel error {max_rel_error(o_all.data[:, 2], o_h2.data):.1e}")
assert max_rel_error(o_all.data[:, 2], o_h2.data) < 1e-12


# %%
# ============================================================================================
section("5. Grouped-query attention (GQA)")
# At generation time the model keeps every past key and value (the KV cache, lesson 16). With
# H key/value heads that cache is big. GQA (Ainslie et al. 2023) keeps only Hkv < H key/value
# heads; each serves a group of G = H/Hkv consecutive query heads: query head h reads kv head
# h // G. Llama 2 70B uses H=64, Hkv=8: an 8× smaller cache, almost the same quality.
#
# By hand: index the kv heads with kv_of = [h // G for h in range(H)] to make H of them.
# `getitem` with an integer array is a gather; its backward (autograd/functional.py `getitem`)
# is a scatter-add (np.add.at), so the gradient of a kv head is automatically the SUM of the
# gradients of the G copies — the "sum over the group" of the fused backward.
Hkv = 2
G = H // Hkv
wk = Tensor(rng.standard_normal((Hkv * hd, D)) / math.sqrt(D), requires_grad=True)
wv = Tensor(rng.standard_normal((Hkv * hd, D)) / math.sqrt(D), requires_grad=True)
kv_of = np.arange(H) // G
print(f"H={H} query heads, Hkv={Hkv} kv heads, group size G={G}: query head → kv head {kv_of.tolist()}")


def gqa_by_hand(x, wq, wk, wv):
    q, k, v = heads(F.linear(x, wq), H), heads(F.linear(x, wk), Hkv), heads(F.linear(x, wv), Hkv)
    out, _ = causal_attention_by_hand(q, k[:, kv_of], v[:, kv_of])    # (B, H, T, hd)
    return out


def gqa_fused(x, wq, wk, wv):
    q, k, v = heads(F.linear(x, wq), H), heads(F.linear(x, wk), Hkv), heads(F.linear(x, wv), Hkv)
    return F.causal_attention(q, k, v)            # one Numba kernel, GQA built in


o1, o2 = gqa_by_hand(x, wq, wk, wv), gqa_fused(x, wq, wk, wv)
err = max_rel_error(o1.data, o2.data)
print(f"by hand vs F.causal_attention, forward:  max rel error {err:.1e}")
assert err < 1e-9

g = rng.standard_normal(o1.shape)
grads = []
for fn in (gqa_by_hand, gqa_fused):
    for w in (wq, wk, wv):
        w.grad = None
    fn(x, wq, wk, wv).backward(g)
    grads.append([w.grad.copy() for w in (wq, wk, wv)])
for name, a, b in zip(("wq", "wk", "wv"), *grads):
    print(f"by hand vs F.causal_attention, grad of {name}: max rel error {max_rel_error(a, b, floor=1e-8):.1e}")
    assert max_rel_error(a, b, floor=1e-8) < 1e-7

# How much memory does the cache save? Per token and layer it holds k and v: 2·Hkv·hd numbers.
print("KV cache per token per layer (float16 bytes):")
for name, (h, hkv, head_dim, layers) in {"Llama 2 7B (MHA)": (32, 32, 128, 32),
                                         "Llama 2 70B (GQA)": (64, 8, 128, 80),
                                         "tinyllm 'shakespeare'": (8, 4, 32, 6)}.items():
    per = 2 * hkv * head_dim * 2
    print(f"  {name:24s} H={h:3d} Hkv={hkv:3d}: {per:6d} B/layer, {per * layers / 1024:7.1f} KiB/token "
          f"(÷{h // hkv} vs one kv head per query head)")


# %%
# ============================================================================================
section("6. The gradient, checked by finite differences")
# Both versions above agree — but they could both be wrong. gradcheck (autograd/gradcheck.py)
# asks the definition of the derivative instead, element by element, in float64.
# The backward is this lesson's exercise, and you already own every piece of it. Walk the forward
# backwards, one line at a time, with dO = dL/dO given:
#     O = P V          a batched matmul:           dP and dV from lesson 05's rule
#     P = softmax(S)   row by row, masked rows too: dS from dP with lesson 04's softmax backward
#     S = Q Kᵀ / √hd   a matmul again:             dQ and dK
#     K, V repeated G times for the query heads:  the repeat's backward (section 5)
# Masked entries have P = 0, so whatever dP is there, dS is 0: the mask needs no special case.
# The fused kernel (autograd/attention.py `_attention_bwd`) recomputes P from the saved
# log-sum-exp instead of storing the (T, T) matrix — the FlashAttention trick — and fuses the
# rest; a plain NumPy version that recomputes P from Q and K is what the exercise asks for.
small = [Tensor(rng.standard_normal(s), requires_grad=True) for s in ((1, 4, 5, 4), (1, 2, 5, 4), (1, 2, 5, 4))]
res = gradcheck(F.causal_attention, *small)
print(f"F.causal_attention (GQA, H=4, Hkv=2) vs finite differences: {res}")
res = gradcheck(lambda q, k, v: causal_attention_by_hand(q, k[:, [0, 0, 1, 1]], v[:, [0, 0, 1, 1]])[0], *small)
print(f"composed by hand vs finite differences:                     {res}")


# %%
# ============================================================================================
section("7. What a trained model attends to")
# Random weights attend almost uniformly. A trained model's heads specialise. We need one:
# the checkpoint of `make train-shakespeare` if it exists, else the small model lesson 14
# trains (if lesson 14 has not run yet, we run it now: ~30 s, ~15 s with TINYLLM_FAST=1).
model, tok, origin = trained_model()
print(f"model from {origin}")


def attention_maps(model, tokens):
    """The attention probabilities of every layer and head, (L, H, T, T), for one sequence.

    It re-runs the model layer by layer (tinyllm/model.py `Transformer.forward`) and, inside
    each layer, recomputes q and k the way `Attention.forward` does to get the probabilities,
    which the fused kernel never materialises."""
    tokens = np.asarray(tokens)[None]
    T = tokens.shape[1]
    cos, sin = model.rope_cos[:T], model.rope_sin[:T]
    maps = []
    with no_grad():
        x = model.tok_embeddings(tokens)
        for layer in model.layers:
            a = layer.attention
            xn = layer.attention_norm(x)
            q = F.rope(a.wq(xn).reshape(1, T, a.n_heads, a.head_dim), cos, sin).data.transpose(0, 2, 1, 3)
            k = F.rope(a.wk(xn).reshape(1, T, a.n_kv_heads, a.head_dim), cos, sin).data.transpose(0, 2, 1, 3)
            k = np.repeat(k, a.n_heads // a.n_kv_heads, axis=1)                  # GQA: kv head per query head
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(a.head_dim)
            maps.append(kernels.softmax(s, causal=True)[0])
            x = layer(x, cos, sin)
    return np.stack(maps)


text = "Romeo.\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun."
ids = tok.encode(text)[: min(40, model.cfg.max_seq_len)]
labels = [tok.decode([i]) for i in ids]
maps = attention_maps(model, ids)
L, Hm, Tm, _ = maps.shape
print(f"{len(ids)} tokens; maps of {L} layers × {Hm} heads")

# Summaries that say what a head does: the average weight each query puts on itself, on the
# previous token, on the first token, and on tokens that end a line (those holding "\n").
rows = np.arange(1, Tm)
is_newline = np.array(["\n" in t for t in labels])
stats = {"self": maps[:, :, rows, rows].mean(-1),
         "previous": maps[:, :, rows, rows - 1].mean(-1),
         "first": maps[:, :, rows, 0].mean(-1),
         "line ends": (maps[:, :, rows][..., is_newline]).sum(-1).mean(-1)}    # (L, H) each
print("mean attention weight per head on ...")
for layer in range(L):
    for name, table in stats.items():
        print(f"  layer {layer} {name:>9s}: " + "  ".join(f"h{h} {table[layer, h]:.2f}" for h in range(Hm)))

# A model is causal whatever it learned: the maps are lower-triangular, rows sum to 1.
assert np.all(np.triu(maps, k=1) == 0) and np.allclose(maps.sum(-1), 1.0, atol=1e-5)

show_layers = sorted({0, L - 1})
fig, axes = plt.subplots(len(show_layers), Hm, figsize=(2.6 * Hm, 2.9 * len(show_layers) + 0.6), squeeze=False)
for r, layer in enumerate(show_layers):
    for h in range(Hm):
        ax = axes[r, h]
        ax.imshow(maps[layer, h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"layer {layer}, head {h}", fontsize=9)
        ax.grid(False)
        ax.set_xlabel("key position j (attended to)", fontsize=7)
        ax.set_ylabel("query position i", fontsize=7)
        ax.tick_params(labelsize=6)
fig.suptitle(f"Attention probabilities of a trained model ({origin}) on Romeo's line")
save_figure(fig, "09_attention_heads.png")

# One head, large, with the tokens written on the axes: the head with the most pronounced
# habit among the four summaries above (its largest weight relative to the average head).
# In the small model of lesson 14 it is typically a "line-start" head in the last layer: every
# token of a line looks back at the line break that began it — the model keeps track of where
# it is in a verse line or a speech. Early layers mostly look at the token itself and its
# neighbours (the bright diagonal). A bigger, longer-trained model grows sharper habits.
habit, table = max(stats.items(), key=lambda kv: kv[1].max() / (kv[1].mean() + 1e-9))
bl, bh = np.unravel_index(np.argmax(table), table.shape)
print(f"most specialised: layer {bl}, head {bh}, {table[bl, bh]:.0%} of its weight on {habit} "
      f"(the average head: {table.mean():.0%})")
fig, ax = plt.subplots(figsize=(9, 8))
im = ax.imshow(maps[bl, bh], cmap="viridis", vmin=0, vmax=1)
shown = [repr(t)[1:-1] for t in labels]
ax.set_xticks(range(Tm), shown, rotation=90, fontsize=7)
ax.set_yticks(range(Tm), shown, fontsize=7)
ax.grid(False)
ax.set_xlabel("key token (attended to)")
ax.set_ylabel("query token (attending)")
ax.set_title(f"Layer {bl}, head {bh}: {table[bl, bh]:.0%} of the weight on {habit} "
             f"(average head {table.mean():.0%})")
fig.colorbar(im, ax=ax, label="attention probability")
save_figure(fig, "09_attention_one_head.png")

print("\nNext: lesson 10 (SwiGLU), the per-position half of every block. "
      "Exercise: python lessons/exercise.py 09")
