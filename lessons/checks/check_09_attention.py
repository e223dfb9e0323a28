"""Check for exercise 09: impl.causal_attention_forward against attention.causal_attention_ref,
impl.causal_attention_backward against gradcheck and autograd/attention.py."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import attention

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.attention.causal_attention",
    "autograd.attention.causal_attention_ref",
    "autograd.attention.causal_attention_backward",
    "autograd.attention.causal_attention_backward_ref",
    "autograd.attention._attention_fwd",
    "autograd.attention._attention_bwd",
    "autograd.functional.causal_attention",
    "tinyllm.model.Attention.forward",
    BACKWARD,
]
# make exercise N=09 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Walk back one line of the forward at a time: O = P V (a matmul: lesson 05), P = softmax(S) row "
     "by row (lesson 04), S = Q Kᵀ·scale (a matmul again). Repeat each kv head G = H/Hkv times first, "
     "and undo the repeat at the end.",
    "dV = Pᵀ dO and dP = dO Vᵀ; dS = softmax's backward of dP (lesson 04); dQ = dS K·scale, dK = dSᵀ "
     "Q·scale. The forward: S, mask with np.tri (key j > query i gets -inf), a max-shifted softmax, @ "
     "V.",
    "Undoing np.repeat(k, G, axis=1): the gradient of a copy is the SUM of the copies: gk = "
     "gk_rep.reshape(B, Hkv, G, T, hd).sum(axis=2), the same for v.",
    "dS = P ⊙ (dP - rowsum(dP ⊙ P)); masked entries have P = 0 and get nothing. See "
     "lessons/solutions/09_attention.py for the whole function.",
]

HINT = {
    "q": "walk back through S = Q Kᵀ·scale (a matmul, lesson 05) after P = softmax(S) (lesson 04, row by "
         "row) (lessons/09_attention.py, section 6). Masked entries have P = 0, so they get no gradient.",
    "k": "a kv head serves G = H/Hkv query heads: each query head sees a copy of it, and the gradient of a "
         "copied value is the SUM of its copies' gradients (section 5).",
    "v": "O = P V is a matmul (lesson 05); then sum over the G query heads of the group (section 5: the "
         "backward of a gather is a scatter-add).",
}
HINT_FORWARD = ("repeat each kv head for its G = H/Hkv query heads (np.repeat(k, G, axis=1)), scores "
                "S = q kᵀ/√hd, -inf where key j > query i (np.tri), a max-shifted softmax over the keys, "
                "then P @ v (lessons/09_attention.py, sections 1-5)")


def _attention(impl, q, k, v):
    """The library's forward (NumPy reference) with the learner's backward, as an autograd op."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    o, _ = attention.causal_attention_ref(q.data, k.data, v.data, scale)
    return custom_op("causal_attention", o, (q, k, v),
                     lambda g: impl.causal_attention_backward(q.data, k.data, v.data, g),
                     "causal_attention_backward")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(9)
    names = ("q", "k", "v")
    # the forward: multi-head, grouped-query, multi-query
    for B, H, Hkv, T, hd in ((1, 2, 2, 5, 4), (2, 6, 2, 17, 8), (1, 4, 1, 9, 6)):
        q = rng.standard_normal((B, H, T, hd)) * 2
        k, v = rng.standard_normal((2, B, Hkv, T, hd))
        o_lib, _ = attention.causal_attention_ref(q, k, v, 1.0 / np.sqrt(hd))
        expect_close(f"causal_attention_forward (B={B}, H={H}, Hkv={Hkv}, T={T}) vs attention.causal_attention_ref",
                     impl.causal_attention_forward(q, k, v), o_lib, HINT_FORWARD, tol=1e-10)

    # 1) plain multi-head (Hkv == H), then 2) grouped-query (H=4 query heads share Hkv=2 kv heads)
    for H, Hkv in ((2, 2), (4, 2)):
        q, k, v = tensor(rng, 1, H, 5, 4), tensor(rng, 1, Hkv, 5, 4), tensor(rng, 1, Hkv, 5, 4)
        gradcheck_op(f"causal_attention_backward (H={H}, Hkv={Hkv})",
                     lambda q, k, v: _attention(impl, q, k, v), (q, k, v), names, HINT)

    # 3) the same numbers as the fused Numba kernel on a bigger GQA problem (B=2, H=6, Hkv=2, T=17)
    B, H, Hkv, T, hd = 2, 6, 2, 17, 8
    q, go = rng.standard_normal((2, B, H, T, hd))
    k, v = rng.standard_normal((2, B, Hkv, T, hd))
    scale = 1.0 / np.sqrt(hd)
    o, lse = attention.causal_attention(q, k, v, scale)
    expected = attention.causal_attention_backward(q, k, v, o, lse, go, scale)
    got = impl.causal_attention_backward(q, k, v, go)
    if got is None or len(got) != 3:
        raise AssertionError("causal_attention_backward should return a tuple (gq, gk, gv)")
    for name, a, b in zip(names, got, expected):
        expect_close(f"causal_attention_backward: d{name} vs attention.causal_attention_backward "
                     f"(B={B}, H={H}, Hkv={Hkv}, T={T})", a, b, HINT[name], tol=1e-8)
