"""Data quality through the command line and the import gate (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import json

import pandas as pd

import manage
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    table_contents,
    write_csv,
)


def extract(folder, patients=GOOD_PATIENTS):
    folder.mkdir(exist_ok=True)
    return (str(write_csv(folder / "patients.csv", PATIENT_HEADER, patients)),
            str(write_csv(folder / "results.csv", RESULT_HEADER, GOOD_RESULTS)))


def test_import_runs_the_checks_and_validate_reports_them(database_url, tmp_path, capsys):
    assert manage.main(["--database-url", database_url, "import",
                        *extract(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "Data quality:" in out and "checks" in out
    # Race is empty for one of five patients: the 95 % completeness check is not met.
    assert "race_complete not met" in out

    code = manage.main(["--database-url", database_url, "validate", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["success"] is False
    race = next(r for r in report["results"] if r["check"] == "race_complete")
    assert race["expectation"].startswith("expect_") and race["column"] == "race"
    # One of five patients: every count rests on fewer than 11 rows, so the printed report
    # hides them (small-cell rule) while the stored history keeps them exact.
    assert race["success"] is False and race["suppressed"] is True
    assert race["unexpected_count"] is None and race["unexpected_percent"] is None
    assert race["element_count"] is None
    present = next(r for r in report["results"] if r["check"] == "patients_present")
    assert present["success"] is True and present["observed_value"] is None  # 5 patients
    import data_quality

    stored = data_quality.latest_run(database_url).result("race_complete")
    assert (stored.unexpected_count, stored.element_count) == (1, 5)
    assert stored.unexpected_percent == 20.0
    assert manage.main(["--database-url", database_url, "validate"]) == 1
    text = capsys.readouterr().out
    assert "race_complete not met: <11 rows considered" in text
    assert "1 of 5" not in text and "20.00 %" not in text


def test_completeness_by_site_as_csv_and_json(database_url, tmp_path, capsys):
    manage.main(["--database-url", database_url, "import", *extract(tmp_path / "a")])
    capsys.readouterr()
    assert manage.main(["--database-url", database_url, "completeness", "--by", "site"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == ["field", "group", "patients", "missing", "unknown",
                                   "asked_but_no_answer", "complete_percent"]
    race = table[table["field"] == "race"].set_index("group")
    # South Hospital saw P3 (race empty), P4 (UNK) and "P, 5" (Multiracial): three patients,
    # a small cell, so the command line prints the group with its counts empty.
    assert race.loc["South Hospital", ["patients", "missing", "unknown"]].isna().all()
    assert manage.main(["--database-url", database_url, "completeness", "--by", "payer",
                        "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["group"] for row in rows} >= {"Medicare", "Medicaid"}


def test_a_critical_check_blocks_the_import_and_changes_nothing(database_url, tmp_path,
                                                                capsys):
    manage.main(["--database-url", database_url, "import", *extract(tmp_path / "a")])
    before = table_contents(database_url)
    config = tmp_path / "checks.json"
    config.write_text(json.dumps({"critical": ["patients_present", "race_complete"]}))
    blank_races = [row[:3] + [""] + row[4:] for row in GOOD_PATIENTS]
    code = manage.main(["--database-url", database_url, "import",
                        *extract(tmp_path / "b", blank_races), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and "race_complete not met" in err and "not changed" in err
    assert table_contents(database_url) == before


def test_incomplete_demographics_never_block_by_default(database_url, tmp_path, capsys):
    blank_races = [row[:3] + [""] + row[4:] for row in GOOD_PATIENTS]
    code = manage.main(["--database-url", database_url, "import",
                        *extract(tmp_path / "b", blank_races)])
    assert code == 0 and "race_complete not met" in capsys.readouterr().out
