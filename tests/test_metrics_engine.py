"""The metrics engine on the sample health system: agrees with an independent computation
from the raw CSV, with itself across SQLite and PostgreSQL, and through the command line."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import manage
import metrics
from metrics.disparity import SMALL_CELL
from metrics.strata import STRATIFIERS
from tests import independent

PROPORTIONS = ["cbp", "gsd_poor", "bcs_e", "col_e", "readmit_30d", "ed_analgesia",
               "sdoh_screen", "interpreter_use", "falls_injury", "ppc_timely"]
STRATIFIER_NAMES = sorted(STRATIFIERS)


@pytest.fixture(scope="module")
def cases(sample_extract):
    return independent.raw_cases(sample_extract)


def compare_with_independent(table, cases, measure_id, by, where=None, period_from=None,
                             period_to=None):
    expected = independent.counts(cases, measure_id, by, where, period_from, period_to)
    shown = table[~table["suppressed"]]
    merged = shown.merge(expected, on=by, how="left", suffixes=("", "_raw"),
                         validate="one_to_one")
    assert len(table) == len(expected), "every group with cases appears, none invented"
    assert (merged["denominator"].astype(int) == merged["denominator_raw"]).all()
    assert (merged["numerator"].astype(int) == merged["numerator_raw"]).all()
    assert np.allclose(merged["rate"], merged["numerator_raw"] / merged["denominator_raw"])
    # Every group the primary rule hides is hidden (complements may add more).
    small = expected[(expected["denominator"].between(*SMALL_CELL))
                     | (expected["numerator"].between(*SMALL_CELL))
                     | ((expected["denominator"] - expected["numerator"]).between(*SMALL_CELL))]
    hidden = table[table["suppressed"]]
    assert set(map(tuple, small[by].astype(str).to_numpy())) <= set(
        map(tuple, hidden[by].astype(str).to_numpy()))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_measure_stratifier_filter_and_period_agrees_with_the_raw_csv(
        data, sample_sqlite, cases):
    measure_id = data.draw(st.sampled_from(PROPORTIONS), label="measure")
    by = data.draw(st.lists(st.sampled_from(STRATIFIER_NAMES), min_size=1, max_size=2,
                            unique=True), label="by")
    filter_column = data.draw(st.sampled_from([None, *STRATIFIER_NAMES]), label="where")
    where = None
    if filter_column:
        values = sorted(cases[filter_column].astype(str).unique())
        where = {filter_column: data.draw(
            st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))}
    months = sorted(cases["period"].unique())
    start = data.draw(st.sampled_from([None, *months]), label="from")
    end = data.draw(st.sampled_from([None, *months]), label="to")
    table = metrics.stratify(measure_id, by, where=where, period_from=start, period_to=end,
                             database_url=sample_sqlite)
    compare_with_independent(table, cases, measure_id, by, where, start, end)


def test_mean_measure_agrees_with_the_raw_csv(sample_sqlite, cases):
    table = metrics.stratify("sbp_mean", "race", database_url=sample_sqlite)
    raw = cases[cases["measure_id"] == "sbp_mean"].groupby("race")["value"].agg(["mean", "std",
                                                                                 "size"])
    shown = table[~table["suppressed"]].set_index("race")
    assert np.allclose(shown["rate"], raw.loc[shown.index, "mean"])
    t = pd.Series(
        [__import__("scipy").stats.t.ppf(0.975, n - 1) for n in raw.loc[shown.index, "size"]],
        index=shown.index)
    half = t * raw.loc[shown.index, "std"] / np.sqrt(raw.loc[shown.index, "size"])
    assert np.allclose(shown["rate_upper"] - shown["rate"], half)


@pytest.mark.parametrize("measure_id,by,where,reference", [
    ("cbp", ["race"], None, "largest"),
    ("ed_analgesia", ["race", "preferred_language"], None, "best"),
    ("col_e", ["ethnicity"], {"payer": ["Medicaid", "Medicare"]}, "overall"),
    ("readmit_30d", ["age_group"], {"sex": "Female"}, "largest"),
    ("sbp_mean", ["adi_decile"], None, "largest"),
    ("interpreter_use", ["site"], {"race": "Missing"}, "largest"),
])
def test_sqlite_and_postgresql_give_identical_tables(measure_id, by, where, reference,
                                                     sample_sqlite, sample_postgres):
    on_sqlite = metrics.stratify(measure_id, by, where=where, reference=reference,
                                 database_url=sample_sqlite)
    on_postgres = metrics.stratify(measure_id, by, where=where, reference=reference,
                                   database_url=sample_postgres)
    assert len(on_sqlite) > 1
    pd.testing.assert_frame_equal(on_sqlite, on_postgres, check_exact=False, rtol=1e-9)


def test_a_filter_that_matches_nothing_gives_an_empty_table(sample_sqlite, capsys):
    table = metrics.stratify("cbp", "race", where={"site": "Nowhere Clinic"},
                             database_url=sample_sqlite)
    assert table.empty and "rate" in table.columns
    code = manage.main(["--database-url", sample_sqlite, "metrics", "--measure", "cbp",
                        "--by", "race", "--where", "site=Nowhere Clinic"])
    out = capsys.readouterr().out
    assert code == 0 and out.strip().startswith("race,denominator,numerator,rate")
    assert len(out.strip().splitlines()) == 1


def test_command_line_prints_the_same_table_as_the_api(sample_sqlite, capsys):
    arguments = ["--database-url", sample_sqlite, "metrics", "--measure", "col_e",
                 "--by", "race", "--by", "ethnicity", "--where", "payer=Medicaid",
                 "--where", "payer=Commercial", "--from", "2025-01", "--to", "2026-06",
                 "--reference", "best"]
    assert manage.main(arguments) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False,
                          na_values=[""])
    expected = metrics.stratify("col_e", ["race", "ethnicity"],
                                where={"payer": ["Medicaid", "Commercial"]},
                                period_from="2025-01", period_to="2026-06", reference="best",
                                database_url=sample_sqlite)
    assert list(printed.columns) == list(expected.columns)
    assert printed["race"].tolist() == expected["race"].tolist()
    assert np.allclose(printed["rate"].to_numpy(dtype=float),
                       expected["rate"].to_numpy(dtype=float), equal_nan=True)
    assert printed["flagged"].tolist() == expected["flagged"].tolist()

    assert manage.main([*arguments, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["race"] for row in rows] == expected["race"].tolist()


@pytest.mark.parametrize("arguments,message", [
    (["--measure", "nope", "--by", "race"], "unknown measure 'nope'"),
    (["--measure", "cbp", "--by", "shoe_size"], "unknown stratifier 'shoe_size'"),
    (["--measure", "cbp", "--by", "race", "--from", "March"], "period_from must be a month"),
    (["--measure", "cbp", "--by", "race", "--where", "race"], "--where takes COLUMN=VALUE"),
    (["--measure", "cbp", "--by", "race", "--reference", "Martian"], "not among the groups"),
    (["--measure", "cbp", "--by", "race", "--by", "sex", "--by", "site"], "one stratifier or"),
])
def test_command_line_refuses_bad_requests_clearly(arguments, message, sample_sqlite, capsys):
    code = manage.main(["--database-url", sample_sqlite, "metrics", *arguments])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_filter_values_are_bound_parameters_not_sql(sample_sqlite):
    hostile = "x' OR '1'='1"
    table = metrics.stratify("cbp", "race", where={"site": hostile}, database_url=sample_sqlite)
    assert table.empty


def test_over_time_months_add_up_to_the_whole_table(sample_sqlite):
    whole = metrics.stratify("cbp", "race", database_url=sample_sqlite)
    monthly = metrics.over_time("cbp", "race", database_url=sample_sqlite)
    assert monthly.attrs["reference_group"] == whole.attrs["reference_group"]
    reference = whole.attrs["reference_group"]
    months = monthly[monthly["race"] == reference]
    assert not months["suppressed"].any()
    assert months["denominator"].sum() == whole.set_index("race").loc[reference, "denominator"]
    assert months["is_reference"].all()
    # The centre line of a shown group is its rate over the whole period.
    shown = whole[~whole["suppressed"]].set_index("race")
    centres = monthly.groupby("race")["centre"].first()
    assert np.allclose(centres[shown.index], shown["rate"])
    # Hidden months show no rate and no limits.
    hidden = monthly[monthly["suppressed"]]
    assert hidden[["rate", "lower_limit", "upper_limit"]].isna().all().all()


def test_age_adjusted_rate_uses_the_population_standard(sample_sqlite, cases):
    table = metrics.age_adjusted("col_e", "race", database_url=sample_sqlite).set_index("race")
    chosen = cases[(cases["measure_id"] == "col_e") & (cases["age_group"] != "Missing")]
    weights = chosen.groupby("age_group").size()
    white = chosen[chosen["race"] == "White"].groupby("age_group")["numerator"].agg(
        ["sum", "size"])
    expected = (weights * white["sum"] / white["size"]).sum() / weights.sum()
    assert table.loc["White", "adjusted_rate"] == pytest.approx(expected)
    assert table.loc["White", "adjusted_lower"] < expected < table.loc["White",
                                                                       "adjusted_upper"]


def test_largest_gaps_are_flagged_and_ordered_by_excess_events(sample_sqlite):
    gaps = metrics.largest_gaps(database_url=sample_sqlite)
    assert len(gaps) > 0
    assert gaps["excess_events"].is_monotonic_decreasing
    assert (gaps["excess_events"] > 0).all()
    first = gaps.iloc[0]
    table = metrics.stratify(first["measure_id"], first["stratifier"],
                             database_url=sample_sqlite).set_index(first["stratifier"])
    row = table.loc[first["group"]]
    assert row["flagged"]
    reference_rate = table[table["is_reference"]]["rate"].iloc[0]
    higher = table.attrs["higher_is_better"]
    expected = (reference_rate - row["rate"]) * row["denominator"] * (1 if higher else -1)
    assert first["excess_events"] == pytest.approx(expected)
    assert set(gaps["trend"]) <= {"narrowing", "widening", "no clear change", "not enough data"}


def test_summary_measures_for_ordered_and_unordered_stratifiers(sample_sqlite):
    by_race = metrics.summary("cbp", "race", database_url=sample_sqlite)
    assert {"range_difference", "bgv", "idisu", "mld", "ti"} <= set(by_race.index)
    assert "sii" not in by_race.index
    table = metrics.stratify("cbp", "race", database_url=sample_sqlite)
    known = table[~table["suppressed"] & ~table["race"].isin(
        ["Missing", "Unknown", "Asked but no answer"])]
    assert by_race.loc["range_difference", "estimate"] == pytest.approx(
        known["rate"].max() - known["rate"].min())
    by_age = metrics.summary("falls_injury", "age_group", database_url=sample_sqlite)
    assert {"sii", "rii"} <= set(by_age.index)
    # Falls rise with age (planted): the slope index is positive.
    assert by_age.loc["sii", "estimate"] > 0


def test_a_group_hidden_over_the_whole_period_is_hidden_every_month(sample_sqlite):
    whole = metrics.stratify("smm", "race", database_url=sample_sqlite)
    monthly = metrics.over_time("smm", "race", database_url=sample_sqlite)
    hidden = set(whole.loc[whole["suppressed"], "race"])
    assert hidden
    rows = monthly[monthly["race"].isin(hidden)]
    assert rows["suppressed"].all()
    assert rows[["denominator", "numerator", "rate", "centre"]].isna().all().all()
