"""Check for exercise 06: impl.embedding_backward."""
import numpy as np

from _harness import custom_op, expect_close, gradcheck_op, tensor
from autograd import kernels

HINT = ("row i of dL/dW is the SUM of g over every position where ids == i — repeated ids must add up "
        "(np.add.at, not gW[ids] = g); rows of ids that never occur stay 0 (lessons/06_bigram.py, section 3).")


def check(impl):
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
