"""The label of each stratifier for a raw case, in SQL over `results JOIN patients`.

The one definition of what group a case is in: `metrics.strata` groups and filters the raw
rows with these expressions, and the count table (`store.counts`) is compiled from them, so
the two cannot disagree. NULL demographics are the group "Missing"; the age group is the age
reached in the calendar year of the case (year of period minus birth year).

The importer counts the cases as it writes them, so the same labels are also given here for
arrays (`patient_labels`, `age_group_codes`); tests hold the two to the same answers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Integer, String, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from store.schema import patients, results
from store.vocabulary import MISSING

AGE_GROUPS = ("0-17", "18-44", "45-64", "65-74", "75+")
_AGE_BOUNDS = ((18, "0-17"), (45, "18-44"), (65, "45-64"), (75, "65-74"))


def _labelled(column) -> ColumnElement:
    return func.coalesce(column, literal(MISSING))


def _age_group() -> ColumnElement:
    age = cast(func.substr(results.c.period, 1, 4), Integer) - patients.c.birth_year
    whens = [(patients.c.birth_year.is_(None), literal(MISSING))]
    whens += [(age < bound, literal(label)) for bound, label in _AGE_BOUNDS]
    return case(*whens, else_=literal("75+"))


def _adi_decile() -> ColumnElement:
    return case(
        (patients.c.adi_decile.is_(None), literal(MISSING)),
        else_=cast(patients.c.adi_decile, String),
    )


EXPRESSIONS = {
    "race": lambda: _labelled(patients.c.race),
    "ethnicity": lambda: _labelled(patients.c.ethnicity),
    "preferred_language": lambda: _labelled(patients.c.preferred_language),
    "interpreter_needed": lambda: _labelled(patients.c.interpreter_needed),
    "sex": lambda: _labelled(patients.c.sex),
    "age_group": _age_group,
    "payer": lambda: _labelled(patients.c.payer),
    "adi_decile": _adi_decile,
    "site": lambda: results.c.site,
    "period": lambda: results.c.period,
}


def expression(name: str) -> ColumnElement:
    """The SQL label of stratifier `name` for a raw case."""
    return EXPRESSIONS[name]()


# --- the same labels for arrays, as the importer counts the cases it writes ---------------

# The patient's own labels (every stratifier but the age group, site and period).
PATIENT_LABELLED = ("race", "ethnicity", "preferred_language", "interpreter_needed", "sex",
                    "payer", "adi_decile")
AGE_LABELS = (*AGE_GROUPS, MISSING)  # age_group_codes indexes this


def patient_labels(columns: dict[str, pd.Series]) -> pd.DataFrame:
    """The labels of `PATIENT_LABELLED` for stored patient values (None/NA = missing)."""
    labelled = {}
    for name in PATIENT_LABELLED:
        values = columns[name]
        if name == "adi_decile":
            values = values.astype("Int64").astype(str).where(values.notna(), None)
        labelled[name] = values.astype(object).where(values.notna(), MISSING)
    return pd.DataFrame(labelled)


def age_group_codes(year: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Index into `AGE_LABELS` of each case: `year` of the case, `birth_year` NaN = missing."""
    bounds = np.array([bound for bound, _ in _AGE_BOUNDS], dtype=float)
    codes = np.searchsorted(bounds, year - birth_year, side="right")
    codes[np.isnan(birth_year)] = len(AGE_LABELS) - 1
    return codes.astype(np.int8)
