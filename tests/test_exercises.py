"""The lesson exercises can't pass by accident: for every lessons/checks/check_NN_name.py,
the reference solution passes, the shipped stub fails (its NotImplementedError reaches the
check, so the check really calls the learner's file), a deliberately wrong solution fails
with a message that says where and gives a hint, and a solution that delegates to the library
(lessons/delegating/, each of its functions swapped into the reference solution in turn) is
refused with "your solution called the library's X". In-process: part of `make test`."""
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"


def _load_runner():
    import importlib.util
    spec = importlib.util.spec_from_file_location("tinyllm_lessons_exercise_runner", LESSONS / "exercise.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
NAMES = runner.exercise_names()


def _stub_functions(module):
    """Functions defined in `module` whose body raises NotImplementedError: the learner's to write."""
    return [name for name, f in vars(module).items()
            if inspect.isfunction(f) and f.__module__ == module.__name__
            and "raise NotImplementedError" in inspect.getsource(f)]


def test_every_lesson_from_02_has_an_exercise():
    """...unless its docstring says `Exercise:  none` and why (20 and 21 run the learner's code)."""
    lessons = sorted(LESSONS.glob("[0-9][0-9]_*.py"))
    numbers_with_exercise = {name[:2] for name in NAMES}
    missing = [p.stem for p in lessons if int(p.stem[:2]) >= 2 and p.stem[:2] not in numbers_with_exercise
               and not re.search(r"^Exercise:\s+none\b", p.read_text(), re.M)]
    assert not missing, f"lessons without an exercise: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_exercise_files_exist_and_match_the_lesson(name):
    assert (LESSONS / f"{name}.py").exists(), f"exercise {name} has no lesson lessons/{name}.py"
    for folder in runner.IMPLS:
        assert (LESSONS / folder / f"{name}.py").exists(), f"missing lessons/{folder}/{name}.py"


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    runner.run_check(name, "solutions")


@pytest.mark.parametrize("name", NAMES)
def test_stub_fails_with_not_implemented_pointing_at_the_lesson(name):
    stub = runner.load_module(LESSONS / "exercises" / f"{name}.py")
    todo = _stub_functions(stub)
    assert todo, f"lessons/exercises/{name}.py has no function raising NotImplementedError"
    with pytest.raises(NotImplementedError) as info:
        runner.run_check(name, "exercises")
    pointers = re.findall(r"lessons/\S+?\.py", str(info.value))
    assert pointers, f"the stub's message should say where to read: {info.value}"
    for pointer in pointers:
        assert (ROOT / pointer).exists(), f"the stub points at {pointer}, which does not exist"


@pytest.mark.parametrize("name", NAMES)
def test_check_calls_every_learner_function(name):
    """Swap each stub function, one at a time, into the solution: the check must hit it.
    (Catches a check that tests the library or the shipped solution instead of `impl`.)"""
    stub = runner.load_module(LESSONS / "exercises" / f"{name}.py")
    for function in _stub_functions(stub):
        hybrid = runner.load_module(LESSONS / "solutions" / f"{name}.py")
        assert callable(getattr(hybrid, function, None)), f"solutions/{name}.py lacks {function}"
        setattr(hybrid, function, getattr(stub, function))
        check = runner.load_module(runner.CHECKS_DIR / f"check_{name}.py")
        with pytest.raises(NotImplementedError):
            check.check(hybrid)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_solution_fails_with_where_and_a_hint(name):
    with pytest.raises(AssertionError) as info:
        runner.run_check(name, "wrong")
    message = str(info.value)
    assert "HINT:" in message, f"failure message without a hint: {message}"
    assert "error" in message or "shape" in message, f"failure message without what went wrong: {message}"


def _own_functions(module):
    return [name for name, f in vars(module).items()
            if inspect.isfunction(f) and f.__module__ == module.__name__ and not name.startswith("_")]


@pytest.mark.parametrize("name", NAMES)
def test_check_refuses_each_delegating_function(name):
    """lessons/delegating/NN_name.py: functions that call the library piece the exercise replaces (or
    compose autograd ops and call .backward() where the exercise is a hand-written backward). Each,
    swapped alone into the reference solution, must make the check fail with the trap's message."""
    delegating = runner.load_module(LESSONS / "delegating" / f"{name}.py")
    functions = _own_functions(delegating)
    assert functions, f"lessons/delegating/{name}.py defines no function"
    for function in functions:
        hybrid = runner.load_module(LESSONS / "solutions" / f"{name}.py")
        assert callable(getattr(hybrid, function, None)), f"solutions/{name}.py lacks {function}"
        setattr(hybrid, function, getattr(delegating, function))
        check = runner.load_module(runner.CHECKS_DIR / f"check_{name}.py")
        with pytest.raises(AssertionError) as info:
            check.check(hybrid)
        assert "your solution called the library's" in str(info.value), (
            f"{name}: delegating {function} was not refused by a trap: {info.value}")
        assert "HINT:" in str(info.value)


def test_traps_are_removed_after_a_check():
    """The traps live only while the learner's function runs: the library is whole afterwards."""
    import autograd.functional as F
    from autograd import Tensor, kernels
    before = (kernels.rmsnorm_backward, kernels.rmsnorm_ref, F.rms_norm, Tensor.backward)
    hybrid = runner.load_module(LESSONS / "solutions" / "07_rmsnorm.py")
    hybrid.rms_norm_backward = runner.load_module(LESSONS / "delegating" / "07_rmsnorm.py").rms_norm_backward
    with pytest.raises(AssertionError, match="Tensor.backward"):
        runner.load_module(runner.CHECKS_DIR / "check_07_rmsnorm.py").check(hybrid)
    assert (kernels.rmsnorm_backward, kernels.rmsnorm_ref, F.rms_norm, Tensor.backward) == before


def test_training_check_catches_a_step_that_ignores_the_learning_rate():
    """opt.step() without the lr uses the optimizer's default: the check steps with other rates."""
    hybrid = runner.load_module(LESSONS / "solutions" / "14_training.py")

    def train_step(model, opt, inputs, targets, lr, max_norm):
        _, loss = model(inputs, targets)
        loss.backward()
        hybrid.clip_grad_norm(opt.params, max_norm)
        opt.step()                               # the mistake: the schedule's lr is ignored
        opt.zero_grad()
        return float(loss.data)

    hybrid.train_step = train_step
    with pytest.raises(AssertionError, match="THIS step's lr"):
        runner.load_module(runner.CHECKS_DIR / "check_14_training.py").check(hybrid)


@pytest.mark.parametrize("name", NAMES)
def test_graded_hints_go_from_a_nudge_to_the_answer(name, capsys):
    hints = runner.hints(name)
    assert len(hints) >= 3, f"check_{name}.py needs HINTS: a nudge, more, the answer (make exercise HINT=k)"
    assert runner.main([name[:2], "--hint", "1"]) == 0
    assert "hint 1 of" in capsys.readouterr().out
    assert runner.main([name[:2], "--hint", str(len(hints) + 1)]) == 1


def test_checkpoint_check_catches_a_non_atomic_save_and_a_pickle_load(tmp_path):
    import numpy as np
    check = runner.load_module(runner.CHECKS_DIR / "check_14_training.py")
    hybrid = runner.load_module(LESSONS / "solutions" / "14_training.py")
    hybrid.save_checkpoint = lambda path, arrays: np.savez(path, **arrays)       # writes in place
    with pytest.raises(AssertionError, match="not atomic"):
        check.check(hybrid)
    hybrid = runner.load_module(LESSONS / "solutions" / "14_training.py")
    hybrid.load_checkpoint = lambda path: dict(np.load(path, allow_pickle=True))
    with pytest.raises(AssertionError, match="pickle"):
        check.check(hybrid)


@pytest.mark.parametrize("name", NAMES)
def test_every_trap_names_a_library_function(name):
    """A trap whose library function was renamed away would crash the check: each must resolve."""
    harness = runner.load_module(runner.CHECKS_DIR / "_harness.py")
    traps = runner.load_module(runner.CHECKS_DIR / f"check_{name}.py").TRAPS
    assert traps, f"check_{name}.py has no TRAPS"
    for path in traps:
        owner, attribute = harness._resolve(path)
        assert callable(getattr(owner, attribute)), f"{path} is not a function"
