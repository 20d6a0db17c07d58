"""The label of each stratifier for a raw case, in SQL over `results JOIN patients`.

The one definition of what group a case is in: `metrics.strata` groups and filters the raw
rows with these expressions, and the count table (`store.counts`) is compiled from them, so
the two cannot disagree. NULL demographics are the group "Missing"; the age group is the age
reached in the calendar year of the case (year of period minus birth year).
"""
from __future__ import annotations

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
