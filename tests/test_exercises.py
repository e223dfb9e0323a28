"""The lesson exercises can't pass by accident: for every lessons/checks/check_NN_name.py,
the reference solution passes, the shipped stub fails (its NotImplementedError reaches the
check, so the check really calls the learner's file), and a deliberately wrong solution fails
with a message that says where and gives a hint. In-process and fast: part of `make test`."""
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
    lessons = sorted(p.stem for p in LESSONS.glob("[0-9][0-9]_*.py"))
    numbers_with_exercise = {name[:2] for name in NAMES}
    missing = [stem for stem in lessons if int(stem[:2]) >= 2 and stem[:2] not in numbers_with_exercise]
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
