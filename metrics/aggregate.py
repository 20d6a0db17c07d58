"""Counts by group, computed in the database: one GROUP BY per request, counts only."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy import case, func, select

from metrics.strata import stratifier
from store.engine import get_engine
from store.schema import measures, patients, results

COUNT_COLUMNS = ("denominator", "numerator", "value_sum", "value_sum_squares")
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

Where = Mapping[str, str | Sequence[str]] | None


def normal_where(where) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A filter mapping (or its items) as sorted tuples without empty filters: hashable, and
    equal for equal filters (cache keys, saved views)."""
    if not where:
        return ()
    items = where.items() if isinstance(where, Mapping) else where
    normal = []
    for name, values in items:
        values = [values] if isinstance(values, str) else list(values)
        values = tuple(sorted({str(v) for v in values}))
        if values:
            normal.append((str(name), values))
    return tuple(sorted(normal))


def as_list(by: str | Sequence[str]) -> list[str]:
    names = [by] if isinstance(by, str) else list(by)
    if not 1 <= len(names) <= 2:
        raise ValueError("by takes one stratifier or a list of two")
    if len(set(names)) != len(names):
        raise ValueError("the two stratifiers must differ")
    for name in names:
        stratifier(name)
    return names


def measure_definition(measure_id: str, database_url: str | None = None) -> dict:
    with get_engine(database_url).connect() as conn:
        row = conn.execute(
            select(measures).where(measures.c.measure_id == measure_id)
        ).mappings().first()
        if row is None:
            known = conn.execute(select(measures.c.measure_id).order_by("measure_id")).scalars()
            raise ValueError(f"unknown measure {measure_id!r}; known: {', '.join(known)}")
    return dict(row)


def group_counts(
    measure_id: str | None,
    by: str | Sequence[str],
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """Counted cases per group: denominator, numerator, and the sum and sum of squares of
    `value` (for mean-type measures). Excluded cases (denominator 0) are never counted.
    With `measure_id=None`, every measure at once, with a `measure_id` column first.
    Filter values are bound parameters, never pasted into the SQL."""
    names = as_list(by)
    groups = [stratifier(name).expression().label(name) for name in names]
    if measure_id is None:
        groups.insert(0, results.c.measure_id.label("measure_id"))
        names = ["measure_id", *names]
    counted = results.c.denominator == 1
    query = (
        select(
            *groups,
            func.sum(results.c.denominator).label("denominator"),
            func.sum(results.c.numerator).label("numerator"),
            func.sum(case((counted, results.c.value))).label("value_sum"),
            func.sum(case((counted, results.c.value * results.c.value))).label(
                "value_sum_squares"),
        )
        .select_from(results.join(patients, patients.c.patient_key == results.c.patient_key))
        .where(counted)
        .group_by(*groups)
    )
    if measure_id is not None:
        query = query.where(results.c.measure_id == measure_id)
    for condition in filter_conditions(where, period_from, period_to):
        query = query.where(condition)
    with get_engine(database_url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[*names, *COUNT_COLUMNS])
    for column in ("denominator", "numerator"):
        frame[column] = frame[column].astype("int64")
    for column in ("value_sum", "value_sum_squares"):
        frame[column] = frame[column].astype("float64")
    return frame


def filter_conditions(where: Where, period_from: str | None, period_to: str | None) -> list:
    conditions = []
    for name, wanted in (where or {}).items():
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        conditions.append(stratifier(name).expression().in_([str(v) for v in values]))
    for bound, value in (("period_from", period_from), ("period_to", period_to)):
        if value is None:
            continue
        if not _PERIOD.fullmatch(str(value)):
            raise ValueError(f"{bound} must be a month as YYYY-MM, not {value!r}")
        column = results.c.period
        conditions.append(column >= value if bound == "period_from" else column <= value)
    return conditions


def groups_present(name: str, database_url: str | None = None) -> list[str]:
    """The groups of a stratifier that have counted cases, in display order (filter menus)."""
    definition = stratifier(name)
    expression = definition.expression().label(name)
    query = (
        select(expression)
        .select_from(results.join(patients, patients.c.patient_key == results.c.patient_key))
        .where(results.c.denominator == 1)
        .group_by(expression)
    )
    with get_engine(database_url).connect() as conn:
        values = [str(value) for value in conn.execute(query).scalars()]
    return sorted(values, key=definition.sort_key)
