"""What is wrong with an input file, said so that a person can fix it."""
from __future__ import annotations

from dataclasses import dataclass

SHOWN = 20  # problems listed in full; the rest are counted


@dataclass
class Problem:
    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    rows: int = 1  # rows sharing this value, for problems grouped by distinct value

    def __str__(self) -> str:
        return self.describe(with_value=True)

    def describe(self, with_value: bool = True) -> str:
        """File, line, column, value and rule; without the value for logs and the audit log,
        which must not hold a patient's identifier or data (the person importing is shown
        the value: it is their own file, and they need it to find the row)."""
        where = self.file
        if self.line is not None:
            where += f", line {self.line:,}"
        if self.column:
            where += f", column {self.column}"
        what = "" if self.value is None or not with_value else f"{_quote(self.value)}: "
        rows = f" ({self.rows:,} rows; the first is on the line shown)" if self.rows > 1 else ""
        return f"{where}: {what}{self.rule}{rows}"


def _quote(value: str) -> str:
    shown = value if len(value) <= 60 else value[:57] + "..."
    return repr(shown)


class Problems:
    """Problems in the order they were found; a value outside a vocabulary counts once.

    Only the first SHOWN are kept in full, so a file with millions of bad rows is still
    reported in bounded memory.
    """

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0
        self._grouped: dict[tuple[str, str | None, str | None], Problem | None] = {}

    def add(self, file, line, column, value, rule) -> None:
        self.total += 1
        if len(self.items) < SHOWN:
            self.items.append(Problem(file, line, column, value, rule))

    def add_count(self, count: int) -> None:
        """Count problems beyond those shown without building them."""
        self.total += count

    @property
    def full(self) -> bool:
        return len(self.items) >= SHOWN

    def add_grouped(self, file, line, column, value, rule, rows=1) -> None:
        key = (file, column, value)
        if key in self._grouped:
            known = self._grouped[key]
            if known is not None:
                known.rows += rows
            return
        self.total += 1
        problem = None
        if len(self.items) < SHOWN:
            problem = Problem(file, line, column, value, rule, rows)
            self.items.append(problem)
        self._grouped[key] = problem

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def report(self) -> str:
        lines = [f"- {problem}" for problem in self.items]
        rest = self.total - len(self.items)
        if rest > 0:
            lines.append(f"... and {rest:,} more problem{'s' if rest != 1 else ''}")
        return "\n".join(lines)


class ImportRefused(Exception):
    """The input was refused; nothing in the database changed."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"Import refused: {count:,} problem{'s' if count != 1 else ''} found; "
            "the database was not changed.\n" + problems.report()
        )
