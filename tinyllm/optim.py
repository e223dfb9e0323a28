"""Optimisation: AdamW, the learning-rate schedule, and gradient clipping.

AdamW (Loshchilov & Hutter 2019) for each parameter p with gradient g, at step t = 1, 2, ...:

    p ← p − lr·wd·p                                  decoupled weight decay (not through m, v)
    m ← β1·m + (1 − β1)·g                            running mean of g
    v ← β2·v + (1 − β2)·g²                           running mean of g²
    p ← p − lr · m̂ / (√v̂ + eps),   m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ)   (bias correction)

Weight decay applies to matrices only: 1-D parameters (the RMSNorm gains) are not pulled
towards 0, as in nanoGPT.

The update is the fused Numba kernel `autograd.kernels.adamw_step`, called once over ALL
parameters: the optimizer moves every parameter into one flat buffer (each `p.data` becomes a
view into it) and keeps m and v as flat buffers of the same layout. One kernel launch instead
of one per tensor matters on a busy machine: each parallel launch waits for all its threads to
be scheduled. The gradients are gathered into a flat buffer too (one copy).
"""
import math

import numpy as np

from autograd import kernels


class AdamW:
    """AdamW over named parameters (Tensors with requires_grad), updated in one fused call.

        opt = AdamW(model.named_parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
        loss.backward(); clip_grad_norm(model.parameters(), 1.0); opt.step(lr); opt.zero_grad()

    Parameters with ndim >= 2 are decayed, the others are not. Construction rebinds each
    parameter's .data to a view of one flat array (values unchanged), decayed ones first.
    """

    def __init__(self, named_params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1):
        named = list(named_params)
        if not named:
            raise ValueError("AdamW got no parameters")
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) != 1:
            raise TypeError(f"AdamW needs parameters of one dtype, got {sorted(map(str, dtypes))}")
        self.lr, (self.beta1, self.beta2), self.eps, self.weight_decay = lr, betas, eps, weight_decay
        # decayed (matrices) first, then the 1-D ones: two contiguous ranges of the flat buffer
        named.sort(key=lambda item: item[1].ndim < 2)
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        sizes = [p.size for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)    # param i is [off[i], off[i+1])
        self.n_decayed = int(sum(p.size for p in self.params if p.ndim >= 2))
        dtype = self.params[0].dtype
        self.flat = np.empty(self.offsets[-1], dtype=dtype)                   # all parameters
        for p, start, stop in zip(self.params, self.offsets[:-1], self.offsets[1:]):
            self.flat[start:stop] = p.data.reshape(-1)
            p.data = self.flat[start:stop].reshape(p.shape)
        self.flat_grad = np.empty_like(self.flat)
        self.m = np.zeros_like(self.flat)                                     # first moment
        self.v = np.zeros_like(self.flat)                                     # second moment
        self.t = 0                                                            # steps taken

    def _view(self, flat, i):
        """Parameter i's slice of a flat buffer, in the parameter's shape."""
        return flat[self.offsets[i]:self.offsets[i + 1]].reshape(self.params[i].shape)

    def step(self, lr=None):
        """One AdamW update of every parameter from its .grad (a missing grad counts as 0)."""
        lr = self.lr if lr is None else lr
        for i, p in enumerate(self.params):
            if p.data.base is not self.flat:
                raise RuntimeError(f"AdamW: parameter {self.names[i]}'s .data was replaced after the "
                                   "optimizer was built; copy new values in place (p.data[...] = x)")
            self._view(self.flat_grad, i)[...] = 0 if p.grad is None else p.grad
        self.t += 1
        d = self.n_decayed
        for part, wd in ((slice(0, d), self.weight_decay), (slice(d, None), 0.0)):
            if self.flat[part].size:
                kernels.adamw_step(self.flat[part], self.flat_grad[part], self.m[part], self.v[part],
                                   lr, self.beta1, self.beta2, self.eps, wd, self.t)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_dict(self):
        """{"m": {name: array}, "v": {name: array}, "step": {"t": array(t)}} — the shape
        checkpoint.save_checkpoint takes as optim_state (views, not copies)."""
        return {"m": {n: self._view(self.m, i) for i, n in enumerate(self.names)},
                "v": {n: self._view(self.v, i) for i, n in enumerate(self.names)},
                "step": {"t": np.array(self.t, dtype=np.int64)}}

    def load_state_dict(self, state):
        """Restore m, v and the step count; every parameter name and shape must match."""
        missing = [k for k in ("m", "v", "step") if k not in state]
        if missing:
            raise ValueError(f"optimizer state has no {missing}")
        for key in ("m", "v"):
            names = set(state[key])
            if names != set(self.names):
                raise ValueError(f"optimizer state {key!r} does not match the parameters: missing "
                                 f"{sorted(set(self.names) - names)[:3]}, unexpected {sorted(names - set(self.names))[:3]}")
            for i, name in enumerate(self.names):
                value = np.asarray(state[key][name])
                if value.shape != self.params[i].shape:
                    raise ValueError(f"optimizer state {key}/{name} has shape {value.shape}, "
                                     f"parameter has {self.params[i].shape}")
                self._view(getattr(self, key), i)[...] = value
        self.t = int(state["step"]["t"])


def clip_grad_norm(params, max_norm):
    """Scale all gradients by max_norm / ‖g‖ when the global norm ‖g‖ = √(Σ over every
    parameter of Σ g²) exceeds max_norm (in place); returns ‖g‖ before clipping.

    A NaN or inf norm is returned as is and nothing is scaled: the caller decides (train.py stops)."""
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.dot(g.reshape(-1), g.reshape(-1))) for g in grads))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)                 # the 1e-6 as torch.nn.utils.clip_grad_norm_
        for g in grads:
            g *= g.dtype.type(scale)
    return total


def lr_at(step, progress, lr=1e-3, min_lr=1e-4, warmup=100):
    """Learning rate at `step` (counting from 0), warm-up then cosine decay (as nanoGPT):

        step < warmup:  lr · (step + 1) / (warmup + 1)                      linear warm-up
        otherwise:      min_lr + ½(1 + cos(π·r))·(lr − min_lr),  r = clip(progress, 0, 1)

    progress is how far the decay has gone: (step − warmup) / (steps − warmup) for a step
    budget (see `step_progress`), or training time / time budget for --minutes."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    r = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * r)) * (lr - min_lr)


def step_progress(step, total_steps, warmup):
    """The cosine's progress for a step budget: (step − warmup) / (total_steps − warmup)."""
    return (step - warmup) / max(1, total_steps - warmup)
