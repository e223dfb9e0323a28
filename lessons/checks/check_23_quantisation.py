"""Check for exercise 23: impl.quantize_q8_0 / dequantize_q8_0 against tinyllm/gguf.py, byte by
byte (GGUF's Q8_0 layout), and the round-trip error bound |x − d·q| ≤ d/2 of each block."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from tinyllm import gguf

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.gguf.quantize_q8_0",
    "tinyllm.gguf.dequantize_q8_0",
    "tinyllm.gguf.dequantize",
    "tinyllm.quant.quantize",
    "tinyllm.quant.dequantize",
]
# make exercise N=23 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "Work block by block: x.reshape(-1, 32). Each block has its own scale d = max|x| / 127.",
    "A NumPy structured dtype lays out one block: np.dtype([('d', '<f2'), ('qs', 'i1', 32)]) is 34 "
    "bytes; fill an np.empty(n_blocks, that dtype) and return .tobytes(); np.frombuffer reads it back.",
    "d = np.abs(x).max(1) / 127; q = np.round(x / d[:, None]) (0 where d == 0), as int8; "
    "out['d'] = d.astype(np.float16); out['qs'] = q. Back: qs * d.astype(np.float32)[:, None].",
]
HINT = ("per block of 32: d = max|x| / 127 in float32, q = round(x / d) in −127..127 as int8; the block "
        "is 2 bytes of float16 d then the 32 bytes of q (lessons/23_quantisation.py, section 5)")


def _blocks(raw, what):
    raw = bytes(raw) if not isinstance(raw, (bytes, bytearray)) else raw
    if len(raw) % 34:
        raise CheckFailure(f"{what}: {len(raw)} bytes is not a whole number of 34-byte blocks\nHINT: {HINT}")
    return np.frombuffer(raw, gguf.Q8_0_BLOCK)


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(23)
    x = (rng.standard_normal((6, 64)) * rng.uniform(0.01, 5, (6, 1))).astype(np.float32)
    x[1, :32] = 0                                        # an all-zero block: d = 0, q = 0
    x[2, 5] = -40.0                                      # a block whose largest magnitude is negative
    x = x.reshape(-1)
    raw = impl.quantize_q8_0(x)
    if not isinstance(raw, (bytes, bytearray)):
        raise CheckFailure(f"quantize_q8_0 returned {type(raw).__name__}, not bytes\nHINT: .tobytes()")
    want = np.frombuffer(gguf.quantize_q8_0(x), gguf.Q8_0_BLOCK)
    got = _blocks(raw, "quantize_q8_0")
    if len(got) != len(want):
        raise CheckFailure(f"quantize_q8_0: {len(got)} blocks for {x.size} numbers, expected {len(want)}"
                           f"\nHINT: {HINT}")
    # 1) the layout: float16 d first (bytes 0-1 of each block), then 32 int8 q
    expect_close("quantize_q8_0: the float16 scale d of each block (bytes 0-1)", got["d"].astype(np.float64),
                 want["d"].astype(np.float64), HINT, tol=0)
    diff = np.abs(got["qs"].astype(int) - want["qs"].astype(int))
    if diff.max() > 1 or (diff > 0).mean() > 0.01:     # round(x / d) vs round(x · (1/d)): rare ties
        b, i = np.unravel_index(np.argmax(diff), diff.shape)
        raise CheckFailure(f"quantize_q8_0: block {b}, q[{i}] is {got['qs'][b, i]}, expected "
                           f"{want['qs'][b, i]} (bytes 2-33 of a block are the 32 int8 q)\nHINT: {HINT}")
    # 2) back: x = d·q, exactly the library's on the library's bytes
    lib_raw = gguf.quantize_q8_0(x)
    expect_close("dequantize_q8_0(the library's bytes) vs tinyllm.gguf.dequantize_q8_0",
                 impl.dequantize_q8_0(lib_raw), gguf.dequantize_q8_0(lib_raw), HINT, tol=0)
    back = np.asarray(impl.dequantize_q8_0(raw))
    if back.dtype != np.float32:
        raise CheckFailure(f"dequantize_q8_0 returned {back.dtype}, expected float32\nHINT: .astype(np.float32)")
    # 3) the round-trip bound: each number within half a step d/2 of its block (plus d's float16 rounding)
    d = got["d"].astype(np.float32)[:, None]
    err = np.abs(back.reshape(-1, 32) - x.reshape(-1, 32))
    bound = 0.5 * d + 1e-3 * np.abs(x.reshape(-1, 32)).max(axis=1, keepdims=True)
    if np.any(err > bound):
        b, i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise CheckFailure(f"round trip: block {b}, number {i}: |x − d·q| = {err[b, i]:.4g} exceeds d/2 = "
                           f"{0.5 * d[b, 0]:.4g}\nHINT: {HINT}")
