"""Reading a contract CSV file in chunks, with the line number of every row kept."""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from store.problems import Problems

# Big enough for any real field, small enough that a runaway quote cannot eat the memory.
csv.field_size_limit(1 << 20)


@dataclass
class FileInfo:
    role: str
    path: Path
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def describe(self) -> dict:
        return {
            "role": self.role,
            "name": self.name,
            "sha256": sha256(self.path),
            "bytes": self.path.stat().st_size,
            "rows": self.rows,
        }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_chunks(
    info: FileInfo,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    problems: Problems,
    chunk_rows: int = 100_000,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (frame of stripped strings with every known column, line numbers) per chunk.

    Header problems and malformed rows are added to `problems`; a file that cannot be read on
    (bad encoding, broken quoting) stops at that point with a problem saying where.
    """
    name = info.name
    try:
        handle = open(info.path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as error:
        problems.add(name, None, None, None, f"cannot be opened: {error.strerror}")
        return
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                problems.add(name, None, None, None, "the file is empty: a header row is required")
                return
            header = [cell.strip().lower() for cell in header]
            missing = [column for column in required if column not in header]
            for column in missing:
                problems.add(name, 1, column, None, "required column is missing from the header")
            duplicated = sorted({c for c in header if header.count(c) > 1 and c})
            for column in duplicated:
                problems.add(name, 1, column, None, "column appears more than once in the header")
            if missing or duplicated:
                return
            known = set(required) | set(optional)
            info.ignored_columns = [c for c in header if c not in known]
            positions = {column: header.index(column) for column in known if column in header}
            width = len(header)

            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank lines carry no data
                if len(row) != width:
                    problems.add(
                        name, reader.line_num, None, None,
                        f"row has {len(row)} fields but the header has {width}",
                    )
                    continue
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) >= chunk_rows:
                    info.rows += len(rows)
                    yield _frame(rows, positions, known), np.asarray(lines)
                    rows, lines = [], []
            if rows:
                info.rows += len(rows)
                yield _frame(rows, positions, known), np.asarray(lines)
            if info.rows == 0:
                problems.add(name, None, None, None, "the file has a header but no data rows")
        except UnicodeDecodeError as error:
            line, offset = _locate_bad_bytes(info.path)
            bad = error.object[error.start:error.end]
            problems.add(
                name, line, None, None,
                f"is not UTF-8: byte {bad!r} at byte offset {offset:,}; save the file as UTF-8",
            )
        except csv.Error as error:
            problems.add(name, reader.line_num, None, None, f"cannot be parsed as CSV: {error}")


def _frame(rows: list[list[str]], positions: dict[str, int], known: set[str]) -> pd.DataFrame:
    columns = list(zip(*rows))
    data = {}
    for column in known:
        if column in positions:
            data[column] = pd.Series(columns[positions[column]], dtype=object).str.strip()
        else:
            data[column] = pd.Series([""] * len(rows), dtype=object)
    return pd.DataFrame(data)


def _locate_bad_bytes(path: Path) -> tuple[int | None, int]:
    """The line and byte offset of the first byte sequence that is not UTF-8."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return number, offset + error.start
            offset += len(raw)
    return None, offset
