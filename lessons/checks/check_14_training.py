"""Check for exercise 14: impl.lm_batch and impl.get_batch against tinyllm/train.py get_batch,
impl.train_step over several steps (each with its own learning rate, none the optimizer's default)
against the library's step (Run.train_step's sequence), and impl.save_checkpoint /
impl.load_checkpoint: a round trip gives the same arrays, loading refuses pickled objects, and a
save that fails half-way leaves the previous checkpoint as it was (atomic)."""
import os
import tempfile

import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from tinyllm import train
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "tinyllm.train.get_batch",
    "tinyllm.files.atomic_write",
    "tinyllm.checkpoint.save_checkpoint",
    "tinyllm.checkpoint.read_checkpoint",
    "tinyllm.checkpoint.load_model",
]
# make exercise N=14 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "A batch is B windows of T + 1 consecutive tokens; inputs and targets are the same window shifted"
     " by one. A step: forward, backward, clip, update with THIS step's lr, clear the gradients.",
    "get_batch: starts = rng.integers(0, len(tokens) - T, size=B) (one call, so the same rng gives "
     "the library's batch). The optimizer takes the learning rate as opt.step(lr): the schedule "
     "changes it every step.",
    "Checkpoint: np.savez into a temporary file in the same folder, then os.replace(tmp, path) "
     "(atomic: a crash leaves the old file), remove the temporary file on error; load with "
     "np.load(path, allow_pickle=False) and copy the arrays out.",
    "See lessons/solutions/14_training.py.",
]

HINT_STEP = ("forward (model(inputs, targets)), loss.backward(), clip_grad_norm(opt.params, max_norm), "
             "opt.step(lr) with THIS step's lr (the schedule changes it every step), then opt.zero_grad(): "
             "backward() ADDS into .grad, so without clearing it the next step uses the sum of all "
             "gradients so far (lessons/14_training.py, section 3)")
HINT_BATCH = ("draw all the starts with ONE call, rng.integers(0, len(tokens) - T, size=batch_size) (the last "
              "window, tokens[s : s + T + 1], must fit), then cut the windows as lm_batch does (section 1)")
HINT_SAVE = ("np.savez into a temporary file in the same folder (tempfile.mkstemp(dir=...)), then "
             "os.replace(tmp, path); on any error remove the temporary file and re-raise (section 7)")
HINT_LOAD = "np.load(path, allow_pickle=False), and copy every array out of the archive (section 7)"
LRS = (3e-3, 5e-4, 2e-3)           # one per step; the optimizer's own default lr is 1e-2


class _Payload:
    """Pickled, it says "call int('42') to rebuild me": harmless here, but a malicious file puts any
    call there (os.system, ...) and unpickling runs it."""

    def __reduce__(self):
        return (int, ("42",))


class _FailsHalfway:
    """An 'array' that raises when np.savez gets to it: a save that fails in the middle (disk full)."""

    def __array__(self, *args, **kwargs):
        raise OSError("simulated: disk full half-way through the save")


def _model_and_opt():
    cfg = ModelConfig(dim=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=24, max_seq_len=8)
    model = Transformer(cfg, seed=3, dtype=np.float64)
    return model, AdamW(model.named_parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(14)
    # 1) batches: the same windows get_batch would cut (it draws the starts; we fix them)
    tokens = rng.integers(0, 50, 200).astype(np.uint16)
    starts = np.array([0, 17, 199 - 6, 60])
    expected = train.get_batch(tokens, 4, 6, np.random.default_rng(5))
    drawn = np.random.default_rng(5).integers(0, len(tokens) - 6, size=4)   # the starts get_batch drew
    for which, st in (("starts", starts), ("get_batch's random starts", drawn)):
        want = np.stack([tokens[s:s + 7] for s in st]).astype(np.int64)
        got = impl.lm_batch(tokens, st, 6)
        if got is None or len(got) != 2:
            raise CheckFailure("lm_batch should return a tuple (inputs, targets) (error: got "
                               f"{type(got).__name__})\nHINT: return windows[:, :-1], windows[:, 1:]")
        hint = ("each window is tokens[s : s + T + 1]; inputs = its first T tokens, targets = its last T "
                "(the same window shifted by one: position i predicts token i + 1)")
        expect_close(f"lm_batch ({which} {list(st)}, T=6): inputs", got[0], want[:, :-1], hint, tol=0)
        expect_close(f"lm_batch ({which} {list(st)}, T=6): targets", got[1], want[:, 1:], hint, tol=0)
    assert np.array_equal(want, expected)                          # we cut what get_batch cuts

    # get_batch: the library's batch from the same generator state, down to the last window
    for B, T, n in ((4, 6, 200), (8, 5, 6), (3, 10, 40)):
        toks = rng.integers(0, 50, n).astype(np.uint16)
        want = train.get_batch(toks, B, T, np.random.default_rng(B + n))
        got = impl.get_batch(toks, B, T, np.random.default_rng(B + n))
        if got is None or len(got) != 2:
            raise CheckFailure("get_batch should return a tuple (inputs, targets) (error: got "
                               f"{type(got).__name__})\nHINT: {HINT_BATCH}")
        expect_close(f"get_batch(B={B}, T={T}, {n} tokens): inputs vs tinyllm.train.get_batch", got[0],
                     want[:, :-1], HINT_BATCH, tol=0)
        expect_close(f"get_batch(B={B}, T={T}, {n} tokens): targets vs tinyllm.train.get_batch", got[1],
                     want[:, 1:], HINT_BATCH, tol=0)

    # 2) three training steps, on different batches, against the library's sequence
    ref_model, ref_opt = _model_and_opt()
    model, opt = _model_and_opt()
    batches = [tokens.astype(np.int64)[s:s + 9] % 24 for s in (3, 50, 101)]
    for step, window in enumerate(batches, start=1):
        x, y = window[None, :-1], window[None, 1:]
        _, ref_loss = ref_model(x, y)
        ref_loss.backward()
        clip_grad_norm(ref_opt.params, 0.5)
        ref_opt.step(LRS[step - 1])
        ref_opt.zero_grad()
        loss = impl.train_step(model, opt, x, y, LRS[step - 1], 0.5)
        if loss is None:
            raise CheckFailure("train_step returned None (error: it should return the loss as a float)"
                               "\nHINT: return float(loss.data), the loss before the update")
        expect_close(f"train_step, step {step}: the returned loss", np.array(float(loss)),
                     np.array(float(ref_loss.data)), "return the loss of this batch computed BEFORE the update",
                     tol=1e-10)
        for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
            expect_close(f"train_step, after step {step}: parameter {name}", p.data, q.data, HINT_STEP, tol=1e-9)

    # 3) checkpoints: round trip, no pickle, atomic
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ckpt.npz")
        state = {"layers.0.attention.wq.weight": rng.standard_normal((8, 4)).astype(np.float32),
                 "norm.weight": rng.standard_normal(4), "step": np.array(17, dtype=np.int64),
                 "tokens": np.arange(5, dtype=np.uint16)}
        impl.save_checkpoint(path, state)
        loaded = impl.load_checkpoint(path)
        if not isinstance(loaded, dict) or set(loaded) != set(state):
            raise CheckFailure(f"load_checkpoint after save_checkpoint: got "
                               f"{sorted(loaded) if isinstance(loaded, dict) else type(loaded).__name__}, "
                               f"expected the names {sorted(state)} (error: a different set of arrays)\nHINT: {HINT_LOAD}")
        for name, a in state.items():
            b = np.asarray(loaded[name])
            if b.dtype != a.dtype or b.shape != a.shape or not np.array_equal(a, b):
                raise CheckFailure(f"checkpoint round trip: {name} came back as {b.dtype} {b.shape}, saved "
                                   f"{a.dtype} {a.shape} (error: not equal)\nHINT: {HINT_SAVE}")
        leftovers = sorted(set(os.listdir(folder)) - {"ckpt.npz"})
        if leftovers:
            raise CheckFailure(f"save_checkpoint left files behind: {leftovers} (error: stray temporary files)"
                               f"\nHINT: {HINT_SAVE}")

        # a save that fails half-way must leave the previous checkpoint untouched
        newer = {name: a + 1 for name, a in state.items()}                  # the next save's values
        broken = dict(list(newer.items())[:2] + [("fails", _FailsHalfway())] + list(newer.items())[2:])
        try:
            impl.save_checkpoint(path, broken)
        except OSError:
            pass
        else:
            raise CheckFailure("save_checkpoint: an array that cannot be written raised no error "
                               "(error: the failure was swallowed)\nHINT: let the exception propagate")
        try:
            with np.load(path, allow_pickle=False) as z:
                survived = {name: z[name] for name in z.files}
        except Exception as e:
            raise CheckFailure(f"save_checkpoint failed half-way and the previous checkpoint is now unreadable "
                               f"({type(e).__name__}: {e}) (error: not atomic)\nHINT: {HINT_SAVE}") from None
        if set(survived) != set(state) or not all(np.array_equal(survived[n], state[n]) for n in state):
            raise CheckFailure("save_checkpoint failed half-way and changed the previous checkpoint "
                               f"(error: not atomic: it now holds {sorted(survived)})\nHINT: {HINT_SAVE}")
        leftovers = sorted(set(os.listdir(folder)) - {"ckpt.npz"})
        if leftovers:
            raise CheckFailure(f"save_checkpoint failed and left {leftovers} behind (error: stray temporary "
                               f"files)\nHINT: {HINT_SAVE}")

        # a file with a pickled object inside: loading must refuse it, not run it
        evil = os.path.join(folder, "evil.npz")
        np.savez(evil, w=np.ones(3), payload=np.array([_Payload()], dtype=object))
        try:
            impl.load_checkpoint(evil)
        except Exception:
            pass
        else:
            raise CheckFailure("load_checkpoint accepted a file holding a pickled object (error: pickle "
                               f"allowed: unpickling runs whatever call the file names)"
                               f"\nHINT: {HINT_LOAD}; a checkpoint from elsewhere must not be able to run code")
