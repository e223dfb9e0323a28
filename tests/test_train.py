"""The training CLI end to end on a tiny corpus: outputs, resume == uninterrupted, NaN stop, bad input."""
import json
import math
import os
import signal

import numpy as np
import pytest

from tinyllm import run_folder, train, train_cli
from tinyllm.__main__ import main
from tinyllm.checkpoint import read_checkpoint
from tinyllm.model import ModelConfig, Transformer
from support import train_argv

pytestmark = pytest.mark.usefixtures("one_numba_thread")   # tests/conftest.py


def config(argv):
    """The TrainConfig that `python -m tinyllm train ARGV` builds."""
    return train.TrainConfig(**train_cli.parse_flags(argv[1:])[0])


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_train_then_generate_through_the_cli(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "20", "--eval-every", "10")) == 0
    for name in ("ckpt.npz", "metrics.jsonl", "loss.png", "samples.txt", "tokenizer.json", "tokenizer.vocab"):
        assert (out / name).exists(), name
    rs = records(out)
    steps = [r for r in rs if "loss" in r]
    evals = [r for r in rs if "val_loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 21))
    assert steps[-1]["tokens"] == 20 * 4 * 16
    assert steps[-1]["loss"] < steps[0]["loss"] - 0.5                  # it learns
    assert len(evals) == 2 and evals[-1]["final"]
    for e in evals:                                                    # bits per byte from nats per token
        assert 0 < e["val_bpb"] < e["val_loss"] / math.log(2)         # a token here is > 1 byte
    meta, params, optim = read_checkpoint(out / "ckpt.npz")
    assert meta["step"] == 20 and "merges" in meta["tokenizer"] and set(optim) == {"m", "v", "step"}
    assert [r["step"] for r in meta["metrics"] if "loss" in r] == list(range(1, 21))
    assert (out / "samples.txt").read_text(encoding="utf-8").count("=== step") == 2
    capsys.readouterr()

    assert main(["generate", "--ckpt", str(out / "ckpt.npz"), "--prompt", "the king",
                 "--max-new-tokens", "12", "--seed", "1", "--temperature", "0.8", "--top-p", "0.9"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("the king") and len(text) > len("the king\n")
    assert main(["generate", "--ckpt", str(out / "ckpt.npz"), "--prompt", "the " * 40]) == 1
    captured = capsys.readouterr()
    assert "longer than the model's context" in captured.err and captured.out == ""


def test_resume_gives_exactly_the_uninterrupted_run(corpus, tmp_path, monkeypatch):
    argv = ["--steps", "10", "--eval-every", "4"]
    full, parts = tmp_path / "full", tmp_path / "parts"
    assert main(train_argv(corpus, full, *argv)) == 0

    real_get_batch, calls = train.get_batch, []
    def get_batch_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == 6:                                            # Ctrl-C during step 6
            os.kill(os.getpid(), signal.SIGINT)
        return real_get_batch(*args)
    monkeypatch.setattr(train, "get_batch", get_batch_then_ctrl_c)
    assert main(train_argv(corpus, parts, *argv)) == 130               # stopped after step 6, saved
    assert read_checkpoint(parts / "ckpt.npz")[0]["step"] == 6
    monkeypatch.setattr(train, "get_batch", real_get_batch)
    assert main(["train", "--out", str(parts), "--resume"]) == 0       # flags come from the checkpoint

    a, b = records(full), records(parts)
    assert [r["loss"] for r in a if "loss" in r] == [r["loss"] for r in b if "loss" in r]
    assert [r["val_loss"] for r in a if "val_loss" in r] == [r["val_loss"] for r in b if "val_loss" in r]
    pa, pb = read_checkpoint(full / "ckpt.npz")[1], read_checkpoint(parts / "ckpt.npz")[1]
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_nan_loss_stops_clearly_and_keeps_the_last_good_checkpoint(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    steps_done = []
    class PoisonedAfterStep5(Transformer):
        def forward(self, tokens, targets=None, cache=None):
            result = super().forward(tokens, targets, cache)
            if targets is not None and len(steps_done) >= 5:
                result[1].data = np.float32(np.nan)
            return result
    real_get_batch = train.get_batch
    def counting_get_batch(*args):
        steps_done.append(1)
        return real_get_batch(*args)
    monkeypatch.setattr(train, "Transformer", PoisonedAfterStep5)
    monkeypatch.setattr(train, "get_batch", counting_get_batch)
    assert main(train_argv(corpus, out, "--steps", "10", "--eval-every", "3")) == 1
    err = capsys.readouterr().err
    assert "step 5: the loss is nan" in err and "last good state" in err and "Traceback" not in err
    meta, params, _ = read_checkpoint(out / "ckpt.npz")
    assert meta["step"] == 3                                           # the eval/checkpoint at step 3
    assert all(np.isfinite(p).all() for p in params.values())


def test_a_non_finite_state_is_never_saved_over_a_good_one(corpus, tmp_path):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "2", "--eval-every", "5")) == 0
    before = (out / "ckpt.npz").read_bytes()
    run = run_folder.resume_run(out)
    run.model.norm.weight.data[0] = np.inf
    with pytest.raises(train.TrainingError, match="not finite"):
        run_folder.RunFolder(out).save(run)
    assert (out / "ckpt.npz").read_bytes() == before


def test_bad_input_gives_one_clear_error(corpus, tmp_path, capsys):
    def error_of(argv):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err
        return err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in error_of(train_argv(str(empty), tmp_path / "a", "--steps", "1"))
    assert "No such file" in error_of(train_argv(str(tmp_path / "missing.txt"), tmp_path / "b", "--steps", "1"))
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "1")) == 0
    assert "already holds a run" in error_of(train_argv(corpus, out, "--steps", "1"))       # not overwritten
    assert "--batch-size 4 -> 8" in error_of(["train", "--out", str(out), "--resume", "--batch-size", "8"])
    (out / "ckpt.npz").write_bytes(b"not a zip")
    assert "not a readable checkpoint" in error_of(["train", "--out", str(out), "--resume"])


def test_token_files_are_rebuilt_when_the_text_changes(corpus, tmp_path):
    args = config(train_argv(corpus, tmp_path / "run"))
    os.makedirs(args.out)
    first = train.prepare_data(args)[2].filename
    again = train.prepare_data(args)[2].filename
    assert again == first                                             # cached
    args.tokenizer = os.path.join(args.out, "tokenizer.json")         # --tokenizer FILE: the same one
    assert train.prepare_data(args)[2].filename == first
    changed = tmp_path / "changed.txt"
    changed.write_text(open(corpus).read().replace("king", "duke"), encoding="utf-8")
    args.text = str(changed)
    second = train.prepare_data(args)[2].filename
    assert second != first and not os.path.exists(first)             # rebuilt, stale file removed


def test_bits_per_byte_is_total_nats_over_ln2_over_the_scored_tokens_bytes(corpus, tmp_path):
    args = config(train_argv(corpus, tmp_path / "run"))
    os.makedirs(args.out)
    prepared = train.prepare_data(args)
    tokenizer, val = prepared.tokenizer, prepared.val
    model = Transformer(ModelConfig.preset("tiny", vocab_size=tokenizer.vocab_size), seed=0)
    T, val = 16, np.asarray(val[:16 * 5 + 1])                          # 5 windows, batches of 2, 2, 1
    got = train.evaluate(model, val, T, 2, train.token_byte_lengths(tokenizer))
    windows = np.stack([val[i * T:i * T + T + 1] for i in range(5)]).astype(np.int64)
    logits = model(windows[:, :-1]).data.astype(np.float64)           # (5, T, V)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nats = -np.take_along_axis(logp, windows[:, 1:, None], -1).sum()
    n_bytes = len(tokenizer.decode_bytes(windows[:, 1:].reshape(-1)))
    assert got["val_tokens"] == 5 * T
    assert got["val_loss"] == pytest.approx(nats / (5 * T), rel=1e-5)
    assert got["val_bpb"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)


def test_grad_accumulation_equals_one_big_batch(corpus, tmp_path, monkeypatch):
    batch = np.random.default_rng(0).integers(0, 300, size=(4, 17))
    runs = {}
    for accum, size in ((1, 4), (2, 2)):
        args = config(train_argv(corpus, tmp_path / f"a{accum}", "--grad-accum", str(accum),
                                 "--batch-size", str(size)))
        os.makedirs(args.out)
        runs[accum] = train.new_run(args)
    loss1, norm1 = train.train_step(runs[1].model, runs[1].opt, [batch], 1e-3, args.grad_clip)
    loss2, norm2 = train.train_step(runs[2].model, runs[2].opt, [batch[:2], batch[2:]], 1e-3, args.grad_clip)
    assert loss2 == pytest.approx(loss1, rel=1e-6) and norm2 == pytest.approx(norm1, rel=1e-5)
    np.testing.assert_allclose(runs[2].opt.flat, runs[1].opt.flat, rtol=1e-5, atol=1e-7)
    assert not np.array_equal(runs[1].opt.flat, train.new_run(args).opt.flat)      # the step moved them


def test_sliding_window_and_rope_scaling_flags(corpus, tmp_path, capsys):
    """--sliding-window and --rope-scaling reach the model, the checkpoint and generation, which
    then runs past the context (16 for the tiny preset); bad values are one clear line."""
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "6", "--eval-every", "6", "--sliding-window", "4",
                           "--rope-scaling", "8", "1", "4", "8")) == 0
    meta, _, _ = read_checkpoint(out / "ckpt.npz")
    assert meta["config"]["sliding_window"] == 4
    assert meta["config"]["rope_scaling"] == {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                              "original_max_position_embeddings": 8}
    capsys.readouterr()
    assert main(["generate", "--ckpt", str(out / "ckpt.npz"), "--prompt", "the " * 40,
                 "--max-new-tokens", "30", "--seed", "1"]) == 0       # 40 + 30 positions > 16
    assert capsys.readouterr().out.startswith("the the")
    for flags, message in ((["--sliding-window", "0"], "--sliding-window must be at least 1"),
                           (["--rope-scaling", "8", "4", "1", "8"], "high_freq_factor must exceed")):
        assert main(train_argv(corpus, tmp_path / "bad", "--steps", "2", *flags)) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
