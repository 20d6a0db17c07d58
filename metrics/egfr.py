"""Estimated GFR from serum creatinine, with and without the race coefficient (issue #10).

Two equations of the CKD Epidemiology Collaboration, for adults:

- CKD-EPI 2021, race-free (Inker LA, Eneanya ND, Coresh J, et al. New creatinine- and
  cystatin C-based equations to estimate GFR without race. N Engl J Med 2021;385:1737-49);
- CKD-EPI 2009, which multiplies the estimate by 1.159 for Black patients (Levey AS, Stevens
  LA, Schmid CH, et al. A new equation to estimate glomerular filtration rate. Ann Intern Med
  2009;150:604-12).

`reclassification` counts, per race group, the results whose CKD stage or clinical threshold
changes between the two (Vyas DA, Eisenstein LG, Jones DS. Hidden in plain sight: reconsidering
the use of race correction in clinical algorithms. N Engl J Med 2020;383:874-82). Those
thresholds decide diagnosis, referral and kidney transplant waiting time, for which the OPTN
has required race-neutral eGFR since 27 July 2022 ("Establish OPTN Requirement for
Race-Neutral eGFR Calculations", approved June 2022; waiting-time modifications for Black
candidates affected by race-inclusive eGFR, policy 3.7.D, in effect 5 January 2023). GFR
categories follow KDIGO 2012 (Kidney Int Suppl 2013;3:1-150).

`reclassification_table` gives the same counts from the creatinine results imported with
labs.csv, aggregated in SQL (each patient's most recent result in the months chosen), and
`shown_reclassification` applies small-cell suppression to them for display and export.

Methods: docs/methods.md, "eGFR: the race-free equation and its reclassification".

The equations are pure numpy and pandas: the database and the suppression rules are imported
only by the functions that read the database, so that the importer can load this module.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CKD_THRESHOLD", "NEPHROLOGY_REFERRAL", "TRANSPLANT_WAITLIST", "STAGES",
    "ckd_epi_2009", "ckd_epi_2021", "ckd_stage", "creatinine_mg_dl", "reclassification",
    "reclassification_table", "shown_reclassification",
    "reclassification_counts",
]

CKD_THRESHOLD = 60  # eGFR < 60 for > 3 months is CKD even with no other sign (KDIGO 2012)
NEPHROLOGY_REFERRAL = 30  # KDIGO 2012 refers to nephrology at eGFR < 30 (G4-G5)
TRANSPLANT_WAITLIST = 20  # eGFR <= 20 starts adult kidney waiting time (OPTN kidney policy)

# 1 mg/dL of creatinine in µmol/L: the factor in clinical use (10 000 / 113.12 g/mol is 88.40).
MICROMOL_PER_MG_DL = 88.42
MICROMOL_UNITS = ("µmol/L", "μmol/L", "umol/L")  # micro sign U+00B5, Greek mu U+03BC, ASCII

# Lower bounds, ascending, of G4 to G1; everything below the first is G5.
_STAGE_BOUNDS = (15, 30, 45, 60, 90)
STAGES = ("G1", "G2", "G3a", "G3b", "G4", "G5")  # from normal to kidney failure
_BY_BOUND = ("G5", "G4", "G3b", "G3a", "G2", "G1")

# The data contract's label for an empty demographic (store.vocabulary.MISSING), written out
# so that this module does not pull in the database package.
MISSING = "Missing"
# The race whose 2009 estimate carries the coefficient (store.vocabulary.RACES); a laboratory
# applied it when this race was recorded, so any other race, or none, gets the non-Black one.
BLACK = "Black or African American"
ADULT_AGE = 18

RECLASSIFICATION_COLUMNS = (
    "results", "estimated", "stage_changed", "crossed_60", "crossed_30", "reached_20",
    "lower_stage_2021", "higher_stage_2021", "below_60_2021", "below_30_2021",
)
# What the reclassification of imported results may be grouped by.
GROUPINGS = ("race", "ethnicity", "sex")


def _numbers(value) -> np.ndarray:
    if np.ndim(value) == 0:
        return np.asarray(np.nan if pd.isna(value) else value, dtype=float)
    if isinstance(value, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        # Nullable dtypes hold pd.NA, which numpy refuses to turn into a float.
        return pd.Series(value).to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(value, dtype=float)


def _flags(value, name: str) -> np.ndarray:
    """True/False as 1.0/0.0 and missing as NaN, so that a missing sex or race gives NaN."""
    if np.ndim(value) == 0:
        if pd.isna(value):
            return np.asarray(np.nan)
        value = [value]
        scalar = True
    else:
        scalar = False
    array = np.asarray(value)
    if array.dtype == bool:
        result = array.astype(float)
    else:
        series = pd.Series(array.ravel(), dtype=object)
        # A dict lookup refuses strings such as "F" or "Yes" instead of reading them as True.
        result = series.map({True: 1.0, False: 0.0}).to_numpy(dtype=float, na_value=np.nan)
        wrong = np.isnan(result) & series.notna().to_numpy()
        if wrong.any():
            raise ValueError(
                f"{name} must be True or False (or missing); got {series[wrong].iloc[0]!r}"
            )
        result = result.reshape(array.shape)
    return result.reshape(()) if scalar else result


def _ckd_epi(creatinine, age, female, black, *, intercept, kappa, alpha, above, age_base,
             female_factor, black_factor):
    scr, years, is_female, is_black = np.broadcast_arrays(
        _numbers(creatinine), _numbers(age), _flags(female, "female"), _flags(black, "black")
    )
    valid = (
        np.isfinite(scr) & (scr > 0) & np.isfinite(years) & (years >= ADULT_AGE)
        & ~np.isnan(is_female) & ~np.isnan(is_black)
    )
    # Placeholders where the result will be NaN anyway keep the powers free of warnings.
    scr = np.where(valid, scr, 1.0)
    years = np.where(valid, years, ADULT_AGE)
    is_female = np.where(valid, is_female, 0.0) == 1.0
    is_black = np.where(valid, is_black, 0.0) == 1.0
    ratio = scr / np.where(is_female, kappa[0], kappa[1])
    egfr = (
        intercept
        * np.minimum(ratio, 1.0) ** np.where(is_female, alpha[0], alpha[1])
        * np.maximum(ratio, 1.0) ** above
        * age_base ** years
        * np.where(is_female, female_factor, 1.0)
        * np.where(is_black, black_factor, 1.0)
    )
    egfr = np.where(valid, egfr, np.nan)
    return float(egfr) if egfr.ndim == 0 else egfr


def ckd_epi_2021(creatinine_mg_dl, age, female):
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation.

    Inker et al., N Engl J Med 2021;385:1737-49:
    ``142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [if female]`` with
    κ = 0.7 (female) or 0.9 (male) and α = −0.241 (female) or −0.302 (male).

    Arguments are scalars or array-likes (numpy arrays, pandas Series) broadcast together;
    creatinine in mg/dL (see `creatinine_mg_dl`), age in years, `female` True/False. Returns a
    float for scalar inputs, otherwise a numpy array (a Series' index is not kept).

    The result is NaN where an input is missing (NaN, None, pd.NA), where creatinine is 0 or
    less, and where age is below 18: the equation was developed and validated in adults only.
    """
    return _ckd_epi(
        creatinine_mg_dl, age, female, False, intercept=142.0, kappa=(0.7, 0.9),
        alpha=(-0.241, -0.302), above=-1.200, age_base=0.9938, female_factor=1.012,
        black_factor=1.0,
    )


def ckd_epi_2009(creatinine_mg_dl, age, female, black):
    """eGFR in mL/min/1.73 m² by the CKD-EPI 2009 creatinine equation, with its race term.

    Levey et al., Ann Intern Med 2009;150:604-12:
    ``141 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.209 × 0.993^age × 1.018 [if female] ×
    1.159 [if Black]`` with κ = 0.7 (female) or 0.9 (male) and α = −0.329 (female) or −0.411
    (male).

    Kept to measure what replacing it changes (`reclassification`), not to report kidney
    function. Inputs, outputs and NaN rules as in `ckd_epi_2021`; a missing `black` gives NaN.
    """
    return _ckd_epi(
        creatinine_mg_dl, age, female, black, intercept=141.0, kappa=(0.7, 0.9),
        alpha=(-0.329, -0.411), above=-1.209, age_base=0.993, female_factor=1.018,
        black_factor=1.159,
    )


def _unit_divisor(unit) -> float:
    if pd.isna(unit):
        return np.nan
    text = str(unit).strip()
    # casefold also turns the micro sign into the Greek mu.
    if text.casefold() == "mg/dl":
        return 1.0
    if text.casefold() in {u.casefold() for u in MICROMOL_UNITS}:
        return MICROMOL_PER_MG_DL
    raise ValueError(
        f"unknown creatinine unit {unit!r}: accepted units are "
        f"{', '.join(('mg/dL',) + MICROMOL_UNITS)} (case-insensitive)"
    )


def creatinine_mg_dl(value, unit):
    """A serum creatinine result converted to mg/dL.

    ``mg/dL`` (any case) is returned unchanged; ``µmol/L``, ``μmol/L`` (either micro sign) or
    ``umol/L`` is divided by 88.42 (1 mg/dL = 88.42 µmol/L). Any other unit raises
    `ValueError` naming it and the accepted units: a guessed unit would be off 88-fold.

    `value` and `unit` are scalars or arrays of the same length (a single unit applies to every
    value). A missing value or a missing unit gives NaN. Returns a float for scalars, otherwise
    a numpy array.
    """
    values = _numbers(value)
    if np.ndim(unit) == 0:
        divisor = np.asarray(_unit_divisor(unit))
    else:
        codes, uniques = pd.factorize(pd.Series(np.asarray(unit, dtype=object).ravel()),
                                      use_na_sentinel=True)
        # Units repeat on millions of rows: check each distinct spelling once.
        table = np.array([_unit_divisor(u) for u in uniques] + [np.nan])
        divisor = table[codes].reshape(np.shape(unit))
    values, divisor = np.broadcast_arrays(values, divisor)
    result = values / divisor
    return float(result) if result.ndim == 0 else result


def ckd_stage(egfr):
    """KDIGO 2012 GFR category of an eGFR value (mL/min/1.73 m²) or array.

    ``G1`` ≥ 90, ``G2`` 60–89, ``G3a`` 45–59, ``G3b`` 30–44, ``G4`` 15–29, ``G5`` < 15. Missing
    gives None. Thresholds are compared on the unrounded value, so 89.999 is G2 and 59.99 is
    G3a; a laboratory that reports whole numbers would have printed 90 and 60.

    Returns a label for a scalar, otherwise a numpy object array of labels and None.
    """
    values = np.atleast_1d(_numbers(egfr))
    labels = np.array(_BY_BOUND, dtype=object)[_stage_index(values)]
    labels[np.isnan(values)] = None
    return labels[0] if np.ndim(egfr) == 0 else labels.reshape(np.shape(egfr))


def _stage_index(values: np.ndarray) -> np.ndarray:
    """0 for G5 up to 5 for G1; NaN is read as 0 and must be masked by the caller."""
    return np.searchsorted(_STAGE_BOUNDS, np.nan_to_num(values, nan=0.0), side="right")


def _crossed(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    # Comparisons with NaN are False on both sides, so an unestimated result never counts.
    return ((a < threshold) & (b >= threshold)) | ((a >= threshold) & (b < threshold))


def reclassification(frame: pd.DataFrame, by: str = "race") -> pd.DataFrame:
    """`reclassification_counts` as it may be shown: the same columns, each count a nullable
    integer, empty (NA) where small-cell suppression hides it (`metrics.privacy`).

    Hidden: a count from 1 to 10; an event count whose complement among the estimated
    results (estimated - count) is from 1 to 10; `estimated` when the results not estimated
    number 1 to 10; every count of a group of 1 to 10 results. Then complementary
    suppression: each column across the groups (its total can be known), and the three
    counts tied by stage_changed = lower_stage_2021 + higher_stage_2021 in each group.
    """
    from metrics import privacy  # here: the module alone imports only numpy and pandas

    counts = reclassification_counts(frame, by)
    columns = list(RECLASSIFICATION_COLUMNS)
    values = counts[columns].to_numpy(dtype=float)
    estimated = counts["estimated"].to_numpy(dtype=float)
    also = np.zeros(values.shape, dtype=bool)
    for j, column in enumerate(columns):
        if column == "estimated":
            also[:, j] = privacy.small(counts["results"].to_numpy() - estimated)
        elif column != "results":
            also[:, j] = privacy.small(estimated - values[:, j])
    also |= privacy.small(counts["results"].to_numpy())[:, None]
    return privacy.suppress_counts(
        counts, columns, also=also,
        rows=[("stage_changed", "lower_stage_2021", "higher_stage_2021")])


def reclassification_counts(frame: pd.DataFrame, by: str = "race") -> pd.DataFrame:
    """How many results change clinical category when CKD-EPI 2021 replaces CKD-EPI 2009.

    `frame` holds one creatinine result per row with columns ``creatinine_mg_dl``, ``age``,
    ``female`` (bool), ``black`` (bool, the race term of the 2009 equation) and the grouping
    column `by` (default ``race``). The input is not modified.

    Returns one row per group of `by`, with the group in column `by` (groups by name, then
    ``Missing``), and integer counts:

    - ``results``: rows of the group, whatever their values;
    - ``estimated``: rows where both equations give an eGFR (not missing, adult, creatinine
      > 0); every other count is among these;
    - ``stage_changed``: the KDIGO GFR category differs between 2009 and 2021, split into
      ``higher_stage_2021`` (a more advanced category with 2021, e.g. G3a to G3b) and
      ``lower_stage_2021`` (a less advanced one);
    - ``crossed_60`` / ``crossed_30``: one equation below 60 (CKD) / 30 (nephrology referral)
      and the other at or above it, in either direction;
    - ``reached_20``: 2021 eGFR ≤ 20 while 2009 was > 20, newly accruing kidney transplant
      waiting time;
    - ``below_60_2021`` / ``below_30_2021``: the downward part of ``crossed_60`` /
      ``crossed_30`` (2009 at or above the threshold, 2021 below it).

    An empty or missing `by` value is the group ``Missing``: no row is dropped.

    The counts are not suppressed here: for computing only. What is displayed or exported
    comes from `reclassification`, which applies small-cell suppression to these counts.
    """
    needed = ["creatinine_mg_dl", "age", "female", "black", by]
    absent = [name for name in needed if name not in frame.columns]
    if absent:
        raise ValueError(f"reclassification needs columns {needed}; missing {absent}")

    e2009 = ckd_epi_2009(frame["creatinine_mg_dl"], frame["age"], frame["female"],
                         frame["black"])
    e2021 = ckd_epi_2021(frame["creatinine_mg_dl"], frame["age"], frame["female"])
    estimated = ~np.isnan(e2009) & ~np.isnan(e2021)
    rank2009, rank2021 = _stage_index(e2009), _stage_index(e2021)  # 0 is G5, 5 is G1

    # Labels are checked once per distinct value, not once per row.
    codes, uniques = pd.factorize(frame[by], use_na_sentinel=True)
    names = [MISSING if isinstance(u, str) and not u.strip() else str(u) for u in uniques]
    groups = np.array(names + [MISSING], dtype=object)[codes]

    flags = pd.DataFrame({
        "results": np.ones(len(frame), dtype=np.int64),
        "estimated": estimated,
        "stage_changed": estimated & (rank2009 != rank2021),
        "crossed_60": _crossed(e2009, e2021, CKD_THRESHOLD),
        "crossed_30": _crossed(e2009, e2021, NEPHROLOGY_REFERRAL),
        "reached_20": (e2021 <= TRANSPLANT_WAITLIST) & (e2009 > TRANSPLANT_WAITLIST),
        "lower_stage_2021": estimated & (rank2021 > rank2009),
        "higher_stage_2021": estimated & (rank2021 < rank2009),
        "below_60_2021": (e2021 < CKD_THRESHOLD) & (e2009 >= CKD_THRESHOLD),
        "below_30_2021": (e2021 < NEPHROLOGY_REFERRAL) & (e2009 >= NEPHROLOGY_REFERRAL),
    })
    counts = flags.groupby(groups, sort=False).sum().astype(np.int64)
    order = sorted(counts.index, key=lambda g: (g == MISSING, g.lower(), g))
    counts = counts.loc[order, list(RECLASSIFICATION_COLUMNS)]
    counts.index.name = by
    return counts.reset_index()


def _group_order(groups) -> list[str]:
    return sorted(groups, key=lambda g: (g == MISSING, g.lower(), g))


def reclassification_table(by: str = "race", period_from: str | None = None,
                           period_to: str | None = None,
                           database_url: str | None = None) -> pd.DataFrame:
    """`reclassification` of the imported creatinine results, counted in the database.

    One result counts per patient: their most recent creatinine with a date in the months
    `period_from` to `period_to` (YYYY-MM, both included; None leaves that side open), the
    later line of labs.csv when two share a date. So ``results`` is a number of patients.
    `by` is ``race``, ``ethnicity`` or ``sex``; an empty one is the group ``Missing``.

    Same columns and group order as `reclassification`, unsuppressed: pass the table to
    `shown_reclassification` before showing or exporting it. The eGFR of each result was
    computed at import (store/importer.py) with the patient's sex, age at the test (year of the
    test minus birth year) and recorded race; results of patients neither female nor male, or
    under 18, are counted in ``results`` but not in ``estimated``. Empty when no labs were
    imported. Needs the "data_quality" permission (analysts and above).
    """
    from sqlalchemy import and_, case, func, or_, select

    from store import access
    from store.engine import get_engine
    from store.schema import lab_results, patients

    access.require("data_quality")
    if by not in GROUPINGS:
        raise ValueError(f"the eGFR reclassification is grouped by one of {', '.join(GROUPINGS)}"
                         f", not {by!r}")
    labs = lab_results.c
    conditions = []
    if period_from:
        conditions.append(labs.test_date >= f"{period_from}-01")
    if period_to:
        conditions.append(labs.test_date <= f"{period_to}-31")  # text order: any day fits
    ranked = (
        select(labs.patient_key, labs.egfr_2009, labs.egfr_2021, labs.stage_2009,
               labs.stage_2021,
               func.row_number().over(partition_by=labs.patient_key,
                                      order_by=(labs.test_date.desc(), labs.lab_key.desc()))
               .label("recent"))
        .where(*conditions)
        .subquery()
    )
    e2009, e2021 = ranked.c.egfr_2009, ranked.c.egfr_2021
    changed = and_(e2009.is_not(None), e2021.is_not(None),
                   ranked.c.stage_2009 != ranked.c.stage_2021)

    def count(condition):
        # A comparison with NULL is not true, so an unestimated result never counts.
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def crossed(threshold):
        return or_(and_(e2009 < threshold, e2021 >= threshold),
                   and_(e2009 >= threshold, e2021 < threshold))

    group = func.coalesce(patients.c[by], MISSING)
    counted = {
        "results": func.count(),
        "estimated": count(and_(e2009.is_not(None), e2021.is_not(None))),
        "stage_changed": count(changed),
        "crossed_60": count(crossed(CKD_THRESHOLD)),
        "crossed_30": count(crossed(NEPHROLOGY_REFERRAL)),
        "reached_20": count(and_(e2021 <= TRANSPLANT_WAITLIST, e2009 > TRANSPLANT_WAITLIST)),
        "lower_stage_2021": count(and_(changed, e2021 > e2009)),
        "higher_stage_2021": count(and_(changed, e2021 < e2009)),
        "below_60_2021": count(and_(e2021 < CKD_THRESHOLD, e2009 >= CKD_THRESHOLD)),
        "below_30_2021": count(and_(e2021 < NEPHROLOGY_REFERRAL,
                                    e2009 >= NEPHROLOGY_REFERRAL)),
    }
    query = (
        select(group.label(by), *(value.label(name) for name, value in counted.items()))
        .select_from(ranked.join(patients, patients.c.patient_key == ranked.c.patient_key))
        .where(ranked.c.recent == 1)
        .group_by(group)
    )
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(query).all()
    table = pd.DataFrame(rows, columns=[by, *counted])
    table = table.set_index(by).loc[_group_order(table[by])].reset_index()
    for name in RECLASSIFICATION_COLUMNS:
        table[name] = table[name].astype(np.int64)
    table.attrs.update({"by": by, "period_from": period_from, "period_to": period_to})
    return table


#: The counts a page or export shows, besides ``results``; each is a share of ``results``.
SHOWN_COUNTS = ("not_estimable", "higher_stage_2021", "lower_stage_2021", "below_60_2021",
                "above_60_2021", "below_30_2021", "above_30_2021", "reached_20")
TOTAL = "All patients"


def shown_reclassification(table: pd.DataFrame) -> pd.DataFrame:
    """The counts of a reclassification table as they may be shown, with a total row last.

    Columns: the group, ``results`` (patients with a result), then `SHOWN_COUNTS`:
    ``not_estimable`` (results − estimated), the stage moves, each threshold crossed
    downwards (``below_*``: 2009 at or above, 2021 below) or upwards (``above_*``: the
    reverse), and ``reached_20``. Counts are nullable integers; a suppressed cell is missing
    (pd.NA), and ``suppressed`` says whether any cell of the row is.

    Suppression as everywhere (`metrics.disparity`), each count read as events among the
    group's patients: a ``results`` from 1 to 10 hides the whole row; a count is hidden when it
    or the rest of the group's patients is from 1 to 10; then complementary suppression hides
    the next smallest group of any column with exactly one hidden cell, since the total row
    would give it back. ``estimated`` is not shown (it is results − not_estimable), and
    crossings are shown split by direction, never with their sum, so that no row holds a sum
    of its own cells.
    """
    from metrics.disparity import complementary_suppression, primary_suppression

    by = table.columns[0]
    counts = pd.DataFrame({by: table[by], "results": table["results"]})
    counts["not_estimable"] = table["results"] - table["estimated"]
    for name in ("higher_stage_2021", "lower_stage_2021", "below_60_2021", "below_30_2021",
                 "reached_20"):
        counts[name] = table[name]
    counts["above_60_2021"] = table["crossed_60"] - table["below_60_2021"]
    counts["above_30_2021"] = table["crossed_30"] - table["below_30_2021"]

    def hidden(numerator, already, kind="proportion"):
        cells = pd.DataFrame({by: counts[by], "numerator": numerator,
                              "denominator": counts["results"]})
        return complementary_suppression(cells, [by], primary_suppression(cells, kind) | already)

    masks = {"results": hidden(0, np.zeros(len(counts), dtype=bool), kind="mean")}
    for name in SHOWN_COUNTS:
        masks[name] = hidden(counts[name], masks["results"])

    total = counts.drop(columns=by).sum()
    shown = {by: [*counts[by], TOTAL]}
    for name in ("results", *SHOWN_COUNTS):
        values = np.append(counts[name].to_numpy(dtype=np.int64), total[name])
        total_hidden = _small(total[name]) or (
            name != "results" and (_small(total["results"])
                                   or _small(total["results"] - total[name])))
        mask = np.append(masks[name], total_hidden)
        column = pd.array(np.where(mask, 0, values), dtype="Int64")
        column[mask] = pd.NA
        shown[name] = column
    result = pd.DataFrame(shown)
    result["suppressed"] = result.drop(columns=by).isna().any(axis=1)
    result.attrs.update(table.attrs)
    return result


def _small(count) -> bool:
    from metrics.disparity import small_cell

    return bool(small_cell(int(count)))
