"""Exercise 19: dequantise Q4_1 blocks by hand.

Read lessons/19_real_model.py, section 3, then write dequantize_q4_1 in NumPy (no Python loop
over the blocks: every block at once).
Check it:   make exercise N=19        (or: python lessons/exercise.py 19)
The check compares it with tinyllm.gguf.dequantize on random blocks.
"""
import numpy as np


def dequantize_q4_1(raw):
    """raw: a uint8 array of n Q4_1 blocks, 20 bytes each:
        bytes 0-1   d, a float16 (little-endian): the step between levels
        bytes 2-3   m, a float16: the block's minimum
        bytes 4-19  16 bytes, 32 4-bit numbers q in 0..15: byte j holds element j in its LOW
                    nibble (q & 15) and element j + 16 in its HIGH nibble (q >> 4)
    Each element is x = d·q + m. Return the n·32 numbers as a flat float32 array, block by block."""
    raise NotImplementedError("dequantize_q4_1: see lessons/19_real_model.py, section 3")
