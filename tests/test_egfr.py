"""Tests for metrics.egfr.

Evidence that does not come from the module's own output:
- the equations re-implemented here from the published text, scalar by scalar with `math`,
  written piecewise (Scr ≤ κ / Scr > κ) as the papers' tables are, not with min/max;
- the 2009 paper's table of rounded intercepts (144, 166, 141, 163), to their rounding;
- worked values computed by hand from the formulas (the arithmetic is in the comments);
- hypothesis properties any creatinine equation has (monotone in creatinine and age);
- a reclassification frame whose counts are derived row by row below.
"""
from __future__ import annotations

import inspect
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import egfr
from metrics.egfr import (
    CKD_THRESHOLD,
    NEPHROLOGY_REFERRAL,
    TRANSPLANT_WAITLIST,
    ckd_epi_2009,
    ckd_epi_2021,
    ckd_stage,
    creatinine_mg_dl,
    reclassification,
    reclassification_counts,
)

REL = 1e-9
MICRO_SIGN = "\u00b5mol/L"  # µ, MICRO SIGN
GREEK_MU = "\u03bcmol/L"  # μ, GREEK SMALL LETTER MU


# --- the published formulas, written out again ----------------------------------------------

def published_2021(scr: float, age: float, female: bool) -> float:
    """Inker et al. 2021: 142 × min(Scr/κ,1)^α × max(Scr/κ,1)^−1.200 × 0.9938^age × 1.012 [F]."""
    if female:
        kappa, alpha, sex = 0.7, -0.241, 1.012
    else:
        kappa, alpha, sex = 0.9, -0.302, 1.0
    if scr <= kappa:
        creatinine_term = math.pow(scr / kappa, alpha)
    else:
        creatinine_term = math.pow(scr / kappa, -1.200)
    return 142.0 * creatinine_term * math.pow(0.9938, age) * sex


def published_2009(scr: float, age: float, female: bool, black: bool) -> float:
    """Levey et al. 2009: 141 × min(Scr/κ,1)^α × max(Scr/κ,1)^−1.209 × 0.993^age × 1.018 [F]
    × 1.159 [Black]."""
    if female:
        kappa, alpha, sex = 0.7, -0.329, 1.018
    else:
        kappa, alpha, sex = 0.9, -0.411, 1.0
    if scr <= kappa:
        creatinine_term = math.pow(scr / kappa, alpha)
    else:
        creatinine_term = math.pow(scr / kappa, -1.209)
    race = 1.159 if black else 1.0
    return 141.0 * creatinine_term * math.pow(0.993, age) * sex * race


# Around both κ (0.7, 0.9), where the exponent switches, and out to 10 mg/dL.
CREATININE = [0.3, 0.45, 0.6, 0.69, 0.7, 0.71, 0.8, 0.89, 0.9, 0.91, 1.0, 1.2, 1.5, 2.0,
              2.5, 3.0, 4.0, 5.5, 7.0, 8.5, 10.0]
AGES = [18, 19.5, 25, 33, 40, 50, 61, 70, 80, 88, 95]
GRID = [(s, a, f, b) for s in CREATININE for a in AGES for f in (False, True)
        for b in (False, True)]


def test_public_signatures_are_the_interface():
    assert list(inspect.signature(ckd_epi_2021).parameters) == [
        "creatinine_mg_dl", "age", "female"]
    assert list(inspect.signature(ckd_epi_2009).parameters) == [
        "creatinine_mg_dl", "age", "female", "black"]
    assert list(inspect.signature(creatinine_mg_dl).parameters) == ["value", "unit"]
    assert list(inspect.signature(ckd_stage).parameters) == ["egfr"]
    assert next(iter(inspect.signature(reclassification).parameters)) == "frame"
    assert (CKD_THRESHOLD, NEPHROLOGY_REFERRAL, TRANSPLANT_WAITLIST) == (60, 30, 20)


def test_2021_matches_the_published_formula_over_the_grid():
    for s, a, f, _ in GRID:
        assert ckd_epi_2021(s, a, f) == pytest.approx(published_2021(s, a, f), rel=REL)
    s, a, f, _ = map(np.array, zip(*GRID))
    expected = [published_2021(*row[:3]) for row in GRID]
    np.testing.assert_allclose(ckd_epi_2021(s, a, f), expected, rtol=REL, atol=0)


def test_2009_matches_the_published_formula_over_the_grid():
    for s, a, f, b in GRID:
        assert ckd_epi_2009(s, a, f, b) == pytest.approx(published_2009(s, a, f, b), rel=REL)
    s, a, f, b = map(np.array, zip(*GRID))
    expected = [published_2009(*row) for row in GRID]
    np.testing.assert_allclose(ckd_epi_2009(s, a, f, b), expected, rtol=REL, atol=0)


@pytest.mark.parametrize(("female", "black", "intercept"), [
    (True, True, 166), (True, False, 144), (False, True, 163), (False, False, 141),
])
def test_2009_agrees_with_the_papers_rounded_table(female, black, intercept):
    # Levey 2009, Table 2, prints the sex and race factors folded into whole intercepts
    # (141 × 1.018 × 1.159 = 166.4 printed 166), so agreement is to that rounding (< 0.5 %).
    kappa, alpha = (0.7, -0.329) if female else (0.9, -0.411)
    for scr in (0.4, kappa, 1.3, 4.0):
        for age in (20, 55, 90):
            exponent = alpha if scr <= kappa else -1.209
            table = intercept * (scr / kappa) ** exponent * 0.993 ** age
            assert ckd_epi_2009(scr, age, female, black) == pytest.approx(table, rel=0.005)


def test_2021_worked_values():
    # Scr 1.0, 50, male: (1.0/0.9)^−1.200 = 0.8812, 0.9938^50 = 0.7327; 142 × 0.8812 × 0.7327
    assert ckd_epi_2021(1.0, 50, False) == pytest.approx(91.69, abs=0.005)
    # Scr 0.7, 40, female: Scr = κ, so both creatinine terms are 1; 142 × 0.9938^40 × 1.012
    # = 142 × 0.7798 × 1.012
    assert ckd_epi_2021(0.7, 40, True) == pytest.approx(112.05, abs=0.005)
    # Scr 2.5, 70, male: (2.5/0.9)^−1.200 = 0.2935, 0.9938^70 = 0.6470; 142 × 0.2935 × 0.6470
    assert ckd_epi_2021(2.5, 70, False) == pytest.approx(26.96, abs=0.005)
    # Scr 0.5, 30, female: (0.5/0.7)^−0.241 = 1.0845, 0.9938^30 = 0.8299; × 142 × 1.012
    assert ckd_epi_2021(0.5, 30, True) == pytest.approx(129.32, abs=0.005)


def test_2009_worked_values_and_race_coefficient():
    # Scr 1.0, 50, male: (1.0/0.9)^−1.209 = 0.8805, 0.993^50 = 0.7038; 141 × 0.8805 × 0.7038
    assert ckd_epi_2009(1.0, 50, False, False) == pytest.approx(87.37, abs=0.005)
    assert ckd_epi_2009(1.0, 50, False, True) == pytest.approx(101.26, abs=0.005)
    # Scr 0.7, 40, female: 141 × 0.993^40 × 1.018 = 141 × 0.7551 × 1.018
    assert ckd_epi_2009(0.7, 40, True, False) == pytest.approx(108.38, abs=0.005)
    for s, a, f in [(0.3, 18, True), (1.0, 50, False), (2.5, 70, False), (10.0, 95, True)]:
        ratio = ckd_epi_2009(s, a, f, True) / ckd_epi_2009(s, a, f, False)
        assert ratio == pytest.approx(1.159, rel=1e-12)


def test_2021_has_no_race_term_and_moves_black_patients_down():
    # The point of the change: for Black patients 2021 is lower than 2009, for others higher.
    for s, a, f in [(1.0, 50, False), (1.45, 60, False), (0.9, 40, True)]:
        assert ckd_epi_2021(s, a, f) < ckd_epi_2009(s, a, f, True)
        assert ckd_epi_2021(s, a, f) > ckd_epi_2009(s, a, f, False)


@pytest.mark.parametrize(("scr", "age", "female"), [
    (None, 50, False), (np.nan, 50, False), (pd.NA, 50, False),
    (1.0, None, False), (1.0, np.nan, True), (1.0, 50, None), (1.0, 50, np.nan),
    (0.0, 50, False), (-1.0, 50, True),  # creatinine must be positive
    (1.0, 17.99, False), (1.0, 5, True),  # adults only
])
def test_missing_or_out_of_range_inputs_give_nan(scr, age, female):
    assert math.isnan(ckd_epi_2021(scr, age, female))
    assert math.isnan(ckd_epi_2009(scr, age, female, False))


def test_missing_race_term_gives_nan_in_2009_only():
    assert math.isnan(ckd_epi_2009(1.0, 50, False, None))
    assert not math.isnan(ckd_epi_2021(1.0, 50, False))


def test_age_18_is_an_adult():
    assert ckd_epi_2021(1.0, 18, False) == pytest.approx(published_2021(1.0, 18, False), rel=REL)


def test_types_returned_and_broadcasting():
    assert type(ckd_epi_2021(1.0, 50, False)) is float
    assert type(ckd_epi_2009(1.0, 50, False, True)) is float
    out = ckd_epi_2021(pd.Series([0.8, 1.2, None]), 60, True)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    assert math.isnan(out[2])
    assert out[1] == pytest.approx(published_2021(1.2, 60, True), rel=REL)
    # Nullable pandas dtypes carry pd.NA.
    out = ckd_epi_2009(pd.Series([1.0, None], dtype="Float64"), pd.Series([50, 50], dtype="Int64"),
                       pd.Series([False, None], dtype="boolean"), False)
    assert out[0] == pytest.approx(published_2009(1.0, 50, False, False), rel=REL)
    assert math.isnan(out[1])


def test_refuses_text_for_a_flag():
    # "F" or "No" must not be read as True.
    with pytest.raises(ValueError, match="female"):
        ckd_epi_2021(1.0, 50, "F")
    with pytest.raises(ValueError, match="black"):
        ckd_epi_2009([1.0, 1.0], 50, False, ["No", False])


# --- properties --------------------------------------------------------------------------------

creatinine = st.floats(min_value=0.1, max_value=20, allow_nan=False)
adult_age = st.floats(min_value=18, max_value=110, allow_nan=False)


@given(creatinine, creatinine, adult_age, st.booleans(), st.booleans())
def test_egfr_strictly_decreases_with_creatinine(s1, s2, age, female, black):
    low, high = sorted((s1, s2))
    if high < low * 1.0001:  # values a few ulps apart may round to the same eGFR
        high = low * 1.0001
    assert ckd_epi_2021(high, age, female) < ckd_epi_2021(low, age, female)
    assert ckd_epi_2009(high, age, female, black) < ckd_epi_2009(low, age, female, black)


@given(creatinine, adult_age, adult_age, st.booleans(), st.booleans())
def test_egfr_does_not_increase_with_age(scr, a1, a2, female, black):
    young, old = sorted((a1, a2))
    assert ckd_epi_2021(scr, old, female) <= ckd_epi_2021(scr, young, female)
    assert ckd_epi_2009(scr, old, female, black) <= ckd_epi_2009(scr, young, female, black)


maybe_creatinine = st.one_of(st.none(), st.floats(min_value=-1, max_value=15))
maybe_age = st.one_of(st.none(), st.floats(min_value=0, max_value=110))
maybe_flag = st.one_of(st.none(), st.booleans())


@settings(max_examples=50)
@given(st.lists(st.tuples(maybe_creatinine, maybe_age, maybe_flag, maybe_flag), max_size=30))
def test_vectorised_equals_scalar(rows):
    scr = [r[0] for r in rows]
    age = [r[1] for r in rows]
    female = pd.Series([r[2] for r in rows], dtype=object)
    black = pd.Series([r[3] for r in rows], dtype=object)
    v2021 = ckd_epi_2021(scr, age, female)
    v2009 = ckd_epi_2009(pd.Series(scr, dtype=float), np.array(age, dtype=float), female, black)
    s2021 = [ckd_epi_2021(*r[:3]) for r in rows]
    s2009 = [ckd_epi_2009(*r) for r in rows]
    np.testing.assert_allclose(v2021, s2021, rtol=1e-14, atol=0)
    np.testing.assert_allclose(v2009, s2009, rtol=1e-14, atol=0)
    assert list(ckd_stage(v2021)) == [ckd_stage(v) for v in s2021]


# --- units -------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", [MICRO_SIGN, GREEK_MU, "umol/L", "UMOL/L", "µmol/l", " umol/L "])
def test_micromoles_are_divided_by_88_42(unit):
    assert creatinine_mg_dl(88.42, unit) == 1.0
    assert creatinine_mg_dl(176.84, unit) == pytest.approx(2.0, rel=1e-15)


def test_both_micro_signs_are_distinct_characters():
    # The test would prove nothing if the two spellings were the same string.
    assert MICRO_SIGN != GREEK_MU


@pytest.mark.parametrize("unit", ["mg/dL", "mg/dl", "MG/DL"])
def test_mg_dl_unchanged(unit):
    assert creatinine_mg_dl(1.23, unit) == 1.23


def test_units_vectorised():
    out = creatinine_mg_dl(np.array([88.42, 1.5, 176.84, 2.0, np.nan]),
                           np.array([MICRO_SIGN, "mg/dL", GREEK_MU, "mg/dl", "umol/L"]))
    np.testing.assert_allclose(out, [1.0, 1.5, 2.0, 2.0, np.nan], rtol=1e-15)
    np.testing.assert_allclose(creatinine_mg_dl(pd.Series([88.42, 44.21]), "umol/L"), [1.0, 0.5])


def test_missing_unit_gives_nan_not_a_guess():
    assert math.isnan(creatinine_mg_dl(1.0, None))
    out = creatinine_mg_dl([1.0, 88.42], [None, "umol/L"])
    assert math.isnan(out[0]) and out[1] == 1.0


@pytest.mark.parametrize("unit", ["mmol/L", "mg/L", "mg", ""])
def test_unknown_unit_refused_with_clear_message(unit):
    with pytest.raises(ValueError) as caught:
        creatinine_mg_dl(1.0, unit)
    message = str(caught.value)
    assert repr(unit) in message
    for accepted in ("mg/dL", MICRO_SIGN, "umol/L"):
        assert accepted in message


def test_unknown_unit_in_an_array_refused():
    with pytest.raises(ValueError, match="'mmol/L'"):
        creatinine_mg_dl([1.0, 0.09], ["mg/dL", "mmol/L"])


# --- stages ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "stage"), [
    (150, "G1"), (90, "G1"), (89.999, "G2"), (60, "G2"), (59.99, "G3a"), (45, "G3a"),
    (44.99, "G3b"), (30, "G3b"), (29.99, "G4"), (15, "G4"), (14.99, "G5"), (0, "G5"),
])
def test_stage_boundaries(value, stage):
    assert ckd_stage(value) == stage


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA])
def test_stage_of_missing_is_none(missing):
    assert ckd_stage(missing) is None


def test_stage_vectorised():
    out = ckd_stage(pd.Series([95.0, np.nan, 50.0, 10.0]))
    assert list(out) == ["G1", None, "G3a", "G5"]


# --- reclassification ----------------------------------------------------------------------

BLACK = "Black or African American"


def hand_built_frame() -> pd.DataFrame:
    # eGFR 2009 → 2021 (formulas above), written in the comments with the expected counts.
    rows = [
        # 60.23 G2 → 55.17 G3a: stage up, crossed 60
        (BLACK, 1.45, 60, False, True),
        # 31.18 G3b → 28.69 G4: stage up, crossed 30
        (BLACK, 2.5, 60, False, True),
        # 20.76 G4 → 19.16 G4: newly ≤ 20 (waiting time), same stage
        (BLACK, 3.5, 60, False, True),
        # 19.41 → 17.93: ≤ 20 under both, nothing counted
        (BLACK, 3.7, 60, False, True),
        # 125.61 G1 → 112.05 G1: nothing
        (BLACK, 0.7, 40, True, True),
        # no creatinine: a result, not estimated
        (BLACK, None, 60, False, True),
        # 58.69 G3a → 62.00 G2: stage down, crossed 60 upwards
        ("White", 1.35, 55, False, False),
        # 87.37 G2 → 91.69 G1: stage down, no threshold
        ("White", 1.0, 50, False, False),
        # 19.96 → 21.34: moves away from 20, not "reached"
        ("White", 3.2, 60, False, False),
        # age 17: a result, not estimated
        ("White", 0.6, 17, True, False),
        # race missing three ways
        (None, 1.45, 60, False, True),  # as the first row: up, crossed 60
        ("  ", 1.0, 50, False, False),  # blank: as the White 1.0 row: down
        (np.nan, 1.0, 50, False, None),  # race term unknown: 2009 cannot be computed
    ]
    return pd.DataFrame(rows, columns=["race", "creatinine_mg_dl", "age", "female", "black"])


EXPECTED = pd.DataFrame(
    [
        # results, estimated, changed, crossed_60, crossed_30, reached_20, lower, higher,
        # below_60 (the downward crossings of 60: 60.23 → 55.17), below_30 (31.18 → 28.69)
        (BLACK, 6, 5, 2, 1, 1, 1, 0, 2, 1, 1),
        ("White", 4, 3, 2, 1, 0, 0, 2, 0, 0, 0),  # 58.69 → 62.00 crosses 60 upwards
        ("Missing", 3, 2, 2, 1, 0, 0, 1, 1, 1, 0),
    ],
    columns=["race", "results", "estimated", "stage_changed", "crossed_60", "crossed_30",
             "reached_20", "lower_stage_2021", "higher_stage_2021", "below_60_2021",
             "below_30_2021"],
)


def test_hand_built_frame_values_are_what_the_comments_say():
    frame = hand_built_frame()
    estimable = frame.iloc[[0, 1, 2, 3, 4, 6, 7, 8]]
    rows = list(estimable[["creatinine_mg_dl", "age", "female", "black"]]
                .itertuples(index=False))
    assert [round(published_2009(*r), 2) for r in rows] == [
        60.23, 31.18, 20.76, 19.41, 125.61, 58.69, 87.37, 19.96]
    assert [round(published_2021(*r[:3]), 2) for r in rows] == [
        55.17, 28.69, 19.16, 17.93, 112.05, 62.0, 91.69, 21.34]


def test_reclassification_counts():
    frame = hand_built_frame()
    before = frame.copy()
    table = reclassification_counts(frame)
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False)
    counts = table.drop(columns="race")
    assert all(dtype == np.int64 for dtype in counts.dtypes)
    assert table["results"].sum() == len(frame)  # no row dropped
    assert (table["stage_changed"]
            == table["lower_stage_2021"] + table["higher_stage_2021"]).all()
    pd.testing.assert_frame_equal(frame, before)  # input untouched


def test_reclassification_groups_by_another_column_and_keeps_categories():
    frame = hand_built_frame().assign(site=["North"] * 7 + [None] * 6)
    table = reclassification_counts(frame, by="site")
    assert list(table["site"]) == ["North", "Missing"]
    assert list(table["results"]) == [7, 6]
    frame["race"] = frame["race"].astype("category")
    pd.testing.assert_frame_equal(reclassification_counts(frame), EXPECTED, check_dtype=False)


def test_reclassification_shows_no_count_from_1_to_10_nor_one_that_totals_give_back():
    # Twelve copies of the Black and White rows, two of the Missing ones: the Missing group
    # (6 results) is hidden whole; of the others, only counts and complements over 10 show.
    frame = hand_built_frame()
    copies = [12] * 10 + [2] * 3
    frame = frame.loc[frame.index.repeat(copies)].reset_index(drop=True)
    counts = reclassification_counts(frame).set_index("race")
    shown = reclassification(frame).set_index("race")
    assert list(shown.columns) == list(counts.columns)
    assert shown.loc["Missing"].isna().all()
    for column in counts.columns:
        visible = shown[column].notna()
        assert (shown.loc[visible, column] == counts.loc[visible, column]).all()
        assert not shown[column].between(1, 10).any()
        assert not (shown["estimated"] - shown[column]).between(1, 10).any()
        # One hidden cell with cases in a column would be its total minus the others.
        hidden = counts.loc[~visible, column]
        assert (hidden > 0).sum() != 1 and not 1 <= hidden.sum() <= 10, column
    # The hidden Missing group takes the next smallest group's results with it (White, 48);
    # Black's 72 stay; a count of 0 reveals nothing and stays.
    assert shown.loc[BLACK, "results"] == 72 and pd.isna(shown.loc["White", "results"])
    assert shown.loc[BLACK, "lower_stage_2021"] == 0
    both = shown[["stage_changed", "lower_stage_2021", "higher_stage_2021"]]
    assert (both.isna().sum(axis=1) != 1).all()


def test_reclassification_needs_its_columns():
    with pytest.raises(ValueError, match="black"):
        reclassification(hand_built_frame().drop(columns="black"))


def test_reclassification_of_no_results():
    table = reclassification(hand_built_frame().iloc[:0])
    assert list(table.columns) == list(EXPECTED.columns)
    assert len(table) == 0


def test_missing_label_is_the_data_contracts():
    from store.vocabulary import MISSING

    assert egfr.MISSING == MISSING


def test_module_imports_only_numpy_and_pandas():
    # Loaded from its file, so the metrics package's own imports do not count.
    path = Path(egfr.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('egfr_alone', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(m for m in ('streamlit', 'sqlalchemy', 'scipy', 'store', 'metrics')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
