"""Lesson 15 — Sampling: temperature, top-k, top-p.

A trained model gives, at every step, a probability for every token of the vocabulary. Turning
that into text is a choice, and a surprisingly consequential one: always taking the most likely
token (greedy) makes dull, looping text; sampling from the full distribution now and then picks
a token from the long tail of unlikely ones and derails. The usual knobs:

    temperature τ   p = softmax(z / τ): τ < 1 sharpens the distribution, τ > 1 flattens it
    top-k           keep only the k most probable tokens
    top-p (nucleus) keep the smallest set of most probable tokens whose total is ≥ p
                    (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration")

In the library, tinyllm/generate.py:

    filtered_probs(logits, temperature, top_k, top_p)   the distribution that is sampled from
    sample_next(...)                                    one draw from it
    generate(model, prompt_ids, ...)                    the loop (with the KV cache, lesson 16)

Sections
  1. The model's next-token distribution
  2. Greedy decoding and its loops
  3. Temperature (figure)
  4. Top-k and top-p: fixed count vs fixed mass (figure)
  5. Is the sampler right? Frequencies vs probabilities
  6. Samples side by side

Run:       python lessons/15_sampling.py          (TINYLLM_FAST=1 for a quick pass)
Exercise:  python lessons/exercise.py 15          (temperature softmax and top-p filtering)
"""
# %%

import numpy as np

from _common import pick, plt, save_figure, section, trained_model

from autograd import no_grad
from tinyllm.generate import generate
from tinyllm.sampling import filtered_probs, sample_next

# %%
# ============================================================================================
section("1. The model's next-token distribution")
# A trained model: the checkpoint of `make train-shakespeare` if there is one, else the small
# model of lesson 14 (run now if needed: ~30 s, ~15 s with TINYLLM_FAST=1).
model, tok, ckpt = trained_model()
print(f"model: {ckpt}, {model.num_params():,} parameters, vocab {tok.vocab_size}")


def show(probs, n=6):
    order = np.argsort(-probs)[:n]
    return ", ".join(f"{tok.decode([i])!r} {probs[i]:.2f}" for i in order)


def entropy(p):
    return float(-(p * np.log(p + 1e-30)).sum())


# One forward pass over a passage gives the next-token distribution at every position. Some
# positions are easy (the rest of a word, a name the play has used before), some are open (the
# first word of a line). We keep the logits of the most and the least certain position.
passage = ("Juliet.\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;\n"
           "Or, if thou wilt not, be but sworn my love,\nAnd I'll no longer be a Capulet.\n")
ids = tok.encode(passage)[: model.cfg.max_seq_len]
with no_grad():
    all_logits = model(np.array(ids)[None]).data[0].astype(np.float64)      # (T, V)
ents = np.array([entropy(filtered_probs(z)) for z in all_logits])
logits_at, contexts = {}, {}
for name, i in (("most certain", int(np.argmin(ents[4:]) + 4)), ("least certain", int(np.argmax(ents)))):
    logits_at[name] = all_logits[i]
    contexts[name] = "…" + tok.decode(ids[max(0, i - 5):i + 1])
    p = filtered_probs(all_logits[i])
    print(f"{name:13s} after {contexts[name]!r}: entropy {ents[i]:.2f} nats; most likely: {show(p)}")
print(f"(entropy over the passage's {len(ids)} positions: from {ents.min():.2f} to {ents.max():.2f} nats; "
      f"uniform would be ln V = {np.log(len(all_logits[0])):.2f})")
dists = {name: filtered_probs(z) for name, z in logits_at.items()}


# %%
# ============================================================================================
section("2. Greedy decoding")
# temperature 0 = always the argmax. Deterministic, and prone to loops: once a phrase makes
# itself the most likely continuation, it repeats.
prompt_ids = tok.encode("Romeo.\n")
greedy = generate(model, prompt_ids, pick(60, 30), temperature=0)
text = tok.decode(greedy)
print(repr(text))
grams = [tuple(greedy[i:i + 4]) for i in range(len(greedy) - 3)]
print(f"distinct 4-grams of tokens: {len(set(grams))} of {len(grams)}")


# %%
# ============================================================================================
section("3. Temperature")
# softmax(z / τ): dividing the logits by τ < 1 stretches their differences (sharper), τ > 1
# shrinks them (flatter). τ → 0 is greedy, τ → ∞ is uniform. The order never changes.
z = logits_at["least certain"]
temps = [0.5, 0.8, 1.0, 1.5]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for t in temps:
    p = filtered_probs(z, temperature=t)
    ps = np.sort(p)[::-1]
    ax1.plot(np.arange(1, 41), ps[:40], "o-", ms=3, label=f"τ = {t}")
    print(f"τ = {t}: top token {ps[0]:.2f}, top 10 hold {ps[:10].sum():.2f}, entropy {entropy(p):.2f} nats")
ax1.set_xlabel("rank of the token (1 = most probable)")
ax1.set_ylabel("probability")
ax1.set_title(f"Next token after {contexts['least certain']!r}: temperature")
ax1.legend()
taus = np.geomspace(0.05, 5, 60)
ent_t = [entropy(filtered_probs(z, temperature=t)) for t in taus]
ax2.semilogx(taus, ent_t)
ax2.axhline(np.log(len(z)), color="grey", ls=":", label=f"uniform: ln V = {np.log(len(z)):.2f}")
ax2.set_xlabel("temperature τ")
ax2.set_ylabel("entropy of the distribution (nats)")
ax2.set_title("From greedy (τ → 0) to uniform (τ → ∞)")
ax2.legend()
save_figure(fig, "15_temperature.png")
assert all(a <= b + 1e-9 for a, b in zip(ent_t, ent_t[1:])), "entropy should grow with the temperature"


# %%
# ============================================================================================
section("4. Top-k and top-p")
# Top-k keeps a fixed NUMBER of candidates; top-p keeps a fixed probability MASS. When the model
# is sure, a handful of tokens already hold p = 0.9 and top-p keeps only those; when it is
# unsure, top-p keeps many. Top-k keeps k either way: too many in the first case (the tail it
# lets in is noise), too few in the second.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (name, prompt) in zip(axes, contexts.items()):
    p = dists[name]
    ps = np.sort(p)[::-1]
    ranks = np.arange(1, len(ps) + 1)
    kept_p = int(np.count_nonzero(filtered_probs(logits_at[name], top_p=0.9)))
    kept_k = int(np.count_nonzero(filtered_probs(logits_at[name], top_k=20)))
    ax.axvspan(1, kept_p, color="tab:blue", alpha=0.12, label=f"kept by top-p 0.9: {kept_p} tokens")
    ax.semilogx(ranks, np.cumsum(ps), "k-", lw=1.2, label="cumulative probability")
    ax.semilogx(ranks, ps, "-", color="tab:blue", label="probability of the token")
    ax.axhline(0.9, color="tab:red", ls="--", lw=0.8, label="p = 0.9")
    ax.axvline(20, color="tab:green", ls=":", label=f"top-k = 20 keeps {ps[:20].sum():.0%} of the mass")
    ax.set_xlabel("rank of the token (1 = most probable, log scale)")
    ax.set_ylabel("probability")
    ax.set_title(f"{name}: after {prompt!r}")
    ax.legend(fontsize=7, loc="center left")
    print(f"{name:13s}: top-p 0.9 keeps {kept_p:4d} tokens, top-k 20 keeps {kept_k} "
          f"(holding {ps[:kept_k].sum():.2f} of the mass)")
fig.suptitle("Top-p keeps a fixed mass (its count adapts to the context), top-k a fixed count")
save_figure(fig, "15_top_k_top_p.png")

# The filtered distribution, concretely: zero outside the kept set, renormalised inside.
q = filtered_probs(z, temperature=0.8, top_k=0, top_p=0.9)
kept = q > 0
p08 = filtered_probs(z, temperature=0.8)
assert np.isclose(q.sum(), 1.0) and p08[kept].sum() >= 0.9 and p08[kept].sum() - p08[kept].min() < 0.9
print(f"τ 0.8 + top-p 0.9: {kept.sum()} tokens kept holding {p08[kept].sum():.3f} of the mass "
      f"(drop the least likely of them and it would be under 0.9)")


# %%
# ============================================================================================
section("5. Is the sampler right?")
# sample_next draws with an inverse CDF: u ~ Uniform(0, 1), the first token whose cumulative
# probability exceeds u. Its frequencies over many draws must match filtered_probs.
rng = np.random.default_rng(0)
n_draws = pick(20000, 5000)
draws = np.array([sample_next(z, temperature=0.8, top_p=0.9, rng=rng) for _ in range(n_draws)])
freq = np.bincount(draws, minlength=len(z)) / n_draws
err = np.abs(freq - q).max()
bound = 4 * np.sqrt(q.max() * (1 - q.max()) / n_draws)        # ~4 standard errors of the largest p
print(f"{n_draws} draws: max |frequency - probability| = {err:.4f} (4 standard errors: {bound:.4f}); "
      f"tokens drawn outside the kept set: {int((freq[~kept] > 0).sum())}")
assert err < bound and not (freq[~kept] > 0).any()


# %%
# ============================================================================================
section("6. Samples side by side")
settings = [("greedy (τ = 0)", dict(temperature=0)),
            ("τ = 1.0, no filter", dict(temperature=1.0)),
            ("τ = 0.8, top-k 20", dict(temperature=0.8, top_k=20)),
            ("τ = 0.8, top-p 0.9", dict(temperature=0.8, top_p=0.9)),
            ("τ = 1.5, no filter", dict(temperature=1.5))]
for name, kw in settings:
    new = generate(model, prompt_ids, pick(50, 25), rng=np.random.default_rng(1), **kw)
    print(f"--- {name}:\nRomeo.\n{tok.decode(new)}\n")

print("Next: lesson 16, the KV cache that makes each of these steps cheap. "
      "Exercise: python lessons/exercise.py 15")
