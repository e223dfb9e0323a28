"""Your exercise functions, turned into the pieces of a Llama (lessons 20 and 21 use them).

    pieces = load_pieces()       # {"07": module, ...}: YOUR lessons/exercises/NN_name.py where it
                                 # passes its check, else the reference solution (and says which)
    ops = learner_ops(pieces)    # autograd ops whose forward and backward are those functions:
                                 #   ops.linear, ops.embedding, ops.rms_norm, ops.rope,
                                 #   ops.causal_attention, ops.swiglu, ops.cross_entropy

Each op is the pattern of lesson 02: compute the forward with NumPy, and attach a closure that
turns g = dL/dout into the inputs' gradients — here with your backward. Tensor.backward (lesson
01) then walks the graph, so a model built from these ops (your transformer_forward of exercise
11) trains with gradients you derived.
"""
import sys
from types import SimpleNamespace

import numpy as np

from _common import LESSONS_DIR

from autograd import Tensor

sys.path.insert(0, str(LESSONS_DIR / "checks"))
sys.path.insert(0, str(LESSONS_DIR))
import exercise  # noqa: E402  (lessons/exercise.py: load_module, run_check)

# the exercises a whole Llama is made of, and what each contributes
PIECES = {
    "04": "cross-entropy backward",
    "05": "matmul backward (every Linear)",
    "06": "embedding backward",
    "07": "RMSNorm forward and backward",
    "08": "RoPE forward and backward",
    "09": "causal GQA attention forward and backward",
    "10": "SwiGLU forward and backward",
    "11": "the block and the model's forward",
    "12": "BPE training",
    "13": "the AdamW step and gradient clipping",
    "14": "get_batch, checkpoint save and load",
    "15": "temperature and top-p sampling",
}


def load_pieces(numbers=PIECES, verbose=True):
    """{number: module}: lessons/exercises/NN_name.py if it passes its check, else lessons/solutions/."""
    pieces = {}
    for number in numbers:
        name = exercise.find_exercise(number)
        try:
            exercise.run_check(name, "exercises")
            folder, why = "exercises", "yours (passes its check)"
        except NotImplementedError:
            folder, why = "solutions", "the reference solution (yours is not written yet)"
        except Exception as e:                                  # a failed check, or a crash
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            folder, why = "solutions", f"the reference solution (yours fails its check: {first[:80]})"
        pieces[number] = exercise.load_module(exercise.impl_path(name, folder),
                                              name=f"tinyllm_pieces_{folder}_{name}")
        if verbose:
            print(f"  {number} {PIECES.get(number, name):45s} {why}")
    return pieces


def learner_ops(pieces):
    """The ops of a Llama, each forward and backward from the exercises in `pieces`."""
    p04, p05, p06, p07, p08, p09, p10 = (pieces[n] for n in ("04", "05", "06", "07", "08", "09", "10"))

    def linear(x, w):
        """y = x wᵀ: x (..., in), w (out, in). Backward: exercise 05's matmul_backward on x @ wᵀ."""
        x2, wT = x.data.reshape(-1, x.shape[-1]), np.ascontiguousarray(w.data.T)   # (N, in), (in, out)
        y = x2 @ wT                                                  # one 2-D matmul: BLAS

        def backward(g):
            gx, gwT = p05.matmul_backward(x2, wT, g.reshape(len(x2), -1))
            x.accumulate(gx.reshape(x.shape))
            w.accumulate(gwT.T)
        return Tensor.from_op(y.reshape(x.shape[:-1] + (w.shape[0],)), (x, w), backward, "linear")

    def embedding(w, ids):
        """Rows of the table w (V, D) for integer ids (B, T). Backward: exercise 06."""
        ids = np.asarray(ids)

        def backward(g):
            w.accumulate(p06.embedding_backward(ids, g, w.shape[0]))
        return Tensor.from_op(w.data[ids], (w,), backward, "embedding")

    def rms_norm(x, w, eps):
        """Exercise 07's forward and backward, on the rows of x (..., D)."""
        D = x.shape[-1]
        x2 = x.data.reshape(-1, D)                                   # (N, D)
        y, rstd = p07.rms_norm_forward(x2, w.data, eps)

        def backward(g):
            gx, gw = p07.rms_norm_backward(x2, w.data, rstd, g.reshape(-1, D))
            x.accumulate(gx.reshape(x.shape))
            w.accumulate(gw)
        return Tensor.from_op(y.reshape(x.shape).astype(x.dtype), (x, w), backward, "rms_norm")

    def rope(x, cos, sin):
        """Exercise 08's rotation of x (B, T, H, hd) and its backward."""
        def backward(g):
            x.accumulate(p08.rope_backward(g, cos, sin))
        return Tensor.from_op(p08.rope_forward(x.data, cos, sin), (x,), backward, "rope")

    def causal_attention(q, k, v):
        """Exercise 09's attention, q (B, H, T, hd), k and v (B, Hkv, T, hd), and its backward."""
        def backward(g):
            gq, gk, gv = p09.causal_attention_backward(q.data, k.data, v.data, g)
            q.accumulate(gq)
            k.accumulate(gk)
            v.accumulate(gv)
        o = p09.causal_attention_forward(q.data, k.data, v.data)
        return Tensor.from_op(o.astype(q.dtype), (q, k, v), backward, "causal_attention")

    def swiglu(a, b):
        """Exercise 10's silu(a) ⊙ b and its backward."""
        def backward(g):
            ga, gb = p10.swiglu_backward(a.data, b.data, g)
            a.accumulate(ga)
            b.accumulate(gb)
        return Tensor.from_op(p10.swiglu_forward(a.data, b.data), (a, b), backward, "swiglu")

    def cross_entropy(logits, targets):
        """Mean over positions of -log softmax(logits)[target] (lesson 04, section 3: logsumexp
        minus the target's logit); the backward is exercise 04's cross_entropy_backward."""
        V = logits.shape[-1]
        z = logits.data.reshape(-1, V).astype(np.float64)            # (N, V)
        t = np.asarray(targets).reshape(-1)
        m = z.max(axis=-1)
        lse = m + np.log(np.exp(z - m[:, None]).sum(axis=-1))        # (N,)
        loss = np.mean(lse - z[np.arange(len(t)), t])

        def backward(g):
            gz = p04.cross_entropy_backward(z, t, float(g))
            logits.accumulate(gz.reshape(logits.shape))
        return Tensor.from_op(np.asarray(loss, dtype=logits.dtype), (logits,), backward, "cross_entropy")

    return SimpleNamespace(linear=linear, embedding=embedding, rms_norm=rms_norm, rope=rope,
                           causal_attention=causal_attention, swiglu=swiglu, cross_entropy=cross_entropy)
