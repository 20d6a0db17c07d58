"""Reading a contract CSV file in chunks, with the line number of every row kept.

Well-formed files are parsed by Apache Arrow's CSV reader (`pyarrow.csv`, C++, about ten
times faster than the csv module at 10M rows); the line of a row is then its position, which
holds only while no row spans lines and no line is blank. So the Arrow path stops at the first
batch where that could fail (a value holding a line break, a row of the wrong width, a blank
line, bytes that are not UTF-8) and the csv module reads on from that row, saying exactly
which line and what is wrong. Both paths give the same strings: trimmed of whitespace by
Arrow's `utf8_trim_whitespace`.
"""
from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from store.problems import Problems

# Big enough for any real field, small enough that a runaway quote cannot eat the memory.
FIELD_LIMIT = 1 << 20  # characters of one value; the Arrow path holds to it too
csv.field_size_limit(FIELD_LIMIT)
# No database text can hold NUL (PostgreSQL refuses it), so no value may.
NUL_RULE = "holds a NUL character (\\x00), which cannot be stored as text: remove it"


@dataclass
class FileInfo:
    role: str
    path: Path
    rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the known columns, in header order

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
    arrow: bool = True,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (frame of stripped strings with every known column, line numbers) per chunk.

    `arrow=False` reads with the csv module only: the reference the tests hold Arrow's path to.

    Header problems and malformed rows are added to `problems`; a file that cannot be read on
    (bad encoding, broken quoting) stops at that point with a problem saying where. Whichever
    reader gave a chunk, its rows are counted and its NUL characters reported here.
    """
    for frame, lines in _chunks(info, required, optional, problems, chunk_rows, arrow):
        info.rows += len(frame)
        _report_nul(frame, lines, info.columns, info.name, problems)
        yield frame, lines


def _chunks(info: FileInfo, required, optional, problems: Problems, chunk_rows: int,
            arrow: bool) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    name = info.name
    try:
        handle = open(info.path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as error:
        problems.add(name, None, None, None, f"cannot be opened: {error.strerror}")
        return
    with handle:
        reader = csv.reader(handle, strict=True)
        row_starts = 1  # the line where the row being read starts (the header's first)
        try:
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                problems.add(name, None, None, None, "the file is empty: a header row is required")
                return
            header = [cell.strip().lower() for cell in header]
            missing = [column for column in required if column not in header]
            for column in missing:
                problems.add(name, 1, column, None, "required column is missing from the header")
            duplicated = sorted(c for c, n in Counter(header).items() if n > 1 and c)
            for column in duplicated:
                problems.add(name, 1, column, None, "column appears more than once in the header")
            if missing or duplicated:
                return
            known = set(required) | set(optional)
            info.ignored_columns = [c for c in header if c not in known]
            positions = {column: header.index(column) for column in known if column in header}
            info.columns = sorted(positions, key=positions.get)
            width = len(header)

            skip = 0
            row_starts = 2
            if arrow and reader.line_num == 1 and width > 1 and _arrow_can_read(info.path):
                # (a one-column file's blank lines would be rows to Arrow)
                skip, complete = yield from _arrow_chunks(info.path, positions, known, width,
                                                          chunk_rows)
                if complete:
                    return
            for _ in range(skip):
                next(reader)  # rows the Arrow path read already

            rows: list[list[str]] = []
            lines: list[int] = []
            while True:
                row_starts = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank lines carry no data
                if len(row) != width:
                    problems.add(
                        name, row_starts, None, None,
                        f"row has {len(row)} fields but the header has {width}",
                    )
                    continue
                rows.append(row)
                lines.append(row_starts)  # a row spanning lines is where it starts
                if len(rows) >= chunk_rows:
                    yield _csv_frame(rows, positions, known), np.asarray(lines)
                    rows, lines = [], []
            if rows:
                yield _csv_frame(rows, positions, known), np.asarray(lines)
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
            if reader.line_num > row_starts and "end of data" in str(error):
                # The csv module names the last line; the user needs the opening quote's.
                problems.add(name, row_starts, None, None,
                             "cannot be parsed as CSV: a quoted field starting on this line "
                             f"is never closed (read on to line {reader.line_num:,})")
            elif "field larger than field limit" in str(error):
                problems.add(name, row_starts, None, None,
                             f"a value in the row starting on this line is longer than "
                             f"{FIELD_LIMIT:,} characters, the most one value may hold "
                             "(is a quote left open?)")
            else:
                problems.add(name, reader.line_num, None, None,
                             f"cannot be parsed as CSV: {error}")


def _arrow_chunks(path: Path, positions: dict[str, int], known: set[str], width: int,
                  chunk_rows: int):
    """The file's rows from the first on, as long as each row is one line; returns (rows
    yielded, whether that was the whole file). The csv module reads on from the first row
    this does not yield."""
    names = [f"field{index}" for index in range(width)]
    line = 2
    try:
        batches = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=names,
                                            block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in batches:
            # Any column, ignored ones too: a line break anywhere shifts the lines after it.
            # A value beyond the csv module's limit is refused there, with its line.
            if any(pc.any(pc.match_substring_regex(values, "[\r\n]")).as_py()
                   or (pc.max(pc.utf8_length(values)).as_py() or 0) > FIELD_LIMIT
                   for values in batch.columns):
                return line - 2, False
            columns = {column: batch.column(names[index]) for column, index in positions.items()}
            for start in range(0, batch.num_rows, chunk_rows):
                size = min(chunk_rows, batch.num_rows - start)
                frame = _frame({column: values.slice(start, size)
                                for column, values in columns.items()}, known, size)
                yield frame, np.arange(line, line + size)
                line += size
    except (pa.ArrowInvalid, OSError):
        return line - 2, False
    # An empty file goes to the csv module, which says so.
    return line - 2, line > 2


# What the Arrow path cannot read as the csv module does: a blank line between rows (Arrow
# reads it as a row of empty fields, shifting the line numbers after it), and a quote inside a
# field that is not an escaped "" (`"x"y`: Arrow joins it to xy, the csv module refuses it).
# Blank lines are found with bytes.find (memchr speed); the quote pattern starts with a
# literal quote so that the regex engine skips to each quote (100x faster than a pattern that
# starts with a character class: 0.02 s against 1.7 s for 61 MB).
_BLANK_LINES = (b"\n\n", b"\n\r", b"\r\r")
_ODD_QUOTE = re.compile(rb'"(?:(?<=[^,"\r\n]")[^,"\r\n]|"(?<![^,\r\n]"")[^,"\r\n])')


def _first_odd_place(block: bytes) -> int:
    found = [at for at in (block.find(pattern) for pattern in _BLANK_LINES) if at >= 0]
    quote = _ODD_QUOTE.search(block) if b'"' in block else None
    if quote:
        found.append(max(quote.start() - 1, 0))
    return min(found, default=-1)


def _arrow_can_read(path: Path) -> bool:
    """Whether the file holds nothing that the csv module must read (see above); blank lines
    at the very end do not count."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        previous = b""
        while block := handle.read(1 << 24):
            joined = previous + block
            found = _first_odd_place(joined)
            if found >= 0:
                at = handle.tell() - len(joined) + found
                handle.seek(at)
                rest = handle.read(65)
                return size - at <= 64 and rest.strip(b"\r\n") == b""
            previous = block[-3:]
    return True


def _frame(columns: dict[str, object], known: set[str], size: int) -> pd.DataFrame:
    data = {}
    for column in known:
        if column in columns:
            trimmed = pc.utf8_trim_whitespace(pa.array(columns[column], type=pa.string()))
            data[column] = pd.Series(pd.arrays.ArrowStringArray(trimmed), copy=False)
        else:
            data[column] = pd.Series([""] * size, dtype="str")
    return pd.DataFrame(data)


def _csv_frame(rows: list[list[str]], positions: dict[str, int], known: set[str]) -> pd.DataFrame:
    fields = list(zip(*rows))
    return _frame({column: list(fields[index]) for column, index in positions.items()},
                  known, len(rows))


def _report_nul(frame: pd.DataFrame, lines: np.ndarray, columns: list[str], file: str,
                problems: Problems) -> None:
    """A problem for each value holding a NUL character, in the header's column order."""
    for column in columns:
        values = frame[column]
        for position in np.flatnonzero(values.str.contains("\x00", regex=False)
                                       .to_numpy(dtype=bool)):
            if problems.full:
                problems.add_count(1)
                continue
            problems.add(file, int(lines[position]), column, values.iat[position], NUL_RULE)


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
