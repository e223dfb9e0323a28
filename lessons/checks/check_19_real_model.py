"""Check for exercise 19: impl.dequantize_q4_1 against tinyllm.gguf's on random Q4_1 blocks."""
import numpy as np

from _harness import expect_close
from tinyllm import gguf

HINT = ("a Q4_1 block is d (float16), m (float16), then 16 bytes; byte j holds element j in its low "
        "nibble (byte & 15) and element j + 16 in its high nibble (byte >> 4); x = d·q + m, "
        "float32 (lessons/19_real_model.py, section 3).")


def random_blocks(rng, n):
    raw = rng.integers(0, 256, (n, 20), dtype=np.uint8)
    raw[:, 0:2] = np.abs(rng.normal(size=(n, 1))).astype(np.float16).view(np.uint8)   # d ≥ 0
    raw[:, 2:4] = rng.normal(size=(n, 1)).astype(np.float16).view(np.uint8)          # m
    return raw.reshape(-1)


def check(impl):
    rng = np.random.default_rng(19)
    one = random_blocks(rng, 1)
    expect_close("dequantize_q4_1 of one block", impl.dequantize_q4_1(one),
                 gguf.dequantize(one, gguf.Q4_1), HINT, tol=1e-6)
    many = random_blocks(rng, 200)
    expect_close("dequantize_q4_1 of 200 blocks", impl.dequantize_q4_1(many),
                 gguf.dequantize(many, gguf.Q4_1), HINT, tol=1e-6)
