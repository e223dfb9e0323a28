"""WRONG on purpose (the check must catch it): never clears the gradients.

backward() adds into .grad (Tensor.accumulate), so without zero_grad every step's gradient is
the sum of all the gradients so far: the first step is right, the second already is not.
The batches are right."""
import os
import tempfile

import numpy as np

from tinyllm.optim import clip_grad_norm


def lm_batch(tokens, starts, T):
    windows = np.stack([np.asarray(tokens[s:s + T + 1]) for s in starts]).astype(np.int64)
    return windows[:, :-1], windows[:, 1:]


def get_batch(tokens, batch_size, T, rng):
    return lm_batch(tokens, rng.integers(0, len(tokens) - T, size=batch_size), T)


def train_step(model, opt, inputs, targets, lr, max_norm):
    _, loss = model(inputs, targets)
    loss.backward()
    clip_grad_norm(opt.params, max_norm)
    opt.step(lr)                                 # missing: opt.zero_grad()
    return float(loss.data)


# right:
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
