"""Run lessons as scripts, in order, timing each: python lessons/run.py [NN ...]

    python lessons/run.py            # every lessons/NN_*.py, stops at the first failure
    python lessons/run.py 07         # just lesson 07
    TINYLLM_FAST=1 python lessons/run.py    # fast mode (fewer steps), as CI runs them

Each lesson runs in its own process (as `python lessons/NN_name.py` would), so one lesson's
state never leaks into the next. Prints each lesson's wall time and the total.
"""
import subprocess
import sys
import time
from pathlib import Path

LESSONS_DIR = Path(__file__).resolve().parent


def lesson_files():
    """lessons/NN_name.py, in order (the two digits make the order)."""
    return sorted(p for p in LESSONS_DIR.glob("[0-9][0-9]_*.py"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    files = lesson_files()
    if argv:
        wanted = {f"{int(n):02d}" for n in argv}
        files = [f for f in files if f.name[:2] in wanted]
        missing = wanted - {f.name[:2] for f in files}
        if missing:
            print(f"no lesson {', '.join(sorted(missing))}; there are: "
                  f"{', '.join(f.stem for f in lesson_files())}", file=sys.stderr)
            return 2
    times, start_all = [], time.perf_counter()
    for f in files:
        print(f"\n##### {f.relative_to(LESSONS_DIR.parent)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(f)])
        elapsed = time.perf_counter() - start
        times.append((f.stem, elapsed, code))
        print(f"##### {f.stem}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {elapsed:.1f} s", flush=True)
        if code != 0:
            break
    total = time.perf_counter() - start_all
    if len(files) > 1:
        print("\nlesson                          time")
        for name, elapsed, code in times:
            print(f"  {name:28s} {elapsed:6.1f} s{'' if code == 0 else '  FAILED'}")
        print(f"  {'total':28s} {total:6.1f} s")
    return 0 if all(code == 0 for _, _, code in times) and len(times) == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
