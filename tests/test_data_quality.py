"""Data quality: the suites find the sample's documented defects, on SQLite and PostgreSQL.

Expected numbers come from the raw CSV files (counted here with pandas, sharing nothing with
the package but the contract's vocabulary) or from the ground truth, never from a run.
"""
from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from sqlalchemy import insert, text

import data_quality as dq
from sample_data import ground_truth as gt
from store import import_extract
from store.engine import get_engine
from store.schema import results as results_table
from store.vocabulary import ACCEPTED, ASKED_NO_ANSWER, UNKNOWN

REPO = Path(__file__).resolve().parents[1]


def _month_date(month_index: int) -> date:
    return date(month_index // 12, month_index % 12 + 1, 15)


# The sample ends at gt.END_PERIOD; "today" is the month after, so nothing is in the future
# and the data are fresh. Dates are pinned so that the tests do not age.
END_INDEX = gt.month_index(gt.END_PERIOD)
TODAY = _month_date(END_INDEX + 1)


# --- the independent count from the raw CSV ---------------------------------------------------
def raw_tables(extract: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patients and results as the contract defines them; a missing value is None."""
    def read(path):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return frame.apply(lambda column: column.str.strip()).astype(object)

    patients, results = read(extract["patients"]), read(extract["results"])
    value_map = read(extract["value_map"])
    for column, rows in value_map.groupby("column"):
        mapping = dict(zip(rows["local_value"].str.lower(), rows["standard_value"]))
        frame = patients if column in patients else results
        frame[column] = frame[column].str.lower().map(mapping).fillna(frame[column])
    for column, accepted in ACCEPTED.items():
        values = patients[column]
        patients[column] = values.str.lower().map(accepted).where(values != "", None)
    for column in ("preferred_language", "birth_year", "adi_decile"):
        patients[column] = patients[column].where(patients[column] != "", None)
    return patients.astype(object), results


@pytest.fixture(scope="module")
def raw(sample_extract):
    return raw_tables(sample_extract)


def expected_completeness(patients, results, by: str) -> pd.DataFrame:
    if by == "payer":
        seen = patients[patients["patient_id"].isin(set(results["patient_id"]))].copy()
        seen["group"] = seen["payer"].where(seen["payer"].notna(), "Missing")
    else:
        pairs = results[[by, "patient_id"]].drop_duplicates().rename(columns={by: "group"})
        seen = pairs.merge(patients, on="patient_id")
    frames = []
    for field in dq.FIELDS:
        values = seen[field]
        flags = pd.DataFrame({
            "group": seen["group"], "missing": values.isna(),
            "unknown": values.eq(UNKNOWN), "asked_but_no_answer": values.eq(ASKED_NO_ANSWER),
        })
        counted = flags.groupby("group").agg(
            patients=("missing", "size"), missing=("missing", "sum"),
            unknown=("unknown", "sum"), asked_but_no_answer=("asked_but_no_answer", "sum"),
        ).reset_index()
        counted.insert(0, "field", field)
        frames.append(counted)
    return pd.concat(frames, ignore_index=True)


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def sample_url(request):
    """The session's sample database of each kind (read only: nothing here writes to it)."""
    return request.getfixturevalue("sample_sqlite" if request.param == "sqlite"
                                   else "sample_postgres")


@contextmanager
def no_network():
    """Only local connections (the test databases) are allowed while this is active."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(sock, address)
        raise AssertionError(f"network access to {address!r} during data-quality checks")

    with mock.patch.object(socket.socket, "connect", guarded):
        yield


_GX_REPORTS: dict[str, dq.ValidationReport] = {}


def gx_report(url: str) -> dq.ValidationReport:
    """One Great Expectations run per sample database, offline, nothing stored."""
    if url not in _GX_REPORTS:
        with no_network():
            _GX_REPORTS[url] = dq.run_checks(url, today=TODAY, store=False)
    return _GX_REPORTS[url]


# --- import cost ----------------------------------------------------------------------------
def test_importing_the_package_does_not_import_great_expectations():
    code = ("import sys, data_quality, data_quality.runner, data_quality.completeness\n"
            "from store.schema import metadata\n"
            "assert 'great_expectations' not in sys.modules, 'GE imported'\n"
            "assert {'validation_runs', 'validation_results'} <= set(metadata.tables)\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --- completeness by group -------------------------------------------------------------------
@pytest.mark.parametrize("by", dq.BY)
def test_completeness_by_matches_the_raw_csv(sample_url, raw, by):
    got = dq.completeness_counts(by, sample_url)
    shown = dq.completeness_by(by, sample_url)
    assert shown[["field", "group"]].equals(got[["field", "group"]])
    for column in ("patients", "missing", "unknown", "asked_but_no_answer"):
        same = shown[column].isna() | (shown[column] == got[column])
        assert same.all() and not shown[column].between(1, 10).any(), column
    assert list(got.columns) == ["field", "group", "patients", "missing", "unknown",
                                 "asked_but_no_answer", "complete_percent"]
    want = expected_completeness(*raw, by)
    merged = got.merge(want, on=["field", "group"], how="outer", suffixes=("", "_raw"),
                       indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    for column in ("patients", "missing", "unknown", "asked_but_no_answer"):
        assert (merged[column] == merged[f"{column}_raw"]).all(), column
    complete = merged["patients_raw"] - merged["missing_raw"] - merged["unknown_raw"] \
        - merged["asked_but_no_answer_raw"]
    expected_percent = 100 * complete / merged["patients_raw"]
    assert ((merged["complete_percent"] - expected_percent).abs() <= 0.005 + 1e-9).all()


def test_the_site_that_leaves_race_blank_fails_race_completeness(sample_url):
    race = dq.completeness_by("site", sample_url).query("field == 'race'").set_index("group")
    assert set(race.index) == set(gt.SITE_NAMES)
    missing_share = race["missing"] / race["patients"]
    recorded_share = 1 - missing_share
    threshold = dq.THRESHOLDS["complete.race"]

    # Southview's own patients are measured there, and admitted at its inpatient site:
    # those two sites carry the blanks; every other site sees none of Southview's patients.
    southview = gt.SOUTHVIEW
    inpatient = {s["name"]: s["inpatient_site"] for s in gt.SITES}[southview]
    assert set(race.index[recorded_share < threshold]) == {southview, inpatient}
    assert missing_share.idxmax() == southview
    for site, share in missing_share.items():
        n = race.loc[site, "patients"]
        if site == southview:
            planted = gt.RACE_BLANK_SHARE[southview]
        elif site == inpatient:
            continue  # a mix of its own patients and Southview's
        else:
            planted = gt.RACE_BLANK_SHARE["default"]
        assert abs(share - planted) <= 4 * math.sqrt(planted * (1 - planted) / n), site


def test_the_language_capture_gap_shows_in_exactly_the_documented_months(sample_url):
    language = (dq.completeness_by("period", sample_url)
                .query("field == 'preferred_language'").set_index("group"))
    gap = gt.language_gap_periods()
    assert list(language.index) == gt.periods()
    lowest = language["complete_percent"].nsmallest(len(gap)).index
    assert sorted(lowest) == sorted(gap)
    missing_share = language["missing"] / language["patients"]
    before = missing_share[missing_share.index < min(gap)]
    # The upgrade multiplies the share of patients without a language at least threefold.
    assert missing_share[gap].min() > 3 * before.max()


def test_completeness_by_refuses_an_unknown_grouping(sample_sqlite):
    with pytest.raises(ValueError, match="by must be one of"):
        dq.completeness_by("race", sample_sqlite)


# --- the suites on the sample: exactly the documented defects --------------------------------
def test_the_suites_find_the_documented_defects(sample_url, raw):
    patients, _ = raw
    report = gx_report(sample_url)
    assert report.engine == "gx"
    assert [r.check for r in report.results] == list(dq.CHECK_NAMES)
    for result in report.results:
        assert result.exception is None, (result.check, result.exception)

    n = len(patients)
    for field in ("race", "ethnicity", "preferred_language", "interpreter_needed", "sex",
                  "birth_year", "payer", "adi_decile"):
        result = report.result(f"{field}_complete")
        missing = int(patients[field].isna().sum())
        assert (result.element_count, result.unexpected_count) == (n, missing), field
        assert result.success == ((n - missing) / n >= dq.THRESHOLDS[f"complete.{field}"])
        assert not result.critical

    # Race: the ground truth's blank shares (Southview 35 %, elsewhere 2 %) leave about
    # 94.4 % recorded, under the 95 % threshold; the raw count agrees and the check fails.
    planted_missing = sum(site["share"] * gt.RACE_BLANK_SHARE.get(
        site["name"], gt.RACE_BLANK_SHARE["default"]) for site in gt.SITES)
    assert 1 - planted_missing < dq.THRESHOLDS["complete.race"]
    assert not report.result("race_complete").success

    for field, flavours in (("race", [UNKNOWN, ASKED_NO_ANSWER]),
                            ("ethnicity", [UNKNOWN, ASKED_NO_ANSWER]), ("sex", [UNKNOWN])):
        result = report.result(f"{field}_unknown_share")
        recorded = int(patients[field].notna().sum())
        flagged = int(patients[field].isin(flavours).sum())
        assert result.unexpected_count == flagged
        assert result.unexpected_percent == pytest.approx(100 * flagged / recorded)
        assert result.success == (flagged / recorded <= dq.THRESHOLDS[f"unknown_share.{field}"])
        assert set(result.sample) <= set(flavours) and result.sample

    # Interpreter need was still recorded during the language gap: patients who need an
    # interpreter for an unknown language.
    consistency = report.result("interpreter_needs_language")
    needs = patients["interpreter_needed"] == "Yes"
    assert consistency.element_count == int(needs.sum())
    assert consistency.unexpected_count == int((needs & patients["preferred_language"].isna())
                                               .sum()) > 0
    assert not consistency.success

    # Nothing else is planted: exactly the checks the raw counts fail, fail.
    expected_failures = {"interpreter_needs_language"}
    for field in dq.FIELDS:
        if patients[field].notna().mean() < dq.THRESHOLDS[f"complete.{field}"]:
            expected_failures.add(f"{field}_complete")
    for field, flavours in (("race", [UNKNOWN, ASKED_NO_ANSWER]),
                            ("ethnicity", [UNKNOWN, ASKED_NO_ANSWER]), ("sex", [UNKNOWN])):
        recorded = patients[field].dropna()
        if recorded.isin(flavours).mean() > dq.THRESHOLDS[f"unknown_share.{field}"]:
            expected_failures.add(f"{field}_unknown_share")
    assert {r.check for r in report.failed} == expected_failures
    for result in report.results:
        if result.category in ("structure", "integrity", "vocabulary", "plausibility",
                               "freshness"):
            assert result.success, result.check
    assert report.blocking == [] and not report.blocks_import
    assert not report.success and report.exit_code == 1


def test_the_sql_engine_agrees_with_great_expectations(sample_url):
    by_gx = gx_report(sample_url)
    by_sql = dq.run_checks(sample_url, today=TODAY, store=False, engine="sql")
    assert by_sql.engine == "sql"
    for mine in by_sql.results:
        theirs = by_gx.result(mine.check)
        assert mine.exception is None, (mine.check, mine.exception)
        assert (mine.success, mine.element_count, mine.unexpected_count) == \
            (theirs.success, theirs.element_count, theirs.unexpected_count), mine.check
        if theirs.unexpected_percent is None:
            assert mine.unexpected_percent is None, mine.check
        else:
            assert mine.unexpected_percent == pytest.approx(theirs.unexpected_percent)
        assert mine.observed_value == theirs.observed_value, mine.check


@pytest.mark.parametrize("engine", ["sql", "gx"])
def test_freshness_and_future_periods_follow_the_date(sample_sqlite, raw, engine):
    _, results = raw
    latest = results["period"].max()
    stale = dq.run_checks(sample_sqlite, today=_month_date(gt.month_index(latest) + 12),
                          store=False, engine=engine,
                          checks=["results_fresh", "period_not_future"])
    fresh = stale.result("results_fresh")
    assert not fresh.success and fresh.sample == [{"latest_period": latest}]
    assert stale.result("period_not_future").success

    early_index = gt.month_index(latest) - 2
    early = dq.run_checks(sample_sqlite, today=_month_date(early_index), store=False,
                          engine=engine, checks=["results_fresh", "period_not_future"])
    future = early.result("period_not_future")
    after = int((results["period"] > f"{early_index // 12:04d}-{early_index % 12 + 1:02d}")
                .sum())
    assert (future.success, future.unexpected_count) == (False, after)
    assert future.unexpected_percent == pytest.approx(100 * after / len(results))
    assert early.result("results_fresh").success
    assert not early.blocks_import  # plausibility and freshness never block by default


# --- history --------------------------------------------------------------------------------
def test_history_accumulates_across_runs(database_url, sample_extract, raw):
    summary = import_extract(sample_extract["patients"], sample_extract["results"],
                             value_map_csv=sample_extract["value_map"],
                             database_url=database_url)
    assert dq.validation_history(database_url).empty
    assert dq.latest_run(database_url) is None

    first = dq.run_checks(database_url, today=TODAY)
    # The second run relaxes the race threshold below the data's recorded share.
    patients, _ = raw
    recorded = patients["race"].notna().mean()
    second = dq.run_checks(database_url, today=TODAY,
                           thresholds={"complete.race": round(recorded - 0.05, 2)})
    assert first.run_id is not None and second.run_id > first.run_id
    assert first.batch_id == second.batch_id == summary.batch_id

    history = dq.validation_history(database_url)
    assert list(history["run_id"].drop_duplicates()) == [first.run_id, second.run_id]
    assert len(history) == 2 * len(dq.CHECK_NAMES)
    race = dq.validation_history(database_url, check="race_complete")
    assert list(race["success"]) == [False, True]
    missing = int(patients["race"].isna().sum())
    assert list(race["unexpected_count"]) == [missing, missing]
    assert dq.validation_history(database_url, limit=1)["run_id"].unique().tolist() == \
        [second.run_id]

    stored = dq.latest_run(database_url)
    assert stored.run_id == second.run_id and stored.batch_id == summary.batch_id
    assert [r.to_dict() for r in stored.results] == \
        json.loads(json.dumps([r.to_dict() for r in second.results], default=str))
    assert dq.latest_run(database_url, before=second.run_id).run_id == first.run_id

    compared = dq.compare_with_previous(database_url).set_index("check")
    assert compared.loc["race_complete", "status"] == "fixed"
    assert compared.loc["interpreter_needs_language", "status"] == "failing"
    assert compared.loc["patient_id_unique", "status"] == "passing"
    assert (compared["change"].dropna().abs() < 1e-9).all()  # same data, same shares


# --- the import gate ------------------------------------------------------------------------
PATIENT_ROWS = [
    ["P1", "1950", "female", "White", "Not Hispanic or Latino", "English", "no", "Medicare", "3"],
    ["P2", "1980", "male", "", "Hispanic or Latino", "Spanish", "yes", "Medicaid", "7"],
    ["P3", "2001", "female", "Asian", "UNK", "Vietnamese", "yes", "Commercial", ""],
]
RESULT_ROWS = [
    ["P1", "cbp", "2025-01", "North Clinic", "1", "1", ""],
    ["P2", "cbp", "2025-02", "North Clinic", "0", "1", ""],
    ["P3", "bcs_e", "2025-03", "South Hospital", "1", "1", ""],
]
BROKEN = {  # each row breaks one critical check, or (last) one that is not critical
    "numerator_le_denominator": {"patient_key": 1, "measure_id": "cbp", "period": "2025-04",
                                 "site": "North Clinic", "numerator": 1, "denominator": 0},
    "result_patient_exists": {"patient_key": 999, "measure_id": "cbp", "period": "2025-04",
                              "site": "North Clinic", "numerator": 0, "denominator": 1},
    "result_measure_exists": {"patient_key": 1, "measure_id": "no_such_measure",
                              "period": "2025-04", "site": "North Clinic", "numerator": 0,
                              "denominator": 1},
    "period_parseable": {"patient_key": 2, "measure_id": "cbp", "period": "2025-13",
                         "site": "North Clinic", "numerator": 0, "denominator": 1},
    "period_not_future": {"patient_key": 2, "measure_id": "cbp", "period": "2099-01",
                          "site": "North Clinic", "numerator": 0, "denominator": 1},
}
CRITICAL_BROKEN = set(BROKEN) - {"period_not_future"}
SMALL_TODAY = date(2025, 6, 15)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    frame = pd.DataFrame(rows, columns=header)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small_db(database_url, tmp_path):
    patients = _write(tmp_path / "patients.csv",
                      ["patient_id", "birth_year", "sex", "race", "ethnicity",
                       "preferred_language", "interpreter_needed", "payer", "adi_decile"],
                      PATIENT_ROWS)
    results = _write(tmp_path / "results.csv",
                     ["patient_id", "measure_id", "period", "site", "numerator", "denominator",
                      "value"], RESULT_ROWS)
    import_extract(patients, results, database_url=database_url)
    return database_url


def _insert_unchecked(conn, rows: list[dict]) -> None:
    """Insert rows that break the foreign keys, which the database would otherwise refuse."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # before the transaction starts
    else:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    conn.execute(insert(results_table), rows)


def test_the_gate_sees_critical_failures_inside_the_open_transaction(small_db):
    engine = get_engine(small_db)
    with engine.connect() as conn:
        assert not dq.gate(conn, today=SMALL_TODAY).blocks_import

    with engine.connect() as conn:
        transaction = conn.begin()
        _insert_unchecked(conn, list(BROKEN.values()))
        report = dq.gate(conn, today=SMALL_TODAY)
        assert conn.in_transaction() and transaction.is_active  # the gate left it usable
        transaction.rollback()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    assert report.engine == "sql" and report.blocks_import
    assert {r.check for r in report.results} == set(dq.DEFAULT_CRITICAL)  # only the critical
    assert {r.check for r in report.blocking} == CRITICAL_BROKEN
    sample = report.result("numerator_le_denominator").sample
    assert sample == [[0, 1]]  # [denominator, numerator]
    assert report.result("result_patient_exists").sample[0]["patient_key"] == 999
    assert report.result("result_measure_exists").sample[0]["measure_id"] == "no_such_measure"
    assert report.result("period_parseable").sample == ["2025-13"]
    assert all(r.message() for r in report.blocking)

    # Rolled back: the same checks on the committed data pass.
    with engine.connect() as conn:
        assert not dq.gate(conn, today=SMALL_TODAY).blocks_import


@pytest.mark.parametrize("engine", ["gx", "sql"])
def test_critical_failures_block_and_the_others_do_not(small_db, engine):
    with get_engine(small_db).connect() as conn:
        with conn.begin():
            _insert_unchecked(conn, list(BROKEN.values()))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    report = dq.run_checks(small_db, today=SMALL_TODAY, store=False, engine=engine)
    failed = {r.check for r in report.failed}
    # Not critical: the blank race (1 of 3 patients) and the result dated 2099.
    assert {"race_complete", "period_not_future"} <= failed
    assert {r.check for r in report.blocking} == CRITICAL_BROKEN
    assert failed - CRITICAL_BROKEN and all(not r.critical for r in report.failed
                                            if r.check not in CRITICAL_BROKEN)
    rows = len(RESULT_ROWS) + len(BROKEN)
    broken = report.result("numerator_le_denominator")
    assert (broken.element_count, broken.unexpected_count) == (rows, 1)
    assert broken.unexpected_percent == pytest.approx(100 / rows)
    orphans = report.result("result_patient_exists")
    assert (orphans.unexpected_count, orphans.unexpected_percent) == (1, pytest.approx(100 / rows))
    # Matched on each distinct month (GE on SELECT DISTINCT), counted over the rows.
    month = report.result("period_parseable")
    assert (month.element_count, month.unexpected_count, month.sample) == (rows, 1, ["2025-13"])
    assert month.unexpected_percent == pytest.approx(100 / rows) and not month.success

    # Which checks block is configurable; a name that is not a check is refused.
    strict = dq.run_checks(small_db, today=SMALL_TODAY, store=False, engine="sql",
                           critical={"race_complete"})
    assert {r.check for r in strict.blocking} == {"race_complete"}
    with pytest.raises(ValueError, match="unknown critical check"):
        dq.run_checks(small_db, store=False, engine="sql", critical={"race_completness"})
    with pytest.raises(ValueError, match="unknown threshold"):
        dq.run_checks(small_db, store=False, engine="sql", thresholds={"complete.rase": 0.9})


def test_the_gate_can_store_its_run_with_the_transaction(small_db):
    engine = get_engine(small_db)
    with engine.connect() as conn, conn.begin():
        report = dq.gate(conn, today=SMALL_TODAY, store=True)
    assert report.run_id is not None
    stored = dq.latest_run(small_db)
    assert stored.run_id == report.run_id and stored.engine == "sql"
    assert {r.check for r in stored.results} == set(dq.DEFAULT_CRITICAL)


# --- output shapes and configuration ------------------------------------------------------------
def test_validate_output_is_json_with_the_documented_shape(small_db):
    report = dq.run_checks(small_db, today=SMALL_TODAY, store=False, engine="sql")
    printed = json.loads(json.dumps(report.to_dict(), default=str))
    assert printed["success"] is False and report.exit_code == 1
    first = printed["results"][0]
    for key in ("expectation", "column", "success", "unexpected_percent", "critical", "check",
                "sample", "observed_value"):
        assert key in first
    assert all(r["expectation"].startswith("expect_")
               or r["expectation"] == "unexpected_rows_expectation"
               for r in printed["results"])
    passing = dq.run_checks(small_db, today=SMALL_TODAY, store=False, engine="sql",
                            checks=sorted(dq.DEFAULT_CRITICAL))
    assert passing.success and passing.exit_code == 0


def test_thresholds_and_critical_checks_load_from_a_json_file(tmp_path):
    path = tmp_path / "dq.json"
    path.write_text(json.dumps({"thresholds": {"complete.race": 0.9},
                                "critical": ["patient_id_unique", "race_complete"]}))
    config = dq.load_config(path)
    assert config == {"thresholds": {"complete.race": 0.9},
                      "critical": frozenset({"patient_id_unique", "race_complete"})}
    built = {c["name"]: c for c in dq.build_checks(**config, today=TODAY)}
    assert built["race_complete"]["kwargs"]["mostly"] == 0.9
    assert built["race_complete"]["critical"] and not built["numerator_0_1"]["critical"]
    assert built["race_unknown_share"]["kwargs"]["mostly"] == pytest.approx(
        1 - dq.THRESHOLDS["unknown_share.race"])
    assert built["birth_year_plausible"]["kwargs"]["min_value"] == \
        TODAY.year - dq.THRESHOLDS["max_age_years"]
    with pytest.raises(ValueError, match="a share from 0 to 1"):
        dq.build_checks(thresholds={"complete.race": 95})  # a percent where a share is due
    path.write_text(json.dumps({"threshold": {}}))
    with pytest.raises(ValueError, match="unknown key"):
        dq.load_config(path)
