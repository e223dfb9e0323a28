"""Solution 14: batches, the training step and a checkpoint
(compare tinyllm/train.py get_batch and Run.train_step, tinyllm/checkpoint.py, tinyllm/files.py)."""
import os
import tempfile

import numpy as np

from tinyllm.optim import clip_grad_norm


def lm_batch(tokens, starts, T):
    windows = np.stack([np.asarray(tokens[s:s + T + 1]) for s in starts]).astype(np.int64)   # (B, T+1)
    return windows[:, :-1], windows[:, 1:]       # position i predicts token i + 1


def get_batch(tokens, batch_size, T, rng):
    starts = rng.integers(0, len(tokens) - T, size=batch_size)   # the last window ends at len - 1
    return lm_batch(tokens, starts, T)


def train_step(model, opt, inputs, targets, lr, max_norm):
    _, loss = model(inputs, targets)             # forward: mean cross-entropy over B·T positions
    loss.backward()                              # fills every parameter's .grad
    clip_grad_norm(opt.params, max_norm)         # cap the global norm
    opt.step(lr)                                 # AdamW, with this step's learning rate
    opt.zero_grad()                              # .grad ACCUMULATES: clear it for the next step
    return float(loss.data)


def save_checkpoint(path, arrays):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz")   # same folder: os.replace stays atomic
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)                # .npy arrays in a zip: no pickle for numeric arrays
        os.replace(tmp, path)                    # atomic: readers see the old file or the new one
    except BaseException:
        os.remove(tmp)                           # a failed save leaves the old checkpoint alone
        raise


def load_checkpoint(path):
    with np.load(path, allow_pickle=False) as z:   # a pickled object array raises instead of running
        return {name: z[name] for name in z.files}
