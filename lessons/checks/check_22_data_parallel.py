"""Check for exercise 22: impl.pack / impl.unpack (round trip, views, dtype) and
impl.average_gradients against one process's gradient on the whole batch (float64)."""
import numpy as np

from _harness import CheckFailure, expect_close, expect_shape, no_delegating
from tinyllm.model import ModelConfig, Transformer

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.ddp.pack",
    "tinyllm.ddp.unpack",
    "tinyllm.ddp.DataParallel.all_reduce",
]
# make exercise N=22 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "pack lays the gradients end to end in one 1-D buffer; unpack hands back pieces of that same "
    "buffer, shaped like the gradients, without copying.",
    "Keep a running offset: out[start:start + g.size] = g.reshape(-1); a slice of a 1-D array, "
    "reshaped, is a view. Averaging: each rank's gradient on its rows, summed, divided by N.",
    "pack: for g in grads: out[o:o + g.size] = g.ravel(); o += g.size. unpack: views = "
    "[flat[o:o + n].reshape(s)] with n = prod(s). average: Σ_r pack(grads of rank r) / N, the "
    "losses' mean. See lessons/solutions/22_data_parallel.py.",
]

HINT_PACK = ("walk the arrays in order with a running offset: out[start:start + g.size] = g.reshape(-1) "
             "(lessons/22_data_parallel.py, section 2)")
HINT_UNPACK = ("a slice of a 1-D array, reshaped, is a view: flat[start:start + size].reshape(shape); "
               "np.concatenate, np.split(...).copy() or np.array(...) make copies (section 2)")
HINT_AVERAGE = ("Allreduce(SUM) gives Σ_r g_r on every rank; the big batch's mean loss has the gradient "
                "(1/N) Σ_r g_r, so divide the sum by N (section 1). Each rank's loss is already a mean "
                "over its rows; call model.zero_grad() before each rank's backward (it adds into .grad)")


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(22)
    # 1) pack then unpack, many shapes, float32 stays float32, views not copies
    shapes = [(3, 4), (5,), (2, 3, 2), (1,), (7, 1)]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    n = sum(g.size for g in grads)
    flat = np.full(n, np.nan, dtype=np.float32)
    got = impl.pack(grads, flat)
    if got is None:
        raise CheckFailure("pack: returned None (error: nothing to use)\nHINT: return out")
    expect_close("pack: the flat buffer", flat, np.concatenate([g.reshape(-1) for g in grads]), HINT_PACK, tol=0)
    views = impl.unpack(flat, shapes)
    if views is None or len(views) != len(shapes):
        raise CheckFailure(f"unpack: should return {len(shapes)} arrays (error: got {views!r:.60})\nHINT: {HINT_UNPACK}")
    for i, (v, g) in enumerate(zip(views, grads)):
        expect_shape(f"unpack: array {i}", v, g.shape, HINT_UNPACK)
        expect_close(f"unpack: array {i}", v, g, HINT_UNPACK, tol=0)
        if not (isinstance(v, np.ndarray) and np.shares_memory(v, flat)):
            raise CheckFailure(f"unpack: array {i} is a copy, not a view of the flat buffer (error: the "
                               f"all-reduced values would not reach p.grad)\nHINT: {HINT_UNPACK}")
    views[2][...] = 0.0
    if np.count_nonzero(flat) != n - grads[2].size:
        raise CheckFailure(f"unpack: writing into array 2 changed the wrong part of flat (error: offsets)\nHINT: {HINT_UNPACK}")

    # 2) N simulated ranks × B/N rows == one process × B rows (the gradient of a mean is the mean)
    cfg = ModelConfig.preset("tiny", vocab_size=40, max_seq_len=8)
    batch = rng.integers(0, 40, size=(4, 9))
    model = Transformer(cfg, seed=3, dtype=np.float64)
    model.zero_grad()
    _, loss = model(batch[:, :-1], batch[:, 1:])
    loss.backward()
    expected = np.concatenate([p.grad.reshape(-1) for p in model.parameters()])
    for n_ranks in (1, 2, 4):
        out = impl.average_gradients(model, batch, n_ranks)
        if not isinstance(out, tuple) or len(out) != 2:
            raise CheckFailure(f"average_gradients: should return (loss, flat gradient) (error: got "
                               f"{type(out).__name__})\nHINT: return mean_loss, averaged")
        got_loss, got = out
        expect_close(f"average_gradients, {n_ranks} ranks: the loss", np.float64(got_loss), float(loss.data),
                     HINT_AVERAGE, tol=1e-10)
        expect_close(f"average_gradients, {n_ranks} ranks: the gradient", got, expected, HINT_AVERAGE,
                     tol=1e-10, floor=1e-8)
