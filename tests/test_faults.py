"""Faults a hostile but fair user can cause, and what tinyllm does about each (issue 16):

    kill -9 at random moments, then --resume          -> the same weights as an uninterrupted run
    two runs on one --out                              -> the second stops at once, naming the first
    every bad numeric option, bad files, lying files   -> one clear line naming the option or file
    disk full, unwritable destinations                 -> the destination named, the last checkpoint kept
    random bytes / mutations of tokenizer and checkpoint files  -> tests/test_fuzz_loaders.py

The training runs use the `tiny` preset on a ~6 kB corpus. Fast cases run in `make test`; the long
kill loop is `slow` (make test-all)."""
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from tinyllm import run_folder, train
from tinyllm.__main__ import main
from tinyllm.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from tinyllm.files import atomic_write
from tinyllm.model import ModelConfig, Transformer
from tinyllm.tokenizer import Tokenizer
from support import peak_bytes, rewrite_checkpoint, train_argv

pytestmark = pytest.mark.usefixtures("one_numba_thread")   # tests/conftest.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the subprocesses: one thread each, so their float sums are those of the run they are compared with
ENV = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           MPLBACKEND="Agg", PYTHONPATH=ROOT)


def error_of(capsys, argv):
    """The one-line error of a failing `python -m tinyllm ARGV` (in this process)."""
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and "\n" not in err, err
    return err


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def temp_files(folder):
    return [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names + _ if n.startswith(".tmp-")]


def check_logs_match_one_run(out, steps):
    """metrics.jsonl has every step once and in order; samples.txt every evaluation once."""
    rs = records(out)
    assert [r["step"] for r in rs if "loss" in r] == list(range(1, steps + 1))
    evals = [r["step"] for r in rs if "val_loss" in r]
    assert evals == sorted(set(evals)) and evals[-1] == steps
    samples = [int(line.split()[2].rstrip(",")) for line in open(os.path.join(out, "samples.txt"))
               if line.startswith("=== step ")]
    assert samples == evals


# ---------------------------------------------------------------------------- one writer per folder
def test_a_second_run_on_a_locked_folder_stops_at_once_naming_the_first(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    with run_folder.RunFolder(out):                                   # another "run" holds the folder
        t0 = time.perf_counter()
        err = error_of(capsys, train_argv(corpus, out, "--steps", "2"))
        assert f"is in use by another training run (pid {os.getpid()}" in err and str(out) in err
        assert time.perf_counter() - t0 < 5
        assert sorted(os.listdir(out)) == [".lock"]              # nothing written
        assert "in use" in error_of(capsys, ["train", "--out", str(out), "--resume"])   # --resume too
    assert main(train_argv(corpus, out, "--steps", "2", "--eval-every", "5")) == 0   # released


def test_two_processes_on_one_folder(corpus, tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "tinyllm", *train_argv(corpus, out, "--steps", "100000")],
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "metrics.jsonl").exists() or not records(out):   # the first is training
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() else ""
            time.sleep(0.2)
        second = subprocess.run([sys.executable, "-m", "tinyllm", *train_argv(corpus, out, "--steps", "5",
                                                                                "--seed", "2")],
                                env=ENV, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert f"is in use by another training run (pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)                        # finishes its step, saves, exits 130
        assert first.wait(timeout=120) == 130
    steps = [r["step"] for r in records(out) if "loss" in r]
    assert steps == list(range(1, len(steps) + 1))               # one run's log, each step once
    assert read_checkpoint(out / "ckpt.npz")[0]["step"] == steps[-1]


# ---------------------------------------------------------------------------- kill -9, then resume
def kill_and_resume(corpus, out, steps, kills, seed, duration):
    """Train `steps` steps in subprocesses killed (SIGKILL) at random moments; resume each time.
    `duration` is how long an uninterrupted run takes: kills land anywhere in start-up, tokenizer
    training, steps, evaluations, checkpoint and plot writes. Returns the number of kills that
    landed (each sleeps less than what is left of the run would take, so nearly all do)."""
    argv = train_argv(corpus, out, "--steps", str(steps), "--eval-every", "3")
    rng, landed, litter = random.Random(seed), 0, 0
    for attempt in range(kills + 20):
        resume = (out / "ckpt.npz").exists()
        litter += len(temp_files(out)) if out.exists() else 0     # a kill landed mid-write: cleaned below
        cmd = [sys.executable, "-m", "tinyllm", *(argv + ["--resume"] if resume else argv)]
        p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if landed < kills:                                       # within what is left of the run
            left = 1 - (read_checkpoint(out / "ckpt.npz")[0]["step"] / steps if resume else 0)
            time.sleep(rng.uniform(0.2, max(0.5, 0.9 * duration * left)))
            if p.poll() is None:
                p.kill()
                p.wait()
                landed += 1
                continue
        assert p.wait(timeout=300) == 0, p.stderr.read()
        print(f"{landed} kills, {litter} temporary files left by them (removed by the next run)")
        return landed
    raise AssertionError("the run never finished")


def check_kill_and_resume(corpus, tmp_path, steps, kills, seed):
    full, killed = tmp_path / "full", tmp_path / "killed"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tinyllm", *train_argv(corpus, full, "--steps", str(steps),
                                                                         "--eval-every", "3")],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    duration = time.perf_counter() - t0
    assert kill_and_resume(corpus, killed, steps, kills, seed, duration) >= kills // 2
    a, b = read_checkpoint(full / "ckpt.npz"), read_checkpoint(killed / "ckpt.npz")
    assert a[0]["step"] == b[0]["step"] == steps
    assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1])          # the weights, bit for bit
    assert all(np.array_equal(a[2]["m"][k], b[2]["m"][k]) for k in a[2]["m"])
    assert [r["loss"] for r in records(full) if "loss" in r] == [r["loss"] for r in records(killed) if "loss" in r]
    check_logs_match_one_run(killed, steps)
    assert temp_files(killed) == []


def test_kill_9_then_resume_equals_an_uninterrupted_run(corpus, tmp_path):
    check_kill_and_resume(corpus, tmp_path, steps=60, kills=2, seed=1)


@pytest.mark.slow
def test_kill_9_many_times_then_resume_equals_an_uninterrupted_run(corpus, tmp_path):
    check_kill_and_resume(corpus, tmp_path, steps=150, kills=12, seed=2)


# ---------------------------------------------------------------------------- litter and logs
def test_stale_temp_files_are_removed_and_logs_cut_back_to_the_checkpoint(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "6", "--eval-every", "3")) == 0
    # what a run killed after its checkpoint at step 6 would leave: later log lines, half-written files
    meta, params, optim = read_checkpoint(out / "ckpt.npz")
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 7, "tokens": 0, "loss": 1.0}) + "\n")
    with open(out / "samples.txt", "a") as f:
        f.write("=== step 9, 0 tokens, val loss 1.0 ===\nlater\n\n")
    old = time.time() - 60
    ours = [out / ".tmp-abcd.npz", out / ".tmp-x.png", out / "data" / ".tmp-y"]
    theirs = [out / "notes.tmp", out / ".tmpfile", out / "tmp-z"]
    for p in ours + theirs:
        p.write_bytes(b"x" * 100)
        os.utime(p, (old, old))
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--steps", "9"]) == 0
    assert "removed 3 temporary file(s)" in capsys.readouterr().out
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)
    check_logs_match_one_run(out, 9)
    assert meta["step"] == 6


def test_a_new_run_in_a_folder_without_checkpoint_starts_clean_logs(corpus, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 9.0}) + "\n")
    (out / "samples.txt").write_text("=== step 1, 0 tokens, val loss 9.0 ===\nold\n\n")
    assert main(train_argv(corpus, out, "--steps", "2", "--eval-every", "1")) == 0
    check_logs_match_one_run(out, 2)


# ---------------------------------------------------------------------------- every numeric option
BAD_OPTIONS = [
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--lr", "0"], "--lr must be > 0"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--min-lr", "-0.0001"], "--min-lr must be >= 0"),
    (["--min-lr", "1"], "--min-lr 1.0 must not exceed --lr 0.003"),
    (["--warmup", "-1"], "--warmup must be >= 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--context", "0"], "--context must be at least 1"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--steps", "-5"], "--steps must be at least 1"),
    (["--minutes", "0"], "--minutes must be > 0"),
    (["--minutes", "nan"], "--minutes must be a finite number"),
    (["--grad-accum", "0"], "--grad-accum must be at least 1"),
    (["--eval-every", "0"], "--eval-every must be at least 1"),
    (["--eval-windows", "-1"], "--eval-windows must be >= 0"),
    (["--log-every", "0"], "--log-every must be at least 1"),
    (["--grad-clip", "-1"], "--grad-clip must be > 0 (or 0 for no clipping)"),
    (["--grad-clip", "inf"], "--grad-clip must be a finite number"),
    (["--weight-decay", "-0.1"], "--weight-decay must be >= 0"),
    (["--beta1", "1"], "--beta1 must be in [0, 1)"),
    (["--beta2", "-0.5"], "--beta2 must be in [0, 1)"),
    (["--seed", "-1"], "--seed must be in 0..2^63-1"),
    (["--vocab-size", "100"], "--vocab-size must be 257..65536"),
    (["--vocab-size", "70000"], "--vocab-size must be 257..65536"),
    (["--sample-tokens", "-1"], "--sample-tokens must be >= 0"),
    (["--dim", "0"], "--dim must be at least 1"),
    (["--n-layers", "0"], "--n-layers must be at least 1"),
    (["--n-heads", "3"], "dim 16 is not divisible by n_heads 3 (--dim, --n-heads)"),
    (["--n-kv-heads", "3"], "n_kv_heads 3 does not divide n_heads 4 (--n-kv-heads, --n-heads)"),
    (["--dim", "12"], "head_dim = dim / n_heads = 12 / 4 = 3 must be even for RoPE (--dim, --n-heads)"),
    (["--ffn-dim", "0"], "--ffn-dim must be at least 1"),
    (["--rope-theta", "-1"], "--rope-theta must be > 0"),
    (["--rope-theta", "nan"], "--rope-theta must be a finite number"),
]


@pytest.mark.parametrize("bad,message", BAD_OPTIONS, ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_every_bad_option_is_refused_before_anything_is_written(corpus, tmp_path, capsys, bad, message):
    out = tmp_path / "run"
    err = error_of(capsys, train_argv(corpus, out, "--steps", "2") + bad)
    assert message in err
    assert not out.exists()


def test_train_config_checks_what_a_notebook_builds():
    with pytest.raises(train.ConfigError, match="--lr must be > 0, got -1"):
        train.TrainConfig(lr=-1)
    with pytest.raises(train.ConfigError, match="--batch-size must be an integer, got 2.5"):
        train.TrainConfig(batch_size=2.5)
    with pytest.raises(train.ConfigError, match="--steps must be an integer, got True"):
        train.TrainConfig(steps=True)
    with pytest.raises(train.ConfigError, match="--preset must be one of tiny, shakespeare"):
        train.TrainConfig(preset="huge")
    cfg = train.TrainConfig(preset="tiny")                       # no vocab_size: not the preset's 32 < 257
    assert cfg.vocab_size == 512 and cfg.context == 16 and cfg.steps == 1000 and cfg.out == os.path.join("runs", "tiny")


def test_model_shape_flags_are_recorded_in_the_checkpoint(corpus, tmp_path):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "1", "--dim", "24", "--n-layers", "1", "--n-heads", "2",
                           "--n-kv-heads", "1", "--ffn-dim", "40", "--context", "12", "--rope-theta", "500")) == 0
    model, meta = load_model(out / "ckpt.npz")
    cfg = model.cfg
    assert (cfg.dim, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.ffn_dim, cfg.max_seq_len, cfg.rope_theta) == \
        (24, 1, 2, 1, 40, 12, 500.0)
    assert meta["train_config"]["dim"] == 24 and meta["train_config"]["context"] == 12
    assert main(["train", "--out", str(out), "--resume", "--steps", "2"]) == 0         # resumes that shape
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--dim", "32"]) == 1


def test_model_config_names_its_flags():
    for kwargs, message in [({"dim": 0}, "dim 0 must be at least 1 (--dim)"),
                            ({"n_layers": 2.0}, "n_layers 2.0 must be an integer (--n-layers)"),
                            ({"vocab_size": "32"}, "vocab_size '32' must be an integer (--vocab-size)"),
                            ({"max_seq_len": -1}, "max_seq_len -1 must be at least 1 (--context)"),
                            ({"hidden_dim": -1}, "hidden_dim -1 must be >= 0 (0 = Llama's rule) (--ffn-dim)"),
                            ({"rope_theta": float("inf")}, "rope_theta inf must be a finite number > 0"),
                            ({"n_heads": 3}, "dim 256 is not divisible by n_heads 3"),
                            ({"n_kv_heads": 3}, "n_kv_heads 3 does not divide n_heads 8"),
                            ({"dim": 24, "n_heads": 8}, "must be even for RoPE")]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            ModelConfig(**kwargs)


# ---------------------------------------------------------------------------- resume by content
def test_resume_recognises_the_corpus_by_content_not_by_name(corpus, tmp_path, capsys, monkeypatch):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    (here / "text.txt").write_text(open(corpus, encoding="utf-8").read(), encoding="utf-8")
    (elsewhere / "text.txt").write_text("a different text\n" * 400, encoding="utf-8")
    out = tmp_path / "run"
    monkeypatch.chdir(here)
    assert main(train_argv("text.txt", out, "--steps", "2", "--eval-every", "5")) == 0   # a relative --text
    monkeypatch.chdir(elsewhere)                  # its text.txt differs: the run's own file is used
    assert main(["train", "--out", str(out), "--resume", "--steps", "3"]) == 0
    copy = tmp_path / "renamed.txt"               # the same text under another name (and absolute)
    copy.write_bytes((here / "text.txt").read_bytes())
    assert main(["train", "--out", str(out), "--resume", "--steps", "4", "--text", str(copy)]) == 0
    err = error_of(capsys, ["train", "--out", str(out), "--resume", "--steps", "5", "--text", "text.txt"])
    assert "text.txt is not the text this run was trained on" in err and "--allow-new-data" in err
    copy.write_text(open(corpus, encoding="utf-8").read().replace("king", "duke"), encoding="utf-8")
    err = error_of(capsys, ["train", "--out", str(out), "--resume", "--steps", "5"])     # changed in place
    assert f"{copy} is not the text this run was trained on" in err                     # the file it now uses
    assert main(["train", "--out", str(out), "--resume", "--steps", "5", "--allow-new-data"]) == 0
    os.remove(copy)
    err = error_of(capsys, ["train", "--out", str(out), "--resume", "--steps", "6"])
    assert f"this run's corpus {copy} is gone; pass a copy of it with --text" in err


def test_resume_checks_a_given_tokenizer_by_content(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "1", "--eval-every", "5")) == 0
    copy = tmp_path / "tok.json"
    copy.write_bytes((out / "tokenizer.json").read_bytes())
    assert main(["train", "--out", str(out), "--resume", "--steps", "2", "--tokenizer", str(copy)]) == 0
    other = tmp_path / "other.json"
    Tokenizer.train(open(corpus, encoding="utf-8").read(), 280).save(other)
    err = error_of(capsys, ["train", "--out", str(out), "--resume", "--steps", "3", "--tokenizer", str(other)])
    assert f"--tokenizer {other} is not the tokenizer this run was trained with" in err


# ---------------------------------------------------------------------------- messages about files
def test_bad_tokenizer_files_are_named(corpus, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    err = error_of(capsys, train_argv(corpus, tmp_path / "a", "--steps", "1", "--tokenizer", str(bad)))
    assert f"--tokenizer {bad}: not a valid tokenizer file" in err and "checkpoint" not in err
    bad.write_bytes(b'{"format": "\xff\xfe"}')
    err = error_of(capsys, train_argv(corpus, tmp_path / "b", "--steps", "1", "--tokenizer", str(bad)))
    assert f"--tokenizer {bad}: not UTF-8 text (byte 12)" in err
    err = error_of(capsys, train_argv(corpus, tmp_path / "c", "--steps", "1", "--tokenizer", str(tmp_path / "no.json")))
    assert f"--tokenizer {tmp_path / 'no.json'}: No such file" in err


def test_preset_tiny_without_vocab_size_trains(corpus, tmp_path):
    argv = [a for a in train_argv(corpus, tmp_path / "run", "--steps", "1") if a not in ("--vocab-size", "300")]
    assert main(argv) == 0


@pytest.mark.parametrize("field,value,message", [
    ("vocab_size", 2_000_000_000, "tok_embeddings.weight has shape (V, 16), its config needs (2000000000, 16)"),
    ("vocab_size", 2e9, "vocab_size 2000000000.0 must be an integer"),
    ("n_layers", 20000, "holds 20 parameter arrays but its config (n_layers 20000, tied) needs 180002"),
    ("dim", 1 << 40, "tok_embeddings.weight has shape (V, 16), its config needs (V, 1099511627776)"),
    ("max_seq_len", 1 << 40, "max_seq_len 1099511627776 is beyond the 131072 tinyllm reads"),
    ("n_heads", 0, "n_heads 0 must be at least 1 (--n-heads)"),
    ("hidden_dim", "many", "hidden_dim 'many' must be an integer (--ffn-dim)"),
])
def test_a_lying_checkpoint_is_refused_before_anything_is_allocated(corpus, tmp_path, capsys, field, value, message):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "1")) == 0
    V = str(read_checkpoint(out / "ckpt.npz")[0]["config"]["vocab_size"])
    message = message.replace("V", V)
    rewrite_checkpoint(out / "ckpt.npz", lambda meta: meta["config"].update({field: value}))
    size = os.path.getsize(out / "ckpt.npz")
    error, peak, seconds = peak_bytes(lambda: load_model(out / "ckpt.npz"))
    assert isinstance(error, CheckpointError) and message in str(error) and str(out / "ckpt.npz") in str(error)
    assert peak < 10 * size + (1 << 20) and seconds < 2, (peak, seconds)
    err = error_of(capsys, ["train", "--out", str(out), "--resume", "--steps", "2"])
    assert message in err
    err = error_of(capsys, ["generate", "--ckpt", str(out / "ckpt.npz"), "--prompt", "the"])
    assert message in err


def test_a_lying_array_header_is_refused_without_allocating(tmp_path):
    path = tmp_path / "ckpt.npz"
    model = Transformer(ModelConfig.preset("tiny"), seed=0)
    save_checkpoint(path, model, {"step": 0})
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    npy = io.BytesIO()                       # tok_embeddings' header claims 10^12 x 16 floats (64 TB)
    np.lib.format.write_array_header_1_0(npy, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 16)})
    entries["model/tok_embeddings.weight.npy"] = npy.getvalue() + b"\0" * 2048
    with zipfile.ZipFile(path, "w") as z:   # a well-formed zip (right CRCs): only our checks can object
        for name, raw in entries.items():
            z.writestr(name, raw)
    error, peak, seconds = peak_bytes(lambda: read_checkpoint(path))
    assert isinstance(error, CheckpointError), error
    assert "shape (1000000000000, 16) needs 64000000000000 bytes, the entry holds" in str(error)
    assert peak < (8 << 20) and seconds < 2


def test_write_errors_name_the_destination_and_leave_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=f"^cannot write {target}: no space left on the device$") as e:
        with atomic_write(target) as f:
            f.write(b"x")
    assert e.value.errno == errno.ENOSPC and ".tmp-" not in str(e.value)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert os.listdir(tmp_path) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=f"cannot write {blocker}/x/y: {blocker} is a file, not a folder"):
        with atomic_write(blocker / "x" / "y") as f:
            f.write(b"x")


def test_disk_full_says_the_last_good_checkpoint_is_intact(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real_fsync, saves = os.fsync, []

    def fsync_until_full(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".npz"):
            saves.append(fd)
            if len(saves) == 2:                                  # the second checkpoint: the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync_until_full)
    err = error_of(capsys, train_argv(corpus, out, "--steps", "9", "--eval-every", "3"))
    assert err == (f"error: cannot write {out / 'ckpt.npz'}: no space left on the device; the last good "
                   f"checkpoint (step 3) is intact in {out / 'ckpt.npz'}. Free some space, then continue "
                   f"with --resume")
    assert read_checkpoint(out / "ckpt.npz")[0]["step"] == 3 and temp_files(out) == []


def test_export_to_an_impossible_place_says_what_is_wrong(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(corpus, out, "--steps", "1")) == 0
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    for fmt in ("hf", "llama2c"):
        err = error_of(capsys, ["export", str(out / "ckpt.npz"), "--format", fmt, "--out", str(blocker / "x")])
        assert err == f"error: cannot write {blocker / 'x'}: {blocker} is a file, not a folder"
    err = error_of(capsys, ["export", str(out), "--format", "hf", "--out", str(tmp_path / "hf")])
    assert "is a folder, not a checkpoint file" in err


def test_tokenizer_file_of_random_bytes_is_a_named_error(tmp_path):
    for seed in range(50):
        blob = np.random.default_rng(seed).integers(0, 256, size=seed * 7).astype(np.uint8).tobytes()
        (tmp_path / "t.json").write_bytes(blob)
        with pytest.raises(ValueError, match=f"--tokenizer {tmp_path / 't.json'}: "):
            train.read_tokenizer(tmp_path / "t.json")


def test_an_out_folder_that_is_a_file_is_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = error_of(capsys, ["train", "--preset", "tiny", "--out", str(blocker), "--steps", "1"])
    assert err == f"error: cannot write {blocker / '.lock'}: {blocker} is a file, not a folder"
