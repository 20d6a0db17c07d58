"""The figures registry: names checked, unmeasured figures said so, the summary printed only
when a reliability test ran (checked in a pytest run of its own)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import FIGURES, Figures


def shown(figures: Figures) -> dict[str, str]:
    width = max(map(len, FIGURES))
    return {line[:width].strip(): line[width:].strip() for line in figures.lines()}


def test_a_figure_no_test_added_reads_not_measured_and_zero_reads_zero():
    figures = Figures()
    figures.add("lost updates", 0)
    figures.add("clean imports", 2)
    figures.add("clean imports")
    assert shown(figures) == {name: "not measured" for name in FIGURES} | {
        "lost updates": "0", "clean imports": "3"}
    assert list(shown(figures)) == list(FIGURES)


@pytest.mark.parametrize("name, n", [("clean import", 1), ("clean imports", -1),
                                     ("clean imports", 1.5), ("clean imports", True)])
def test_an_unknown_name_or_a_count_that_is_not_a_count_is_refused(name, n):
    with pytest.raises((KeyError, ValueError)):
        Figures().add(name, n)


def _suite(tmp_path: Path) -> Path:
    tests = tmp_path / "tests"
    (tests / "reliability").mkdir(parents=True)
    for name in ("__init__.py", "conftest.py"):
        shutil.copy(Path(__file__).with_name(name), tests / "reliability" / name)
    (tests / "__init__.py").write_text("")
    (tests / "reliability" / "test_one.py").write_text(
        "def test_adds(figures):\n    figures.add('parallel writers', 4)\n")
    (tests / "test_elsewhere.py").write_text("def test_nothing():\n    pass\n")
    return tests


def _run(folder: Path, *targets: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(folder), *targets], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_summary_is_printed_when_the_whole_tree_runs_and_only_then(tmp_path):
    tests = _suite(tmp_path)
    whole = _run(tmp_path, "tests")
    assert "reliability figures" in whole
    assert any(line.startswith("parallel writers") and line.split()[-1] == "4"
               for line in whole.splitlines()), whole
    assert any(line.startswith("lost updates") and line.endswith("not measured")
               for line in whole.splitlines()), whole
    elsewhere = _run(tmp_path, str(tests / "test_elsewhere.py"))
    assert "reliability figures" not in elsewhere
