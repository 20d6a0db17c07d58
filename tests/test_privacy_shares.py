"""Shares and totals shown side by side never give back a small count (issue #9, item 3).

A share read beside its total is a count: 99.0 % of 300 patients is 297, so 3 are missing.
The overview's "race and ethnicity recorded", the snapshots' data line, the tracker's
evidence, the data-quality checks' messages and JSON, and the catalog of what is loaded
show a bound or "<11" instead whenever the count they rest on is from 1 to 10.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import streamlit
from hypothesis import given, settings
from hypothesis import strategies as st

import manage
from metrics import privacy
from sample_data.generator import generate
from tests.test_pages import app_on

PATIENTS = 300
MISSING_RACE = 3  # a small count: 99.0 % of 300 patients would give it back
NO_LANGUAGE = 3  # of 40 who need an interpreter


@given(total=st.integers(0, 400))
@settings(max_examples=150, deadline=None)
def test_a_shown_share_is_true_and_never_stands_for_one_small_count(total):
    answers: dict[tuple, list[int]] = {}
    for part in range(total + 1):
        share, bound = privacy.shown_share(part, total)
        answers.setdefault((share, bound), []).append(part)
        if share is None:
            continue
        if bound == "at least":
            assert share <= part / total and privacy.small_cell(total - part)
        elif bound == "at most":
            assert share >= part / total and privacy.small_cell(part)
        else:
            assert share == part / total and not privacy.share_gives_back(part, total)
    for (_share, bound), parts in answers.items():
        if len(parts) == 1:  # an answer that one count alone gives: it must not be small
            assert not privacy.share_gives_back(parts[0], total), (total, parts, bound)


@pytest.fixture(scope="module")
def few_missing(tmp_path_factory):
    """300 patients, all with a known race and ethnicity but 3 with no race, 40 needing an
    interpreter of whom 3 have no language; measures with 1 to 10 cases (ppc_timely and smm
    in the generator at this size)."""
    from store import import_extract
    from store.engine import dispose_engine

    folder = tmp_path_factory.mktemp("few-missing")
    written = generate(folder, patients=PATIENTS, months=6)
    patients = pd.read_csv(written["patients"], dtype=str, keep_default_na=False)
    patients["race"] = "White"
    patients["ethnicity"] = "Not Hispanic or Latino"
    patients.loc[patients.index[:MISSING_RACE], "race"] = ""
    # and 3 who need an interpreter with no language recorded: a failing check of 3 rows
    patients["interpreter_needed"], patients["preferred_language"] = "no", "English"
    needing = patients.index[MISSING_RACE:MISSING_RACE + 40]
    patients.loc[needing, "interpreter_needed"] = "yes"
    patients.loc[needing[:NO_LANGUAGE], "preferred_language"] = ""
    patients.to_csv(written["patients"], index=False)
    results = pd.read_csv(written["results"], dtype=str, keep_default_na=False)
    few = results["measure_id"].value_counts()
    small = sorted(few[(few >= 1) & (few <= 10)].index)
    assert small, "the generator no longer makes a measure with 1 to 10 cases at this size"
    url = f"sqlite:///{folder / 'equity.db'}"
    import_extract(written["patients"], written["results"],
                   value_map_csv=written["value_map"], database_url=url)
    yield url, small
    dispose_engine(url)


@pytest.fixture(autouse=True)
def _local_admin(monkeypatch):
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "admin")


def page_text(app) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "metric", "text", "info",
                                       "success", "warning") for e in app.get(kind)]
    parts += [str(m.proto.help) for m in app.get("metric")]
    for frame in app.dataframe:
        parts.append(frame.value.to_csv(index=False))
    return "\n".join(parts)


def test_the_overview_shows_a_bound_not_the_share_of_a_few(few_missing, monkeypatch):

    url, _ = few_missing
    streamlit.cache_data.clear()
    app = app_on(url, monkeypatch)
    card = next(m for m in app.get("metric") if m.label == "Race and ethnicity recorded")
    share, bound = privacy.shown_share(PATIENTS - MISSING_RACE, PATIENTS)
    assert bound == "at least" and card.value == f"\u2265 {100 * share:.1f} %"
    assert share < (PATIENTS - MISSING_RACE) / PATIENTS
    assert "99.0 %" not in page_text(app)


def test_snapshots_and_the_tracker_show_the_bound(few_missing):
    import tracker
    from snapshots.views import data_state

    url, _ = few_missing
    state = data_state(url)
    assert state.completeness_bound == "at least"
    assert state.completeness_text.startswith("\u2265 ") and "99.0" not in state.completeness_text
    assert tracker.race_ethnicity_recorded(url) == pytest.approx(0.99)  # exact, for decisions
    evidence = " ".join(str(evidence) for _, evidence in tracker.facts(url).values())
    assert "99.0 %" not in evidence


def test_what_is_loaded_hides_a_measures_small_case_count(few_missing, monkeypatch):

    import store

    url, small = few_missing
    streamlit.cache_data.clear()
    app = app_on(url, monkeypatch, "pages/loaded.py")
    table = app.dataframe[0].value.set_index("measure_id")
    exact = {m["measure_id"]: m["cases"] for m in store.measures_loaded(url)}
    for measure in small:
        assert table.loc[measure, "cases"] == privacy.SHOWN_AS, measure
        assert 1 <= exact[measure] <= 10
    shown = table[table["cases"] != privacy.SHOWN_AS]
    assert len(shown) >= 5  # the others keep their counts
    for measure, cases in shown["cases"].items():
        assert int(cases.replace(",", "")) == exact[measure]


def test_check_messages_and_the_json_report_hide_a_small_count(few_missing, monkeypatch,
                                                               capsys):

    import data_quality

    url, _ = few_missing
    report = data_quality.run_checks(url)
    race = report.result("race_complete")
    assert (race.unexpected_count, race.element_count) == (MISSING_RACE, PATIENTS)  # stored
    assert "<11 of 300 rows" in race.message() and "3 of 300" not in race.message()
    language = report.result("interpreter_needs_language")
    assert not language.success and language.unexpected_count == NO_LANGUAGE

    assert manage.main(["--database-url", url, "validate", "--format", "json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    shown = next(r for r in printed["results"] if r["check"] == "race_complete")
    assert shown["suppressed"] is True and shown["unexpected_count"] is None
    assert shown["unexpected_percent"] is None and shown["element_count"] == PATIENTS
    for result in printed["results"]:
        assert not any(isinstance(value, dict) for value in result["sample"])  # no rows
        assert not privacy.small_cell(result["unexpected_count"] or 0), result["check"]

    history = data_quality.validation_history(url, check="race_complete")
    assert history["unexpected_count"].isna().all() and history["suppressed"].all()
    comparison = data_quality.compare_with_previous(url).set_index("check")
    assert pd.isna(comparison.loc["race_complete", "unexpected_percent"])

    streamlit.cache_data.clear()
    app = app_on(url, monkeypatch, "pages/quality.py")
    text = page_text(app)
    assert "interpreter_needs_language not met: <11 of 40 rows" in text
    assert "3 of 40" not in text and "7.50 %" not in text
    card = next(m for m in app.get("metric") if m.label == "Race")
    assert card.value.startswith("\u2265 ")


def test_a_database_of_a_few_patients_shows_no_count_of_them(tmp_path, monkeypatch):
    from store import import_extract
    from store.engine import dispose_engine
    from tests.test_importer import (
        GOOD_PATIENTS,
        GOOD_RESULTS,
        PATIENT_HEADER,
        RESULT_HEADER,
        write_csv,
    )

    url = f"sqlite:///{tmp_path / 'equity.db'}"
    import_extract(write_csv(tmp_path / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS),
                   write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS),
                   database_url=url)
    assert 1 <= len(GOOD_PATIENTS) <= 10
    streamlit.cache_data.clear()
    overview = {m.label: m.value for m in app_on(url, monkeypatch).metric}
    assert overview["Patients"] == privacy.SHOWN_AS
    assert overview["Race and ethnicity recorded"] == "n/a"  # 5 patients: no share at all
    loaded = {m.label: m.value for m in app_on(url, monkeypatch, "pages/loaded.py").metric}
    assert loaded["Patients"] == privacy.SHOWN_AS
    assert loaded["Measured cases"] == privacy.SHOWN_AS
    quality = app_on(url, monkeypatch, "pages/quality.py")  # (app_on: no exception)
    race = next(m for m in quality.metric if m.label == "Race")
    assert race.value == "n/a"
    dispose_engine(url)
