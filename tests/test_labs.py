"""labs.csv (creatinine results): imported with the data contract's checks, all or nothing, on
SQLite and PostgreSQL; the eGFR reclassification counted in SQL equals the one computed in
pandas from the raw files; small cells suppressed; the eGFR impact page and who may open it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from metrics import egfr
from store import ImportRefused, import_extract
from store.engine import get_engine
from store.schema import lab_results, patients
from tests.conftest import REPO
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    write_csv,
)

LAB_HEADER = ["patient_id", "date", "test", "value", "unit"]
GOOD_LABS = [
    ["P1", "2025-01-10", "creatinine", "1.10", "mg/dL"],  # female, 75 at the test
    ["P1", "2025-06-02", "Creatinine", "97", "\u00b5mol/L"],  # the most recent of P1
    ["P2", "2025-03-15", "2160-0", "1.45", "MG/DL"],  # male, Black, 45
    ["P2", "2025-03-15", "14682-9", "150", "umol/L"],  # same day, later line: counts
    ["P3", "2025-02-01", "creatinine", "0.9", "mg/dL"],  # sex unknown: not estimable
    ["P4", "2025-02-01", "creatinine", "88", "\u03bcmol/L"],  # sex Other (Greek mu)
    ["P, 5", "2024-12-31", "creatinine", "0.6", "mg/dL"],  # female, 23
]


def files(tmp_path, labs=GOOD_LABS, header=LAB_HEADER, name="extract"):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return (write_csv(folder / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS),
            write_csv(folder / "results.csv", RESULT_HEADER, GOOD_RESULTS),
            write_csv(folder / "labs.csv", header, labs))


def stored_labs(url) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        query = (select(patients.c.patient_id, lab_results)
                 .join(patients, patients.c.patient_key == lab_results.c.patient_key)
                 .order_by(lab_results.c.lab_key))
        return pd.DataFrame(conn.execute(query).mappings().all())


def test_labs_are_stored_with_both_equations(database_url, tmp_path):
    patients_csv, results_csv, labs_csv = files(tmp_path)
    summary = import_extract(patients_csv, results_csv, labs_csv=labs_csv,
                             database_url=database_url)
    assert summary.labs == len(GOOD_LABS)
    assert [f["role"] for f in summary.files] == ["patients", "results", "labs"]
    rows = stored_labs(database_url)
    assert list(rows["patient_id"]) == [r[0] for r in GOOD_LABS]
    assert list(rows["unit"]) == ["mg/dL", "µmol/L", "mg/dL", "µmol/L", "mg/dL", "µmol/L",
                                  "mg/dL"]
    assert set(rows["test"]) == {"creatinine"}
    # µmol/L divided by 88.42, whichever micro sign or spelling.
    np.testing.assert_allclose(rows["creatinine_mg_dl"],
                               [1.10, 97 / 88.42, 1.45, 150 / 88.42, 0.9, 88 / 88.42, 0.6])
    assert [None if pd.isna(a) else a for a in rows["age"]] == [75, 75, 45, 45, None, 50, 23]
    p1 = rows.iloc[1]
    assert p1["egfr_2021"] == pytest.approx(egfr.ckd_epi_2021(97 / 88.42, 75, True))
    assert p1["egfr_2009"] == pytest.approx(egfr.ckd_epi_2009(97 / 88.42, 75, True, False))
    p2 = rows.iloc[2]
    # Recorded Black (CDC code 2054-5): the 2009 estimate carries its 1.159.
    assert p2["egfr_2009"] == pytest.approx(egfr.ckd_epi_2009(1.45, 45, False, True))
    assert p2["stage_2009"] == egfr.ckd_stage(p2["egfr_2009"])
    assert p2["stage_2021"] == egfr.ckd_stage(p2["egfr_2021"])
    # Unknown sex and no birth year, and sex Other: kept, but no estimate.
    for index in (4, 5):
        assert rows.iloc[index][["egfr_2009", "egfr_2021", "stage_2009",
                                 "stage_2021"]].isna().all()


def test_reclassification_counts_the_most_recent_result_and_shows_the_not_estimable(
        database_url, tmp_path):
    import_extract(*files(tmp_path)[:2], labs_csv=files(tmp_path)[2], database_url=database_url)
    table = egfr.reclassification_table(database_url=database_url).set_index("race")
    # One result per patient; P3 (race empty) and P4 (Unknown) are shown, not dropped.
    assert table["results"].to_dict() == {"Black or African American": 1, "Multiracial": 1,
                                          "Unknown": 1, "White": 1, "Missing": 1}
    assert table.loc["Unknown", "estimated"] == 0 and table.loc["Missing", "estimated"] == 0
    # P2's later line of the same day (150 µmol/L) is the one counted.
    scr = 150 / 88.42
    e2009, e2021 = egfr.ckd_epi_2009(scr, 45, False, True), egfr.ckd_epi_2021(scr, 45, False)
    assert table.loc["Black or African American", "crossed_60"] == int(
        (e2009 < 60) != (e2021 < 60))
    # Months: P1's June result is outside "up to 2025-05", so January's counts.
    early = egfr.reclassification_table(period_to="2025-05", database_url=database_url)
    assert early["results"].sum() == 5
    late = egfr.reclassification_table(period_from="2025-03", database_url=database_url)
    assert set(late["race"]) == {"White", "Black or African American"}
    with pytest.raises(ValueError, match="race, ethnicity, sex"):
        egfr.reclassification_table(by="payer", database_url=database_url)


BAD_CASES = [
    ("unknown patient", ["P99", "2025-01-10", "creatinine", "1.1", "mg/dL"],
     ["labs.csv, line 3, column patient_id", "'P99'", "no patient with this patient_id"]),
    ("empty patient", ["", "2025-01-10", "creatinine", "1.1", "mg/dL"],
     ["labs.csv, line 3, column patient_id", "required"]),
    ("date in another format", ["P1", "10/01/2025", "creatinine", "1.1", "mg/dL"],
     ["labs.csv, line 3, column date", "'10/01/2025'", "YYYY-MM-DD"]),
    ("no such day", ["P1", "2025-02-30", "creatinine", "1.1", "mg/dL"],
     ["labs.csv, line 3, column date", "'2025-02-30'", "YYYY-MM-DD"]),
    ("before birth", ["P1", "1949-05-01", "creatinine", "1.1", "mg/dL"],
     ["labs.csv, line 3, column date", "'1949-05-01'", "before the patient's birth year"]),
    ("another test", ["P1", "2025-01-10", "cystatin C", "1.1", "mg/dL"],
     ["labs.csv, line 3, column test", "'cystatin C'", "creatinine, 2160-0", "14682-9"]),
    ("another unit", ["P1", "2025-01-10", "creatinine", "0.1", "mmol/L"],
     ["labs.csv, line 3, column unit", "'mmol/L'", "mg/dL, µmol/L"]),
    ("code and unit disagree", ["P1", "2025-01-10", "2160-0", "97", "umol/L"],
     ["labs.csv, line 3, column unit", "'umol/L'", "2160-0 is creatinine in mg/dL"]),
    ("not a number", ["P1", "2025-01-10", "creatinine", "1,1", "mg/dL"],
     ["labs.csv, line 3, column value", "'1,1'", "a number"]),
    ("zero", ["P1", "2025-01-10", "creatinine", "0", "mg/dL"],
     ["labs.csv, line 3, column value", "'0'", "greater than 0"]),
    ("negative", ["P1", "2025-01-10", "creatinine", "-1.1", "mg/dL"],
     ["labs.csv, line 3, column value", "'-1.1'", "greater than 0"]),
    ("micromoles labelled mg/dL", ["P1", "2025-01-10", "creatinine", "88", "mg/dL"],
     ["labs.csv, line 3, column value", "'88'", "0.1 to 40 mg/dL", "other unit"]),
    ("mg/dL labelled micromoles", ["P1", "2025-01-10", "creatinine", "1.1", "umol/L"],
     ["labs.csv, line 3, column value", "'1.1'", "8.8 to 3,537 µmol/L"]),
]


@pytest.mark.parametrize(("case", "row", "expected"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_a_bad_labs_file_is_refused_and_nothing_changes(case, row, expected, database_url,
                                                        tmp_path):
    good = files(tmp_path, name="good")
    import_extract(*good[:2], labs_csv=good[2], database_url=database_url)
    before = stored_labs(database_url)
    bad = files(tmp_path, labs=[GOOD_LABS[0], row, *GOOD_LABS[1:]], name="bad")
    with pytest.raises(ImportRefused) as refused:
        import_extract(*bad[:2], labs_csv=bad[2], database_url=database_url)
    message = str(refused.value)
    for fragment in expected:
        assert fragment in message, (case, message)
    assert len(refused.value.problems) == 1, message
    pd.testing.assert_frame_equal(stored_labs(database_url), before)


def test_a_labs_file_without_its_columns_is_refused(sqlite_url, tmp_path):
    bad = files(tmp_path, labs=[row[:4] for row in GOOD_LABS], header=LAB_HEADER[:4])
    with pytest.raises(ImportRefused, match="labs.csv, line 1, column unit: required column"):
        import_extract(*bad[:2], labs_csv=bad[2], database_url=sqlite_url)


def test_an_import_without_labs_removes_the_previous_ones(sqlite_url, tmp_path):
    good = files(tmp_path)
    import_extract(*good[:2], labs_csv=good[2], database_url=sqlite_url)
    import_extract(*good[:2], database_url=sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(lab_results)).scalar_one() == 0
    assert egfr.reclassification_table(database_url=sqlite_url).empty


def test_manage_import_takes_labs_and_refuses_a_bad_one(sqlite_url, tmp_path):
    good = files(tmp_path, name="good")
    command = [sys.executable, "manage.py", "--database-url", sqlite_url, "import",
               str(good[0]), str(good[1]), "--labs"]
    done = subprocess.run([*command, str(good[2])], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(GOOD_LABS)} creatinine results" in done.stdout
    bad = files(tmp_path, labs=[["P1", "2025-01-10", "creatinine", "0", "mg/dL"]], name="bad")
    done = subprocess.run([*command, str(bad[2])], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert "labs.csv, line 2, column value: '0'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(stored_labs(sqlite_url)) == len(GOOD_LABS)


# --- the SQL aggregate against pandas on the raw files -------------------------------------

@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    from sample_data.generator import generate

    return generate(tmp_path_factory.mktemp("labs-sample"), patients=6000, seed=7)


def pandas_reclassification(sample, url, by, period_from=None, period_to=None):
    """From labs.csv as written and the patients as stored (their labels mapped), in pandas."""
    labs = pd.read_csv(sample["labs"], dtype=str, keep_default_na=False)
    labs["line"] = np.arange(len(labs))
    if period_from:
        labs = labs[labs["date"] >= f"{period_from}-01"]
    if period_to:
        labs = labs[labs["date"].str[:7] <= period_to]
    latest = labs.sort_values(["date", "line"]).groupby("patient_id").tail(1)
    with get_engine(url).connect() as conn:
        people = pd.DataFrame(conn.execute(
            select(patients.c.patient_id, patients.c.birth_year, patients.c.sex,
                   patients.c.race, patients.c.ethnicity)).mappings().all())
    frame = latest.merge(people, on="patient_id", how="left", validate="one_to_one")
    frame["creatinine_mg_dl"] = egfr.creatinine_mg_dl(frame["value"].astype(float),
                                                      frame["unit"])
    frame["age"] = frame["date"].str[:4].astype(float) - frame["birth_year"].astype(float)
    frame["female"] = frame["sex"].map({"Female": True, "Male": False})
    frame["black"] = frame["race"] == egfr.BLACK
    return egfr.reclassification_counts(frame, by=by)


@pytest.mark.parametrize(("by", "period_from", "period_to"), [
    ("race", None, None), ("race", "2025-06", "2026-03"), ("ethnicity", None, "2025-12"),
    ("sex", "2026-01", None)])
def test_sql_reclassification_equals_pandas_on_the_raw_rows(by, period_from, period_to,
                                                           small_sample, database_url):
    import_extract(small_sample["patients"], small_sample["results"],
                   value_map_csv=small_sample["value_map"], labs_csv=small_sample["labs"],
                   database_url=database_url)
    sql = egfr.reclassification_table(by, period_from, period_to, database_url=database_url)
    expected = pandas_reclassification(small_sample, database_url, by, period_from, period_to)
    pd.testing.assert_frame_equal(sql, expected, check_dtype=False)
    assert sql["crossed_60"].sum() > 0 and sql["higher_stage_2021"].sum() > 0  # a real test
    if period_from is None and period_to is None:
        assert sql["reached_20"].sum() > 0


def test_the_sample_labs_spread_like_a_health_systems(small_sample):
    labs = pd.read_csv(small_sample["labs"], dtype=str, keep_default_na=False)
    people = pd.read_csv(small_sample["patients"], dtype=str, keep_default_na=False)
    assert small_sample["rows"]["labs"] == len(labs) > 0
    assert set(labs["unit"]) == {"mg/dL", "umol/L"}
    assert set(labs["test"]) == {"creatinine", "2160-0", "14682-9"}
    frame = labs.merge(people[["patient_id", "birth_year", "sex"]], on="patient_id")
    mg = egfr.creatinine_mg_dl(frame["value"].astype(float), frame["unit"])
    age = frame["date"].str[:4].astype(int) - frame["birth_year"].astype(int)
    assert age.min() >= 18  # adults only, as the equations
    female = frame["sex"].str.lower().map({"female": True, "male": False})
    assert female.notna().mean() > 0.98
    e2021 = egfr.ckd_epi_2021(mg, age, female)
    known = e2021[~np.isnan(e2021)]
    shares = {t: float(np.mean(known < t)) for t in (60, 30, 20)}
    assert 0.08 < shares[60] < 0.30, shares
    assert 0.01 < shares[30] < 0.08, shares
    assert 0.003 < shares[20] < 0.04, shares
    # People with diabetes or hypertension are tested more: more tested among the old.
    tested = people["patient_id"].isin(labs["patient_id"])
    years = 2026 - people["birth_year"].astype(int)
    assert tested[years >= 65].mean() > 2 * tested[(years >= 18) & (years < 40)].mean()


# --- suppression -------------------------------------------------------------------------

def counts_table(rows) -> pd.DataFrame:
    columns = ["race", *egfr.RECLASSIFICATION_COLUMNS]
    return pd.DataFrame([(group, *values) for group, values in rows], columns=columns)


def test_small_cells_are_suppressed_with_their_complement():
    # results, estimated, changed, crossed_60, crossed_30, reached_20, lower, higher,
    # below_60, below_30
    table = counts_table([
        ("Black or African American", (500, 498, 80, 30, 12, 4, 0, 80, 30, 12)),
        ("White", (800, 800, 90, 40, 15, 0, 90, 0, 0, 0)),
        ("Asian", (120, 120, 14, 5, 0, 0, 14, 0, 0, 0)),
        ("Missing", (8, 8, 1, 0, 0, 0, 1, 0, 0, 0)),
    ])
    shown = egfr.shown_reclassification(table).set_index("race")
    assert list(shown.index) == ["Black or African American", "White", "Asian", "Missing",
                                 egfr.TOTAL]
    # 8 patients: the whole row is hidden, and so the next smallest group's patients.
    assert shown.loc["Missing"].drop("suppressed").isna().all()
    assert pd.isna(shown.loc["Asian", "results"])
    assert shown.loc["White", "results"] == 800
    # reached_20 = 4 for Black patients: hidden; the total (4) is from 1 to 10 too.
    assert pd.isna(shown.loc["Black or African American", "reached_20"])
    assert pd.isna(shown.loc[egfr.TOTAL, "reached_20"])
    # not estimable 2 of 500: hidden, with a complement.
    assert pd.isna(shown.loc["Black or African American", "not_estimable"])
    assert shown["not_estimable"].isna().sum() >= 2
    # Upward crossings of 60: White 40, Asian 5 (hidden), so one more is hidden in the column.
    assert pd.isna(shown.loc["Asian", "above_60_2021"])
    assert shown["above_60_2021"].iloc[:-1].isna().sum() >= 2
    # Large counts stay, and no shown count is from 1 to 10.
    assert shown.loc["Black or African American", "below_60_2021"] == 30
    assert shown.loc["White", "lower_stage_2021"] == 90
    values = shown.drop(columns="suppressed").to_numpy().ravel()
    assert not [v for v in values if not pd.isna(v) and 1 <= v <= 10]
    assert shown.loc["White", "suppressed"] == shown.loc["White"].drop("suppressed").isna().any()


def test_the_sentence_never_gives_a_suppressed_count():
    table = counts_table([
        ("Black or African American", (400, 400, 60, 25, 7, 3, 0, 60, 25, 7)),
        ("White", (900, 900, 70, 30, 11, 0, 70, 0, 0, 0)),
    ])
    from charts.egfr import reclassification_chart, reclassification_sentence

    shown = egfr.shown_reclassification(table)
    sentence = reclassification_sentence(shown)
    assert "25 of your 400 Black patients" in sentence
    assert "a number too small to show would now cross below 30" in sentence
    assert " 7 " not in sentence and " 3 " not in sentence
    figure = reclassification_chart(shown, "30")
    texts = [t for trace in figure.data for t in trace.text]
    assert "suppressed" in texts and not any(t.startswith(("7 ", "3 ")) for t in texts)


# --- the page -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def labs_database(small_sample, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('labs-db') / 'equity.db'}"
    import_extract(small_sample["patients"], small_sample["results"],
                   value_map_csv=small_sample["value_map"], labs_csv=small_sample["labs"],
                   database_url=url)
    return url


def open_page(url, monkeypatch, role="analyst") -> AppTest:
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", role)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/egfr.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_page_tells_the_leader_and_shows_suppressed_counts(labs_database, monkeypatch,
                                                               deferred_files):
    app = open_page(labs_database, monkeypatch)
    sentence = next(m.value for m in app.markdown if "2021 equation" in m.value)
    assert "of your" in sentence and "Black patients" in sentence and "below 60" in sentence
    expected = egfr.shown_reclassification(
        egfr.reclassification_table("race", database_url=labs_database))
    black = expected.set_index("race").loc[egfr.BLACK]
    assert f"{int(black['below_60_2021']):,} of your {int(black['results']):,} Black" \
        in sentence
    shown = app.dataframe[0].value
    assert list(shown["Race"]) == list(expected["race"])
    cells = shown.drop(columns="Race").to_numpy().ravel()
    assert "suppressed" in cells
    numbers = [int(c.replace(",", "")) for c in cells if c != "suppressed"]
    assert not [n for n in numbers if 1 <= n <= 10]
    assert "Missing" in list(shown["Race"]) and "Unknown" in list(shown["Race"])
    spec = __import__("json").loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("What the race-free eGFR changes")
    download = [b for b in app.get("download_button")]
    assert download  # analysts may export
    # the file: the shown table, suppressed cells as such, text neutralised, the export audited
    name, make = deferred_files[download[0].proto.deferred_file_id]
    text = make().decode("utf-8-sig")
    assert name == "egfr-reclassification-by-race.csv"
    assert sentence.strip("*").split(",")[0] in text and "suppressed" in text
    assert egfr.BLACK in text
    from store import access, audit
    with access.acting_as(access.User(email="admin@example.org", name="Admin", role="admin")):
        entries = audit.entries(labs_database, action="export")
    assert any(entry["details"].get("listing") == "egfr-reclassification-by-race"
               for entry in entries)

    app.selectbox(key="egfr_by").set_value("sex").run()
    shown = app.dataframe[0].value
    assert "Other" in list(shown["Sex"])  # sex neither female nor male: shown, not estimable
    other = shown.set_index("Sex").loc["Other"]
    assert other["Not estimable"] == other["Patients"]


def test_a_viewer_cannot_open_the_page(labs_database, monkeypatch):
    monkeypatch.setenv("EQUITY_DATABASE_URL", labs_database)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "viewer")
    app = AppTest.from_file(str(REPO / "pages" / "egfr.py"), default_timeout=120)
    app.run()
    assert [w.value for w in app.warning] == [
        "Your role (viewer) cannot see data quality: that needs the analyst role. Ask an "
        "administrator of the dashboard."]
    assert not app.get("plotly_chart") and not app.dataframe
    from store import access

    with access.acting_as(access.User("v@example.org", "v", "viewer")), \
            pytest.raises(access.NotAllowed, match="analyst"):
        egfr.reclassification_table(database_url=labs_database)


def test_without_labs_the_page_says_how_to_add_them(sqlite_url, tmp_path, monkeypatch):
    good = files(tmp_path)
    import_extract(*good[:2], database_url=sqlite_url)
    app = open_page(sqlite_url, monkeypatch)
    text = " ".join(i.value for i in app.info)
    assert "labs.csv" in text and "--labs" in text and "data-contract.md" in text
    assert not app.get("plotly_chart")



def test_what_is_loaded_counts_the_lab_results_of_the_last_import(labs_database, monkeypatch):
    with get_engine(labs_database).connect() as conn:
        stored = conn.execute(select(func.count()).select_from(lab_results)).scalar_one()
    assert stored > 10
    monkeypatch.setenv("EQUITY_DATABASE_URL", labs_database)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "analyst")
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/loaded.py").run()
    assert not app.exception, [e.value for e in app.exception]
    shown = {m.label: m.value for m in app.metric}
    assert shown["Lab results"] == f"{stored:,}"
