"""Gradient checking: is a hand-written backward right? Ask the definition of the derivative.

For a function y = f(x1, x2, ...), pick a fixed random direction r shaped like y and look at the
scalar L = Σ y ⊙ r. Backprop gives the analytic dL/dx. The central difference

    dL/dx_i ≈ (L(x + ε e_i) - L(x - ε e_i)) / 2ε          (error O(ε²))

gives it numerically, one element at a time. In float64 with ε = 1e-5 the two agree to ~1e-8
or better when the backward is right (rounding error ~1e-16·|L|/ε, truncation ~ε²·L'''/6);
a wrong backward is off by orders of magnitude more.

The error reported is the largest relative error over all checked elements,
    |analytic - numeric| / max(|analytic|, |numeric|, floor)
where `floor` (default 1e-3) keeps gradients that are (almost) zero from dividing by zero:
they are compared in absolute terms.
"""
from dataclasses import dataclass

import numpy as np

from autograd.tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree."""


@dataclass
class GradcheckResult:
    max_rel_error: float    # the largest relative error seen
    input_index: int        # which input of fn it was in
    index: tuple            # where in that input
    analytic: float         # backward's value there
    numeric: float          # the finite difference there

    def __str__(self):
        return (f"max relative error {self.max_rel_error:.3e} in input {self.input_index} at index "
                f"{self.index}: analytic {self.analytic:.10g}, numeric {self.numeric:.10g}")


def gradcheck(fn, *inputs, eps=1e-5, tol=1e-6, floor=1e-3, max_elements=None, seed=0, raise_on_fail=True):
    """Compare backward() with central differences for every input Tensor that requires grad.

    fn(*inputs) -> Tensor (any shape). Inputs must be float64. `max_elements` checks a random
    subset of each input's elements (for big inputs); None checks them all.
    Returns a GradcheckResult; raises GradcheckError if max_rel_error > tol (unless told not to).
    """
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    for t in checked:
        if t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs (finite differences in float32 are "
                            f"too noisy), got {t.dtype}")
    rng = np.random.default_rng(seed)

    # analytic: one backward pass with the direction r as the output's gradient
    for t in checked:
        t.grad = None
    y = fn(*inputs)
    r = rng.standard_normal(y.shape)
    y.backward(r)
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.copy() for t in checked]

    def L():
        with no_grad():
            return float(np.sum(fn(*inputs).data * r))

    worst = GradcheckResult(0.0, -1, (), 0.0, 0.0)
    for which, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        a = analytic[checked.index(t)]
        flat = np.arange(t.size)
        if max_elements is not None and t.size > max_elements:
            flat = rng.choice(t.size, size=max_elements, replace=False)
        for i in flat:
            idx = np.unravel_index(i, t.shape)
            original = t.data[idx]
            t.data[idx] = original + eps
            up = L()
            t.data[idx] = original - eps
            down = L()
            t.data[idx] = original
            numeric = (up - down) / (2 * eps)
            err = abs(a[idx] - numeric) / max(abs(a[idx]), abs(numeric), floor)
            if err > worst.max_rel_error or worst.input_index < 0:
                worst = GradcheckResult(float(err), which, tuple(int(j) for j in idx),
                                        float(a[idx]), float(numeric))
    if raise_on_fail and worst.max_rel_error > tol:
        raise GradcheckError(f"gradcheck failed: {worst} (tolerance {tol:g})")
    return worst
