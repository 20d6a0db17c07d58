"""The importer's two CSV readers agree: Arrow's fast path gives the same strings, line numbers
and problems as the csv module for any file, and hands over to the csv module at the exact row
where it cannot go on (a row spanning lines, a blank line, a bad row, bytes that are not
UTF-8), without losing or repeating a row."""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.csvfile import FileInfo, read_chunks
from store.problems import Problems

REQUIRED = ("patient_id", "measure_id", "period")
OPTIONAL = ("value",)
HEADER = ["patient_id", "measure_id", "period", "value", "extra"]


def read(path, arrow: bool, chunk_rows: int = 1_000):
    info, problems = FileInfo("results", path), Problems()
    chunks = [(frame.to_dict("list"), lines.tolist())
              for frame, lines in read_chunks(info, REQUIRED, OPTIONAL, problems, chunk_rows,
                                              arrow=arrow)]
    rows = [{name: values[i] for name, values in frame.items()} | {"line": lines[i]}
            for frame, lines in chunks for i in range(len(lines))]
    return rows, [str(problem) for problem in problems.items], info.rows


def assert_same_reading(path, chunk_rows: int = 1_000):
    fast, slow = read(path, True, chunk_rows), read(path, False, chunk_rows)
    assert fast[0] == slow[0], "rows or line numbers differ"
    assert fast[1:] == slow[1:], "problems or row counts differ"
    return fast


def many_rows(count: int) -> list[list[str]]:
    return [[f"P{i}", "cbp", "2025-03", str(i % 7), "x"] for i in range(count)]


def write(path, lines: list[str], newline: str = "\n", bom: bool = False) -> object:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + newline.join(lines).encode())
    return path


def csv_lines(rows) -> list[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().split("\n")[:-1]


def test_a_well_formed_file_is_read_by_arrow_with_the_csv_modules_lines(tmp_path):
    path = write(tmp_path / "r.csv", csv_lines([HEADER, *many_rows(5_000)]) + [""])
    rows, problems, count = assert_same_reading(path, chunk_rows=777)
    assert count == 5_000 and not problems
    assert rows[0]["line"] == 2 and rows[-1]["line"] == 5_001
    assert rows[1234] == {"patient_id": "P1234", "measure_id": "cbp", "period": "2025-03",
                          "value": str(1234 % 7), "line": 1_236}


@pytest.mark.parametrize("break_at", [3, 2_500, 4_999])
@pytest.mark.parametrize("breakage", [
    "quoted line break", "wrong width", "not utf-8", "blank line", "bad quote",
    "whitespace line", "unclosed quote",
])
def test_where_arrow_cannot_go_on_the_csv_module_reads_on_from_that_row(tmp_path, break_at,
                                                                        breakage):
    rows = csv_lines([HEADER, *many_rows(5_000)])
    line = break_at + 1  # index in `rows` of data row `break_at`
    broken = {
        "quoted line break": 'P,cbp,2025-03,"1\n2",x',
        "wrong width": "P,cbp,2025-03",
        "blank line": "",
        "bad quote": 'P,"cbp"x,2025-03,1,x',
        "whitespace line": "   ",
        "unclosed quote": 'P,"cbp,2025-03,1,x',
    }
    path = tmp_path / "r.csv"
    if breakage == "not utf-8":
        data = "\n".join(rows).encode().replace(f"P{break_at},".encode(), b"P\xea,", 1)
        path.write_bytes(data)
    else:
        rows.insert(line, broken[breakage])
        write(path, rows + [""])
    got, problems, _ = assert_same_reading(path, chunk_rows=1_000)
    ids = [row["patient_id"] for row in got]
    assert len(ids) == len(set(ids)), "a row was read twice"
    if breakage in ("quoted line break", "blank line", "whitespace line"):
        assert len(got) == 5_000 + (breakage == "quoted line break")
        assert got[-1]["line"] == 5_002 + (breakage == "quoted line break")
    else:
        assert problems, "the broken row was not reported"
        assert f"line {line + 1:,}:" in problems[0]


def test_bom_crlf_and_trailing_blank_lines_read_alike(tmp_path):
    path = write(tmp_path / "r.csv", csv_lines([HEADER, *many_rows(50)]) + ["", "", ""],
                 newline="\r\n", bom=True)
    rows, problems, count = assert_same_reading(path)
    assert count == 50 and not problems and rows[-1]["line"] == 51


FIELD = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(' ,"\t\r\n\'=+-@;|\\x') + ["\u00a0", "\u2028", "\ufeff", "é", "中",
                                                          "\x00", "\x1c", "\U0001f600"]),
        st.characters(codec="utf-8")),
    max_size=8)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(FIELD, min_size=5, max_size=5), max_size=12),
       raw_lines=st.lists(st.sampled_from(["", "  ", "a,b", 'x,"y"z,1,2,3', '"', ",,,,"]),
                          max_size=2),
       positions=st.lists(st.integers(0, 12), min_size=2, max_size=2),
       newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       chunk_rows=st.integers(1, 5))
def test_any_file_is_read_alike_by_both_paths(tmp_path, rows, raw_lines, positions, newline,
                                              bom, chunk_rows):
    lines = csv_lines([HEADER, *rows])
    for raw, position in zip(raw_lines, positions):
        lines.insert(min(1 + position, len(lines)), raw)
    assert_same_reading(write(tmp_path / "r.csv", lines + [""], newline, bom), chunk_rows)
