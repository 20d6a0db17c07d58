"""Charts: the figures carry exactly the engine's numbers, hide what must be hidden, keep one
colour per group, and explain themselves in text."""
from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import charts
import metrics
from charts.disparity import table_rows
from charts.palette import (
    FLAGGED_SYMBOL,
    NOT_KNOWN_COLOURS,
    OKABE_ITO,
    REFERENCE_SYMBOL,
    format_number,
    rate_scale,
)
from store.vocabulary import RACES

DOT_TRACE = "Rate and 95 % interval"


# --- helpers ------------------------------------------------------------------------------

def _decode(node):
    """Figure JSON with plotly's typed arrays ({"dtype", "bdata"}) decoded to plain lists."""
    if isinstance(node, dict):
        if set(node) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"]).tolist()
        return {key: _decode(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decode(value) for value in node]
    return node


def plain_json(fig: go.Figure) -> str:
    return json.dumps(_decode(json.loads(fig.to_json())), ensure_ascii=False)


def contains_number(text: str, number: int) -> bool:
    """The number as a whole token, written plainly or with thousands separators."""
    forms = {str(number), f"{number:,}"}
    return any(re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d])", text) for form in forms)


def trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def points(fig: go.Figure, name: str = DOT_TRACE) -> dict[str, int]:
    """Group -> index of its point in the named trace."""
    return {group: i for i, group in enumerate(trace(fig, name).customdata)}


def tick_label(fig: go.Figure, group: str, axis: str = "yaxis") -> str:
    layout_axis = fig.layout[axis]
    labels = [label for label in layout_axis.ticktext
              if re.sub(r"<[^>]+>", "", label).startswith(group)]
    assert labels, f"{group!r} not among the tick labels"
    return min(labels, key=len)


def annotations(fig: go.Figure, name: str) -> list:
    return [a for a in fig.layout.annotations if a.name == name]


def none_or_close(actual, expected) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None
    return actual is not None and math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)


def disparity_table(rows: list[dict], *, higher_is_better: bool = True,
                    measure_name: str = "Controlling high blood pressure",
                    reference_group: str = "White", unit: str = "%",
                    kind: str = "proportion") -> pd.DataFrame:
    """A hand-made disparity table with the engine's columns and attrs."""
    columns = ["race", "denominator", "numerator", "rate", "rate_lower", "rate_upper",
               "is_reference", "difference", "difference_lower", "difference_upper", "ratio",
               "ratio_lower", "ratio_upper", "p_value", "flagged", "suppressed", "unstable"]
    defaults = {"is_reference": False, "flagged": False, "suppressed": False,
                "unstable": False}
    table = pd.DataFrame([{**defaults, **row} for row in rows]).reindex(columns=columns)
    table.attrs.update({"measure_id": "hand", "measure_name": measure_name, "unit": unit,
                        "kind": kind, "higher_is_better": higher_is_better, "by": ["race"],
                        "where": {}, "period_from": "2025-01", "period_to": "2025-12",
                        "reference": "largest", "reference_group": reference_group})
    return table


# Hidden counts and rates that must never reach a figure: distinctive numbers, so that a
# search of the figure's JSON would find them if they leaked.
HIDDEN = {"denominator": 4817, "numerator": 2903, "rate": 2903 / 4817}
HIDDEN_SMALL_RATE = 0.3751


@pytest.fixture
def hand_table() -> pd.DataFrame:
    """Five groups: the reference, a flagged one, an unstable one, and two suppressed groups
    whose counts (deliberately left in) must not be shown."""
    return disparity_table([
        dict(race="Asian", denominator=8, numerator=3, rate=HIDDEN_SMALL_RATE,
             rate_lower=0.14, rate_upper=0.69, difference=-0.15, difference_lower=-0.4,
             difference_upper=0.2, p_value=0.4, suppressed=True),
        dict(race="Black or African American", denominator=3119, numerator=1187,
             rate=1187 / 3119, rate_lower=0.3636, rate_upper=0.3978, difference=-0.1462,
             difference_lower=-0.168, difference_upper=-0.124, p_value=1e-30, flagged=True),
        dict(race="White", denominator=5203, numerator=2741, rate=2741 / 5203,
             rate_lower=0.5133, rate_upper=0.5404, is_reference=True),
        dict(race="Multiracial", denominator=27, numerator=14, rate=14 / 27, rate_lower=0.34,
             rate_upper=0.69, difference=-0.008, difference_lower=-0.19, difference_upper=0.17,
             p_value=0.93, unstable=True),
        dict(race="Other race", denominator=HIDDEN["denominator"],
             numerator=HIDDEN["numerator"], rate=HIDDEN["rate"], rate_lower=0.589,
             rate_upper=0.616, difference=0.0758, difference_lower=0.057,
             difference_upper=0.095, p_value=1e-12, suppressed=True),
    ])


@pytest.fixture(scope="module")
def engine(sample_sqlite):
    """Real engine output on the session's sample database, computed once."""
    url = sample_sqlite
    return {
        "cbp": metrics.stratify("cbp", "race", database_url=url),
        "cbp_overall": metrics.stratify("cbp", "race", reference="overall", database_url=url),
        "readmit": metrics.stratify("readmit_30d", "race", database_url=url),
        "sbp": metrics.stratify("sbp_mean", "race", database_url=url),
        "smm": metrics.stratify("smm", "race", database_url=url),
        "crossed": metrics.stratify("ed_analgesia", ["race", "preferred_language"],
                                    database_url=url),
        "language": metrics.stratify("cbp", "preferred_language", database_url=url),
        "over_time": metrics.over_time("cbp", "race", database_url=url),
        "gaps": metrics.largest_gaps(database_url=url),
    }


# --- formatting ---------------------------------------------------------------------------

def test_number_formats_are_the_documented_ones():
    assert charts.format_rate(0.45) == "45.0 %"
    assert charts.format_rate(0.36634) == "36.6 %"
    assert charts.format_rate(0.0241, "proportion", "per 10000") == "241 per 10,000"
    assert charts.format_rate(0.0241, "proportion", "per 10,000") == "241 per 10,000"
    assert charts.format_rate(132.44, "mean", "mmHg") == "132.4 mmHg"
    assert charts.format_rate(float("nan")) == "n/a"
    assert charts.format_rate(pd.NA, missing="suppressed") == "suppressed"
    assert charts.format_count(2362) == "2,362"
    assert charts.format_count(1234567.0) == "1,234,567"
    assert charts.format_count(pd.NA) == "n/a"
    assert charts.format_difference(-0.097) == "-9.7 points"
    assert charts.format_difference(0.022) == "+2.2 points"
    assert charts.format_difference(0.0) == "0.0 points"
    assert charts.format_difference(-0.097, signed=False) == "9.7 points"
    assert charts.format_difference(3.31, "mean", "mmHg") == "+3.3 mmHg"
    assert charts.format_percent(0.1234) == "12.3 %"
    assert charts.format_p_value(0.0004) == "p < 0.001"
    assert charts.format_p_value(0.0123) == "p = 0.01"
    assert charts.format_period("2024-11") == "Nov 2024"
    assert charts.format_period_range("2024-11", "2026-10") == "Nov 2024 to Oct 2026"
    assert charts.format_period_range() == "all months"
    assert format_number(-0.04, 1) == "0.0"  # no "-0.0"
    # Every formatted string can be printed with a Latin-1 core font (PDF exports).
    for text in (charts.format_rate(0.45), charts.format_rate(0.0241, "proportion",
                 "per 10000"), charts.format_difference(-0.097), charts.format_count(2362)):
        text.encode("latin-1")


def test_rate_scale_follows_kind_and_unit():
    assert rate_scale("proportion", "%").multiplier == 100
    assert rate_scale("proportion", "per 10000").multiplier == 10_000
    assert rate_scale("mean", "mmHg").multiplier == 1
    assert rate_scale("mean", "mmHg").suffix == " mmHg"


# --- colours ------------------------------------------------------------------------------

def test_group_colours_are_stable_distinct_and_grey_for_not_known():
    known = [race for race in RACES if race not in NOT_KNOWN_COLOURS]
    colours = [charts.group_colour("race", race) for race in known]
    assert len(set(colours)) == len(known) == 8
    assert set(colours) <= set(OKABE_ITO)
    for group, grey in NOT_KNOWN_COLOURS.items():
        assert charts.group_colour("race", group) == grey
        assert charts.group_colour("preferred_language", group) == grey
    # Free text (a language): the same colour every time, never a not-known grey, and not
    # English's colour (the one known language).
    somali = charts.group_colour("preferred_language", "Somali")
    assert somali == charts.group_colour("preferred_language", "Somali")
    assert somali in OKABE_ITO and somali != charts.group_colour("preferred_language",
                                                                 "English")
    # Ordered stratifiers: one distinct step per group.
    ages = [charts.group_colour("age_group", g) for g in ("0-17", "18-44", "45-64", "65-74",
                                                           "75+")]
    assert len(set(ages)) == 5
    # A crossed group takes the colour of its first part.
    assert charts.group_colour(["race", "preferred_language"], "Asian | Korean") == \
        charts.group_colour("race", "Asian")
    assert charts.group_colour("no_such_stratifier", "x").startswith("#")


def test_a_group_has_the_same_colour_on_every_chart(engine):
    group = "Black or African American"
    expected = charts.group_colour("race", group)
    dot = charts.disparity_dot_chart(engine["cbp"])
    dot_colour = trace(dot, DOT_TRACE).marker.color[points(dot)[group]]
    trend = charts.trend_chart(engine["over_time"], [group])
    trend_colour = trace(trend, group).line.color
    share = charts.share_chart(engine["cbp"])
    adverse = [t for t in share.data if t.name.startswith("Share of missed")][0]
    share_colour = adverse.marker.color[list(adverse.customdata).index(group)]
    multiples = charts.small_multiples({"cbp": engine["cbp"], "readmit": engine["readmit"]})
    multiple_colours = {t.marker.color[list(t.customdata).index(group)]
                        for t in multiples.data if t.customdata and group in t.customdata}
    control = charts.control_chart(engine["over_time"], group)
    control_colour = trace(control, f"{group}: monthly rate").line.color
    assert dot_colour == trend_colour == share_colour == control_colour == expected
    assert multiple_colours == {expected}
    gaps = engine["gaps"]
    race_rows = gaps[(gaps["stratifier"] == "race")].reset_index(drop=True)
    if len(race_rows):
        bars = charts.largest_gaps_chart(race_rows, top=len(race_rows)).data[0]
        for i, row in race_rows.iterrows():
            assert bars.marker.color[i] == charts.group_colour("race", row["group"])


# --- the dot chart ------------------------------------------------------------------------

def test_dot_chart_carries_the_tables_numbers(engine):
    table = engine["cbp"]
    fig = charts.disparity_dot_chart(table)
    dots = trace(fig, DOT_TRACE)
    where = points(fig)
    shown = table[~table["suppressed"]]
    assert set(where) == set(shown["race"])
    for _, row in shown.iterrows():
        i = where[row["race"]]
        assert dots.x[i] == pytest.approx(row["rate"] * 100, rel=1e-12)
        assert dots.x[i] + dots.error_x.array[i] == pytest.approx(row["rate_upper"] * 100)
        assert dots.x[i] - dots.error_x.arrayminus[i] == pytest.approx(row["rate_lower"] * 100)
        symbol = dots.marker.symbol[i].removesuffix("-open")
        if row["is_reference"]:
            assert symbol == REFERENCE_SYMBOL
        elif row["flagged"]:
            assert symbol == FLAGGED_SYMBOL
            assert "flagged" in tick_label(fig, row["race"])
        else:
            assert symbol == "circle"
            assert "flagged" not in tick_label(fig, row["race"])
        assert dots.marker.symbol[i].endswith("-open") == bool(row["unstable"])
    reference = table.loc[table["is_reference"], "rate"].item()
    reference_lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(reference_lines) == 1
    assert reference_lines[0].x0 == reference_lines[0].x1 == pytest.approx(reference * 100)
    assert "(reference)" in tick_label(fig, table.attrs["reference_group"])
    assert fig.layout.title.text == "Controlling high blood pressure by race"
    assert "White" in fig.layout.title.subtitle.text
    assert fig.layout.xaxis.title.text == "Rate (%)"
    assert table["flagged"].any()  # the sample has flagged groups: the checks above ran
    summary = charts.describe(fig)
    for group in table.loc[table["flagged"], "race"]:
        assert group in summary
    assert charts.format_rate(reference) in summary


def test_dot_chart_of_a_crossed_table_lists_suppressed_groups_without_a_point(engine):
    table = engine["crossed"]
    fig = charts.disparity_dot_chart(table)
    labels = [f"{a} | {b}" for a, b in zip(table["race"], table["preferred_language"])]
    hidden = [label for label, s in zip(labels, table["suppressed"]) if s]
    assert hidden, "the sample should have suppressed crossed cells"
    where = points(fig)
    assert not set(hidden) & set(where)
    assert set(where) == {label for label, s in zip(labels, table["suppressed"]) if not s}
    ticks = [re.sub(r"<[^>]+>", "", t) for t in fig.layout.yaxis.ticktext]
    for label in hidden:
        assert any(t.startswith(label) for t in ticks)
    notes = annotations(fig, "suppressed")
    assert len(notes) == len(hidden)
    assert {fig.layout.yaxis.ticktext[int(a.y)] for a in notes} == set(hidden)
    assert all(a.text == "<i>suppressed</i>" for a in notes)
    assert any("fewer than 11 cases" in c for c in charts.captions(fig))
    # The compact form draws only shown groups and names the others in a caption.
    compact = charts.disparity_dot_chart(table, list_suppressed=False)
    assert len(compact.layout.yaxis.ticktext) == len(where)
    assert any("Suppressed and not drawn" in c for c in charts.captions(compact))


def test_no_hidden_number_reaches_any_figure(hand_table):
    figures = [charts.disparity_dot_chart(hand_table), charts.share_chart(hand_table),
               charts.small_multiples({"hand": hand_table, "again": hand_table})]
    for fig in figures:
        text = plain_json(fig)
        for number in (HIDDEN["denominator"], HIDDEN["numerator"]):
            assert not contains_number(text, number), (fig.layout.meta["chart"], number)
        for rate in (HIDDEN["rate"], HIDDEN_SMALL_RATE):
            assert f"{rate * 100:.1f}" not in text
            assert repr(rate * 100)[:8] not in text
            assert repr(rate)[:6] not in text
        # The search works: a shown group's counts are there.
        if fig.layout.meta["chart"] == "disparity_dot":
            assert contains_number(text, 5203) and contains_number(text, 2741)
        assert "Other race" in text and "Asian" in text  # hidden groups are still named


def test_dot_chart_marks_each_status_of_a_hand_made_table(hand_table):
    fig = charts.disparity_dot_chart(hand_table)
    dots = trace(fig, DOT_TRACE)
    where = points(fig)
    assert set(where) == {"Black or African American", "White", "Multiracial"}
    assert dots.marker.symbol[where["Black or African American"]] == FLAGGED_SYMBOL
    assert dots.marker.symbol[where["White"]] == REFERENCE_SYMBOL
    assert dots.marker.symbol[where["Multiracial"]] == "circle-open"
    assert "few cases" in tick_label(fig, "Multiracial")
    value_column = [a.text for a in annotations(fig, "value")]
    assert "52.7 % \u00b7 2,741 of 5,203" in value_column
    captions = " ".join(charts.captions(fig))
    assert "fewer than 11 cases" in captions and "fewer than 30 cases" in captions
    assert "Flagged" in captions
    assert "Jan 2025 to Dec 2025" in fig.layout.title.subtitle.text
    assert "Asian" in charts.describe(fig) and "Other race" in charts.describe(fig)


def test_dot_chart_of_a_mean_measure_stays_in_its_unit(engine):
    table = engine["sbp"]
    fig = charts.disparity_dot_chart(table)
    dots = trace(fig, DOT_TRACE)
    for group, i in points(fig).items():
        rate = table.loc[table["race"] == group, "rate"].item()
        assert dots.x[i] == pytest.approx(rate)
    assert fig.layout.xaxis.title.text == "Mean (mmHg)"
    assert "mmHg" in charts.describe(fig)


def test_dot_chart_with_the_overall_reference_draws_the_overall_rate(engine):
    table = engine["cbp_overall"]
    assert not table["suppressed"].any() and not table["is_reference"].any()
    overall = table["numerator"].sum() / table["denominator"].sum()
    fig = charts.disparity_dot_chart(table)
    line = [s for s in fig.layout.shapes if s.type == "line"][0]
    assert line.x0 == pytest.approx(overall * 100, rel=1e-9)
    assert "all groups together" in annotations(fig, "reference")[0].text


def test_per_10000_measures_are_scaled_by_their_unit(engine):
    table = engine["smm"]
    fig = charts.disparity_dot_chart(table)
    assert fig.layout.xaxis.title.text == "Rate (per 10,000)"
    dots = trace(fig, DOT_TRACE)
    for group, i in points(fig).items():
        upper = table.loc[table["race"] == group, "rate_upper"].item()
        assert dots.x[i] + dots.error_x.array[i] == pytest.approx(upper * 10_000)


# --- shares -------------------------------------------------------------------------------

def test_share_chart_compares_patients_with_adverse_outcomes(hand_table):
    fig = charts.share_chart(hand_table)
    patients, adverse = fig.data
    shown = hand_table[~hand_table["suppressed"]]
    assert list(patients.customdata) == list(shown["race"])
    denominator = shown["denominator"].astype(float)
    missed = denominator - shown["numerator"].astype(float)
    assert list(patients.x) == pytest.approx(list(denominator / denominator.sum() * 100))
    assert list(adverse.x) == pytest.approx(list(missed / missed.sum() * 100))
    assert adverse.name.startswith("Share of missed care")
    assert any("Asian" in c and "Other race" in c for c in charts.captions(fig))

    lower_better = hand_table.copy()
    lower_better.attrs = {**hand_table.attrs, "higher_is_better": False,
                          "measure_name": "30-day readmission"}
    events = charts.share_chart(lower_better).data[1]
    numerator = shown["numerator"].astype(float)
    assert list(events.x) == pytest.approx(list(numerator / numerator.sum() * 100))
    assert "30-day readmission" in events.name


def test_share_chart_refuses_means(engine):
    with pytest.raises(ValueError, match="proportion"):
        charts.share_chart(engine["sbp"])


def test_share_chart_on_engine_output(engine):
    fig = charts.share_chart(engine["language"])
    for bars in fig.data:
        assert sum(bars.x) == pytest.approx(100)
    hidden = engine["language"].loc[engine["language"]["suppressed"], "preferred_language"]
    assert set(hidden).isdisjoint(fig.data[0].customdata)


# --- small multiples ----------------------------------------------------------------------

def test_small_multiples_one_panel_per_measure_on_shared_rows(engine):
    tables = {"cbp": engine["cbp"], "readmit_30d": engine["readmit"],
              "sbp_mean": engine["sbp"], "smm": engine["smm"]}
    fig = charts.small_multiples(tables)
    panels = [t for t in fig.data if t.name != ""]
    assert len(panels) == 4
    order = list(fig.layout.yaxis.ticktext)
    for panel, (key, table) in zip(panels, tables.items()):
        assert panel.name == table.attrs["measure_name"]
        multiplier = rate_scale(table.attrs["kind"], table.attrs["unit"]).multiplier
        shown = table[~table["suppressed"]]
        assert sorted(panel.customdata) == sorted(shown["race"]), key
        for group, x, y in zip(panel.customdata, panel.x, panel.y):
            assert x == pytest.approx(shown.loc[shown["race"] == group, "rate"].item()
                                      * multiplier)
            assert order[y] == group  # the same row in every panel
    titles = [a.text for a in fig.layout.annotations if "<b>" in (a.text or "")]
    assert any("Mean systolic blood pressure" in t for t in titles)
    assert "Severe maternal morbidity" in charts.describe(fig)


# --- over time ----------------------------------------------------------------------------

def test_trend_chart_draws_each_groups_monthly_rate_and_gap(engine):
    frame = engine["over_time"]
    group = "Black or African American"
    fig = charts.trend_chart(frame, [group], show_gap=True)
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == [group, "White (reference)"]  # the reference is always drawn
    rows = frame[frame["race"] == group].sort_values("period")
    line = trace(fig, group)
    assert list(line.x) == [f"{p}-01" for p in rows["period"]]
    for y, (_, row) in zip(line.y, rows.iterrows()):
        assert none_or_close(y, None if row["suppressed"] else row["rate"] * 100)
    assert trace(fig, "White (reference)").line.width > line.line.width
    flagged = rows["flagged"].to_numpy()
    assert [s == FLAGGED_SYMBOL for s in np.array(line.marker.symbol)[~rows["unstable"]]] == \
        list(flagged[~rows["unstable"].to_numpy()])
    gap = trace(fig, f"{group}: difference")
    assert gap.yaxis == "y2"
    for y, (_, row) in zip(gap.y, rows.iterrows()):
        assert none_or_close(y, row["difference"] * 100)
    band = trace(fig, f"{group}: 95 % interval of the difference")
    band_values = [v for v in band.y if v is not None]
    assert max(band_values) == pytest.approx(rows["difference_upper"].max() * 100)
    assert min(band_values) == pytest.approx(rows["difference_lower"].min() * 100)
    assert "percentage points" in fig.layout.yaxis2.title.text
    with pytest.raises(ValueError, match="not in the frame"):
        charts.trend_chart(frame, ["Atlantis"])


def test_a_compact_trend_fits_a_third_of_a_page(engine):
    """The overview's small trends: the measure as the title, the legend above the plot,
    level date labels few enough not to collide, captions wrapped short."""
    frame = engine["over_time"]
    wide = charts.trend_chart(frame, ["Asian"])
    small = charts.trend_chart(frame, ["Asian"], compact=True)
    assert [t.y for t in small.data] == [t.y for t in wide.data]  # the same numbers
    assert small.layout.title.text == frame.attrs["measure_name"]
    assert small.layout.legend.orientation == "h" and small.layout.xaxis.nticks == 3
    assert small.layout.xaxis.tickangle == 0
    caption = next(a.text for a in small.layout.annotations if a.name == "caption")
    assert max(len(line) for line in caption.split("<br>")) <= 42
    assert charts.describe(small) == charts.describe(wide)


def test_trend_chart_leaves_gaps_for_suppressed_months_and_names_hidden_groups(engine):
    frame = engine["over_time"]
    fig = charts.trend_chart(frame)
    hidden_everywhere = [g for g, rows in frame.groupby("race") if rows["suppressed"].all()]
    drawn = {t.customdata[0] for t in fig.data}
    assert drawn.isdisjoint(hidden_everywhere)
    if hidden_everywhere:
        assert any(hidden_everywhere[0] in c for c in charts.captions(fig))
    for t in fig.data:
        rows = frame[frame["race"] == t.customdata[0]].sort_values("period")
        assert [y is None for y in t.y] == list(rows["suppressed"])


def test_control_chart_uses_the_frames_limits_and_signals(engine):
    frame = engine["over_time"]
    group = "Black or African American"
    rows = frame[frame["race"] == group].sort_values("period")
    fig = charts.control_chart(frame, group, annotations=[("2025-06", "Home BP cuffs")])
    for name, column in (("Upper control limit", "upper_limit"),
                         ("Lower control limit", "lower_limit"), ("Centre line", "centre"),
                         (f"{group}: monthly rate", "rate")):
        values = trace(fig, name).y
        for y, (_, row) in zip(values, rows.iterrows()):
            expected = None if (row["suppressed"] and column != "centre") else row[column] * 100
            assert none_or_close(y, expected), (name, row["period"])
    assert trace(fig, "Upper control limit").line.shape == "vhv"
    beyond = trace(fig, "Beyond a control limit")
    shift = trace(fig, "Shift: 8 or more months on one side")
    assert list(beyond.x) == [f"{p}-01" for p in rows.loc[rows["beyond_limits"], "period"]]
    assert list(shift.x) == [f"{p}-01" for p in rows.loc[rows["shift"], "period"]]
    assert rows["shift"].any()  # the sample's run for this group: the check above ran
    assert "p-chart" in fig.layout.title.subtitle.text
    lines = [s for s in fig.layout.shapes if s.name == "intervention"]
    assert [s.x0 for s in lines] == ["2025-06-01"]
    assert [a.text for a in annotations(fig, "intervention")] == ["Home BP cuffs"]
    assert "shift" in charts.describe(fig).lower()
    with pytest.raises(ValueError, match="not in the frame"):
        charts.control_chart(frame, "Atlantis")


def over_time_frame(chart: str = "laney") -> pd.DataFrame:
    """A hand-made over_time frame: one group, a point beyond its limit, a suppressed month."""
    periods = [f"2025-{m:02d}" for m in range(1, 7)]
    rate = [0.40, 0.42, 0.41, 0.62, np.nan, 0.39]
    frame = pd.DataFrame({
        "race": "Asian", "period": periods, "denominator": [120, 130, 125, 118, pd.NA, 122],
        "numerator": [48, 55, 51, 73, pd.NA, 48], "rate": rate,
        "rate_lower": [r - 0.05 for r in rate], "rate_upper": [r + 0.05 for r in rate],
        "is_reference": False, "difference": np.nan, "difference_lower": np.nan,
        "difference_upper": np.nan, "flagged": False,
        "suppressed": [False, False, False, False, True, False],
        "unstable": False, "centre": 0.43,
        "lower_limit": [0.30, 0.31, 0.305, 0.30, np.nan, 0.30],
        "upper_limit": [0.56, 0.55, 0.555, 0.56, np.nan, 0.56],
        "beyond_limits": [False, False, False, True, False, False], "shift": False,
        "chart": chart})
    frame.attrs.update({"measure_id": "cbp", "kind": "proportion", "higher_is_better": True,
                        "reference_group": "White", "reference": "largest", "by": ["race"]})
    return frame


def test_control_chart_of_a_hand_made_frame():
    frame = over_time_frame()
    fig = charts.control_chart(frame, "Asian", measure_name="Controlling high blood pressure")
    for name, expected in (("Upper control limit", [56.0, 55.0, 55.5, 56.0, None, 56.0]),
                           ("Lower control limit", [30.0, 31.0, 30.5, 30.0, None, 30.0])):
        values = trace(fig, name).y
        assert all(none_or_close(a, b) or math.isclose(a, b) for a, b in zip(values, expected)
                   if not (a is None and b is None)), name
        assert values[4] is None
    assert trace(fig, "Asian: monthly rate").y[4] is None
    assert list(trace(fig, "Beyond a control limit").x) == ["2025-04-01"]
    assert list(trace(fig, "Beyond a control limit").y) == pytest.approx([62.0])
    assert "Laney p\u2032 chart" in fig.layout.title.subtitle.text
    assert fig.layout.title.text.startswith("Controlling high blood pressure")
    summary = charts.describe(fig)
    assert "Apr 2025" in summary and "above" in summary and "1 month hidden" in summary
    xbar = over_time_frame("xbar")
    xbar.attrs.update({"kind": "mean", "unit": "mmHg"})
    mean_fig = charts.control_chart(xbar, "Asian")
    assert trace(mean_fig, "Centre line").y[0] == pytest.approx(0.43)  # not multiplied
    assert "X-bar" in mean_fig.layout.title.subtitle.text


# --- overview -----------------------------------------------------------------------------

CBP_ROW = {
    "measure_id": "cbp", "measure_name": "Controlling high blood pressure",
    "stratifier": "race", "group": "Black or African American", "reference_group": "White",
    "denominator": 2362, "numerator": 851, "rate": 851 / 2362, "reference_rate": 0.457,
    "difference": 851 / 2362 - 0.457, "trend": "widening", "unstable": False,
    "excess_events": 228.5,
}
READMIT_ROW = {
    "measure_id": "readmit_30d", "measure_name": "30-day readmission", "stratifier": "race",
    "group": "Black or African American", "reference_group": "White", "denominator": 1802,
    "numerator": 454, "rate": 454 / 1802, "reference_rate": 0.2305,
    "difference": 454 / 1802 - 0.2305, "trend": "no clear change", "unstable": False,
    "excess_events": 38.6,
}


def test_gap_sentence_for_a_higher_is_better_measure():
    sentence = charts.gap_sentence(CBP_ROW)
    assert sentence.startswith("Black or African American patients had their blood pressure "
                               "controlled 9.7 points less often than White patients")
    assert "(36.0 % vs 45.7 %, 851 of 2,362)." in sentence
    assert "The gap is widening." in sentence
    assert "interpret with care" not in sentence


def test_gap_sentence_for_a_lower_is_better_measure_and_unstable_group():
    sentence = charts.gap_sentence(READMIT_ROW)
    assert "were readmitted within 30 days 2.1 points more often than White patients" \
        in sentence
    assert "(25.2 % vs 23.1 %, 454 of 1,802)" in sentence
    unstable = {**READMIT_ROW, "unstable": True, "numerator": 12, "denominator": 25,
                "rate": 0.48}
    assert "few cases: interpret with care" in charts.gap_sentence(unstable)


def test_gap_sentence_falls_back_to_the_measure_name_and_describes_groups():
    row = {**CBP_ROW, "measure_id": "new_measure", "measure_name": "Flu vaccination",
           "stratifier": "preferred_language", "group": "Somali", "reference_group": "English"}
    sentence = charts.gap_sentence(row, include_trend=False)
    assert sentence.startswith("Patients preferring Somali met the flu vaccination measure "
                               "9.7 points less often than patients preferring English")
    assert "widening" not in sentence
    missing = charts.gap_sentence({**CBP_ROW, "group": "Missing"})
    assert missing.startswith("Patients with no race recorded had their blood pressure")
    lower = charts.gap_sentence({**READMIT_ROW, "measure_id": "x", "measure_name": "Falls",
                                 "stratifier": "age_group", "group": "75+",
                                 "reference_group": "45-64"})
    assert lower.startswith("Patients aged 75+ had falls 2.1 points more often than patients "
                            "aged 45-64")
    per = charts.gap_sentence({**READMIT_ROW, "unit": "per 10000", "rate": 0.0061,
                               "reference_rate": 0.0037, "phrase": "had severe morbidity"})
    assert "at a rate 24 per 10,000 higher than White patients" in per
    assert "(61 per 10,000 vs 37 per 10,000" in per


def test_gap_sentences_of_the_engine_ranking(engine):
    gaps = engine["gaps"]
    assert len(gaps)
    for row in gaps.to_dict("records"):
        sentence = charts.gap_sentence(row)
        assert charts.format_rate(row["rate"]) in sentence
        assert charts.format_count(row["denominator"]) in sentence
        worse_word = "less often" if row["rate"] < row["reference_rate"] else "more often"
        assert worse_word in sentence


def test_largest_gaps_chart(engine):
    gaps = engine["gaps"]
    fig = charts.largest_gaps_chart(gaps, top=5)
    bars = fig.data[0]
    top = gaps.head(5)
    assert list(bars.x) == pytest.approx(list(top["excess_events"]))
    for label, (_, row) in zip(bars.customdata, top.iterrows()):
        assert label.startswith(f"{row['measure_name']} \u00b7 ")
        assert f": {row['group']} vs {row['reference_group']}" in label
    values = [a.text for a in annotations(fig, "value")]
    assert [f"trend: {t}" in v for v, t in zip(values, top["trend"])] == [True] * len(top)
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # largest on top
    assert charts.gap_sentence(top.iloc[0]) in charts.describe(fig)
    empty = charts.largest_gaps_chart(gaps.iloc[0:0])
    assert annotations(empty, "empty") and charts.describe(empty) == \
        "No meaningful gap is flagged."


def test_phase_progress_chart():
    phases = [{"name": "Commit", "percent": 100}, {"name": "Learn", "percent": 60},
              {"name": "Data", "percent": 40, "detail": "2 of 5 items"},
              {"name": "Vision", "percent": 0}, {"name": "Launch", "percent": 130}]
    fig = charts.phase_progress_chart(phases)
    track, done = fig.data
    assert list(track.x) == [100] * 5
    assert list(done.x) == [100, 60, 40, 0, 100]
    assert list(fig.layout.yaxis.ticktext) == ["Commit", "Learn", "Data", "Vision", "Launch"]
    texts = [a.text for a in annotations(fig, "progress")]
    assert texts[0] == "100 % \u00b7 complete" and texts[2] == "40 % \u00b7 2 of 5 items"
    assert "2 of 5 phases complete" in charts.describe(fig)
    with pytest.raises(ValueError, match="percent"):
        charts.phase_progress_chart([{"name": "Commit"}])


# --- every chart: self-explaining, offline, exportable ------------------------------------

def all_figures(engine) -> dict[str, go.Figure]:
    return {
        "dot": charts.disparity_dot_chart(engine["cbp"]),
        "crossed": charts.disparity_dot_chart(engine["crossed"]),
        "share": charts.share_chart(engine["cbp"]),
        "small_multiples": charts.small_multiples({"cbp": engine["cbp"],
                                                   "sbp": engine["sbp"]}),
        "trend": charts.trend_chart(engine["over_time"], ["Asian"], show_gap=True),
        "control": charts.control_chart(engine["over_time"], "White",
                                        annotations=[("2025-06", "Outreach")]),
        "gaps": charts.largest_gaps_chart(engine["gaps"]),
        "phases": charts.phase_progress_chart([{"name": n, "percent": 20 * i} for i, n in
                                               enumerate(["Commit", "Learn", "Data",
                                                          "Vision", "Launch"])]),
    }


def test_every_figure_explains_itself_and_stays_offline(engine):
    for name, fig in all_figures(engine).items():
        assert fig.layout.title.text, name
        assert len(charts.describe(fig)) > 40, name
        text = fig.to_json()
        assert "mapbox" not in text and "http" not in text, name
        assert fig.layout.height and fig.layout.height > 200, name


def test_suppressed_rows_never_carry_numbers(hand_table):
    rows = {row.group: row for row in table_rows(hand_table)}
    for group in ("Asian", "Other race"):
        row = rows[group]
        assert row.suppressed and not row.shown
        assert row.rate is row.denominator is row.numerator is row.difference is None
