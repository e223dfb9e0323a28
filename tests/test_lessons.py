"""The lessons: cheap structural checks always; running every lesson (fast mode) is `slow`
(make test-all; CI runs `TINYLLM_FAST=1 make lessons` separately)."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
FILES = sorted(LESSONS.glob("[0-9][0-9]_*.py"))


def test_lesson_numbers_are_unique():
    numbers = [f.name[:2] for f in FILES]
    assert len(numbers) == len(set(numbers)), f"two lessons share a number: {numbers}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_lesson_has_a_docstring_and_is_in_the_readme(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring.splitlines()) >= 3, f"{path.name} needs a module docstring (its narrative)"
    assert f"({path.name})" in (LESSONS / "README.md").read_text(), f"lessons/README.md does not link {path.name}"


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_lesson_runs_in_fast_mode(path):
    env = dict(os.environ, TINYLLM_FAST="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
