"""Every kind of bad input is refused with a message that says where and why, and the
database is left exactly as it was (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

import manage
from store import import_extract
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    SHIPPED_MEASURES,
    table_contents,
    write_csv,
)


def with_row(rows, index, column, value, header):
    changed = [list(row) for row in rows]
    changed[index][header.index(column)] = value
    return changed


def patients_with(index, column, value):
    return with_row(GOOD_PATIENTS, index, column, value, PATIENT_HEADER)


def results_with(index, column, value):
    return with_row(GOOD_RESULTS, index, column, value, RESULT_HEADER)



def good_files(tmp_path):
    """The good patients and results files (for refusals caused by another file)."""
    return (write_csv(tmp_path / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS),
            write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS))

# (case, patients rows, results rows, patients header, results header, expected fragments)
CASES = [
    ("missing required column", GOOD_PATIENTS, GOOD_RESULTS,
     [c if c != "payer" else "insurer" for c in PATIENT_HEADER], RESULT_HEADER,
     ["patients.csv, line 1, column payer", "required column is missing"]),
    ("bad integer", patients_with(1, "birth_year", "19x0"), GOOD_RESULTS, None, None,
     ["patients.csv, line 3, column birth_year", "'19x0'", "whole-number year"]),
    ("adi decile out of range", patients_with(0, "adi_decile", "11"), GOOD_RESULTS, None, None,
     ["patients.csv, line 2, column adi_decile", "'11'", "from 1 to 10"]),
    ("bad period", GOOD_PATIENTS, results_with(2, "period", "2025-13"), None, None,
     ["results.csv, line 4, column period", "'2025-13'", "YYYY-MM"]),
    ("period in another format", GOOD_PATIENTS, results_with(0, "period", "01/2025"), None,
     None, ["results.csv, line 2, column period", "'01/2025'"]),
    ("duplicate patient_id", GOOD_PATIENTS + [GOOD_PATIENTS[0]], GOOD_RESULTS, None, None,
     ["patients.csv, line 7, column patient_id", "'P1'", "duplicate patient_id",
      "first seen on line 2"]),
    ("result for an unknown patient", GOOD_PATIENTS, results_with(1, "patient_id", "P99"),
     None, None, ["results.csv, line 3, column patient_id", "'P99'", "no patient"]),
    ("result for an unknown measure", GOOD_PATIENTS,
     results_with(0, "measure_id", "made_up") + [GOOD_RESULTS[1][:1] + ["made_up"]
                                                  + GOOD_RESULTS[1][2:]], None, None,
     ["results.csv, line 2, column measure_id", "'made_up'", "not in the measure catalog",
      "2 rows"]),
    ("numerator not 0/1", GOOD_PATIENTS, results_with(0, "numerator", "2"), None, None,
     ["results.csv, line 2, column numerator", "'2'", "0 or 1"]),
    ("denominator not 0/1", GOOD_PATIENTS, results_with(0, "denominator", "yes"), None, None,
     ["results.csv, line 2, column denominator", "'yes'"]),
    ("numerator above denominator", GOOD_PATIENTS,
     with_row(results_with(0, "denominator", "0"), 0, "numerator", "1", RESULT_HEADER), None,
     None, ["results.csv, line 2, column numerator", "numerator cannot be 1 when denominator"]),
    ("value not a number", GOOD_PATIENTS, results_with(3, "value", "high"), None, None,
     ["results.csv, line 5, column value", "'high'", "a number"]),
    ("mean measure without a value", GOOD_PATIENTS, results_with(3, "value", ""), None, None,
     ["results.csv, line 5, column value", "required for a mean-type measure"]),
    ("value outside the vocabulary",
     patients_with(0, "race", "BLK")[:2] + patients_with(2, "race", "blk")[2:3]
     + GOOD_PATIENTS[3:], GOOD_RESULTS, None, None,
     ["patients.csv, line 2, column race", "'BLK'", "not in the vocabulary", "Black or African",
      "'blk'"]),
    ("payer outside the vocabulary", patients_with(0, "payer", "Medigap"), GOOD_RESULTS, None,
     None, ["patients.csv, line 2, column payer", "'Medigap'", "Commercial, Medicare"]),
    ("too few fields", GOOD_PATIENTS + [["P9", "1990"]], GOOD_RESULTS, None, None,
     ["patients.csv, line 7", "2 fields but the header has 9"]),
    ("too many fields", GOOD_PATIENTS, GOOD_RESULTS + [GOOD_RESULTS[0] + ["extra"]], None,
     None, ["results.csv, line 7", "8 fields but the header has 7"]),
    ("empty patient_id", patients_with(0, "patient_id", ""), GOOD_RESULTS[1:], None, None,
     ["patients.csv, line 2, column patient_id", "must not be empty"]),
    ("empty site", GOOD_PATIENTS, results_with(0, "site", ""), None, None,
     ["results.csv, line 2, column site", "must not be empty"]),
    # Found by tests/reliability/test_hostile_input.py: each of these once raised something
    # other than ImportRefused, or was stored silently changed.
    ("NUL character in a value", patients_with(0, "preferred_language", "Eng\x00lish"),
     GOOD_RESULTS, None, None,
     ["patients.csv, line 2, column preferred_language", "'Eng\\x00lish'", "NUL character"]),
    ("full-width digits in birth_year", patients_with(1, "birth_year", "\uff11\uff19\uff18\uff10"),
     GOOD_RESULTS, None, None,
     ["patients.csv, line 3, column birth_year", "whole-number year"]),
    ("another script's digit in adi_decile", patients_with(0, "adi_decile", "\u0663"),
     GOOD_RESULTS, None, None, ["patients.csv, line 2, column adi_decile", "from 1 to 10"]),
    ("full-width digits in a period", GOOD_PATIENTS,
     results_with(0, "period", "\uff12\uff10\uff12\uff15-03"), None, None,
     ["results.csv, line 2, column period", "YYYY-MM"]),
    ("full-width digits in a value", GOOD_PATIENTS, results_with(3, "value", "\uff11\uff14\uff11"),
     None, None, ["results.csv, line 5, column value", "a number"]),
    ("value that overflows to infinity", GOOD_PATIENTS, results_with(3, "value", "1e999"), None,
     None, ["results.csv, line 5, column value", "'1e999'", "overflows to infinity"]),
    ("value whose square overflows", GOOD_PATIENTS, results_with(3, "value", "1e200"), None,
     None, ["results.csv, line 5, column value", "'1e200'", "at most 1e+12"]),
    ("preferred_language longer than the count table holds",
     patients_with(0, "preferred_language", "L" * 65), GOOD_RESULTS, None, None,
     ["patients.csv, line 2, column preferred_language", "longer than the 64 characters"]),
    ("patient_id longer than an index entry holds", patients_with(0, "patient_id", "\u4e00" * 3000),
     GOOD_RESULTS[1:], None, None,
     ["patients.csv, line 2, column patient_id", "longer than the 255 characters"]),
    ("site longer than an index entry holds", GOOD_PATIENTS,
     results_with(0, "site", "\u4e00" * 3000), None, None,
     ["results.csv, line 2, column site", "longer than the 255 characters"]),
]


@pytest.fixture
def loaded(database_url, tmp_path):
    """A database holding a valid extract, so that 'unchanged' means something."""
    good = tmp_path / "good"
    good.mkdir()
    import_extract(write_csv(good / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS),
                   write_csv(good / "results.csv", RESULT_HEADER, GOOD_RESULTS),
                   database_url=database_url)
    return database_url, table_contents(database_url)


def refused(url, capsys, *paths, extra=()):
    code = manage.main(["--database-url", url, "import", *map(str, paths), *extra])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err
    assert "the database was not changed" in captured.err or "not changed" in captured.err
    return captured.err


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_changes_nothing(case, loaded, tmp_path, capsys):
    url, before = loaded
    _, patient_rows, result_rows, patient_header, result_header, expected = case
    patients_csv = write_csv(tmp_path / "patients.csv", patient_header or PATIENT_HEADER,
                             patient_rows)
    results_csv = write_csv(tmp_path / "results.csv", result_header or RESULT_HEADER,
                            result_rows)
    message = refused(url, capsys, patients_csv, results_csv)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert table_contents(url) == before


def test_empty_files_are_refused(loaded, tmp_path, capsys):
    url, before = loaded
    empty = tmp_path / "patients.csv"
    empty.write_bytes(b"")
    header_only = write_csv(tmp_path / "results.csv", RESULT_HEADER, [])
    message = refused(url, capsys, empty, header_only)
    assert "patients.csv: the file is empty" in message
    assert "results.csv: the file has a header but no data rows" in message
    assert table_contents(url) == before


def test_non_utf8_bytes_are_refused_with_their_line(loaded, tmp_path, capsys):
    url, before = loaded
    rows = [list(row) for row in GOOD_PATIENTS]
    rows[2][5] = "Português"
    latin1 = write_csv(tmp_path / "patients.csv", PATIENT_HEADER, rows, encoding="latin-1")
    results_csv = write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS)
    message = refused(url, capsys, latin1, results_csv)
    assert "patients.csv, line 4: is not UTF-8" in message and "b'\\xea'" in message
    assert table_contents(url) == before


def test_a_missing_file_is_refused(loaded, tmp_path, capsys):
    url, before = loaded
    results_csv = write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS)
    message = refused(url, capsys, tmp_path / "nowhere.csv", results_csv)
    assert "nowhere.csv: no such file" in message
    assert table_contents(url) == before


def test_bad_value_map_is_refused(loaded, tmp_path, capsys):
    url, before = loaded
    value_map = write_csv(tmp_path / "map.csv", ["column", "local_value", "standard_value"], [
        ["race", "BLK", "Black or African American"],
        ["race", "blk", "White"],
        ["favourite_colour", "R", "Red"],
    ])
    patients_csv, results_csv = good_files(tmp_path)
    message = refused(url, capsys, patients_csv, results_csv, extra=["--value-map", str(value_map)])
    assert "map.csv, line 3, column standard_value: 'White'" in message
    assert "already mapped to 'Black or African American'" in message
    assert "map.csv, line 4, column column: 'favourite_colour'" in message
    assert table_contents(url) == before


def test_a_value_mapped_outside_the_vocabulary_is_refused(loaded, tmp_path, capsys):
    url, before = loaded
    value_map = write_csv(tmp_path / "map.csv", ["column", "local_value", "standard_value"],
                          [["race", "White", "Caucasian"]])
    patients_csv, results_csv = good_files(tmp_path)
    message = refused(url, capsys, patients_csv, results_csv, extra=["--value-map", str(value_map)])
    assert "column race: 'Caucasian': not in the vocabulary" in message
    assert table_contents(url) == before


def test_bad_measure_catalog_is_refused(loaded, tmp_path, capsys):
    url, before = loaded
    catalog = write_csv(tmp_path / "measures.csv",
                        ["measure_id", "name", "kind", "higher_is_better"],
                        [["new_one", "A new measure", "ratio", "maybe"]])
    patients_csv, results_csv = good_files(tmp_path)
    message = refused(url, capsys, patients_csv, results_csv, extra=["--measures", str(catalog)])
    assert "measures.csv, line 2, column kind: 'ratio': one of: proportion, mean, rate" in message
    assert "measures.csv, line 2, column higher_is_better: 'maybe'" in message
    assert table_contents(url) == before


def test_a_catalog_that_cannot_be_stored_is_refused(loaded, tmp_path, capsys):
    """A measure_id beyond its column's 64 characters, or holding NUL, once reached the
    database (PostgreSQL raised DataError) although the catalog was already refused."""
    url, before = loaded
    catalog = write_csv(tmp_path / "measures.csv",
                        ["measure_id", "name", "kind", "higher_is_better"],
                        [["m" * 65, "Long", "proportion", "true"],
                         ["nul\x00", "Nul", "proportion", "true"]])
    patients_csv, results_csv = good_files(tmp_path)
    message = refused(url, capsys, patients_csv, results_csv, extra=["--measures", str(catalog)])
    assert "measures.csv, line 2, column measure_id" in message
    assert "longer than the 64 characters a measure_id may have" in message
    assert "measures.csv, line 3, column measure_id: 'nul\\x00'" in message
    assert table_contents(url) == before


def test_only_the_first_twenty_problems_are_listed_and_the_rest_counted(loaded, tmp_path,
                                                                         capsys):
    url, before = loaded
    rows = [[f"Q{i}", "1970", "female", "", "", "", "", "", ""] for i in range(60)]
    patients_csv = write_csv(tmp_path / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS + rows)
    results_csv = write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS + [
        [f"Z{i}", "cbp", "2025-01", "North", "1", "1", ""] for i in range(45)])
    message = refused(url, capsys, patients_csv, results_csv)
    assert "Import refused: 45 problems found" in message
    assert message.count("\n- ") == 20
    assert "... and 25 more problems" in message
    assert table_contents(url) == before


def test_a_supplied_catalog_adds_measures(database_url, tmp_path):
    catalog = write_csv(tmp_path / "measures.csv",
                        ["measure_id", "name", "kind", "higher_is_better", "unit"],
                        [["flu_vax", "Influenza vaccination", "proportion", "true", "%"]])
    patients_csv = write_csv(tmp_path / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS)
    results_csv = write_csv(tmp_path / "results.csv", RESULT_HEADER,
                            GOOD_RESULTS + [["P1", "flu_vax", "2025-01", "North", "1", "1", ""]])
    summary = import_extract(patients_csv, results_csv, measures_csv=catalog,
                             database_url=database_url)
    assert summary.measures == SHIPPED_MEASURES + 1 and summary.results == 6
