"""Exercise 14: language-model batches and the training step.

Read lessons/14_training.py, sections 1 and 3, then write the two functions below.
Check it:   python lessons/exercise.py 14
The check compares your batches with the slicing tinyllm/train.py get_batch does, and runs
several of your training steps against the library's (tinyllm/train.py, Run.train_step).
"""
import numpy as np


def lm_batch(tokens, starts, T):
    """(inputs, targets) for next-token prediction: for each start s, the window
    tokens[s : s + T + 1]; inputs are its first T tokens, targets its last T.
    tokens: 1-D integer array; starts: 1-D array of B start positions.
    Returns two int64 arrays of shape (B, T)."""
    raise NotImplementedError("lm_batch: see lessons/14_training.py, section 1")


def train_step(model, opt, inputs, targets, lr, max_norm):
    """One optimizer step on one batch; returns the loss before the step (a float).

    model: a tinyllm.model.Transformer (model(inputs, targets) -> (logits, loss));
    opt: a tinyllm.optim.AdamW over the model's parameters (opt.step(lr), opt.zero_grad());
    clip the global gradient norm to max_norm with tinyllm.optim.clip_grad_norm(opt.params, max_norm).
    """
    raise NotImplementedError("train_step: see lessons/14_training.py, section 3")
