"""WRONG on purpose (the check must catch it): the all-reduce's sum is not divided by N.

MPI's Allreduce(SUM) gives every rank Σ_r g_r. The gradient of the big batch's mean loss is
the MEAN, (1/N) Σ_r g_r: forgetting the ÷ N makes the gradient N times too big (and AdamW
with clipping hides much of it, so training "works", with a different learning rate).
pack and unpack are right."""
import numpy as np


def pack(grads, out):
    start = 0
    for g in grads:
        out[start:start + g.size] = g.reshape(-1)
        start += g.size
    return out


def unpack(flat, shapes):
    views, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[start:start + size].reshape(shape))
        start += size
    return views


def average_gradients(model, batch, n_ranks):
    params = model.parameters()
    rows = len(batch) // n_ranks
    total = np.zeros(sum(p.size for p in params), dtype=params[0].dtype)
    losses = []
    for r in range(n_ranks):
        part = batch[r * rows:(r + 1) * rows]
        model.zero_grad()
        _, loss = model(part[:, :-1], part[:, 1:])
        loss.backward()
        losses.append(float(loss.data))
        total += pack([p.grad for p in params], np.empty_like(total))
    return sum(losses) / n_ranks, total                                  # should be: total / n_ranks
