"""WRONG on purpose (the check must catch it): never clears the gradients.

backward() adds into .grad (Tensor.accumulate), so without zero_grad every step's gradient is
the sum of all the gradients so far: the first step is right, the second already is not.
The batches are right."""
import numpy as np

from tinyllm.optim import clip_grad_norm


def lm_batch(tokens, starts, T):
    windows = np.stack([np.asarray(tokens[s:s + T + 1]) for s in starts]).astype(np.int64)
    return windows[:, :-1], windows[:, 1:]


def train_step(model, opt, inputs, targets, lr, max_norm):
    _, loss = model(inputs, targets)
    loss.backward()
    clip_grad_norm(opt.params, max_norm)
    opt.step(lr)                                 # missing: opt.zero_grad()
    return float(loss.data)
