"""Solution 14: batches and the training step (compare tinyllm/train.py, get_batch and Run.train_step)."""
import numpy as np

from tinyllm.optim import clip_grad_norm


def lm_batch(tokens, starts, T):
    windows = np.stack([np.asarray(tokens[s:s + T + 1]) for s in starts]).astype(np.int64)   # (B, T+1)
    return windows[:, :-1], windows[:, 1:]       # position i predicts token i + 1


def train_step(model, opt, inputs, targets, lr, max_norm):
    _, loss = model(inputs, targets)             # forward: mean cross-entropy over B·T positions
    loss.backward()                              # fills every parameter's .grad
    clip_grad_norm(opt.params, max_norm)         # cap the global norm
    opt.step(lr)                                 # AdamW
    opt.zero_grad()                              # .grad ACCUMULATES: clear it for the next step
    return float(loss.data)
