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


# Found by tests/reliability/test_hostile_input.py.

@pytest.mark.parametrize("header, expected", [
    ('patient_id,"measure_id,period\nP1,cbp\n', "line 1: cannot be parsed as CSV: a quoted "
     "field starting on this line is never closed (read on to line 2)"),
    ('"patient_id"x,measure_id,period\nP1,cbp,2025-01\n', "line 1: cannot be parsed as CSV"),
    ("patient_id,measure_id,period," + "v" * (1 << 21) + "\nP1,cbp,2025-01,1\n",
     "line 1: a value in the row starting on this line is longer than 1,048,576 characters"),
])
def test_broken_quoting_in_the_header_is_a_problem_at_line_1(tmp_path, header, expected):
    """It raised UnboundLocalError: the header's line was not yet known to the handler."""
    path = tmp_path / "r.csv"
    path.write_text(header, encoding="utf-8")
    rows, problems, _ = assert_same_reading(path)
    assert not rows and len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("quoted_line_break", [False, True])
def test_a_value_beyond_the_field_limit_is_refused_on_both_paths(tmp_path, quoted_line_break):
    """Arrow read a 2 MiB value that the csv module refuses: the two paths disagreed."""
    from store.csvfile import FIELD_LIMIT

    huge = ("a\n" if quoted_line_break else "") + "x" * (FIELD_LIMIT + 1)
    rows = many_rows(10)
    rows[4][4] = huge
    path = write(tmp_path / "r.csv", csv_lines([HEADER, *rows]) + [""])
    _, problems, _ = assert_same_reading(path)  # (reading stops there: the file is refused)
    assert problems == ["r.csv, line 6: a value in the row starting on this line is longer "
                        "than 1,048,576 characters, the most one value may hold (is a quote "
                        "left open?)"]


def test_a_value_of_exactly_the_field_limit_is_read(tmp_path):
    from store.csvfile import FIELD_LIMIT

    rows = many_rows(3)
    rows[1][3] = "7" * FIELD_LIMIT
    got, problems, _ = assert_same_reading(write(tmp_path / "r.csv",
                                                 csv_lines([HEADER, *rows]) + [""]))
    assert not problems and len(got[1]["value"]) == FIELD_LIMIT


def test_a_nul_character_is_a_problem_with_its_line_and_column(tmp_path):
    """PostgreSQL cannot store NUL in text (psycopg raised DataError mid-import)."""
    rows = many_rows(5)
    rows[2][1] = "cb\x00p"
    rows[3][4] = "\x00"  # an ignored column is never stored
    _, problems, _ = assert_same_reading(write(tmp_path / "r.csv",
                                               csv_lines([HEADER, *rows]) + [""]))
    assert problems == ["r.csv, line 4, column measure_id: 'cb\\x00p': holds a NUL character "
                        "(\\x00), which cannot be stored as text: remove it"]


def test_a_header_of_100_000_columns_is_checked_in_linear_time(tmp_path):
    """The duplicate-column check was quadratic (list.count per column: 18 s at 50,000)."""
    import time

    header = [*HEADER, *(f"c{i}" for i in range(100_000)), "c7"]
    path = write(tmp_path / "r.csv", [",".join(header), ",".join(["x"] * len(header)), ""])
    started = time.perf_counter()
    _, problems, _ = read(path, arrow=True)
    assert time.perf_counter() - started < 10
    assert problems == ["r.csv, line 1, column c7: column appears more than once in the header"]
