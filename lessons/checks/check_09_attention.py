"""Check for exercise 09: impl.causal_attention_backward against gradcheck and autograd/attention.py."""
import numpy as np

from _harness import custom_op, expect_close, gradcheck_op, tensor
from autograd import attention

HINT = {
    "q": "dS = P ⊙ (dP - rowsum(dP ⊙ P)) with dP = dO Vᵀ, then dQ = dS K / √hd "
         "(lessons/09_attention.py, section 6). Masked entries have P = 0, so they get no gradient.",
    "k": "dK = dSᵀ Q / √hd for every query head's copy of K; a kv head serves G = H/Hkv query heads, "
         "so its gradient is the SUM of its G copies' gradients (section 5).",
    "v": "dV = Pᵀ dO for every query head's copy of V, then SUM over the G query heads of the group "
         "(section 5: the backward of a gather is a scatter-add).",
}


def _attention(impl, q, k, v):
    """The library's forward (NumPy reference) with the learner's backward, as an autograd op."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    o, _ = attention.causal_attention_ref(q.data, k.data, v.data, scale)
    return custom_op("causal_attention", o, (q, k, v),
                     lambda g: impl.causal_attention_backward(q.data, k.data, v.data, g),
                     "causal_attention_backward")


def check(impl):
    rng = np.random.default_rng(9)
    names = ("q", "k", "v")
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
