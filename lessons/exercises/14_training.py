"""Exercise 14: language-model batches, the training step, and a checkpoint.

Read lessons/14_training.py, sections 1, 3 and 7, then write the functions below.
Stuck?      make exercise N=14 HINT=1   (then HINT=2, ...)
Check it:   python lessons/exercise.py 14
The check compares your batches with the slicing tinyllm/train.py get_batch does, and runs
several of your training steps against the library's (tinyllm/train.py, Run.train_step), and
saves and loads a checkpoint with your functions (same arrays back, no pickle, atomic).
"""
import numpy as np


def lm_batch(tokens, starts, T):
    """(inputs, targets) for next-token prediction: for each start s, the window
    tokens[s : s + T + 1]; inputs are its first T tokens, targets its last T.
    tokens: 1-D integer array; starts: 1-D array of B start positions.
    Returns two int64 arrays of shape (B, T)."""
    raise NotImplementedError("lm_batch: see lessons/14_training.py, section 1")


def get_batch(tokens, batch_size, T, rng):
    """A random batch: batch_size windows of T + 1 tokens at starts drawn from rng (a
    np.random.Generator), any start whose window fits; returns (inputs, targets) as lm_batch.
    The same rng state must give tinyllm.train.get_batch's windows: draw the starts in ONE call
    of rng.integers."""
    raise NotImplementedError("get_batch: see lessons/14_training.py, section 1")


def train_step(model, opt, inputs, targets, lr, max_norm):
    """One optimizer step on one batch; returns the loss before the step (a float).

    model: a tinyllm.model.Transformer (model(inputs, targets) -> (logits, loss));
    opt: a tinyllm.optim.AdamW over the model's parameters (opt.step(lr), opt.zero_grad());
    clip the global gradient norm to max_norm with tinyllm.optim.clip_grad_norm(opt.params, max_norm).
    """
    raise NotImplementedError("train_step: see lessons/14_training.py, section 3")


def save_checkpoint(path, arrays):
    """Write {name: NumPy array} to path (an .npz file) so that a crash or error in the middle
    never destroys the checkpoint that was there before (atomic), and leaves no stray files."""
    raise NotImplementedError("save_checkpoint: see lessons/14_training.py, section 7")


def load_checkpoint(path):
    """{name: array} read back from save_checkpoint's file, WITHOUT unpickling anything: a
    checkpoint someone sends you must not be able to run code."""
    raise NotImplementedError("load_checkpoint: see lessons/14_training.py, section 7")
