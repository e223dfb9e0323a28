"""Lesson 11 — The block and the model: wiring, parameters, FLOPs, the residual stream.

Lessons 07-10 built the parts (RMSNorm, RoPE, attention, SwiGLU). A Llama is those parts in a
fixed arrangement, repeated n_layers times:

    tokens (B, T) → tok_embeddings → x (B, T, D)          the residual stream
    for each layer:   h = x + Attention(RMSNorm(x))        read from the stream, write back to it
                      x = h + FeedForward(RMSNorm(h))
    logits = RMSNorm(x) @ Eᵀ                               E = the embedding (tied) or a separate head

In the library:

    tinyllm/model.py   Block.forward, Transformer.forward        the wiring
                       Transformer.num_params, flops_per_token, summary   the counting
                       Attention.__init__, FeedForward.__init__   the shapes (and the init scale)

Sections
  1. One block, rebuilt from its modules
  2. Counting parameters by formula (and where they go: figure)
  3. FLOPs per token: 6·N + 12·L·D·T, and how fast this machine trains
  4. The residual stream: why every sub-layer *adds* to x (figure)

Run:       python lessons/11_block_and_model.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 11                 (count the parameters; the block's and model's forward)
"""
# %%
import math
import time

import numpy as np

from _common import pick, plt, save_figure, section, max_rel_error

import autograd.functional as F
from autograd import Tensor, no_grad
from tinyllm.model import ModelConfig, Transformer

rng = np.random.default_rng(0)


# %%
# ============================================================================================
section("1. One block, rebuilt from its modules")
# Pre-norm: each sub-layer sees a *normalised copy* of the stream, and its output is *added* to
# the stream. The stream itself is never normalised until the very end (model.norm).
cfg = ModelConfig.preset("tiny")
model = Transformer(cfg, seed=0, dtype=np.float64)
block = model.layers[0]
B, T = 2, 7
x = Tensor(rng.standard_normal((B, T, cfg.dim)))
cos, sin = model.rope_cos[:T], model.rope_sin[:T]

h = x + block.attention(block.attention_norm(x), cos, sin)     # mix across positions
out_by_hand = h + block.feed_forward(block.ffn_norm(h))         # per position
out_lib = block(x, cos, sin)
print(f"Block.forward vs by hand: max rel error {max_rel_error(out_lib.data, out_by_hand.data):.1e}")
assert np.array_equal(out_lib.data, out_by_hand.data)

# and the whole model: embeddings → blocks → final norm → tied output head
tokens = rng.integers(0, cfg.vocab_size, (B, T))
with no_grad():
    x = model.tok_embeddings(tokens)
    for layer in model.layers:
        x = layer(x, cos, sin)
    logits_by_hand = F.linear(model.norm(x), model.tok_embeddings.weight)   # tied: E is the head
    logits = model(tokens)
print(f"Transformer.forward vs by hand: max rel error {max_rel_error(logits.data, logits_by_hand.data):.1e}"
      f"; logits {logits.shape} = (B, T, vocab)")
assert np.array_equal(logits.data, logits_by_hand.data)
# Your turn (lessons/exercises/11_block_and_model.py): the same wiring one level down, from ops
# alone — no module's forward. Inside the attention: three projections (ops.linear) reshaped to
# heads, RoPE on q and k (lesson 08: it wants (B, T, heads, hd)), attention over (B, heads, T, hd)
# (lesson 09), the heads put side by side again and projected by wo. Inside the feed-forward:
# lesson 10's gate between two projections, and a third projection back to D. Then the model:
# embedding, the blocks, the final norm, the head. The check gives you the library's ops and
# compares logits and every gradient; lesson 21 gives you YOUR ops and trains the result.


# %%
# ============================================================================================
section("2. Counting parameters")
# Every weight is a matrix of a Linear (out, in) or a vector gain of an RMSNorm. With D = dim,
# H heads of size hd = D/H, Hkv kv heads, F = ffn_dim, V = vocab, L = layers:
#     embedding              V·D
#     per layer: attention   D·(H·hd) [wq] + 2·D·(Hkv·hd) [wk, wv] + (H·hd)·D [wo]
#                feed-fwd    3·D·F [w1, w2, w3]
#                norms       2·D
#     final norm             D
#     output head            V·D, or 0 when tied to the embedding
# (Your exercise writes this formula; the check compares it with Transformer.num_params.)
def components(cfg):
    """Parameter counts by component, from the formula above."""
    D, hd = cfg.dim, cfg.head_dim
    attn = D * cfg.n_heads * hd + 2 * D * cfg.n_kv_heads * hd + cfg.n_heads * hd * D
    return {"embedding": cfg.vocab_size * D,
            "attention": cfg.n_layers * attn,
            "feed-forward": cfg.n_layers * 3 * D * cfg.ffn_dim,
            "norms": cfg.n_layers * 2 * D + D,
            "output head": 0 if cfg.tie_embeddings else cfg.vocab_size * D}


configs = {"tiny": ModelConfig.preset("tiny"),
           "shakespeare": ModelConfig.preset("shakespeare"),
           "stories15M": ModelConfig.preset("stories15M", tie_embeddings=True),
           "Llama 2 7B": ModelConfig(dim=4096, n_layers=32, n_heads=32, n_kv_heads=32, vocab_size=32000,
                                     multiple_of=256, max_seq_len=4096, tie_embeddings=False)}
for name, c in configs.items():
    parts = components(c)
    total = sum(parts.values())
    if c.dim <= 288:                                 # build it and let the model count itself
        built = Transformer(c).num_params()
        assert built == total, (name, built, total)
        check = f"Transformer(cfg).num_params() = {built:,} ✓"
    else:
        check = "too big to build here; Meta's number is 6,738,415,616"
        assert total == 6_738_415_616                # Llama 2 7B, as published
    print(f"{name:12s} {total:>14,} parameters   {check}")

print("\nmodel.summary() of the default model:")
Transformer(configs["shakespeare"]).summary()

fig, ax = plt.subplots(figsize=(9, 3.8))
names = list(configs)
left = np.zeros(len(names))
colors = {"embedding": "#4c72b0", "attention": "#dd8452", "feed-forward": "#55a868",
          "norms": "#c44e52", "output head": "#8172b3"}
for part, color in colors.items():
    share = np.array([components(configs[n])[part] / sum(components(configs[n]).values()) for n in names])
    ax.barh(names, share, left=left, color=color, label=part)
    for i, s in enumerate(share):
        if s > 0.06:
            ax.text(left[i] + s / 2, i, f"{s:.0%}", ha="center", va="center", color="white", fontsize=9)
    left += share
ax.set_xlabel("share of all parameters")
ax.set_ylabel("model")
ax.set_xlim(0, 1)
ax.set_title("Where the parameters are: small models are mostly embedding, big ones mostly blocks")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=5)
ax.invert_yaxis()
save_figure(fig, "11_parameters.png")


# %%
# ============================================================================================
section("3. FLOPs per token")
# A Linear y = x Wᵀ with W (out, in) costs 2·in·out FLOPs per position (a multiply and an add
# per weight). The backward needs two such products (dx = g W and dW = gᵀ x): twice the
# forward. So each parameter costs ~2 FLOPs forward + 4 backward = 6 per token.
# Attention adds work that has no parameters: per layer and token, q·k for all T keys and the
# weighted sum of T values, 2·T·D each forward → 4·L·T·D forward, 12·L·T·D with the backward.
#     training FLOPs per token ≈ 6·N + 12·L·D·T          (Transformer.flops_per_token)
# (Counting the full T×T score matrix; causal masking could skip half of it. The embedding
# lookup costs nothing, but with tied weights the same matrix is the output head's matmul.)
c = configs["shakespeare"]
m = Transformer(c)
N = m.num_params()
assert m.flops_per_token() == 6 * N + 12 * c.n_layers * c.dim * c.max_seq_len
print(f"default model: 6·N = {6 * N / 1e6:.1f} M, 12·L·D·T = {12 * c.n_layers * c.dim * c.max_seq_len / 1e6:.1f} M "
      f"→ {m.flops_per_token() / 1e6:.1f} M FLOPs per token")

# Measure: time training steps (forward + backward) of a smaller model and divide.
mc = ModelConfig(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, vocab_size=512, max_seq_len=64)
mm = Transformer(mc, seed=1)
Bm, Tm = pick(8, 4), mc.max_seq_len
toks = rng.integers(0, mc.vocab_size, (Bm, Tm + 1))


def train_step():
    mm.zero_grad()
    _, loss = mm(toks[:, :-1], toks[:, 1:])
    loss.backward()


train_step()                                      # warm-up: Numba kernels load from the cache
steps = pick(3, 1)
t0 = time.perf_counter()
for _ in range(steps):
    train_step()
dt = (time.perf_counter() - t0) / steps
flops = mm.flops_per_token(Tm) * Bm * Tm
print(f"dim {mc.dim}, {mc.n_layers} layers, {Bm}×{Tm} tokens per step: {dt * 1e3:.0f} ms per step, "
      f"{Bm * Tm / dt:,.0f} tokens/s, ≈ {flops / dt / 1e9:.2f} GFLOP/s achieved (2 cores, shared)")


# %%
# ============================================================================================
section("4. The residual stream")
# Each sub-layer *adds* its output to x. Two consequences:
#  * The gradient has a direct path. d(x + f(x))/dx = 1 + f'(x): whatever the sub-layers do,
#    the loss's gradient reaches the embeddings through the sum of identities. Without the
#    "x +", it must pass through every sub-layer's Jacobian, and shrinks (or grows) each time.
#  * The sub-layers start small. Attention.wo and FeedForward.w2 are initialised with std
#    0.02/√(2L) (tinyllm/model.py), so at init each block is nearly the identity and the
#    stream is dominated by the embedding; training grows the sub-layers' contributions.
# We measure both with a deeper model: the norm of the stream after each layer, and the
# gradient's norm at each layer's input, with and without the residual connections. Without
# them, the small-init sub-layers shrink the signal at every layer, forward and backward: the
# stream and its gradient vanish geometrically (with a few more layers, to exactly 0.0).
dc = ModelConfig(dim=64, n_layers=8, n_heads=4, n_kv_heads=2, vocab_size=256, max_seq_len=32)
deep = Transformer(dc, seed=2, dtype=np.float64)
toks = rng.integers(0, dc.vocab_size, (2, dc.max_seq_len + 1))
cos, sin = deep.rope_cos[:dc.max_seq_len], deep.rope_sin[:dc.max_seq_len]


def run(residual):
    """Loss of `deep` on toks, keeping every layer's input so we can read its gradient."""
    x = deep.tok_embeddings(toks[:, :-1])
    inputs, norms = [], [float(np.sqrt((x.data ** 2).mean()))]
    for layer in deep.layers:
        x = Tensor(x.data, requires_grad=True) if not inputs else x   # the first input is a leaf
        inputs.append(x)
        a = layer.attention(layer.attention_norm(x), cos, sin)
        h = x + a if residual else a
        f = layer.feed_forward(layer.ffn_norm(h))
        x = h + f if residual else f
        norms.append(float(np.sqrt((x.data ** 2).mean())))
    logits = F.linear(deep.norm(x), deep.tok_embeddings.weight)
    loss = F.cross_entropy(logits, toks[:, 1:])
    # keep the intermediate inputs' gradients: backward with retain_graph keeps .grad on them
    loss.backward(retain_graph=True)
    grads = [float(np.sqrt((t.grad ** 2).mean())) if t.grad is not None else 0.0 for t in inputs]
    return norms, grads, float(loss.data)


norms_res, grads_res, loss_res = run(True)
norms_nores, grads_nores, loss_nores = run(False)
print(f"{dc.n_layers} layers, at initialisation (loss ≈ ln V = {math.log(dc.vocab_size):.2f}: "
      f"with residual {loss_res:.2f}, without {loss_nores:.2f})")
print("layer | stream RMS with / without residual | gradient RMS at layer input with / without")
for l in range(dc.n_layers):
    print(f"{l:5d} | {norms_res[l]:10.4f} {norms_nores[l]:10.4f}           | "
          f"{grads_res[l]:12.3e} {grads_nores[l]:12.3e}")
ratio_res = grads_res[0] / grads_res[-1]
ratio_nores = grads_nores[0] / grads_nores[-1]
print(f"gradient at layer 0 ÷ at layer {dc.n_layers - 1}: with residual {ratio_res:.2f}, without {ratio_nores:.2e}")
assert 0.2 < ratio_res < 5, "with residuals the gradient should reach the bottom at the same scale"
assert ratio_nores < 1e-3, "without residuals the gradient should fade on its way down"

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(range(dc.n_layers + 1), norms_res, "o-", label="with residual (x + f(x))")
ax1.plot(range(dc.n_layers + 1), norms_nores, "s--", label="without (f(x) only)")
ax1.set_yscale("log")
ax1.set_xlabel("after layer (0 = embedding)")
ax1.set_ylabel("RMS of the stream x")
ax1.set_title("The stream's size through the layers (at init)")
ax1.legend()
ax2.plot(range(dc.n_layers), grads_res, "o-", label="with residual")
ax2.plot(range(dc.n_layers), grads_nores, "s--", label="without")
ax2.set_yscale("log")
ax2.set_xlabel("layer (input of)")
ax2.set_ylabel("RMS of dLoss/d(layer input)")
ax2.set_title("The gradient reaching each layer")
ax2.legend()
save_figure(fig, "11_residual_stream.png")

print("\nNext: lesson 12, the tokenizer that turns text into the ids the model reads. "
      "Exercise: python lessons/exercise.py 11")
