"""Tests for metrics.stats.

Three kinds of evidence, none of it copied from this implementation's own output:
- published reference values from PHEindicatormethods (UKHSA, v2.1.0; read at run time from
  ../shared/reference through the ``reference_dir`` fixture, one test per row);
- published worked examples (Newcombe 1998) and closed forms or independent scipy routines;
- hypothesis properties that any correct interval has.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from metrics.stats import (
    count_interval,
    mean_difference,
    mean_from_sums,
    mean_interval,
    mean_ratio,
    proportion_difference,
    proportion_interval,
    proportion_ratio,
    rate_difference,
    rate_ratio,
    two_proportion_p_value,
    welch_p_value,
)
from tests.conftest import _reference_dir

REL = 1e-9  # the README's bar for deterministic reference values
Z95 = 1.959963984540054
LEVELS = {"95_0": 0.95, "99_8": 0.998}
FAST = settings(max_examples=200, deadline=None)


# --------------------------------------------------------------------------------------------
# reading the reference files: ids at collection time, rows through the fixture at run time


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _case_ids(filename: str, column: str = "case") -> list[str]:
    path = _reference_dir() / filename
    if not path.is_file():
        # One placeholder test that the reference_dir fixture then skips, with its reason.
        return ["reference-data-absent"]
    return _read(path)[column].astype(str).tolist()


@lru_cache
def _rows(directory: Path, filename: str, column: str = "case") -> dict[str, pd.Series]:
    frame = _read(directory / filename)
    return {str(row[column]): row for _, row in frame.iterrows()}


def _row(directory: Path, filename: str, case: str, column: str = "case") -> pd.Series:
    rows = _rows(directory, filename, column)
    assert case in rows, f"case {case} not in {filename}"
    return rows[case]


def assert_close(actual: float, expected: float, what: str, rel: float = REL) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: expected NA, got {actual!r}"
    else:
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=0.0), (
            f"{what}: expected {expected!r}, got {actual!r}"
        )


# --------------------------------------------------------------------------------------------
# reference values: PHEindicatormethods v2.1.0


@pytest.mark.parametrize("case", _case_ids("byars_wilson_primitives.csv"))
def test_byar_and_wilson_primitives_match_reference(reference_dir, case):
    row = _row(reference_dir, "byars_wilson_primitives.csv", case)
    if row["method"] == "Byars":
        lower, upper = count_interval(row["x"], row["confidence"], method="byar")
    else:
        assert row["method"] == "Wilson"
        lower, upper = proportion_interval(row["x"], row["n"], row["confidence"])
    assert_close(lower, row["expected_lower"], f"{case} lower")
    assert_close(upper, row["expected_upper"], f"{case} upper")


@pytest.mark.parametrize("case", _case_ids("proportion_wilson.csv"))
def test_proportion_matches_reference(reference_dir, case):
    row = _row(reference_dir, "proportion_wilson.csv", case)
    x, n, multiplier = row["numerator"], row["denominator"], row["multiplier"]
    inputs_present = not (math.isnan(x) or math.isnan(n))
    value = x / n * multiplier if inputs_present else math.nan
    assert_close(value, row["value"], f"{case} value")
    checked = 0
    for suffix, confidence in LEVELS.items():
        expected = row[f"lower{suffix}cl"], row[f"upper{suffix}cl"]
        if inputs_present and math.isnan(expected[0]) and math.isnan(expected[1]):
            continue  # this sheet publishes 95 % limits only
        lower, upper = proportion_interval(x, n, confidence)
        assert_close(lower * multiplier, expected[0], f"{case} lower {confidence}")
        assert_close(upper * multiplier, expected[1], f"{case} upper {confidence}")
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("case", _case_ids("rate_byars_exact.csv"))
def test_crude_rate_matches_reference(reference_dir, case):
    row = _row(reference_dir, "rate_byars_exact.csv", case)
    x, t, multiplier = row["numerator"], row["denominator"], row["multiplier"]
    inputs_present = not (math.isnan(x) or math.isnan(t))
    assert_close(x / t * multiplier if inputs_present else math.nan, row["value"], case)
    if inputs_present:
        # The reference labels each row with the method the PHE convention picks.
        assert row["method"] == ("Exact" if x < 10 else "Byars")
    checked = 0
    for suffix, confidence in LEVELS.items():
        expected = row[f"lower{suffix}cl"], row[f"upper{suffix}cl"]
        if inputs_present and math.isnan(expected[0]) and math.isnan(expected[1]):
            continue  # the grouped sheet publishes 95 % limits only
        lower, upper = count_interval(x, confidence)
        assert_close(lower / t * multiplier, expected[0], f"{case} lower {confidence}")
        assert_close(upper / t * multiplier, expected[1], f"{case} upper {confidence}")
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("group", _case_ids("mean_results.csv", column="group"))
def test_mean_from_sql_style_sums_matches_reference(reference_dir, group):
    row = _row(reference_dir, "mean_results.csv", group, column="group")
    values = _read(reference_dir / "mean_input.csv")
    if group != "ALL":
        values = values[values["area"] == group]
    v = values["value"].to_numpy()
    # What a GROUP BY returns: COUNT(*), SUM(value), SUM(value * value).
    n, total, total_of_squares = len(v), float(v.sum()), float((v * v).sum())
    assert n == row["value_count"]
    mean, sd = mean_from_sums(n, total, total_of_squares)
    assert_close(mean, row["value"], f"{group} mean")
    assert_close(sd, row["stdev"], f"{group} sd")
    for suffix, confidence in LEVELS.items():
        lower, upper = mean_interval(n, mean, sd, confidence)
        assert_close(lower, row[f"lower{suffix}cl"], f"{group} lower {confidence}")
        assert_close(upper, row[f"upper{suffix}cl"], f"{group} upper {confidence}")


# --------------------------------------------------------------------------------------------
# published worked examples and closed forms

# Newcombe RG. Stat Med 1998;17:857-872, Table I (95 %): method 3 (Wilson), method 4
# (continuity-corrected score) and method 5 (Clopper-Pearson), to the 4 decimals printed.
NEWCOMBE_SINGLE = [
    (81, 263, (0.2553, 0.3662), (0.2535, 0.3682), (0.2527, 0.3676)),
    (15, 148, (0.0624, 0.1605), (0.0598, 0.1644), (0.0578, 0.1617)),
    (0, 20, (0.0, 0.1611), (0.0, 0.2005), (0.0, 0.1684)),
    (1, 29, (0.0061, 0.1718), (0.0018, 0.1963), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(
    ("x", "n", "wilson", "wilson_cc", "exact"),
    NEWCOMBE_SINGLE,
    ids=[f"{x}/{n}" for x, n, *_ in NEWCOMBE_SINGLE],
)
def test_single_proportion_matches_newcombe_1998_table_1(x, n, wilson, wilson_cc, exact):
    for method, published in (
        ("wilson", wilson),
        ("wilson_cc", wilson_cc),
        ("clopper_pearson", exact),
    ):
        lower, upper = proportion_interval(x, n, method=method)
        assert round(lower, 4) == pytest.approx(published[0], abs=1e-12), method
        assert round(upper, 4) == pytest.approx(published[1], abs=1e-12), method


def test_clopper_pearson_closed_forms_at_zero_and_n():
    # With x = 0 the exact upper limit solves (1 - p)^n = alpha / 2.
    lower, upper = proportion_interval(0, 10, method="clopper_pearson")
    assert lower == 0.0
    assert upper == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)  # 0.3085
    lower, upper = proportion_interval(10, 10, 0.9, method="clopper_pearson")
    assert lower == pytest.approx(0.05 ** (1 / 10), rel=1e-12)
    assert upper == 1.0


def test_wilson_uses_exact_z_not_1_96():
    x, n = 65, 100
    p = x / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    lower, upper = proportion_interval(x, n)
    assert lower == pytest.approx(centre - half, rel=1e-13)
    assert upper == pytest.approx(centre + half, rel=1e-13)


def test_wilson_stays_accurate_for_a_population_sized_denominator():
    # As p -> 0 the Wilson limits tend to the score limits of a Poisson count divided by n,
    # (x + z^2/2 -/+ z sqrt(x + z^2/4)) / n; at n = 7.6e9 they differ by about z^2 / n.
    x, n = 7.0, 7.6e9
    lower, upper = proportion_interval(x, n)
    z2 = Z95**2
    assert lower * n == pytest.approx(x + z2 / 2 - Z95 * math.sqrt(x + z2 / 4), rel=1e-8)
    assert upper * n == pytest.approx(x + z2 / 2 + Z95 * math.sqrt(x + z2 / 4), rel=1e-8)


# Newcombe RG. Stat Med 1998;17:873-890, Table II, method 10 (hybrid score, no continuity
# correction), 95 %, to the 4 decimals printed.
NEWCOMBE_DIFFERENCE = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0", "lower", "upper"),
    NEWCOMBE_DIFFERENCE,
    ids=[f"{a}/{b}-{c}/{d}" for a, b, c, d, *_ in NEWCOMBE_DIFFERENCE],
)
def test_difference_matches_newcombe_1998_table_2_method_10(x1, n1, x0, n0, lower, upper):
    difference, low, high = proportion_difference(x1, n1, x0, n0)
    assert difference == pytest.approx(x1 / n1 - x0 / n0, abs=1e-15)
    assert round(low, 4) == pytest.approx(lower, abs=1e-12)
    assert round(high, 4) == pytest.approx(upper, abs=1e-12)


def test_katz_log_ratio_by_hand():
    ratio, lower, upper = proportion_ratio(56, 70, 48, 80)
    assert ratio == pytest.approx(0.8 / 0.6, rel=1e-14)
    se = math.sqrt(1 / 56 - 1 / 70 + 1 / 48 - 1 / 80)
    assert lower == pytest.approx(4 / 3 * math.exp(-Z95 * se), rel=1e-13)
    assert upper == pytest.approx(4 / 3 * math.exp(Z95 * se), rel=1e-13)


@pytest.mark.parametrize(
    ("x1", "x0", "ratio"),
    [(0, 5, 0.0), (5, 0, math.inf), (0, 0, math.nan)],
    ids=["zero-in-group", "zero-in-reference", "zero-in-both"],
)
def test_katz_ratio_with_a_zero_count_has_no_limits(x1, x0, ratio):
    value, lower, upper = proportion_ratio(x1, 50, x0, 60)
    if math.isnan(ratio):
        assert math.isnan(value)
    else:
        assert value == ratio
    assert math.isnan(lower) and math.isnan(upper)


def test_z_test_by_hand():
    x1, n1, x0, n0 = 56, 70, 48, 80
    pooled = 104 / 150
    z = (0.8 - 0.6) / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert two_proportion_p_value(x1, n1, x0, n0) == pytest.approx(
        math.erfc(abs(z) / math.sqrt(2)), rel=1e-12
    )


@pytest.mark.parametrize(("x1", "x0"), [(0, 0), (30, 40)], ids=["all-zero", "all-events"])
def test_z_test_is_one_when_pooled_proportion_is_degenerate(x1, x0):
    assert two_proportion_p_value(x1, 30, x0, 40) == 1.0


def test_exact_count_limits_closed_forms():
    # chi2 with 2 degrees of freedom is exponential: at x = 0 the upper limit is -ln(alpha/2),
    # and at x = 1 the lower limit is -ln(1 - alpha/2).
    assert count_interval(0, method="exact") == (0.0, pytest.approx(-math.log(0.025), rel=1e-13))
    assert count_interval(1, method="exact")[0] == pytest.approx(-math.log(0.975), rel=1e-13)


def test_exact_count_limits_agree_with_poisson_tail_probabilities():
    x = 7
    lower, upper = count_interval(x, method="exact")
    assert stats.poisson.sf(x - 1, lower) == pytest.approx(0.025, rel=1e-10)  # P(X >= x)
    assert stats.poisson.cdf(x, upper) == pytest.approx(0.025, rel=1e-10)  # P(X <= x)


def test_phe_counts_switch_from_exact_to_byar_at_ten():
    assert count_interval(9) == count_interval(9, method="exact")
    assert count_interval(9) != count_interval(9, method="byar")
    assert count_interval(10) == count_interval(10, method="byar")
    assert count_interval(10) != count_interval(10, method="exact")


def test_byar_lower_limit_is_na_when_negative():
    lower, upper = count_interval(1, 0.998, method="byar")
    assert math.isnan(lower)
    assert upper > 1


def test_rate_ratio_wald_by_hand():
    ratio, lower, upper = rate_ratio(30, 1000.0, 20, 2000.0)
    assert ratio == pytest.approx(3.0, rel=1e-14)
    half = Z95 * math.sqrt(1 / 30 + 1 / 20)
    assert (lower, upper) == (
        pytest.approx(3 * math.exp(-half), rel=1e-13),
        pytest.approx(3 * math.exp(half), rel=1e-13),
    )


@pytest.mark.parametrize(("x1", "x0"), [(30, 20), (0, 12), (4, 0), (1, 1)])
def test_rate_ratio_exact_agrees_with_scipy_binomial_interval(x1, x0):
    t1, t0 = 1500.0, 2500.0
    ratio, lower, upper = rate_ratio(x1, t1, x0, t0, method="exact")
    ci = stats.binomtest(x1, x1 + x0).proportion_ci(0.95, method="exact")

    def odds(p):
        return math.inf if p == 1 else p / (1 - p) * t0 / t1

    assert lower == pytest.approx(odds(ci.low), rel=1e-9, abs=1e-300)
    assert upper == pytest.approx(odds(ci.high), rel=1e-9)
    assert ratio == (math.inf if x0 == 0 else pytest.approx((x1 / t1) / (x0 / t0), rel=1e-14))


def test_rate_difference_by_hand():
    difference, lower, upper = rate_difference(30, 1000.0, 20, 2000.0)
    assert difference == pytest.approx(0.02, rel=1e-14)
    half = Z95 * math.sqrt(30 / 1000.0**2 + 20 / 2000.0**2)
    assert lower == pytest.approx(0.02 - half, rel=1e-13)
    assert upper == pytest.approx(0.02 + half, rel=1e-13)


def test_mean_interval_agrees_with_scipy_t_interval():
    lower, upper = mean_interval(12, 5.5, 2.25, 0.9)
    expected = stats.t.interval(0.9, 11, loc=5.5, scale=2.25 / math.sqrt(12))
    assert (lower, upper) == pytest.approx(expected, rel=1e-13)


def test_mean_of_a_single_value_has_no_interval():
    mean, sd = mean_from_sums(1, 4.0, 16.0)
    assert mean == 4.0 and math.isnan(sd)
    assert all(math.isnan(limit) for limit in mean_interval(1, mean, sd))


def test_mean_from_sums_clamps_a_rounding_negative_variance():
    # Three equal values whose squares were summed with a rounding error below the exact total.
    mean, sd = mean_from_sums(3, 3.0, 3.0 - 1e-12)
    assert mean == 1.0
    assert sd == 0.0


def test_mean_from_sums_adds_no_rounding_of_its_own():
    # Values 1e7 + {1, 2, 4}: the database's sums are exact integers in float64, but
    # total**2 / n is not, and the float formula would lose about 3 of the variance's digits.
    values = [10**7 + k for k in (1, 2, 4)]
    total, squares = float(sum(values)), float(sum(v * v for v in values))
    mean, sd = mean_from_sums(3, total, squares)
    assert mean == pytest.approx(10**7 + 7 / 3, rel=1e-15)
    assert sd == pytest.approx(math.sqrt(7 / 3), rel=1e-14)


def test_welch_comparison_agrees_with_scipy_on_raw_values():
    group = np.array([12.0, 15.5, 9.0, 20.25, 14.0, 17.5])
    reference = np.array([10.0, 11.5, 9.5, 12.0, 10.5, 13.0, 8.0, 11.0, 12.5])
    summaries = []
    for v in (group, reference):
        summaries += [v.size, v.mean(), v.std(ddof=1)]
    result = stats.ttest_ind(group, reference, equal_var=False)
    difference, lower, upper = mean_difference(*summaries, confidence=0.9)
    ci = result.confidence_interval(0.9)
    assert difference == pytest.approx(group.mean() - reference.mean(), rel=1e-14)
    assert (lower, upper) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))
    assert welch_p_value(*summaries) == pytest.approx(result.pvalue, rel=1e-12)


def test_mean_ratio_by_hand():
    ratio, lower, upper = mean_ratio(20, 6.0, 1.5, 30, 4.0, 2.0)
    se = math.sqrt(1.5**2 / (20 * 36) + 2.0**2 / (30 * 16))
    assert ratio == 1.5
    assert lower == pytest.approx(1.5 * math.exp(-Z95 * se), rel=1e-13)
    assert upper == pytest.approx(1.5 * math.exp(Z95 * se), rel=1e-13)


@pytest.mark.parametrize(
    ("mean1", "mean0", "ratio"),
    [(-2.0, 4.0, -0.5), (0.0, 4.0, 0.0), (3.0, 0.0, math.nan)],
    ids=["negative-mean", "zero-mean", "zero-reference"],
)
def test_mean_ratio_without_a_log_interval(mean1, mean0, ratio):
    value, lower, upper = mean_ratio(10, mean1, 1.0, 10, mean0, 1.0)
    assert value == ratio or (math.isnan(value) and math.isnan(ratio))
    assert math.isnan(lower) and math.isnan(upper)


def test_mean_comparisons_of_a_group_of_one_have_no_interval():
    difference, lower, upper = mean_difference(1, 5.0, math.nan, 10, 4.0, 1.0)
    assert math.isnan(lower) and math.isnan(upper)
    assert math.isnan(welch_p_value(1, 5.0, 0.0, 10, 4.0, 1.0))


def test_welch_without_spread():
    assert welch_p_value(5, 3.0, 0.0, 8, 3.0, 0.0) == 1.0
    assert welch_p_value(5, 3.0, 0.0, 8, 4.0, 0.0) == 0.0
    assert mean_difference(5, 3.0, 0.0, 8, 4.0, 0.0) == (-1.0, -1.0, -1.0)


def test_missing_inputs_give_na_not_errors():
    assert all(math.isnan(v) for v in proportion_interval(math.nan, 10))
    assert all(math.isnan(v) for v in proportion_interval(3, None))
    assert all(math.isnan(v) for v in proportion_interval(pd.NA, 10))
    assert all(math.isnan(v) for v in count_interval(None))
    assert all(math.isnan(v) for v in proportion_difference(3, 10, math.nan, 10))
    assert math.isnan(two_proportion_p_value(3, 10, 4, math.nan))


def test_numpy_scalars_are_accepted():
    lower, upper = proportion_interval(np.int64(65), np.float32(100))
    assert (lower, upper) == proportion_interval(65, 100)
    assert isinstance(lower, float)


# --------------------------------------------------------------------------------------------
# bad input: ValueError naming the argument

BAD_INPUTS = [
    ("x-negative", proportion_interval, (-1, 10), {}, r"\bx\b"),
    ("x-above-n", proportion_interval, (11, 10), {}, r"x must be <= n"),
    ("n-zero", proportion_interval, (0, 0), {}, r"\bn\b"),
    ("n-infinite", proportion_interval, (1, math.inf), {}, r"\bn\b"),
    ("x-text", proportion_interval, ("three", 10), {}, r"\bx\b"),
    ("method", proportion_interval, (1, 10), {"method": "wald"}, r"\bmethod\b"),
    ("confidence-1", proportion_interval, (1, 10), {"confidence": 1.0}, r"\bconfidence\b"),
    ("confidence-95", proportion_interval, (1, 10), {"confidence": 95}, r"\bconfidence\b"),
    ("confidence-0", count_interval, (4,), {"confidence": 0}, r"\bconfidence\b"),
    ("count-negative", count_interval, (-2,), {}, r"\bx\b"),
    ("count-method", count_interval, (2,), {"method": "normal"}, r"\bmethod\b"),
    ("rate-ratio-t1", rate_ratio, (1, 0, 1, 1), {}, r"\bt1\b"),
    ("rate-ratio-x0", rate_ratio, (1, 1, -1, 1), {}, r"\bx0\b"),
    ("rate-ratio-method", rate_ratio, (1, 1, 1, 1), {"method": "mid-p"}, r"\bmethod\b"),
    ("rate-difference-t0", rate_difference, (1, 1, 1, -5), {}, r"\bt0\b"),
    ("mean-n", mean_interval, (0, 1.0, 1.0), {}, r"\bn\b"),
    ("mean-sd", mean_interval, (5, 1.0, -1.0), {}, r"\bsd\b"),
    ("sums-n", mean_from_sums, (0, 1.0, 1.0), {}, r"\bn\b"),
    ("sums-squares", mean_from_sums, (2, 1.0, -1.0), {}, r"\btotal_of_squares\b"),
    ("difference-x1", proportion_difference, (6, 5, 1, 5), {}, r"x1 must be <= n1"),
    ("difference-n0", proportion_difference, (1, 5, 1, 0), {}, r"\bn0\b"),
    ("ratio-x0", proportion_ratio, (1, 5, -1, 5), {}, r"\bx0\b"),
    ("ratio-confidence", proportion_ratio, (1, 5, 1, 5), {"confidence": -0.5}, r"confidence"),
    ("p-value-n1", two_proportion_p_value, (1, 0, 1, 5), {}, r"\bn1\b"),
    ("mean-difference-n1", mean_difference, (0, 1.0, 1.0, 5, 1.0, 1.0), {}, r"\bn1\b"),
    ("mean-ratio-sd0", mean_ratio, (5, 1.0, 1.0, 5, 1.0, -1.0), {}, r"\bsd0\b"),
    ("welch-mean0", welch_p_value, (5, 1.0, 1.0, 5, "x", 1.0), {}, r"\bmean0\b"),
]


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_raises_value_error_naming_the_argument(function, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        function(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# properties

confidences = st.floats(min_value=0.5, max_value=0.999)


@st.composite
def binomial(draw, max_n=100_000):
    n = draw(st.integers(min_value=1, max_value=max_n))
    x = draw(st.integers(min_value=0, max_value=n))
    return x, n


@FAST
@given(binomial(), confidences, st.sampled_from(["wilson", "wilson_cc", "clopper_pearson"]))
def test_proportion_interval_is_ordered_bounded_and_contains_estimate(xn, confidence, method):
    x, n = xn
    lower, upper = proportion_interval(x, n, confidence, method)
    assert 0.0 <= lower <= x / n <= upper <= 1.0


@FAST
@given(binomial(), confidences, st.sampled_from(["wilson", "wilsoncc", "exact"]))
def test_proportion_interval_agrees_with_scipy(xn, confidence, scipy_method):
    x, n = xn
    method = {"wilson": "wilson", "wilsoncc": "wilson_cc", "exact": "clopper_pearson"}
    lower, upper = proportion_interval(x, n, confidence, method[scipy_method])
    ci = stats.binomtest(x, n).proportion_ci(confidence, method=scipy_method)
    # scipy finds the exact limits by root-finding with an absolute tolerance of about 1e-12
    # (brentq's default), which near zero is a large relative error; ours come from beta.ppf.
    rel, tolerance = (1e-7, 1e-11) if scipy_method == "exact" else (1e-9, 1e-15)
    assert lower == pytest.approx(ci.low, rel=rel, abs=tolerance)
    assert upper == pytest.approx(ci.high, rel=rel, abs=tolerance)


@FAST
@given(binomial(max_n=10_000), confidences)
def test_wilson_interval_narrows_as_the_sample_grows(xn, confidence):
    x, n = xn
    widths = []
    for k in range(1, 6):
        lower, upper = proportion_interval(k * x, k * n, confidence)
        widths.append(upper - lower)
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False)), widths


@FAST
@given(
    st.one_of(
        st.integers(min_value=0, max_value=10**7),
        # scipy's chi-square quantile is NaN for subnormal degrees of freedom; no real count
        # (even a weighted one) is below 1e-308.
        st.floats(min_value=0, max_value=1e7, allow_subnormal=False),
    ),
    confidences,
    st.sampled_from(["phe", "exact", "byar"]),
)
def test_count_interval_contains_the_count(x, confidence, method):
    lower, upper = count_interval(x, confidence, method)
    assert upper >= x
    if not math.isnan(lower):  # Byar's lower limit can be NA for tiny counts
        assert 0.0 <= lower <= x
    if method != "byar":
        assert not math.isnan(lower)


@FAST
@given(binomial(max_n=5000), binomial(max_n=5000), confidences)
def test_two_proportion_comparisons(group, reference, confidence):
    (x1, n1), (x0, n0) = group, reference
    difference, lower, upper = proportion_difference(x1, n1, x0, n0, confidence)
    assert -1.0 <= lower <= difference <= upper <= 1.0
    if x1 > 0 and x0 > 0:
        ratio, lower, upper = proportion_ratio(x1, n1, x0, n0, confidence)
        assert lower <= ratio * (1 + 1e-12) and ratio <= upper * (1 + 1e-12)
        assert lower > 0
    p = two_proportion_p_value(x1, n1, x0, n0)
    assert 0.0 <= p <= 1.0
    if 0 < x1 + x0 < n1 + n0:
        table = [[x1, n1 - x1], [x0, n0 - x0]]
        chi2_p = stats.chi2_contingency(table, correction=False).pvalue
        assert p == pytest.approx(chi2_p, rel=1e-7, abs=1e-300)


@FAST
@given(
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=1.0, max_value=1e6),
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=1.0, max_value=1e6),
    confidences,
)
def test_rate_comparisons_contain_their_estimate(x1, t1, x0, t0, confidence):
    if x1 + x0 > 0:
        ratio, lower, upper = rate_ratio(x1, t1, x0, t0, confidence, method="exact")
        assert 0.0 <= lower <= ratio * (1 + 1e-12) and ratio <= upper * (1 + 1e-12)
    if x1 > 0 and x0 > 0:
        ratio, lower, upper = rate_ratio(x1, t1, x0, t0, confidence, method="wald")
        assert 0.0 < lower <= ratio * (1 + 1e-12) and ratio <= upper * (1 + 1e-12)
    difference, lower, upper = rate_difference(x1, t1, x0, t0, confidence)
    assert lower <= difference <= upper


@FAST
@given(
    st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=2, max_size=50),
    confidences,
)
def test_mean_from_sums_matches_two_pass_statistics(values, confidence):
    v = np.asarray(values)
    mean, sd = mean_from_sums(v.size, float(v.sum()), float((v * v).sum()))
    assert mean == pytest.approx(v.mean(), rel=1e-9, abs=1e-9)
    # One-pass sums lose digits to cancellation; the spread must still be right to 1e-6 of
    # the values' magnitude.
    assert sd == pytest.approx(np.std(v, ddof=1), rel=1e-6, abs=1e-6 * np.abs(v).max())
    lower, upper = mean_interval(v.size, mean, sd, confidence)
    assert lower <= mean <= upper


samples = st.lists(
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=2, max_size=30
).filter(lambda v: np.std(v) > 1e-3)


@FAST
@given(samples, samples, confidences)
def test_welch_agrees_with_scipy_and_contains_the_difference(group, reference, confidence):
    a, b = np.asarray(group), np.asarray(reference)
    summaries = (a.size, a.mean(), a.std(ddof=1), b.size, b.mean(), b.std(ddof=1))
    difference, lower, upper = mean_difference(*summaries, confidence=confidence)
    assert lower <= difference <= upper
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(confidence)
    width = ci.high - ci.low
    assert lower == pytest.approx(ci.low, rel=1e-9, abs=1e-9 * width)
    assert upper == pytest.approx(ci.high, rel=1e-9, abs=1e-9 * width)
    assert welch_p_value(*summaries) == pytest.approx(result.pvalue, rel=1e-8, abs=1e-300)


@FAST
@given(
    st.integers(2, 10_000),
    st.floats(0.01, 1e4),
    st.floats(0, 1e4),
    st.integers(2, 10_000),
    st.floats(0.01, 1e4),
    st.floats(0, 1e4),
    confidences,
)
def test_mean_ratio_contains_the_ratio(n1, m1, s1, n0, m0, s0, confidence):
    ratio, lower, upper = mean_ratio(n1, m1, s1, n0, m0, s0, confidence)
    assert 0 <= lower <= ratio * (1 + 1e-12) and ratio <= upper * (1 + 1e-12)
