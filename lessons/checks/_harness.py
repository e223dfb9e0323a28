"""What the exercise checks share: gradchecks and comparisons that fail with a useful message.

A check file `lessons/checks/check_NN_name.py` defines `check(impl)`, where `impl` is the learner's
module (or the reference solution, or a deliberately wrong one). It calls the functions in `impl`,
never a copy of its own, and compares them with
  * the definition of the derivative: `gradcheck_op` (float64 central differences, autograd.gradcheck)
  * the library: `expect_close` against the op in autograd/ (kernel or NumPy reference)
Every failure is a `CheckFailure` (an AssertionError; a failed gradcheck is a GradcheckError, also an
AssertionError) whose message says what was compared, the max relative error, where, and a HINT.
`lessons/exercise.py` puts this folder on sys.path, so checks `from _harness import ...`.
"""
import numpy as np

from autograd import GradcheckError, Tensor, gradcheck


class CheckFailure(AssertionError):
    """The learner's function gave a wrong answer (the message explains what and where)."""


def _fmt_index(index):
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if len(index) else "[] (a scalar)"


def tensor(rng, *shape, positive=False, requires_grad=True):
    """A float64 Tensor of standard-normal values (|x| + 0.5 when positive) for a gradcheck."""
    x = rng.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return Tensor(x, requires_grad=requires_grad)


def expect_shape(what, got, shape, hint=""):
    got_shape = np.shape(got)
    if tuple(got_shape) != tuple(shape):
        raise CheckFailure(f"{what}: has shape {tuple(got_shape)}, expected {tuple(shape)}"
                           + (f"\nHINT: {hint}" if hint else ""))


def expect_close(what, got, expected, hint="", tol=1e-9, floor=1e-6):
    """Arrays equal up to a relative error tol (|a-b| / max(|a|, |b|, floor), elementwise)."""
    if got is None:
        raise CheckFailure(f"{what}: your function returned None\nHINT: forgot a `return`?")
    expected = np.asarray(expected, dtype=np.float64)
    expect_shape(what, got, expected.shape, hint)
    got = np.asarray(got, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        where = np.unravel_index(np.argmax(~np.isfinite(got)), got.shape)
        raise CheckFailure(f"{what}: not finite at {_fmt_index(where)} (value {got[where]})"
                           + (f"\nHINT: {hint}" if hint else ""))
    err = np.abs(got - expected) / np.maximum(np.maximum(np.abs(got), np.abs(expected)), floor)
    if err.size and err.max() > tol:
        where = np.unravel_index(np.argmax(err), err.shape)
        raise CheckFailure(f"{what}: max relative error {err.max():.3e} at {_fmt_index(where)}: "
                           f"yours {got[where]:.10g}, expected {expected[where]:.10g} (tolerance {tol:g})"
                           + (f"\nHINT: {hint}" if hint else ""))


def custom_op(name, y, inputs, backward, what, hint="a gradient always has the shape of the input it belongs to",
              names=None):
    """An autograd op whose backward is the learner's: backward(g) -> one gradient per input.

    The gradients are shape-checked (a clear message, with `hint`, instead of a broadcasting error
    deep inside autograd) and then accumulated into the inputs, exactly as the library's ops do."""
    inputs = tuple(inputs)

    def _backward(g):
        grads = backward(g)
        if len(inputs) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if grads is None or len(grads) != len(inputs):
            raise CheckFailure(f"{what}: should return {len(inputs)} gradient(s), one per input; "
                               f"got {type(grads).__name__}\nHINT: return one array per input, in order")
        for i, (x, gx) in enumerate(zip(inputs, grads)):
            if gx is None:
                raise CheckFailure(f"{what}: gradient {i} is None\nHINT: forgot a `return`?")
            label = f"the gradient of {names[i]}" if names else f"gradient {i}"
            expect_shape(f"{what}: {label}", gx, x.shape, hint)
            x.accumulate(np.asarray(gx, dtype=x.dtype))

    return Tensor.from_op(y, inputs, _backward, name)


def gradcheck_op(what, fn, inputs, names, hint="", tol=1e-6, **kwargs):
    """autograd.gradcheck(fn, *inputs) in float64; on failure a GradcheckError naming the input.

    names: one name per input, used in the message ("gradient of w at [3]").
    hint: a string, or {input name: hint} when the advice depends on which gradient is wrong."""
    result = gradcheck(fn, *inputs, tol=tol, raise_on_fail=False, **kwargs)
    if result.max_rel_error > tol:
        name = names[result.input_index]
        if isinstance(hint, dict):
            hint = hint.get(name, "")
        raise GradcheckError(
            f"{what}: gradcheck (float64, central differences) failed for the gradient of {name}: "
            f"max relative error {result.max_rel_error:.3e} at {name}{_fmt_index(result.index)}: "
            f"yours {result.analytic:.10g}, numeric {result.numeric:.10g} (tolerance {tol:g})"
            + (f"\nHINT: {hint}" if hint else ""))
    return result
