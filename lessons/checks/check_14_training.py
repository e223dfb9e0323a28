"""Check for exercise 14: impl.lm_batch against the slicing of tinyllm/train.py get_batch, and
impl.train_step over several steps against the library's step (Run.train_step's sequence)."""
import numpy as np

from _harness import CheckFailure, expect_close
from tinyllm import train
from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW, clip_grad_norm

HINT_STEP = ("forward (model(inputs, targets)), loss.backward(), clip_grad_norm(opt.params, max_norm), "
             "opt.step(lr), then opt.zero_grad(): backward() ADDS into .grad, so without clearing it the "
             "next step uses the sum of all gradients so far (lessons/14_training.py, section 3)")


def _model_and_opt():
    cfg = ModelConfig(dim=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=24, max_seq_len=8)
    model = Transformer(cfg, seed=3, dtype=np.float64)
    return model, AdamW(model.named_parameters(), lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)


def check(impl):
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

    # 2) three training steps, on different batches, against the library's sequence
    ref_model, ref_opt = _model_and_opt()
    model, opt = _model_and_opt()
    batches = [tokens.astype(np.int64)[s:s + 9] % 24 for s in (3, 50, 101)]
    for step, window in enumerate(batches, start=1):
        x, y = window[None, :-1], window[None, 1:]
        _, ref_loss = ref_model(x, y)
        ref_loss.backward()
        clip_grad_norm(ref_opt.params, 0.5)
        ref_opt.step(1e-2)
        ref_opt.zero_grad()
        loss = impl.train_step(model, opt, x, y, 1e-2, 0.5)
        if loss is None:
            raise CheckFailure("train_step returned None (error: it should return the loss as a float)"
                               "\nHINT: return float(loss.data), the loss before the update")
        expect_close(f"train_step, step {step}: the returned loss", np.array(float(loss)),
                     np.array(float(ref_loss.data)), "return the loss of this batch computed BEFORE the update",
                     tol=1e-10)
        for (name, p), q in zip(model.named_parameters(), ref_model.parameters()):
            expect_close(f"train_step, after step {step}: parameter {name}", p.data, q.data, HINT_STEP, tol=1e-9)
