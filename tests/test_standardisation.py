"""Tests for metrics.standardisation.

Reference values are PHEindicatormethods v2.1.0 (UKHSA) outputs, read at run time from
../shared/reference through the ``reference_dir`` fixture; one test per published row.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.standardisation import directly_standardised_rate, indirectly_standardised
from metrics.stats import count_interval
from tests.conftest import _reference_dir

REL = 1e-9
LEVELS = {"95_0": 0.95, "99_8": 0.998}
FAST = settings(max_examples=200, deadline=None)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _dsr_id(row) -> str:
    return f"{row['area']}-per{row['multiplier']:g}"


def _isr_id(row) -> str:
    return f"{row['area']}-{row['kind']}-x{row['multiplier_or_refvalue']:g}"


def _case_ids(filename: str, make_id) -> list[str]:
    path = _reference_dir() / filename
    if not path.is_file():
        return ["reference-data-absent"]  # the reference_dir fixture skips it, with a reason
    return [make_id(row) for _, row in _read(path).iterrows()]


@lru_cache
def _rows(directory: Path, filename: str, make_id) -> dict[str, pd.Series]:
    return {make_id(row): row for _, row in _read(directory / filename).iterrows()}


def assert_close(actual: float, expected: float, what: str, rel: float = REL) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: expected NA, got {actual!r}"
    else:
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=0.0), (
            f"{what}: expected {expected!r}, got {actual!r}"
        )


# --------------------------------------------------------------------------------------------
# reference values


def _dsr_for(reference_dir: Path, row: pd.Series, confidence: float):
    if row["independent_events"]:
        data = _read(reference_dir / "dsr_input.csv")
        data = data[data["area"] == row["area"]]
        assert len(data) > 0, row["area"]
        return directly_standardised_rate(
            data["count"], data["pop"], data["stdpop"], row["multiplier"], confidence
        )
    # Long (stratum, events per person, people) rows, as a GROUP BY returns them, pivoted to
    # the (strata x frequencies) table the function takes.
    data = _read(reference_dir / "dsr_nonindependent_input.csv")
    data = data[data["area"] == row["area"]]
    assert len(data) > 0, row["area"]
    strata = data.drop_duplicates("ageband").set_index("ageband")[["pop", "stdpop"]]
    people = data.pivot_table(
        index="ageband", columns="freq", values="persons", aggfunc="sum", fill_value=0
    ).reindex(strata.index)
    return directly_standardised_rate(
        people.to_numpy(),
        strata["pop"],
        strata["stdpop"],
        row["multiplier"],
        confidence,
        independent_events=False,
        event_frequencies=people.columns.to_numpy(dtype=float),
    )


@pytest.mark.parametrize("case", _case_ids("dsr_results.csv", _dsr_id))
def test_dsr_matches_reference(reference_dir, case):
    row = _rows(reference_dir, "dsr_results.csv", _dsr_id)[case]
    # The ESP1976 rows' 99.8 % cells are wrong by a factor of 10 in the source workbook.
    levels = {"95_0": 0.95} if isinstance(row["note"], str) else LEVELS
    for suffix, confidence in levels.items():
        result = _dsr_for(reference_dir, row, confidence)
        assert result.total_count == row["total_count"]
        assert result.total_pop == row["total_pop"]
        assert_close(result.value, row["value"], f"{case} value")
        assert_close(result.lower, row[f"lower{suffix}cl"], f"{case} lower {confidence}")
        assert_close(result.upper, row[f"upper{suffix}cl"], f"{case} upper {confidence}")
        assert result.confidence == confidence
        assert result.multiplier == row["multiplier"]


def _isr_inputs(reference_dir: Path, area: str) -> pd.DataFrame:
    data = _read(reference_dir / "isr_input.csv")
    data = data[data["area"] == area]
    assert len(data) > 0, area
    return data


@pytest.mark.parametrize("case", _case_ids("isr_results.csv", _isr_id))
def test_isr_matches_reference(reference_dir, case):
    row = _rows(reference_dir, "isr_results.csv", _isr_id)[case]
    data = _isr_inputs(reference_dir, row["area"])
    checked = 0
    for suffix, confidence in LEVELS.items():
        expected = row[f"lower{suffix}cl"], row[f"upper{suffix}cl"]
        if math.isnan(expected[0]) and math.isnan(expected[1]):
            continue  # 99.8 % limits not published for this row; the value always is
        result = indirectly_standardised(
            data["count"],
            populations=data["pop"],
            reference_counts=data["refcount"],
            reference_populations=data["refpop"],
            kind=row["kind"],
            multiplier=row["multiplier_or_refvalue"],
            confidence=confidence,
        )
        assert_close(result.observed, row["observed"], f"{case} observed")
        assert_close(result.expected, row["expected"], f"{case} expected")
        if row["kind"] == "rate":
            assert_close(result.reference_rate * result.multiplier, row["ref_rate"], case)
        else:
            assert math.isnan(result.reference_rate)
        assert_close(result.value, row["value"], f"{case} value")
        assert_close(result.lower, expected[0], f"{case} lower {confidence}")
        assert_close(result.upper, expected[1], f"{case} upper {confidence}")
        assert result.method == {"Exact": "exact", "Byars": "byar"}[row["method"]]
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("case", _case_ids("isr_results.csv", _isr_id))
def test_isr_from_totals_equals_isr_from_strata(reference_dir, case):
    # A caller who already has O and E (e.g. from SQL) gets the same answer.
    row = _rows(reference_dir, "isr_results.csv", _isr_id)[case]
    data = _isr_inputs(reference_dir, row["area"])
    from_strata = indirectly_standardised(
        data["count"],
        populations=data["pop"],
        reference_counts=data["refcount"],
        reference_populations=data["refpop"],
        kind=row["kind"],
        multiplier=row["multiplier_or_refvalue"],
    )
    from_totals = indirectly_standardised(
        row["observed"],
        row["expected"],
        kind=row["kind"],
        multiplier=row["multiplier_or_refvalue"],
        reference_rate=None if row["kind"] == "ratio" else from_strata.reference_rate,
    )
    for field in ("value", "lower", "upper"):
        assert_close(getattr(from_totals, field), getattr(from_strata, field), field, rel=1e-12)


# --------------------------------------------------------------------------------------------
# identities worked out by hand


def test_dsr_with_the_group_as_its_own_standard_is_the_crude_rate():
    # w_i = 1 makes DSR = X / P and sqrt(var / X) = 1 / P, so Dobson's limits collapse to the
    # count limits over the population: the crude rate and its PHE interval.
    counts = np.array([12.0, 30.0, 55.0])
    pops = np.array([4000.0, 5000.0, 2500.0])
    result = directly_standardised_rate(counts, pops, pops, multiplier=1000)
    lower, upper = count_interval(97, method="byar")
    assert result.value == pytest.approx(97 / 11500 * 1000, rel=1e-13)
    assert result.lower == pytest.approx(lower / 11500 * 1000, rel=1e-12)
    assert result.upper == pytest.approx(upper / 11500 * 1000, rel=1e-12)


def test_dsr_by_hand_with_two_strata():
    counts, pops, standard = [20.0, 40.0], [1000.0, 500.0], [3000.0, 1000.0]
    result = directly_standardised_rate(counts, pops, standard, multiplier=1)
    # weights standard / population are 3 and 2
    dsr = (3 * 20 + 2 * 40) / 4000
    variance = (9 * 20 + 4 * 40) / 4000**2
    lower, upper = count_interval(60, method="byar")
    assert result.value == pytest.approx(dsr, rel=1e-14)
    assert result.lower == pytest.approx(dsr + math.sqrt(variance / 60) * (lower - 60), rel=1e-13)
    assert result.upper == pytest.approx(dsr + math.sqrt(variance / 60) * (upper - 60), rel=1e-13)


def test_dsr_below_ten_events_is_na_but_reports_totals():
    result = directly_standardised_rate([4, 5], [100, 200], [1, 1])
    assert math.isnan(result.value) and math.isnan(result.lower) and math.isnan(result.upper)
    assert (result.total_count, result.total_pop) == (9.0, 300.0)
    assert dataclasses.asdict(result)["total_count"] == 9.0


def test_dsr_with_a_lower_threshold_uses_exact_count_limits():
    result = directly_standardised_rate([4, 5], [100, 100], [1, 1], multiplier=1, min_total_count=1)
    lower, upper = count_interval(9, method="exact")
    assert result.value == pytest.approx(9 / 200, rel=1e-14)
    assert result.lower == pytest.approx(lower / 200, rel=1e-12)
    assert result.upper == pytest.approx(upper / 200, rel=1e-12)


def test_missing_dsr_counts_count_as_zero():
    with_missing = directly_standardised_rate([10, None, 20], [100, 100, 100], [1, 2, 3])
    with_zero = directly_standardised_rate([10, 0, 20], [100, 100, 100], [1, 2, 3])
    assert with_missing == with_zero


def test_non_independent_events_of_one_each_equal_independent_events():
    counts = np.array([30.0, 12.0, 25.0])
    pops, standard = [900.0, 600.0, 400.0], [1000.0, 1500.0, 500.0]
    independent = directly_standardised_rate(counts, pops, standard)
    one_each = directly_standardised_rate(
        counts[:, None], pops, standard, independent_events=False, event_frequencies=[1]
    )
    assert one_each.value == independent.value
    assert one_each.lower == pytest.approx(independent.lower, rel=1e-14)
    assert one_each.upper == pytest.approx(independent.upper, rel=1e-14)


def test_repeat_events_widen_the_interval_by_hand():
    # One stratum, 10 people with 1 event and 5 people with 4 events: 30 events.
    people = np.array([[10.0, 5.0]])
    result = directly_standardised_rate(
        people,
        [1000.0],
        [1000.0],
        multiplier=1,
        independent_events=False,
        event_frequencies=[1, 4],
    )
    independent = directly_standardised_rate([30.0], [1000.0], [1000.0], multiplier=1)
    variance = (10 * 1 + 5 * 16) / 1000**2
    lower, upper = count_interval(30, method="byar")
    assert result.total_count == 30.0
    assert result.value == independent.value == pytest.approx(0.03, rel=1e-14)
    assert result.lower == pytest.approx(0.03 + math.sqrt(variance / 30) * (lower - 30))
    assert result.upper == pytest.approx(0.03 + math.sqrt(variance / 30) * (upper - 30))
    assert result.lower < independent.lower and result.upper > independent.upper


def test_isr_by_hand():
    # Reference rates 1 % and 5 %; the group has 200 and 100 people: E = 2 + 5 = 7.
    result = indirectly_standardised(
        [3, 9],
        populations=[200, 100],
        reference_counts=[10, 50],
        reference_populations=[1000, 1000],
        kind="rate",
        multiplier=1000,
    )
    lower, upper = count_interval(12, method="byar")
    assert result.expected == pytest.approx(7.0, rel=1e-14)
    assert result.reference_rate == pytest.approx(60 / 2000, rel=1e-14)
    assert result.value == pytest.approx(12 / 7 * 0.03 * 1000, rel=1e-14)
    assert result.lower == pytest.approx(lower / 7 * 30, rel=1e-13)
    assert result.upper == pytest.approx(upper / 7 * 30, rel=1e-13)
    assert result.method == "byar"


def test_isr_with_no_observed_events():
    result = indirectly_standardised(0, 4.0)
    assert (result.value, result.lower) == (0.0, 0.0)
    assert result.upper == pytest.approx(-math.log(0.025) / 4, rel=1e-13)
    assert result.method == "exact"
    assert result.multiplier == 1


def test_isr_rate_defaults_to_per_100000():
    result = indirectly_standardised(20, 10.0, kind="rate", reference_rate=0.002)
    assert result.multiplier == 100_000
    assert result.value == pytest.approx(2 * 0.002 * 100_000, rel=1e-14)


# --------------------------------------------------------------------------------------------
# bad input

BAD_INPUTS = [
    (
        "dsr-population-zero",
        directly_standardised_rate,
        ([1, 2], [10, 0], [1, 1]),
        {},
        r"\bpopulations\b",
    ),
    (
        "dsr-population-missing",
        directly_standardised_rate,
        ([1, 2], [10, None], [1, 1]),
        {},
        r"\bpopulations\b",
    ),
    (
        "dsr-lengths",
        directly_standardised_rate,
        ([1, 2], [10, 10], [1, 1, 1]),
        {},
        r"\bstandard_populations\b",
    ),
    (
        "dsr-standard-negative",
        directly_standardised_rate,
        ([1, 2], [10, 10], [1, -1]),
        {},
        r"\bstandard_populations\b",
    ),
    (
        "dsr-standard-all-zero",
        directly_standardised_rate,
        ([1, 2], [10, 10], [0, 0]),
        {},
        r"\bstandard_populations\b",
    ),
    (
        "dsr-count-negative",
        directly_standardised_rate,
        ([1, -2], [10, 10], [1, 1]),
        {},
        r"\bcounts\b",
    ),
    (
        "dsr-count-shape",
        directly_standardised_rate,
        ([1, 2, 3], [10, 10], [1, 1]),
        {},
        r"\bcounts\b",
    ),
    (
        "dsr-multiplier",
        directly_standardised_rate,
        ([1, 2], [10, 10], [1, 1]),
        {"multiplier": 0},
        r"\bmultiplier\b",
    ),
    (
        "dsr-confidence",
        directly_standardised_rate,
        ([1, 2], [10, 10], [1, 1]),
        {"confidence": 95},
        r"\bconfidence\b",
    ),
    (
        "dsr-frequencies-missing",
        directly_standardised_rate,
        ([[1], [2]], [10, 10], [1, 1]),
        {"independent_events": False},
        r"\bevent_frequencies\b",
    ),
    (
        "dsr-frequencies-unexpected",
        directly_standardised_rate,
        ([1, 2], [10, 10], [1, 1]),
        {"event_frequencies": [1]},
        r"\bevent_frequencies\b",
    ),
    (
        "dsr-people-shape",
        directly_standardised_rate,
        ([[1, 2], [2, 3]], [10, 10], [1, 1]),
        {"independent_events": False, "event_frequencies": [1]},
        r"\bcounts\b",
    ),
    ("isr-kind", indirectly_standardised, (5, 4.0), {"kind": "smr"}, r"\bkind\b"),
    ("isr-observed-negative", indirectly_standardised, (-5, 4.0), {}, r"\bobserved\b"),
    ("isr-expected-zero", indirectly_standardised, (5, 0.0), {}, r"\bexpected\b"),
    (
        "isr-no-expected",
        indirectly_standardised,
        (5,),
        {"populations": [1]},
        r"\breference_counts\b",
    ),
    (
        "isr-both",
        indirectly_standardised,
        (5, 4.0),
        {"populations": [1], "reference_counts": [1], "reference_populations": [1]},
        r"\bexpected\b",
    ),
    (
        "isr-rate-without-reference",
        indirectly_standardised,
        (5, 4.0),
        {"kind": "rate"},
        r"\breference_rate\b",
    ),
    (
        "isr-reference-population",
        indirectly_standardised,
        (5,),
        {"populations": [1], "reference_counts": [1], "reference_populations": [0]},
        r"\breference_populations\b",
    ),
    (
        "isr-lengths",
        indirectly_standardised,
        (5,),
        {"populations": [1, 2], "reference_counts": [1], "reference_populations": [3]},
        r"\bsame length\b",
    ),
    ("isr-confidence", indirectly_standardised, (5, 4.0), {"confidence": 1.0}, r"\bconfidence\b"),
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

strata = st.integers(min_value=1, max_value=8)


@st.composite
def dsr_inputs(draw):
    k = draw(strata)
    counts = draw(st.lists(st.integers(0, 2000), min_size=k, max_size=k))
    pops = draw(st.lists(st.floats(1.0, 1e6), min_size=k, max_size=k))
    standard = draw(st.lists(st.floats(1.0, 1e5), min_size=k, max_size=k))
    return counts, pops, standard


@FAST
@given(dsr_inputs(), st.floats(min_value=0.8, max_value=0.999))
def test_dsr_interval_contains_the_rate(inputs, confidence):
    counts, pops, standard = inputs
    result = directly_standardised_rate(counts, pops, standard, confidence=confidence)
    if sum(counts) < 10:
        assert math.isnan(result.value)
    else:
        assert result.lower <= result.value * (1 + 1e-12)
        assert result.value <= result.upper * (1 + 1e-12)


@FAST
@given(dsr_inputs(), st.floats(min_value=1.0, max_value=1e6))
def test_dsr_scales_with_the_multiplier(inputs, multiplier):
    counts, pops, standard = inputs
    per_one = directly_standardised_rate(counts, pops, standard, multiplier=1)
    scaled = directly_standardised_rate(counts, pops, standard, multiplier=multiplier)
    for field in ("value", "lower", "upper"):
        one, many = getattr(per_one, field), getattr(scaled, field)
        if math.isnan(one):
            assert math.isnan(many)
        else:
            assert many == pytest.approx(one * multiplier, rel=1e-12, abs=1e-300)


@FAST
@given(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.01, max_value=1e4),
    st.floats(min_value=0.8, max_value=0.999),
)
def test_isr_interval_contains_the_ratio(observed, expected, confidence):
    result = indirectly_standardised(observed, expected, confidence=confidence)
    assert 0.0 <= result.lower <= result.value <= result.upper
