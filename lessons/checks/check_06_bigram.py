"""Check for exercise 06: impl.embedding_backward."""
import numpy as np

from _harness import BACKWARD, custom_op, expect_close, gradcheck_op, no_delegating, tensor
from autograd import kernels

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.embedding_backward",
    "autograd.kernels.embedding_backward_ref",
    "autograd.kernels._embedding_bwd",
    "autograd.functional.embedding",
    BACKWARD,
]
# make exercise N=06 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "y[n] = W[ids[n]]: row ids[n] of W was copied to position n. What is the gradient of a value that"
     " was copied to several places?",
    "Row i of dL/dW is the SUM of g[n] over every n with ids[n] == i; rows that never occur get 0. "
     "Beware: gW[ids] = g keeps only the last write of a repeated id.",
    "gW = np.zeros((vocab_size, D)); np.add.at(gW, ids.reshape(-1), g.reshape(-1, D)); return gW.",
]

HINT = ("row i of dL/dW is the SUM of g over every position where ids == i — repeated ids must add up "
        "(np.add.at, not gW[ids] = g); rows of ids that never occur stay 0 (lessons/06_bigram.py, section 3).")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(6)
    V, D = 7, 3
    ids = rng.integers(0, 4, size=(3, 5))               # 15 lookups of 4 distinct ids: repeats, unused rows

    def embedding(w):
        return custom_op("embedding", w.data[ids], (w,),
                         lambda g: impl.embedding_backward(ids, g, V), "embedding_backward", HINT)

    gradcheck_op("embedding_backward", embedding, (tensor(rng, V, D),), ("W",), HINT)

    ids = rng.integers(0, 100, size=(8, 64))
    g = rng.standard_normal((8, 64, 16))
    expect_close("embedding_backward vs kernels.embedding_backward", impl.embedding_backward(ids, g, 100),
                 kernels.embedding_backward(ids, g, 100), HINT)
