"""Exercise 23: Q8_0, the 8-bit block format of GGUF (and of llama2.c's runq.c): quantise and back.

Read lessons/23_quantisation.py, sections 1 and 5, then write `quantize_q8_0` and `dequantize_q8_0`.
Check it:   python lessons/exercise.py 23
The check compares your bytes with tinyllm/gguf.py's (the exact GGUF layout: 34 bytes per block),
your dequantisation with the library's, and the round-trip error with its bound, d/2 per block.
"""
import numpy as np


def quantize_q8_0(x):
    """float array (size a multiple of 32) → Q8_0 bytes, one 34-byte block per 32 numbers.

    Per block of 32 consecutive numbers: d = max|x| / 127 (in float32), q = round(x / d) as int8
    (q = 0 when the block is all zeros). The block is stored as d in float16 (2 bytes, little-
    endian), then the 32 int8 q. Returns `bytes`.
    """
    raise NotImplementedError("quantize_q8_0: see lessons/23_quantisation.py, section 5")


def dequantize_q8_0(raw):
    """Q8_0 bytes → float32 array (flat): x = d·q per block, d read back from its float16."""
    raise NotImplementedError("dequantize_q8_0: see lessons/23_quantisation.py, section 5")
