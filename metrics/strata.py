"""The stratifiers: what a group is (its SQL in `store.labels`), its order and its name.

One definition per stratifier serves grouping and filtering alike, so a filter on a group
always selects exactly the cases counted in that group.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.sql.elements import ColumnElement

from store import labels
from store.labels import AGE_GROUPS
from store.vocabulary import ASKED_NO_ANSWER, MISSING, PAYERS, RACES, SEXES, UNKNOWN

__all__ = ["AGE_GROUPS", "STRATIFIERS", "Stratifier", "stratifier"]


@dataclass(frozen=True)
class Stratifier:
    name: str
    label: str  # what people call it
    ordered: bool  # groups have a natural order (for slope and relative indices)
    order: tuple[str, ...] = ()  # display order of known groups; others follow by name

    def expression(self) -> ColumnElement:
        """The group label of a raw case, over `results JOIN patients`."""
        return labels.expression(self.name)

    @property
    def column(self) -> str:
        """Its column in the count table (`store.counts`), which holds `expression()`
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
