"""Hostile input to the importer, on SQLite and PostgreSQL (issue #9, item 5).

Every attempt starts from a database that holds a valid extract and must end in one of two
ways, never any other exception:

- a clean import (`ImportSummary`), after which every stored value is the input value as the
  csv module reads it, stripped (str.strip) or, for a controlled column, its canonical label:
  SQL-like and formula-like text is stored as plain data, never executed or changed;
- `store.ImportRefused`, whose message names the file and, for a problem in a row, the line;
  and the database is exactly as before (every table the import writes, row for row).

The inputs: a deterministic sweep of hostile values through every column of patients.csv and
results.csv, property-based mutations of a valid extract (cells, bytes, line endings, BOMs),
random bytes, fields beyond the csv module's 1 MiB limit and a header of 10,000 columns.
Each attempt is counted into the reliability figures.
"""
from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from store import ImportRefused, ImportSummary, import_extract, vocabulary
from store.counts import result_counts, result_counts_state, result_groups
from store.csvfile import FIELD_LIMIT
from store.engine import get_engine
from store.schema import import_batches, measures, patients, results
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    SHIPPED_MEASURES,
)

# --- a valid small extract --------------------------------------------------------------

HEADERS = {"patients": PATIENT_HEADER, "results": RESULT_HEADER}
GOOD = {"patients": GOOD_PATIENTS, "results": GOOD_RESULTS}

# --- hostile values, by family ----------------------------------------------------------

SQL_LIKE = [
    "'; DROP TABLE patients;--", '" OR 1=1', "' OR '1'='1", "1; DELETE FROM results",
    "Robert'); DROP TABLE results;--", "$$; SELECT pg_sleep(5); --", "\\'; TRUNCATE measures;",
    "%s", "?", ":name", "%(site)s",
]
FORMULA_LIKE = [
    '=CONCAT("d=",A1)&"Open"', "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "=1+1", "\t=1+1", "=cbp",
]
QUOTES = ['"', '""', 'a"b', '"quoted"', "'single'", '"unclosed', "\\", "\\N", ",", '","',
          "\t", "COPY"]
LINE_BREAKS = ["a\nb", "a\rb", "a\r\nb", "\n", "\r", "\r\n\r\n", "North\x0bClinic"]
NUL = ["\x00", "Eng\x00lish", "P1\x00"]
UNICODE = [
    "\u200fEnglish", "\u202eHSILGNE", "Eng\u200dlish", "e\u0301", "Espan\u0303ol",
    "\U0001f469\U0001f3fd\u200d\u2695\ufe0f", "\U0001f600", "\uff11\uff19\uff18\uff10",
    "\uff12\uff10\uff12\uff15-03", "\u0663", "\u00a0English\u00a0", "\u3000", "\u2028",
    "\u0085", "\ufeffWhite", "White\ufeff", "\ufeff", "\u4e2d\u6587", "\u0627\u0644\u0639",
    "\u00a01980", "\uff11", "\u1680", "\u180e", "\ud800", "\udcff", "\udc80P1",
]
NUMBER_LIKE = ["1e999", "-1e999", "-0", "+1980", "1980.0", "0x7C4", "NaN", "inf", "1_980",
               "00000000001980", "9" * 400, "1" * 30, " 7 ", "1,5", "2025-13", "2025-00",
               "2025-1", "202503", "1e308", "-", "."]
LONG = ["x" * (FIELD_LIMIT + 1), "y" * FIELD_LIMIT, "z" * 256, "L" * 65, "\u4e00" * 300,
        "a\n" + "b" * FIELD_LIMIT]
FAMILIES = {"SQL-like": SQL_LIKE, "formula-like": FORMULA_LIKE, "quotes": QUOTES,
            "line breaks": LINE_BREAKS, "NUL": NUL, "unicode": UNICODE,
            "number-like": NUMBER_LIKE, "long": LONG}
HOSTILE = [value for family in FAMILIES.values() for value in family]
# What the sweep puts in every column (the property tests draw from all of HOSTILE).
SWEEP = [*SQL_LIKE[:2], *FORMULA_LIKE[:3], '"', 'a"b', '"unclosed', "a\nb", "a\rb", "\r\n",
         *NUL[:2], "\u202eHSILGNE", "Eng\u200dlish", "e\u0301", "\U0001f600",
         "\uff11\uff19\uff18\uff10", "\u00a01980\u00a0", "\ufeffWhite", "\udcff", "1e999",
         "+1980", "2025-13", *LONG[2:5]]

# --- files ------------------------------------------------------------------------------


def serialize(header, rows, newline="\n", quoting=csv.QUOTE_MINIMAL, bom=False) -> bytes:
    """CSV bytes; lone surrogates pass through as the bytes a careless exporter writes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8",
                                                                        "surrogatepass")


def with_value(extract: dict, file: str, row: int, column: int, value: str) -> dict:
    """The extract ({file: (header, rows)}) with one cell changed (row -1: the header's). A
    patient_id changes in both files, so that a value the contract allows there can be
    stored and read back."""
    changed = {name: (list(header), [list(r) for r in rows])
               for name, (header, rows) in extract.items()}
    header, rows = changed[file]
    if row < 0:
        header[column] = value
        return changed
    row %= len(rows)
    if header[column] == "patient_id":
        old = rows[row][column]
        for other_header, other_rows in changed.values():
            if "patient_id" in other_header:
                at = other_header.index("patient_id")
                for other in other_rows:
                    if other[at] == old:
                        other[at] = value
    rows[row][column] = value
    return changed


# --- what the database holds ------------------------------------------------------------

TABLES = [patients, results, measures, result_counts, result_groups, result_counts_state,
          import_batches]


def snapshot(url: str) -> dict[str, Counter]:
    with get_engine(url).connect() as conn:
        return {table.name: Counter(tuple(row) for row in conn.execute(select(table)))
                for table in TABLES}


def stored(url: str) -> tuple[dict, list]:
    with get_engine(url).connect() as conn:
        people = {row.patient_id: row._asdict() for row in conn.execute(select(patients))}
        ids = {row["patient_key"]: patient_id for patient_id, row in people.items()}
        cases = [(ids[row.patient_key], row.measure_id, row.period, row.site, row.numerator,
                  row.denominator, row.value) for row in conn.execute(select(results))]
    for row in people.values():
        del row["patient_key"]
    return people, cases


# --- the reference reading: the csv module, as the data contract describes ------------------


def reference(data: bytes) -> list[dict[str, str]] | None:
    """The rows as the contract reads them (stripped values by lower-case header name), or
    None when the file is not UTF-8 or not CSV (then only a refusal is right)."""
    try:
        text = data.decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not table:
        return None
    header = [cell.strip().lower() for cell in table[0]]
    return [dict(zip(header, (cell.strip() for cell in row))) for row in table[1:]
            if row and not (len(row) == 1 and not row[0].strip())]


def _label(column: str, value: str) -> str | None:
    return vocabulary.ACCEPTED[column][value.lower()] if value else None


def _whole(value: str) -> int | None:
    return int(value) if value else None


def expected_patient(cells: dict) -> dict:
    return {
        "patient_id": cells["patient_id"],
        "birth_year": _whole(cells["birth_year"]),
        **{column: _label(column, cells[column])
           for column in ("sex", "race", "ethnicity", "interpreter_needed", "payer")},
        "preferred_language": cells["preferred_language"] or None,
        "adi_decile": _whole(cells.get("adi_decile", "")),
    }


def expected_case(cells: dict) -> tuple:
    value = cells.get("value", "")
    return (cells["patient_id"], cells["measure_id"], cells["period"], cells["site"],
            int(cells["numerator"] or 0), int(cells["denominator"]),
            float(value) if value else None)


def _sorted_cases(cases):
    return sorted(cases, key=lambda c: (*c[:6], c[6] is None, c[6] or 0.0))


def assert_round_trip(url: str, summary: ImportSummary, patients_bytes: bytes,
                      results_bytes: bytes) -> None:
    people, cases = stored(url)
    patient_rows, result_rows = reference(patients_bytes), reference(results_bytes)
    assert patient_rows is not None and result_rows is not None, \
        "a file that is not UTF-8 or not CSV was imported"
    assert summary.patients == len(patient_rows) == len(people)
    assert summary.results == len(result_rows) == len(cases)
    # Stored text is the input text, stripped: nothing executed, nothing rewritten.
    assert people == {cells["patient_id"]: expected_patient(cells) for cells in patient_rows}
    for got, want in zip(_sorted_cases(cases),
                         _sorted_cases(expected_case(cells) for cells in result_rows)):
        assert got[:6] == want[:6]
        assert (got[6] is None) == (want[6] is None)
        if want[6] is not None:
            assert math.isfinite(got[6]) and got[6] == pytest.approx(want[6], rel=1e-12)


# --- one attempt ------------------------------------------------------------------------

FILE_PROBLEMS = ("the file is empty", "the file has a header but no data rows", "is not UTF-8")


def assert_refused_cleanly(refusal: ImportRefused, files: dict[str, bytes]) -> None:
    message = str(refusal)
    assert message.startswith("Import refused: ") and "the database was not changed" in message
    assert "Traceback" not in message and refusal.problems.items
    for problem in refusal.problems.items:
        shown = str(problem)
        assert problem.file in files and shown.startswith(problem.file), shown
        assert f"- {shown}" in message and problem.rule, shown
        if problem.line is None:
            # Only problems of a whole file have no line.
            assert problem.column is None and problem.value is None, shown
            assert problem.rule.startswith(FILE_PROBLEMS), shown
            continue
        assert shown.startswith(f"{problem.file}, line {problem.line:,}"), shown
        data = files[problem.file]
        assert 1 <= problem.line <= data.count(b"\n") + data.count(b"\r") + 1, shown


class Target:
    """A database holding data, what it holds (as of the last clean import) and a folder."""

    def __init__(self, url: str, folder: Path, figures) -> None:
        self.url, self.folder, self.figures = url, folder, figures
        self.good = {name: (HEADERS[name], GOOD[name]) for name in HEADERS}
        self.attempt(serialize(*self.good["patients"]), serialize(*self.good["results"]),
                     count=False)
        self.before = snapshot(url)

    def attempt(self, patients_bytes: bytes, results_bytes: bytes,
                count: bool = True) -> ImportSummary | ImportRefused:
        """Import the two files over the data; check the outcome either way."""
        (self.folder / "patients.csv").write_bytes(patients_bytes)
        (self.folder / "results.csv").write_bytes(results_bytes)
        if count:
            self.figures.add("malformed inputs tried")
        try:
            summary = import_extract(self.folder / "patients.csv",
                                     self.folder / "results.csv", database_url=self.url)
        except ImportRefused as refusal:
            assert_refused_cleanly(refusal, {"patients.csv": patients_bytes,
                                             "results.csv": results_bytes})
            assert snapshot(self.url) == self.before, "a refused import changed the database"
            if count:
                self.figures.add("malformed inputs refused cleanly")
            return refusal
        assert isinstance(summary, ImportSummary)
        assert_round_trip(self.url, summary, patients_bytes, results_bytes)
        if count:
            self.figures.add("clean imports")
        self.before = snapshot(self.url)
        return summary

    def attempt_extract(self, extract, newline=("\n", "\n"), bom=(False, False),
                        quoting=csv.QUOTE_MINIMAL) -> ImportSummary | ImportRefused:
        return self.attempt(serialize(*extract["patients"], newline[0], quoting, bom[0]),
                            serialize(*extract["results"], newline[1], quoting, bom[1]))


@pytest.fixture
def target(database_url, tmp_path, figures) -> Target:
    """A database holding the valid extract, so that a refusal has something to lose."""
    return Target(database_url, tmp_path, figures)


# --- the deterministic sweep: hostile values in every column ------------------------------


def test_hostile_values_in_every_column_are_imported_or_refused_cleanly(target):
    outcomes = Counter()
    for file, header in HEADERS.items():
        for column in range(len(header)):
            for value in SWEEP:
                extract = with_value(target.good, file, 1, column, value)
                try:
                    outcome = target.attempt_extract(extract)
                except Exception as error:
                    raise AssertionError(f"{file}.csv, column {header[column]}, value "
                                         f"{value[:80]!r}: {type(error).__name__}") from error
                outcomes[type(outcome).__name__] += 1
    # The sweep means something only if both outcomes happen.
    assert set(outcomes) == {"ImportSummary", "ImportRefused"}, outcomes


def test_sql_and_formula_text_is_stored_as_plain_data(target):
    extract = target.good
    for file, column, value in [("patients", 0, SQL_LIKE[0]), ("patients", 5, FORMULA_LIKE[0]),
                                ("results", 3, SQL_LIKE[1]), ("results", 3, "@SUM(1+1)")]:
        extract = with_value(extract, file, 0 if value != "@SUM(1+1)" else 1, column, value)
    assert isinstance(target.attempt_extract(extract), ImportSummary)
    people, cases = stored(target.url)
    assert people[SQL_LIKE[0]]["preferred_language"] == FORMULA_LIKE[0]
    assert {case[3] for case in cases if case[0] == SQL_LIKE[0]} == {SQL_LIKE[1]}
    assert "@SUM(1+1)" in {case[3] for case in cases}
    assert len(snapshot(target.url)["measures"]) == SHIPPED_MEASURES  # every table is there


# --- property-based: mutations of the valid extract ---------------------------------------

cells = st.lists(
    st.tuples(st.sampled_from(list(HEADERS)), st.integers(-1, 4), st.integers(0, 8),
              st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12),
                        st.sampled_from(["cbp", "2025-03", "1", "0", "", "White", "yes"]))),
    min_size=1, max_size=4)
newlines = st.tuples(*[st.sampled_from(["\n", "\r\n", "\r"])] * 2)
boms = st.tuples(st.booleans(), st.booleans())
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(changes=cells, newline=newlines, bom=boms,
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
@example(changes=[("patients", 0, 1, "\uff11\uff19\uff18\uff10")], newline=("\n", "\n"),
         bom=(False, False), quoting=csv.QUOTE_MINIMAL)
@example(changes=[("patients", 2, 0, '=HYPERLINK("x")'), ("results", 0, 3, "' OR 1=1")],
         newline=("\r", "\r\n"), bom=(True, True), quoting=csv.QUOTE_ALL)
def test_any_change_to_the_cells_is_imported_or_refused_cleanly(target, changes, newline, bom,
                                                                quoting):
    extract = target.good
    for file, row, column, value in changes:
        extract = with_value(extract, file, row, column % len(HEADERS[file]), value)
    target.attempt_extract(extract, newline, bom, quoting)


PAYLOADS = [b"\x00", b"\r", b"\n", b"\r\n", b"\n\r", b'"', b'""', b",", b"\xef\xbb\xbf",
            b"\xed\xa0\x80", b"\xed\xb3\xbf", b"\xff", b"\xc3", b"\x80", b"\xfe\xff",
            b"\xe2\x80\xae", b"\t", b"\\", b"\x1a"]
byte_changes = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 400),
                  st.one_of(st.sampled_from(PAYLOADS), st.binary(min_size=1, max_size=12))),
        st.tuples(st.just("delete"), st.integers(0, 400), st.integers(1, 40)),
        st.tuples(st.just("truncate"), st.integers(0, 400), st.just(0)),
        st.tuples(st.just("line ends"), st.integers(0, 6),
                  st.sampled_from([b"\r", b"\r\n", b"\n\r", b"\n\n"])),
    ),
    min_size=1, max_size=3)


def mutate(data: bytes, changes) -> bytes:
    for kind, position, payload in changes:
        at = position % (len(data) + 1)
        if kind == "insert":
            data = data[:at] + payload + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + payload:]
        elif kind == "truncate":
            data = data[:at]
        else:  # the first `position` line ends (all of them for 0) replaced
            data = data.replace(b"\n", payload, position or -1)
    return data


@FUZZ
@given(file=st.sampled_from(list(HEADERS)), changes=byte_changes, newline=newlines)
@example(file="patients", changes=[("insert", 0, b"\xef\xbb\xbf")], newline=("\n", "\n"))
@example(file="results", changes=[("insert", 0, b'"')], newline=("\n", "\n"))  # header quote
@example(file="results", changes=[("line ends", 3, b"\r")], newline=("\r\n", "\n"))
def test_any_change_to_the_bytes_is_imported_or_refused_cleanly(target, file, changes,
                                                                newline):
    data = {name: serialize(*target.good[name], newline[index])
            for index, name in enumerate(HEADERS)}
    data[file] = mutate(data[file], changes)
    target.attempt(data["patients"], data["results"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(list(HEADERS)), noise=st.binary(max_size=600))
def test_random_bytes_are_refused_cleanly(target, file, noise):
    data = {name: serialize(*target.good[name]) for name in HEADERS}
    data[file] = noise
    assert isinstance(target.attempt(data["patients"], data["results"]), ImportRefused)


# --- the big ones ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["required columns and 10,000 more", "10,000 unknown columns",
                                  "a column named twice among 10,000"])
def test_a_header_of_10_000_columns(target, case):
    extra = [f"extra_{i}" for i in range(10_000)]
    header, rows = target.good["patients"]
    if case == "required columns and 10,000 more":
        wide = [*header, *extra], [[*row, *["x"] * len(extra)] for row in rows]
    elif case == "10,000 unknown columns":
        wide = extra, [["x"] * len(extra) for _ in rows]
    else:
        wide = [*header, *extra, "extra_7"], [[*row, *["x"] * (len(extra) + 1)] for row in rows]
    outcome = target.attempt(serialize(*wide), serialize(*target.good["results"]))
    if case == "required columns and 10,000 more":
        assert isinstance(outcome, ImportSummary)
        assert outcome.warnings[0].startswith("patients.csv: ignored unknown columns extra_0, ")
    else:
        assert isinstance(outcome, ImportRefused)
        expected = ("patients.csv, line 1, column patient_id: required column is missing"
                    if case == "10,000 unknown columns" else
                    "patients.csv, line 1, column extra_7: column appears more than once")
        assert expected in str(outcome)


@pytest.mark.parametrize("quoted_line_break", [False, True])
def test_a_field_beyond_the_1_mib_limit_in_any_column_is_refused_at_its_line(
        target, quoted_line_break):
    huge = ("a\n" if quoted_line_break else "") + "x" * (FIELD_LIMIT + 1)
    for file, header in HEADERS.items():
        for column in range(len(header)):
            outcome = target.attempt_extract(with_value(target.good, file, 2, column, huge))
            assert isinstance(outcome, ImportRefused)
            assert (f"{file}.csv, line 4: a value in the row starting on this line is longer "
                    "than 1,048,576 characters") in str(outcome), str(outcome)
