"""The stratifiers: what a group is, in SQL, with its order and its missing-value label.

One definition per stratifier serves grouping and filtering alike, so a filter on a group
always selects exactly the cases counted in that group.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, String, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from store.schema import patients, results
from store.vocabulary import ASKED_NO_ANSWER, MISSING, PAYERS, RACES, SEXES, UNKNOWN

AGE_GROUPS = ("0-17", "18-44", "45-64", "65-74", "75+")
_AGE_BOUNDS = ((18, "0-17"), (45, "18-44"), (65, "45-64"), (75, "65-74"))


@dataclass(frozen=True)
class Stratifier:
    name: str
    label: str  # what people call it
    ordered: bool  # groups have a natural order (for slope and relative indices)
    order: tuple[str, ...] = ()  # display order of known groups; others follow by name

    def expression(self) -> ColumnElement:
        """The group label of a raw case, over `results JOIN patients`."""
        return _EXPRESSIONS[self.name]()

    @property
    def column(self) -> str:
        """Its column in the count table (metrics.counts), which holds `expression()`
        already applied."""
        return self.name

    def sort_key(self, group: str):
        """Known groups in their order, then other values by name, then the not-known ones."""
        tail = (UNKNOWN, ASKED_NO_ANSWER, MISSING)
        if group in tail:
            return (2, tail.index(group), "")
        if group in self.order:
            return (0, self.order.index(group), "")
        return (1, 0, group.lower())


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


_EXPRESSIONS = {
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

STRATIFIERS = {
    s.name: s
    for s in (
        Stratifier("race", "Race", False, RACES),
        Stratifier("ethnicity", "Ethnicity", False,
                   ("Hispanic or Latino", "Not Hispanic or Latino")),
        Stratifier("preferred_language", "Preferred language", False, ("English",)),
        Stratifier("interpreter_needed", "Interpreter needed", False, ("Yes", "No")),
        Stratifier("sex", "Sex", False, SEXES),
        Stratifier("age_group", "Age group", True, AGE_GROUPS),
        Stratifier("payer", "Payer", False, PAYERS),
        Stratifier("adi_decile", "ADI decile", True, tuple(str(d) for d in range(1, 11))),
        Stratifier("site", "Site", False),
        Stratifier("period", "Month", True),
    )
}


def stratifier(name: str) -> Stratifier:
    try:
        return STRATIFIERS[name]
    except KeyError:
        raise ValueError(
            f"unknown stratifier {name!r}; choose one of: {', '.join(STRATIFIERS)}"
        ) from None
