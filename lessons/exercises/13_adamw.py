"""Exercise 13: one AdamW step, and clipping by the global gradient norm.

Read lessons/13_adamw.py, sections 2-4 and 6, then write the two functions below.
Check it:   python lessons/exercise.py 13
Stuck?      make exercise N=13 HINT=1   (then HINT=2, ...: from a nudge to the answer)
The check runs your step for several steps against autograd/kernels.py (adamw_step_ref) and
tinyllm/optim.py (AdamW), and your clipping against tinyllm/optim.py (clip_grad_norm).
"""
import numpy as np


def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t):
    """One AdamW update at step t (t = 1 for the first step), IN PLACE on the arrays p, m, v.

    p the parameter, g its gradient, m and v the running first and second moments (start at 0).
    Decoupled weight decay shrinks p by lr·weight_decay·p; m̂ and v̂ are bias-corrected with
    1 - beta1**t and 1 - beta2**t; eps is added to √v̂. Returns nothing.
    """
    raise NotImplementedError("adamw_step: see lessons/13_adamw.py, sections 2-4")


def clip_grad_norm(grads, max_norm):
    """Scale the arrays in `grads` IN PLACE so that their global norm √(Σ_arrays Σ g²) is at most
    max_norm: when it is larger, multiply every array by max_norm / (norm + 1e-6).
    Returns the global norm before clipping (a float)."""
    raise NotImplementedError("clip_grad_norm: see lessons/13_adamw.py, section 6")
