"""What the exercise checks share: gradchecks and comparisons that fail with a useful message.

A check file `lessons/checks/check_NN_name.py` defines `check(impl)`, where `impl` is the learner's
module (or the reference solution, or a deliberately wrong one). It calls the functions in `impl`,
never a copy of its own, and compares them with
  * the definition of the derivative: `gradcheck_op` (float64 central differences, autograd.gradcheck)
  * the library: `expect_close` against the op in autograd/ (kernel or NumPy reference)
Every failure is a `CheckFailure` (an AssertionError; a failed gradcheck is a GradcheckError, also an
AssertionError) whose message says what was compared, the max relative error, where, and a HINT.
No delegating: `no_delegating(impl, TRAPS)` makes the library pieces an exercise replaces fail
with "your solution called the library's X" while the learner's functions run.
Graded hints: a check may define HINTS = [nudge, ..., the answer], shown one at a time by
`make exercise N=07 HINT=1` (2, 3, ...).
`lessons/exercise.py` puts this folder on sys.path, so checks `from _harness import ...`.
"""
import importlib

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


# ---------------------------------------------------------------------------- no delegating
# An exercise replaces a piece of the library. While the learner's function runs, that piece
# (and its relatives: the NumPy reference, the Numba core, the autograd op) is swapped for a
# trap, so a solution that calls it fails instead of passing. Where the exercise is a hand-
# written backward, Tensor.backward is a trap too: composing autograd ops and letting the
# engine find the gradient is exactly what the exercise asks you to do by hand.

BACKWARD = "autograd.tensor.Tensor.backward"


def _resolve(path):
    """'autograd.kernels.rmsnorm' -> (the autograd.kernels module, 'rmsnorm');
    'tinyllm.model.Block.forward' -> (the Block class, 'forward')."""
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1]
    raise ImportError(f"cannot find {path}")


def _trap(path):
    shown = path.replace("autograd.functional.", "F.").replace("autograd.tensor.", "").replace("autograd.", "")

    def trap(*args, **kwargs):
        if path == BACKWARD:
            raise CheckFailure(
                "your solution called the library's Tensor.backward: composing autograd ops and calling "
                ".backward() lets the engine find the gradient, which is what this exercise does by hand"
                "\nHINT: compute the gradient with NumPy from the saved arrays and g, as the lesson derives it")
        raise CheckFailure(f"your solution called the library's {shown}, the piece this exercise replaces"
                           f"\nHINT: write it yourself (the lesson shows how); the check compares your "
                           f"numbers with {shown} afterwards")
    trap.__name__ = "trap_" + path.rsplit(".", 1)[-1]
    return trap


class _Traps:
    """A context manager that swaps each library function in `paths` for a trap (also where the
    learner's module imported it by name: `from autograd.kernels import rmsnorm`), and puts
    everything back on exit. Re-entrant: a learner function calling another one is fine."""

    def __init__(self, paths, module):
        self.paths, self.module, self.depth, self.saved = tuple(paths), module, 0, []

    def __enter__(self):
        self.depth += 1
        if self.depth == 1:
            for path in self.paths:
                owner, name = _resolve(path)
                if isinstance(owner, type) and name not in vars(owner):
                    original = getattr(owner, name)               # inherited: remove the trap on exit
                    self.saved.append((owner, name, None))
                else:
                    original = vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)
                    self.saved.append((owner, name, original))
                trap = _trap(path)
                setattr(owner, name, trap)
                for namespace in self._namespaces():
                    for alias, value in list(namespace.items()):
                        if value is original:
                            self.saved.append((namespace, alias, original))
                            namespace[alias] = trap
        return self

    def _namespaces(self):
        """The learner module's globals, and those of every function in it (one may come from
        another file), each once."""
        spaces = {id(vars(self.module)): vars(self.module)}
        for value in list(vars(self.module).values()):
            g = getattr(value, "__globals__", None)
            if isinstance(g, dict):
                spaces.setdefault(id(g), g)
        return list(spaces.values())

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0:
            for owner, name, original in reversed(self.saved):
                if isinstance(owner, dict):
                    owner[name] = original
                elif original is None:
                    delattr(owner, name)
                else:
                    setattr(owner, name, original)
            self.saved = []
        return False


class no_delegating:
    """The learner's module, seen through a guard: each of its functions, when called, runs with
    the library functions in `paths` replaced by traps (CheckFailure "your solution called the
    library's X"). The check's own calls to the library, outside the learner's functions, are
    untouched. Use it first thing in check(impl):  impl = no_delegating(impl, TRAPS)."""

    def __init__(self, module, paths):
        self._module = module
        self._traps = _Traps(paths, module)

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if not callable(value) or isinstance(value, type):
            return value
        traps = self._traps

        def guarded(*args, **kwargs):
            with traps:
                return value(*args, **kwargs)
        guarded.__name__ = getattr(value, "__name__", name)
        return guarded


def expect_tuple(what, got, n, names):
    """got is a tuple/list of n results (e.g. (y, rstd)); a clear message otherwise."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        raise CheckFailure(f"{what}: should return a tuple ({', '.join(names)}); got {type(got).__name__}"
                           f"\nHINT: return {', '.join(names)}")
    return got


def best_of(fn, runs):
    import time
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def expect_faster(what, yours, reference, factor, hint, rounds=5, runs=3, max_rounds=20):
    """yours() at least `factor` times faster than reference(): the best time of each over
    `rounds` alternating rounds of `runs` calls (after a warm-up call that also compiles Numba
    code), and while that falls short, more rounds up to `max_rounds`. Other programs on the
    machine only ever slow a run down, so the best is the fairest; alternating means a busy
    spell hurts both, and the extra rounds let a spell that hit only yours pass."""
    yours(), reference()
    t_yours = t_ref = float("inf")
    for r in range(max_rounds):
        t_yours = min(t_yours, best_of(yours, runs))
        t_ref = min(t_ref, best_of(reference, runs))
        if r + 1 >= rounds and t_yours * factor <= t_ref:
            break
    if t_yours * factor > t_ref:
        raise CheckFailure(f"{what}: yours takes {t_yours * 1e3:.2f} ms, the NumPy reference "
                           f"{t_ref * 1e3:.2f} ms: {t_ref / t_yours:.2f}x, the goal is at least {factor:g}x "
                           f"(error: not faster enough)\nHINT: {hint}")
    return t_yours, t_ref
