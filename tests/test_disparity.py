"""The disparity table from counts: hand-computed values, flags, references, suppression."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from metrics.disparity import TABLE_COLUMNS, complementary_suppression, disparity_table

Z = scipy_stats.norm.ppf(0.975)


def counts(rows, names=("race",)):
    frame = pd.DataFrame(rows, columns=[*names, "denominator", "numerator"])
    frame["value_sum"] = 0.0
    frame["value_sum_squares"] = 0.0
    return frame


def wilson(x, n):
    p = x / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


RACE = counts([
    ("White", 1000, 450),
    ("Black or African American", 400, 140),
    ("Asian", 25, 12),
    ("Unknown", 200, 90),
    ("Missing", 8, 3),
])


def by_group(table, column="race"):
    return table.set_index(column)


def test_columns_are_the_published_interface():
    table = disparity_table(RACE, ["race"], "proportion", True)
    assert list(table.columns) == ["race", *TABLE_COLUMNS]
    assert list(TABLE_COLUMNS) == [
        "denominator", "numerator", "rate", "rate_lower", "rate_upper", "is_reference",
        "difference", "difference_lower", "difference_upper", "ratio", "ratio_lower",
        "ratio_upper", "p_value", "flagged", "suppressed", "unstable"]


def test_hand_computed_group_against_the_largest_group():
    table = by_group(disparity_table(RACE, ["race"], "proportion", higher_is_better=True))
    assert table.loc["White", "is_reference"] and table["is_reference"].sum() == 1
    black = table.loc["Black or African American"]
    assert black["rate"] == pytest.approx(0.35)
    assert (black["rate_lower"], black["rate_upper"]) == pytest.approx(wilson(140, 400))
    # Newcombe's hybrid score interval from the two Wilson intervals.
    l1, u1 = wilson(140, 400)
    l0, u0 = wilson(450, 1000)
    assert black["difference"] == pytest.approx(-0.10)
    assert black["difference_lower"] == pytest.approx(-0.10 - math.hypot(0.35 - l1, u0 - 0.45))
    assert black["difference_upper"] == pytest.approx(-0.10 + math.hypot(u1 - 0.35, 0.45 - l0))
    # Katz log interval of the ratio.
    se = math.sqrt(1 / 140 - 1 / 400 + 1 / 450 - 1 / 1000)
    assert black["ratio"] == pytest.approx(0.35 / 0.45)
    assert black["ratio_lower"] == pytest.approx(0.35 / 0.45 * math.exp(-Z * se))
    assert black["ratio_upper"] == pytest.approx(0.35 / 0.45 * math.exp(Z * se))
    # Pooled z-test, identical to Pearson's chi-square without continuity correction.
    chi2 = scipy_stats.chi2_contingency([[140, 260], [450, 550]], correction=False)
    assert black["p_value"] == pytest.approx(chi2.pvalue)
    # 65 % did not get the care against 55 %: 18 % worse, significant: flagged.
    assert black["flagged"] and not black["unstable"] and not black["suppressed"]


def test_small_cells_are_suppressed_with_their_complement():
    table = by_group(disparity_table(RACE, ["race"], "proportion", True))
    assert table.loc["Missing", "suppressed"]  # 8 cases
    # Only one hidden group would be recoverable from the overall total: the smallest other
    # group (Asian, 25 cases) is hidden too.
    assert table.loc["Asian", "suppressed"]
    assert table["suppressed"].sum() == 2
    for group in ("Missing", "Asian"):
        row = table.loc[group]
        assert pd.isna(row["denominator"]) and pd.isna(row["numerator"])
        assert all(math.isnan(row[c]) for c in ("rate", "rate_lower", "rate_upper",
                                                 "difference", "ratio", "p_value"))
        assert not row["flagged"]


@pytest.mark.parametrize("numerator,denominator,hidden", [
    (0, 50, False),  # a zero may be shown
    (1, 50, True), (10, 50, True), (11, 50, False),
    (45, 50, True),  # 5 did not get the care: the complement is a small cell too
    (39, 50, False),
    (0, 10, True),  # a small denominator
])
def test_primary_suppression_rule(numerator, denominator, hidden):
    table = by_group(disparity_table(counts([("White", 1000, 450), ("Asian", denominator,
                                                                      numerator)]),
                                     ["race"], "proportion", True))
    assert table.loc["Asian", "suppressed"] == hidden


def test_unstable_below_thirty_cases_is_marked_not_hidden():
    table = by_group(disparity_table(counts([("White", 1000, 450), ("Asian", 29, 14),
                                             ("Black or African American", 30, 15)]),
                                     ["race"], "proportion", True))
    assert table.loc["Asian", "unstable"] and not table.loc["Asian", "suppressed"]
    assert not table.loc["Black or African American", "unstable"]


def test_crossed_complementary_suppression_covers_both_margins():
    frame = counts([
        ("White", "English", 500, 200), ("White", "Spanish", 40, 20),
        ("Asian", "English", 60, 30), ("Asian", "Spanish", 5, 2),
    ], names=("race", "preferred_language"))
    hidden = complementary_suppression(
        frame, ["race", "preferred_language"],
        np.array([False, False, False, True]))
    # Asian|Spanish hidden -> the Asian row and the Spanish column each need a second hidden
    # cell; then White|English is hidden so that no margin has a lone hidden cell.
    assert hidden.tolist() == [True, True, True, True]


def test_not_known_groups_are_shown_but_never_picked_as_reference():
    frame = counts([("Unknown", 5000, 2000), ("White", 1000, 450), ("Asian", 300, 150)])
    table = by_group(disparity_table(frame, ["race"], "proportion", True))
    assert table.loc["White", "is_reference"]
    assert table.loc["Unknown", "denominator"] == 5000  # shown, compared like any group
    assert table.attrs["reference_group"] == "White"


def test_best_reference_for_lower_is_better_picks_the_lowest_rate():
    frame = counts([("White", 1000, 226), ("Black or African American", 800, 198),
                    ("Asian", 300, 45)])
    table = by_group(disparity_table(frame, ["race"], "proportion", higher_is_better=False,
                                     reference="best"))
    assert table.loc["Asian", "is_reference"]
    assert table.loc["White", "difference"] == pytest.approx(0.226 - 0.15)


def test_named_and_overall_references():
    named = by_group(disparity_table(RACE, ["race"], "proportion", True,
                                     reference="Black or African American"))
    assert named.loc["Black or African American", "is_reference"]
    assert named.loc["White", "difference"] == pytest.approx(0.10)
    overall = by_group(disparity_table(RACE, ["race"], "proportion", True, reference="overall"))
    assert not overall["is_reference"].any()
    total_x, total_n = RACE["numerator"].sum(), RACE["denominator"].sum()
    assert overall.loc["White", "difference"] == pytest.approx(0.45 - total_x / total_n)
    with pytest.raises(ValueError, match="not among the groups"):
        disparity_table(RACE, ["race"], "proportion", True, reference="Martian")


def test_relative_difference_under_ten_percent_is_not_flagged_even_when_significant():
    # Readmission (lower is better): 24.8 % vs 22.6 % is 9.7 % worse: significant with these
    # numbers, but below the 10 % threshold of the AHRQ rule.
    frame = counts([("White", 200_000, 45_200), ("Black or African American", 100_000, 24_800)])
    table = by_group(disparity_table(frame, ["race"], "proportion", higher_is_better=False))
    black = table.loc["Black or African American"]
    assert black["p_value"] < 1e-6 and not black["flagged"]
    # The same gap on a higher-is-better measure is taken on the share who did not get care.
    frame = counts([("White", 200_000, 90_000), ("Black or African American", 100_000, 44_000)])
    table = by_group(disparity_table(frame, ["race"], "proportion", higher_is_better=True))
    black = table.loc["Black or African American"]
    assert black["p_value"] < 0.05 and not black["flagged"]  # 56 % vs 55 %: 1.8 % worse


def test_better_groups_are_never_flagged():
    frame = counts([("White", 1200, 540), ("Asian", 1000, 600)])
    table = by_group(disparity_table(frame, ["race"], "proportion", True))
    assert table.loc["Asian", "p_value"] < 0.001 and not table.loc["Asian", "flagged"]


def test_groups_follow_the_vocabulary_order_with_not_known_groups_last():
    table = disparity_table(RACE, ["race"], "proportion", True)
    assert table["race"].tolist() == ["Asian", "Black or African American", "White", "Unknown",
                                      "Missing"]
