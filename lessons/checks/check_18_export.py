"""Check for exercise 18: impl.meta_to_hf against tinyllm/export.py interleaved_to_half, and the
property behind it: HF's rotate_half RoPE on the permuted rows gives Meta's attention scores."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from autograd import kernels
from tinyllm.export import interleaved_to_half

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.export.interleaved_to_half",
    "tinyllm.export.half_to_interleaved",
    "tinyllm.export.hf_state_dict",
]
# make exercise N=18 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Within each head, Meta keeps pair j in rows (2j, 2j+1); HF keeps it in rows (j, j + hd/2).",
    "Reshape the rows as (n_heads, hd/2, 2, d_in) and swap the middle two axes.",
    "w.reshape(n_heads, hd // 2, 2, d_in).transpose(0, 2, 1, 3).reshape(rows, d_in).",
]

HINT = ("inside each head, Meta row 2j + c goes to HF row c·hd/2 + j, so HF's first half holds Meta's even "
        "rows and its second half the odd ones (lessons/18_export.py, section 3). Careful with the "
        "direction: for head_dim 4 the permutation is its own inverse, so test with head_dim 8 or more.")


def _rope_half(x, theta=10000.0):
    """Hugging Face's RoPE for x (T, H, hd): x·cos + rotate_half(x)·sin, pair j = (j, j + hd/2)."""
    T, hd = x.shape[0], x.shape[-1]
    freqs = np.outer(np.arange(T), theta ** (-np.arange(0, hd, 2) / hd))            # (T, hd/2)
    cos = np.cos(np.concatenate([freqs, freqs], -1))[:, None, :]
    sin = np.sin(np.concatenate([freqs, freqs], -1))[:, None, :]
    return x * cos + np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], -1) * sin


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(17)
    # 1) the same rows as the library, for q (n_heads) and k (n_kv_heads) shapes and several head sizes
    for n_heads, hd, d_in in ((1, 8, 5), (4, 8, 32), (2, 16, 12), (6, 6, 7), (3, 4, 9)):
        w = rng.standard_normal((n_heads * hd, d_in))
        got = impl.meta_to_hf(w.copy(), n_heads)
        expect_close(f"meta_to_hf(w of shape {w.shape}, n_heads={n_heads}, head_dim {hd}) vs "
                     "tinyllm.export.interleaved_to_half", got, interleaved_to_half(w, n_heads), HINT, tol=0)

    # 2) why: RoPE the HF way on your rows == RoPE the Meta way on the original rows, so q·k agree
    n_heads, hd, d_in, T = 2, 8, 16, 6
    wq, wk = rng.standard_normal((2, n_heads * hd, d_in))
    x = rng.standard_normal((T, d_in))
    cos, sin = kernels.rope_tables(T, hd, dtype=np.float64)
    q_meta = kernels.rope((x @ wq.T).reshape(1, T, n_heads, hd), cos, sin)[0]       # (T, H, hd)
    k_meta = kernels.rope((x @ wk.T).reshape(1, T, n_heads, hd), cos, sin)[0]
    q_hf = _rope_half((x @ impl.meta_to_hf(wq, n_heads).T).reshape(T, n_heads, hd))
    k_hf = _rope_half((x @ impl.meta_to_hf(wk, n_heads).T).reshape(T, n_heads, hd))
    scores_meta = np.einsum("thd,shd->hts", q_meta, k_meta)
    scores_hf = np.einsum("thd,shd->hts", q_hf, k_hf)
    expect_close("attention scores q·k with HF's rotate_half RoPE on meta_to_hf rows vs Meta's RoPE "
                 "(head, query, key)", scores_hf, scores_meta, HINT, tol=1e-10)
