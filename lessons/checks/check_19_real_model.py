"""Check for exercise 19: impl.dequantize_q4_1 against tinyllm.gguf's on random Q4_1 blocks."""
import numpy as np

from _harness import expect_close, no_delegating
from tinyllm import gguf

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.gguf.dequantize",
    "tinyllm.gguf.dequantize_q4_1",
    "tinyllm.gguf.dequantize_q4_0",
    "tinyllm.gguf.dequantize_q8_0",
    "tinyllm.gguf.nibbles",
]
# make exercise N=19 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Reshape the bytes to (n, 20), one row per block, and read each field as a column slice: every "
    "block at once, no loop.",
    "d and m are bytes 0-1 and 2-3 of each row, viewed as float16 (copy the slice first, then "
    ".view(np.float16)); the 32 numbers q are the 16 low nibbles (byte & 15, elements 0..15) followed "
    "by the 16 high ones (byte >> 4, elements 16..31).",
    "q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32); return (d * q + m).reshape(-1) "
    "with d, m of shape (n, 1) in float32. See lessons/solutions/19_real_model.py.",
]

HINT = ("a Q4_1 block is d (float16), m (float16), then 16 bytes; byte j holds element j in its low "
        "nibble (byte & 15) and element j + 16 in its high nibble (byte >> 4); x = d·q + m, "
        "float32 (lessons/19_real_model.py, section 3).")


def random_blocks(rng, n):
    raw = rng.integers(0, 256, (n, 20), dtype=np.uint8)
    raw[:, 0:2] = np.abs(rng.normal(size=(n, 1))).astype(np.float16).view(np.uint8)   # d ≥ 0
    raw[:, 2:4] = rng.normal(size=(n, 1)).astype(np.float16).view(np.uint8)          # m
    return raw.reshape(-1)


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(19)
    one = random_blocks(rng, 1)
    expect_close("dequantize_q4_1 of one block", impl.dequantize_q4_1(one),
                 gguf.dequantize(one, gguf.Q4_1), HINT, tol=1e-6)
    many = random_blocks(rng, 200)
    expect_close("dequantize_q4_1 of 200 blocks", impl.dequantize_q4_1(many),
                 gguf.dequantize(many, gguf.Q4_1), HINT, tol=1e-6)
