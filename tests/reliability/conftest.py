"""The reliability suite's figures: counts its tests add to, printed at the end of the run.

A test asks for `figures` and calls `figures.add(name, n)` with one of the names of
`FIGURES`. The summary lists every figure in that order; one that no test added to reads
"not measured", never 0, so that a figure nobody measured cannot pass for a good one. It is
printed only when a test of this folder ran (also when the whole `tests/` tree runs).
"""
from __future__ import annotations

import pytest

FIGURES = (
    "malformed inputs tried",
    "malformed inputs refused cleanly",
    "clean imports",
    "kill points tried with the database intact",
    "parallel writers",
    "lost updates",
    "small cells searched for",
    "small cells found",
)


class Figures:
    """Named counts for the whole pytest session."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.ran = False  # a reliability test ran in this session

    def add(self, name: str, n: int = 1) -> None:
        if name not in FIGURES:
            raise KeyError(f"unknown figure {name!r}; the figures are: {', '.join(FIGURES)}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"a figure counts things: {n!r} is not a whole number >= 0")
        self.counts[name] = self.counts.get(name, 0) + n

    def lines(self) -> list[str]:
        width = max(map(len, FIGURES))
        return [f"{name:<{width}}  "
                + (f"{self.counts[name]:>12,}" if name in self.counts else "not measured")
                for name in FIGURES]


_FIGURES = pytest.StashKey[Figures]()


def _figures(config: pytest.Config) -> Figures:
    if _FIGURES not in config.stash:
        config.stash[_FIGURES] = Figures()
    return config.stash[_FIGURES]


@pytest.fixture(scope="session", autouse=True)
def _a_reliability_test_ran(pytestconfig):
    # Autouse in this folder only: set up when its first test runs.
    _figures(pytestconfig).ran = True


@pytest.fixture(scope="session")
def figures(pytestconfig) -> Figures:
    """The session's figures (session-scoped, so hypothesis tests may use it)."""
    return _figures(pytestconfig)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    found = config.stash.get(_FIGURES, None)
    if found is None or not found.ran:
        return
    terminalreporter.section("reliability figures")
    for line in found.lines():
        terminalreporter.write_line(line)
