"""Harm events as rate measures (kind `rate`): events per exposure with Poisson intervals, the
rate ratio and difference against the reference group, the exact conditional test, the AHRQ
flag rule; `exposure` in results.csv checked by the importer and summed by the count table;
the explorer, the over-time view and the leaders' Harm events page on rate measures."""
from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sqlalchemy import inspect, select

import metrics
from charts.safety import harm_sentence
from metrics.aggregate import group_counts, raw_group_counts
from metrics.control import u_chart
from metrics.disparity import disparity_table
from store import ImportRefused, import_extract
from store.engine import ensure_schema, get_engine
from store.schema import results
from store.vocabulary import rate_multiplier
from tests import independent
from tests.test_importer import GOOD_PATIENTS, PATIENT_HEADER, write_csv
from tests.test_pages import app_on, figure

Z = scipy_stats.norm.ppf(0.975)
RESULT_HEADER = ["patient_id", "measure_id", "period", "site", "numerator", "denominator",
                 "value", "exposure"]


def counts_frame(rows, by="site"):
    """Counted cells (group, cases, events, exposure) as `group_counts` gives them."""
    frame = pd.DataFrame(rows, columns=[by, "denominator", "numerator", "exposure"])
    frame["value_sum"] = math.nan
    frame["value_sum_squares"] = math.nan
    return frame


# --- rates and their intervals ------------------------------------------------------------

def _reference_rows(reference_dir):
    with open(reference_dir / "rate_byars_exact.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["numerator"] and row["denominator"]]


def test_rate_limits_in_the_disparity_table_reproduce_phe(reference_dir):
    """PHEindicatormethods' crude-rate examples (exact below 10 events, Byar from 10), as
    a rate measure's row of the disparity table: events / exposure x multiplier."""
    checked = suppressed = 0
    for row in _reference_rows(reference_dir):
        events, exposure = float(row["numerator"]), float(row["denominator"])
        per = int(row["multiplier"])
        for level, suffix in ((0.95, "95_0"), (0.998, "99_8")):
            if not row[f"lower{suffix}cl"]:
                continue
            table = disparity_table(counts_frame([("A", 1000, events, exposure)]), ["site"],
                                    "rate", False, confidence=level, multiplier=per)
            if 1 <= events <= 10:  # a small cell: never shown, whatever the exposure
                assert table["suppressed"].iat[0] and math.isnan(table["rate"].iat[0])
                suppressed += 1
                continue
            assert table["rate"].iat[0] == pytest.approx(float(row["value"]), rel=1e-9)
            assert table["rate_lower"].iat[0] == pytest.approx(float(row[f"lower{suffix}cl"]),
                                                               rel=1e-9)
            assert table["rate_upper"].iat[0] == pytest.approx(float(row[f"upper{suffix}cl"]),
                                                               rel=1e-9)
            checked += 1
    assert checked >= 20 and suppressed >= 4


def test_a_group_without_events_shows_zero_with_the_exact_upper_limit():
    table = disparity_table(counts_frame([("A", 400, 0, 2000.0), ("B", 900, 30, 4000.0)]),
                            ["site"], "rate", False, multiplier=1000)
    row = table.set_index("site").loc["A"]
    assert not row["suppressed"] and row["rate"] == 0 and row["rate_lower"] == 0
    assert row["rate_upper"] == pytest.approx(scipy_stats.chi2.ppf(0.975, 2) / 2 / 2000 * 1000)
    assert row["ratio"] == 0 and math.isnan(row["ratio_lower"])
    assert not row["flagged"]


@pytest.mark.parametrize("x1,t1,x0,t0", [(41, 9040.0, 125, 30975.0), (75, 8575.0, 98, 16112.0),
                                         (12, 2000.0, 400, 60000.0), (0, 500.0, 35, 9000.0)])
def test_rate_ratio_difference_and_p_value_against_an_independent_computation(x1, t1, x0, t0):
    table = disparity_table(counts_frame([("Reference", 5000, x0, t0), ("Group", 1200, x1, t1)]),
                            ["site"], "rate", False, multiplier=1000)
    row = table.set_index("site").loc["Group"]
    ratio = (x1 / t1) / (x0 / t0)
    assert row["ratio"] == pytest.approx(ratio, rel=1e-12)
    if x1 > 0:
        half = Z * math.sqrt(1 / x1 + 1 / x0)  # Wald interval of log RR
        assert row["ratio_lower"] == pytest.approx(ratio * math.exp(-half), rel=1e-12)
        assert row["ratio_upper"] == pytest.approx(ratio * math.exp(half), rel=1e-12)
    difference = (x1 / t1 - x0 / t0) * 1000
    se = math.sqrt(x1 / t1 ** 2 + x0 / t0 ** 2) * 1000
    assert row["difference"] == pytest.approx(difference, rel=1e-12)
    assert row["difference_lower"] == pytest.approx(difference - Z * se, rel=1e-12)
    # Conditional test: x1 of the x1 + x0 events is binomial with probability t1 / (t1 + t0)
    # under equal rates; two-sided, summing outcomes no more likely than the observed one.
    pmf = scipy_stats.binom.pmf(np.arange(x1 + x0 + 1), x1 + x0, t1 / (t1 + t0))
    p_value = min(1.0, pmf[pmf <= pmf[x1] * (1 + 1e-7)].sum())
    assert row["p_value"] == pytest.approx(p_value, rel=1e-6)
    assert row["flagged"] == (p_value <= 0.05 and ratio >= 1.1)


def test_the_flag_needs_both_significance_and_ten_percent_in_the_adverse_direction():
    cells = counts_frame([("Reference", 90000, 40000, 1e7), ("Slightly worse", 90000, 42000, 1e7),
                          ("Much worse", 9000, 6000, 1e6), ("Better", 9000, 2000, 1e6)])
    table = disparity_table(cells, ["site"], "rate", False, multiplier=1000).set_index("site")
    assert table.loc["Slightly worse", "p_value"] < 0.001  # 5 % more: significant
    assert not table.loc["Slightly worse", "flagged"]  # but under the 10 % rule
    assert table.loc["Much worse", "flagged"]
    assert not table.loc["Better", "flagged"] and table.loc["Better", "p_value"] < 0.05
    higher = disparity_table(cells, ["site"], "rate", True, multiplier=1000).set_index("site")
    assert higher.loc["Better", "flagged"] and not higher.loc["Much worse", "flagged"]


def test_small_event_counts_are_suppressed_and_few_events_marked_unstable():
    cells = counts_frame([("A", 5000, 400, 20000.0), ("B", 800, 7, 3000.0),
                          ("C", 800, 0, 3000.0), ("D", 900, 15, 3000.0), ("E", 9, 0, 30.0)])
    table = disparity_table(cells, ["site"], "rate", False, multiplier=1000).set_index("site")
    assert table.loc["B", "suppressed"]  # 7 events in 800 stays: a small cell
    assert table.loc["E", "suppressed"]  # 9 stays
    # zero events may be shown: C is no small cell itself...
    from metrics.disparity import primary_suppression
    primary = pd.Series(primary_suppression(cells, "rate"), index=cells["site"])
    assert not primary["C"] and primary["B"] and primary["E"]
    # ...but B's 7 events and E's 0 would together give back 7 from the total: more is hidden
    hidden = cells.set_index("site").loc[table.index[table["suppressed"]]]
    assert not 1 <= hidden["numerator"].sum() <= 10
    assert table.loc["D", "unstable"] and not table.loc["A", "unstable"]  # 15 < 20 events
    assert pd.isna(table.loc["B", "numerator"]) and math.isnan(table.loc["B", "rate"])


def test_rate_units_name_their_multiplier():
    assert rate_multiplier("per 1,000 patient-days") == 1000
    assert rate_multiplier("per 1000 admissions") == 1000
    assert rate_multiplier("per admission") == 1
    for bad in ("%", "per 10000", "per 1,00 days", "per 0 days", "", None, "1,000 days"):
        assert rate_multiplier(bad) is None, bad


def test_the_u_chart_centre_and_limits():
    events, exposure = np.array([3, 0, 5, 9]), np.array([800.0, 700.0, 900.0, 1000.0])
    chart = u_chart(events, exposure, multiplier=1000, method="u")
    centre = events.sum() / exposure.sum()
    assert chart["centre"].iat[0] == pytest.approx(centre * 1000)
    upper = (centre + 3 * np.sqrt(centre / exposure)) * 1000
    lower = np.clip(centre - 3 * np.sqrt(centre / exposure), 0, None) * 1000
    assert np.allclose(chart["upper_limit"], upper) and np.allclose(chart["lower_limit"], lower)
    assert np.allclose(chart["rate"], events / exposure * 1000)


# --- the importer ----------------------------------------------------------------------------

GOOD_RATES = [
    ["P1", "falls_injury", "2025-01", "North Hospital", "2", "1", "", "6"],
    ["P2", "falls_injury", "2025-01", "North Hospital", "0", "1", "", "3.5"],
    ["P3", "complaints", "2025-02", "North Hospital", "1", "1", "", "1"],
    ["P4", "falls_injury", "2025-02", "North Hospital", "0", "0", "", ""],  # excluded stay
    ["P1", "cbp", "2025-01", "North Clinic", "1", "1", "", ""],
]


def import_rates(folder, rows, header=RESULT_HEADER, url=None, measures=None):
    folder.mkdir(exist_ok=True)
    patients_csv = write_csv(folder / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS)
    results_csv = write_csv(folder / "results.csv", header, rows)
    return import_extract(patients_csv, results_csv, measures_csv=measures, database_url=url)


def test_rate_results_are_stored_with_their_exposure_and_counted(database_url, tmp_path):
    import_rates(tmp_path / "good", GOOD_RATES, url=database_url)
    with get_engine(database_url).connect() as conn:
        stored = {(row.measure_id, row.numerator, row.denominator): row.exposure
                  for row in conn.execute(select(results))}
    assert stored[("falls_injury", 2, 1)] == 6 and stored[("falls_injury", 0, 1)] == 3.5
    assert stored[("cbp", 1, 1)] is None
    cells = group_counts("falls_injury", "site", database_url=database_url)
    assert cells[["denominator", "numerator", "exposure"]].values.tolist() == [[2, 2, 9.5]]
    table = metrics.stratify("falls_injury", "site", database_url=database_url)
    assert table.attrs["unit"] == "per 1,000 patient-days"
    assert table["suppressed"].iat[0]  # two stays and two events: small cells, not shown


def test_the_import_gate_accepts_a_rate_measures_event_counts(database_url, tmp_path):
    import data_quality

    folder = tmp_path / "gated"
    folder.mkdir()
    patients_csv = write_csv(folder / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS)
    results_csv = write_csv(folder / "results.csv", RESULT_HEADER, GOOD_RATES)
    summary = import_extract(patients_csv, results_csv, database_url=database_url,
                             gate=data_quality.gate)  # 2 events in one stay: not a 0/1 error
    assert summary.results == len(GOOD_RATES)
    report = data_quality.run_checks(database_url, store=False, engine="gx")
    numerator = report.result("numerator_0_1")
    assert numerator.success and numerator.element_count == 2  # the cbp and excluded rows


BAD_EXPOSURE = [
    (["P1", "falls_injury", "2025-01", "North", "0", "1", "", ""], "exposure", "''",
     "required for a rate measure when denominator is 1"),
    (["P1", "falls_injury", "2025-01", "North", "0", "1", "", "abc"], "exposure", "'abc'",
     "a number greater than 0"),
    (["P1", "falls_injury", "2025-01", "North", "0", "1", "", "0"], "exposure", "'0'",
     "a number greater than 0"),
    (["P1", "falls_injury", "2025-01", "North", "0", "1", "", "-3"], "exposure", "'-3'",
     "a number greater than 0"),
    (["P1", "cbp", "2025-01", "North", "1", "1", "", "4"], "exposure", "'4'",
     "only for rate measures (kind rate)"),
    (["P1", "falls_injury", "2025-01", "North", "1.5", "1", "", "4"], "numerator", "'1.5'",
     "a whole number of events from 0 to 32,767"),
    (["P1", "falls_injury", "2025-01", "North", "-1", "1", "", "4"], "numerator", "'-1'",
     "a whole number of events from 0 to 32,767"),
    (["P1", "falls_injury", "2025-01", "North", "", "1", "", "4"], "numerator", "''",
     "required: a whole number of events"),
    (["P1", "falls_injury", "2025-01", "North", "2", "0", "", ""], "numerator", "'2'",
     "must be 0 when denominator is 0"),
    (["P1", "cbp", "2025-01", "North", "2", "1", "", ""], "numerator", "'2'", "0 or 1"),
]


@pytest.mark.parametrize("row,column,value,rule", BAD_EXPOSURE,
                         ids=[f"{r[1]}-{c}-{v}" for r, c, v, _ in BAD_EXPOSURE])
def test_bad_rate_values_are_refused_naming_file_line_column_value_rule(
        database_url, tmp_path, row, column, value, rule):
    import_rates(tmp_path / "before", GOOD_RATES, url=database_url)
    with get_engine(database_url).connect() as conn:
        before = sorted(tuple(r) for r in conn.execute(select(results)))
    with pytest.raises(ImportRefused) as refused:
        import_rates(tmp_path / "bad", [*GOOD_RATES, row], url=database_url)
    message = str(refused.value)
    assert f"results.csv, line 7, column {column}: {value}: {rule}" in message, message
    with get_engine(database_url).connect() as conn:  # nothing changed
        assert sorted(tuple(r) for r in conn.execute(select(results))) == before


def test_a_rate_measure_needs_a_unit_that_says_what_it_is_per(sqlite_url, tmp_path):
    catalog = write_csv(tmp_path / "measures.csv",
                        ["measure_id", "name", "kind", "higher_is_better", "unit"],
                        [["sepsis", "Sepsis", "rate", "false", "%"]])
    with pytest.raises(ImportRefused) as refused:
        import_rates(tmp_path / "x", GOOD_RATES, url=sqlite_url, measures=catalog)
    assert ("measures.csv, line 2, column unit: '%': a rate measure needs a unit saying what "
            "the rate is per") in str(refused.value)


def test_an_extract_without_the_exposure_column_still_imports(sqlite_url, tmp_path):
    rows = [row[:7] for row in GOOD_RATES if row[1] == "cbp"]
    summary = import_rates(tmp_path / "old", rows, header=RESULT_HEADER[:7], url=sqlite_url)
    assert summary.results == 1


def test_a_database_made_before_the_exposure_column_gets_it(database_url, tmp_path):
    ensure_schema(database_url)
    engine = get_engine(database_url)
    with engine.begin() as conn:
        for table in ("results", "result_counts"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN exposure")
    assert "exposure" not in {c["name"] for c in inspect(engine).get_columns("results")}
    import_rates(tmp_path / "after", GOOD_RATES, url=database_url)
    for table in ("results", "result_counts"):
        assert "exposure" in {c["name"] for c in inspect(engine).get_columns(table)}
    assert group_counts("falls_injury", "site", database_url=database_url)[
        "exposure"].tolist() == [9.5]


# --- the sample, stratified ----------------------------------------------------------------

@pytest.fixture(scope="module")
def cases(sample_extract):
    frame = independent.raw_cases(sample_extract)
    frame["exposure"] = pd.to_numeric(frame["exposure"].replace("", np.nan))
    return frame


@pytest.fixture(params=["sqlite", "postgres"])
def sample_url(request):
    return request.getfixturevalue(f"sample_{request.param}")


def _byar(x):
    lower = x * (1 - 1 / (9 * x) - Z / (3 * math.sqrt(x))) ** 3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + Z / (3 * math.sqrt(x + 1))) ** 3
    return lower, upper


@pytest.mark.parametrize("measure_id,by", [("adverse_drug_events", "preferred_language"),
                                           ("restraint_use", "race"),
                                           ("complaints", "preferred_language")])
def test_the_disparity_table_of_a_rate_measure_equals_one_from_the_raw_rows(
        sample_url, cases, measure_id, by):
    chosen = cases[cases["measure_id"] == measure_id]
    raw = chosen.groupby(by).agg(cases=("numerator", "size"), events=("numerator", "sum"),
                                 exposure=("exposure", "sum"))
    per = 1000
    table = metrics.stratify(measure_id, by, database_url=sample_url).set_index(by)
    assert set(table.index) == set(raw.index)
    reference = table.index[table["is_reference"]][0]
    assert reference == raw["cases"].idxmax()
    x0, t0 = raw.loc[reference, "events"], raw.loc[reference, "exposure"]
    for group, row in table.iterrows():
        x, n, t = raw.loc[group, "events"], raw.loc[group, "cases"], raw.loc[group, "exposure"]
        if 1 <= x <= 10 or 1 <= n <= 10:
            assert row["suppressed"], group
        if row["suppressed"]:
            continue
        assert (row["denominator"], row["numerator"]) == (n, x)
        assert row["rate"] == pytest.approx(x / t * per, rel=1e-12)
        lower, upper = (0.0, scipy_stats.chi2.ppf(0.975, 2) / 2) if x == 0 else _byar(x)
        assert row["rate_lower"] == pytest.approx(lower / t * per, rel=1e-9)
        assert row["rate_upper"] == pytest.approx(upper / t * per, rel=1e-9)
        assert row["unstable"] == (n < 30 or x < 20)
        if group == reference:
            continue
        assert row["ratio"] == pytest.approx((x / t) / (x0 / t0), rel=1e-12)
        pmf = scipy_stats.binom.pmf(np.arange(x + x0 + 1), x + x0, t / (t + t0))
        p_value = min(1.0, pmf[pmf <= pmf[x] * (1 + 1e-7)].sum())
        assert row["p_value"] == pytest.approx(p_value, rel=1e-6)
        assert row["flagged"] == (p_value <= 0.05 and (x / t) / (x0 / t0) >= 1.1)


def test_the_count_table_sums_exposure_as_the_raw_rows_do(sample_url):
    for by in (["race"], ["preferred_language", "period"]):
        counted = group_counts(None, by, database_url=sample_url).sort_values(
            ["measure_id", *by], ignore_index=True)
        raw = raw_group_counts(None, by, database_url=sample_url).sort_values(
            ["measure_id", *by], ignore_index=True)
        assert np.allclose(counted["exposure"], raw["exposure"], rtol=1e-12, equal_nan=True)
        harm = counted["measure_id"].isin(["falls_injury", "complaints"])
        assert (counted.loc[harm, "exposure"] > 0).all()
        assert counted.loc[~counted["measure_id"].isin(
            ["falls_injury", "pressure_injury", "adverse_drug_events", "restraint_use",
             "complaints"]), "exposure"].isna().all()


def test_over_time_gives_a_u_chart_and_hides_the_empty_months_of_a_short_group(sample_sqlite):
    monthly = metrics.over_time("restraint_use", "race", database_url=sample_sqlite)
    assert set(monthly["chart"]) <= {"u", "laney"}
    white = monthly[monthly["race"] == "White"]
    shown = white[~white["suppressed"]]
    assert (shown["numerator"] > 10).all()  # no shown month is an empty one
    whole = metrics.stratify("restraint_use", "race", database_url=sample_sqlite)
    white_rate = whole.set_index("race").loc["White", "rate"]
    assert white["centre"].iat[0] == pytest.approx(white_rate)  # u-bar over every month


def test_the_leaders_list_ranks_harm_gaps_by_excess_events(sample_sqlite, cases):
    gaps = metrics.largest_gaps(("race", "preferred_language"), kinds=("rate",),
                                database_url=sample_sqlite)
    assert not gaps.empty
    assert set(gaps["measure_id"]) <= {"falls_injury", "pressure_injury", "adverse_drug_events",
                                       "restraint_use", "complaints"}
    assert gaps["excess_events"].is_monotonic_decreasing
    row = gaps[(gaps["measure_id"] == "adverse_drug_events")
               & (gaps["group"] == "Spanish")].iloc[0]
    chosen = cases[cases["measure_id"] == "adverse_drug_events"]
    spanish = chosen[chosen["preferred_language"] == "Spanish"]
    english = chosen[chosen["preferred_language"] == "English"]
    reference_rate = english["numerator"].sum() / english["exposure"].sum()
    expected = spanish["numerator"].sum() - reference_rate * spanish["exposure"].sum()
    assert row["excess_events"] == pytest.approx(expected, rel=1e-9)
    assert row["reference_rate"] == pytest.approx(reference_rate * 1000, rel=1e-12)
    assert row["relative_difference"] >= 0.1
    proportions = metrics.largest_gaps(database_url=sample_sqlite)
    assert "adverse_drug_events" not in set(proportions["measure_id"])  # ranked apart
    sentence = harm_sentence(row)
    assert sentence.startswith("Adverse drug events: ")
    assert "per 1,000 patient-days for patients preferring Spanish vs " in sentence
    assert "for patients preferring English (" in sentence and "times the rate" in sentence


# --- pages ---------------------------------------------------------------------------------

def test_the_explorer_shows_a_rate_measure_with_its_unit(sample_sqlite, monkeypatch):
    app = app_on(sample_sqlite, monkeypatch, "pages/explorer.py",
                 query={"measure": "adverse_drug_events", "by": "preferred_language"})
    spec = figure(app)
    assert spec["layout"]["xaxis"]["title"]["text"] == "Rate (per 1,000 patient-days)"
    texts = " ".join(m.value for m in app.markdown)
    assert "Spanish" in texts
    for view in ("Over time", "Control chart", "Share of outcomes", "Table"):
        app = app_on(sample_sqlite, monkeypatch, "pages/explorer.py",
                     query={"measure": "falls_injury", "by": "race", "view": view})
        assert not app.exception


def test_the_harm_events_page_lists_flagged_gaps_in_plain_words(sample_sqlite, monkeypatch):
    app = app_on(sample_sqlite, monkeypatch, "pages/safety.py")
    labels = {metric.label: metric.value for metric in app.metric}
    assert labels["Harm measures"] == "5"
    sentences = [m.value for m in app.markdown if m.value[:2] == "1."]
    assert sentences and "per 1,000" in sentences[0] and "times the rate" in sentences[0]
    assert int(labels["Flagged gaps"]) >= 1
    assert len(app.get("plotly_chart")) == 2  # by race, by preferred language
    titles = [figure(app, i)["layout"]["title"]["text"] for i in range(2)]
    assert any("Harm events by race" in title for title in titles), titles


def test_a_rate_export_names_the_events_rule_of_its_unstable_column(sample_sqlite, tmp_path):
    import snapshots
    from tests.test_snapshots import csv_rows

    rates = snapshots.export(snapshots.View("disparity", "falls_injury", "race"), "csv",
                             tmp_path, sample_sqlite)
    proportions = snapshots.export(snapshots.View("disparity", "cbp", "race"), "csv",
                                   tmp_path, sample_sqlite)
    rate_cells = {cell for row in csv_rows(rates) for cell in row}
    proportion_cells = {cell for row in csv_rows(proportions) for cell in row}
    assert "Fewer than 30 cases or 20 events" in rate_cells
    assert "Fewer than 30 cases" in proportion_cells
    assert "Fewer than 30 cases or 20 events" not in proportion_cells
