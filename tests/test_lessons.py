"""The lessons: cheap structural checks always (docstring, README link, `# %%` cells that each
parse alone); running every lesson in fast mode, as a script and cell by cell as Jupyter or VS
Code would, is `slow` (make test-all; CI runs `TINYLLM_FAST=1 make lessons` separately)."""
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


def cells(path):
    """The `# %%` cells of a lesson, as jupytext and VS Code split them: [(first line number, source)]."""
    chunks, current, start = [], [], 1
    for number, line in enumerate(path.read_text().split("\n"), start=1):
        if line.startswith("# %%"):
            chunks.append((start, "\n".join(current)))
            current, start = [], number
        current.append(line)
    chunks.append((start, "\n".join(current)))
    return [(start, c) for start, c in chunks if c.strip()]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_lesson_is_in_cells_that_parse_alone(path):
    source = path.read_text()
    tree = ast.parse(source)
    first_after_docstring = source.split("\n")[tree.body[0].end_lineno]
    assert first_after_docstring.startswith("# %%"), f"{path.name}: a `# %%` cell should start after the docstring"
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("section("):
            above = [l for l in lines[max(0, i - 3):i] if l.strip()]
            assert any(l.startswith("# %%") for l in above), f"{path.name}:{i + 1}: no `# %%` cell starts at {line}"
    for _, cell in cells(path):
        ast.parse(cell)                          # a cell boundary inside a block would fail here


CELL_DRIVER = """
import sys
sys.path.insert(0, ".")
namespace = {"__name__": "__main__"}
for start, cell in CELLS:     # each cell compiled alone, at its own line numbers in the file
    exec(compile("\\n" * (start - 1) + cell, PATH, "exec"), namespace)
"""


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_lesson_runs_cell_by_cell_in_fast_mode(path):
    """One namespace, the cells in order, from the lessons folder: what a notebook kernel does."""
    env = dict(os.environ, TINYLLM_FAST="1", MPLBACKEND="Agg")
    program = f"CELLS = {cells(path)!r}\nPATH = {str(path)!r}\n" + CELL_DRIVER
    done = subprocess.run([sys.executable, "-c", program], cwd=LESSONS, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{path.name} as cells failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
