"""Check an exercise: python lessons/exercise.py NN [--impl exercises|solutions|wrong|delegating|PATH] [--hint K]

    python lessons/exercise.py 07                     # your file, lessons/exercises/07_rmsnorm.py
    python lessons/exercise.py 07 --impl solutions    # the reference solution (should PASS)
    python lessons/exercise.py 07 --impl wrong        # a deliberately wrong one (should FAIL)
    python lessons/exercise.py 07 --impl my_try.py    # any file defining the same functions
    python lessons/exercise.py 07 --hint 1            # hint 1 (a nudge); 2, 3, ... say more, the last
                                                      # one is the answer  (make exercise N=07 HINT=1)
    python lessons/exercise.py all --impl solutions   # every exercise
    python lessons/exercise.py                        # list the exercises

The check, lessons/checks/check_NN_name.py, defines check(impl): it calls the functions of the
module it is given and compares them with gradcheck (float64 central differences) and with the
library. Prints PASS, or FAIL with the max relative error, where it occurred and a hint.
Exit code 0 on PASS, 1 on FAIL. While your functions run, the library pieces the exercise
replaces are traps: a solution that calls them fails with "your solution called the library's X"
(lessons/delegating/ holds such solutions; the tests make sure every check rejects them).
"""
import argparse
import importlib.util
import sys
import traceback
from pathlib import Path

LESSONS_DIR = Path(__file__).resolve().parent
CHECKS_DIR = LESSONS_DIR / "checks"
IMPLS = ("exercises", "solutions", "wrong", "delegating")

for _p in (str(CHECKS_DIR), str(LESSONS_DIR.parent)):     # `from _harness import`, `import autograd`
    if _p not in sys.path:
        sys.path.insert(0, _p)


def load_module(path, name=None):
    """Import a Python file by its path (lesson files start with digits: not importable by name)."""
    path = Path(path).resolve()
    name = name or "tinyllm_lessons_" + "_".join(path.with_suffix("").parts[-2:])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exercise_names():
    """['02_backward', '03_broadcasting', ...]: one per lessons/checks/check_NN_name.py."""
    return sorted(p.stem[len("check_"):] for p in CHECKS_DIR.glob("check_*.py"))


def find_exercise(number):
    """'07' or '7' -> '07_rmsnorm'."""
    number = f"{int(number):02d}"
    matches = [n for n in exercise_names() if n.startswith(number + "_")]
    if not matches:
        raise SystemExit(f"no exercise {number}; there are: {', '.join(exercise_names())}")
    return matches[0]


def impl_path(name, impl):
    """The file to check: lessons/<impl>/<name>.py for the three known folders, else impl is a path."""
    if impl in IMPLS:
        return LESSONS_DIR / impl / f"{name}.py"
    return Path(impl)


def hints(name):
    """The graded hints of an exercise: its check's HINTS list, a nudge first, the answer last."""
    return list(getattr(load_module(CHECKS_DIR / f"check_{name}.py"), "HINTS", []))


def show_hint(name, k):
    """Print hint k (1-based) of exercise `name`; returns False when there is no such hint."""
    all_hints = hints(name)
    if not 1 <= k <= len(all_hints):
        print(f"exercise {name} has {len(all_hints)} hint(s): HINT=1 .. {len(all_hints)}")
        return False
    print(f"exercise {name}, hint {k} of {len(all_hints)}"
          + (" (the last: the answer)" if k == len(all_hints) else f" (more: HINT={k + 1})") + ":")
    print("  " + all_hints[k - 1].replace("\n", "\n  "))
    return True


def run_check(name, impl="exercises"):
    """Load the check and the implementation, run check(impl). Raises whatever the check raises."""
    check = load_module(CHECKS_DIR / f"check_{name}.py")
    path = impl_path(name, impl)
    module = load_module(path, name=f"tinyllm_lessons_{impl if impl in IMPLS else 'custom'}_{name}")
    check.check(module)


def report(name, impl):
    """Run one check, print PASS/FAIL; returns True on PASS."""
    path = impl_path(name, impl).resolve()
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    print(f"exercise {name}: checking {shown}")
    try:
        run_check(name, impl)
    except NotImplementedError as e:
        print(f"FAIL  not written yet: {e}\n"
              f"HINT: in {shown}, replace `raise NotImplementedError(...)` with your code")
        return False
    except AssertionError as e:        # CheckFailure and GradcheckError are AssertionErrors
        print(f"FAIL  {e}")
        if hints(name):
            print(f"      stuck? graded hints: make exercise N={name[:2]} HINT=1 (then 2, ...)")
        return False
    except FileNotFoundError as e:
        print(f"FAIL  {e}")
        return False
    except Exception:                   # the learner's code crashed: show where
        print("FAIL  your code raised an exception:")
        traceback.print_exc(limit=-3, file=sys.stdout)
        return False
    print("PASS")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("number", nargs="?", help="lesson number (07), or 'all'")
    parser.add_argument("--impl", default="exercises",
                        help="exercises (default, yours), solutions, wrong, delegating, or a path to a .py file")
    parser.add_argument("--hint", type=int, default=0,
                        help="show hint K (1 = a nudge, the last = the answer) instead of checking")
    args = parser.parse_args(argv)
    if args.number is None:
        print("exercises:", ", ".join(exercise_names()))
        print("usage: python lessons/exercise.py NN [--impl exercises|solutions|wrong|PATH]")
        return 0
    names = exercise_names() if args.number == "all" else [find_exercise(args.number)]
    if args.hint:
        return 0 if all([show_hint(name, args.hint) for name in names]) else 1
    ok = [report(name, args.impl) for name in names]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
