"""Counts by group, computed in the database: one GROUP BY per request, counts only."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy import case, func, select

from metrics import counts
from metrics.strata import stratifier
from store import access
from store.engine import get_engine
from store.schema import measures, patients, results
from store.vocabulary import rate_multiplier

COUNT_COLUMNS = ("denominator", "numerator", "value_sum", "value_sum_squares", "exposure")
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
    return {**row, "multiplier": multiplier(row["kind"], row["unit"])}


def multiplier(kind: str, unit: str | None) -> int:
    """What a measure's rates are multiplied by: the "per N" of a rate measure's unit (the
    importer refuses a rate measure without one), 1 for every other kind."""
    if kind != "rate":
        return 1
    return rate_multiplier(unit) or 1


def group_counts(
    measure_id: str | None,
    by: str | Sequence[str],
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """Counted cases per group: denominator, numerator, the sum and sum of squares of
    `value` (for mean-type measures) and the sum of `exposure` (for rate measures).
    Excluded cases (denominator 0) are never counted.
    With `measure_id=None`, every measure at once, with a `measure_id` column first.
    Filter values are bound parameters, never pasted into the SQL.

    Read from the count table (`metrics.counts`), never from the raw rows: the same numbers
    as `raw_group_counts`, from a GROUP BY over far fewer rows and no join; by one
    stratifier (and the month) without filters, from its margins, fewer still."""
    query, names = (margin_query(measure_id, by, where, period_from, period_to)
                    or count_query(measure_id, by, where, period_from, period_to))
    counts.ensure(database_url)
    return _frame(query, names, database_url)


def count_query(measure_id: str | None, by: str | Sequence[str], where: Where = None,
                period_from: str | None = None, period_to: str | None = None):
    """The SELECT of `group_counts` over the count table, and its column names (portable
    SQLAlchemy Core: compiled for SQLite, PostgreSQL and any other dialect alike)."""
    names = as_list(by)
    groups = [counts.column(name).label(name) for name in names]
    table = counts.result_counts
    if measure_id is None:
        groups.insert(0, table.c.measure_id.label("measure_id"))
        names = ["measure_id", *names]
    query = select(
        *groups,
        *[func.sum(table.c[name]).label(name) for name in COUNT_COLUMNS],
    ).group_by(*groups)
    if measure_id is not None:
        query = query.where(table.c.measure_id == measure_id)
    for condition in filter_conditions(where, period_from, period_to, counts.column):
        query = query.where(condition)
    return query, names


def margin_query(measure_id: str | None, by: str | Sequence[str], where: Where = None,
                 period_from: str | None = None, period_to: str | None = None):
    """The SELECT of `group_counts` over `result_margins` and its column names, or None when
    the request has filters or crosses two stratifiers other than the month."""
    names = as_list(by)
    others = [name for name in names if name != "period"]
    if where or len(others) > 1:  # (an empty list filters everything out: not margins)
        return None
    table = counts.result_margins
    label = {"period": table.c.period}
    if others:
        label[others[0]] = table.c.label
    groups = [label[name].label(name) for name in names]
    if measure_id is None:
        groups.insert(0, table.c.measure_id.label("measure_id"))
        names = ["measure_id", *names]
    # By the month alone: any one stratifier's margins add up to the months' totals.
    kept = stratifier(others[0]).column if others else "site"
    query = select(
        *groups,
        *[func.sum(table.c[name]).label(name) for name in COUNT_COLUMNS],
    ).where(table.c.stratifier == kept).group_by(*groups)
    if measure_id is not None:
        query = query.where(table.c.measure_id == measure_id)
    for condition in filter_conditions(None, period_from, period_to,
                                       lambda _name: table.c.period):
        query = query.where(condition)
    return query, names


def raw_group_counts(
    measure_id: str | None,
    by: str | Sequence[str],
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    database_url: str | None = None,
) -> pd.DataFrame:
    """`group_counts` computed by a GROUP BY over the raw rows (`results JOIN patients`):
    what the count table must equal (tests), and the baseline of bench/disparity.py."""
    query, names = raw_count_query(measure_id, by, where, period_from, period_to)
    return _frame(query, names, database_url)


def raw_count_query(measure_id: str | None, by: str | Sequence[str], where: Where = None,
                    period_from: str | None = None, period_to: str | None = None):
    """The SELECT of `raw_group_counts` over the raw rows, and its column names (bench/
    runs the same statement on DuckDB as a baseline)."""
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
            func.sum(case((counted, results.c.exposure))).label("exposure"),
        )
        .select_from(results.join(patients, patients.c.patient_key == results.c.patient_key))
        .where(counted)
        .group_by(*groups)
    )
    if measure_id is not None:
        query = query.where(results.c.measure_id == measure_id)
    for condition in filter_conditions(where, period_from, period_to, raw_column):
        query = query.where(condition)
    return query, names


def raw_column(name: str):
    """A stratifier's label over the raw rows (`results JOIN patients`)."""
    return stratifier(name).expression()


def _frame(query, names: list[str], database_url: str | None) -> pd.DataFrame:
    access.require("view")  # every count the engine gives passes here
    with get_engine(database_url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=[*names, *COUNT_COLUMNS])
    for column in ("denominator", "numerator"):
        frame[column] = frame[column].astype("int64")
    for column in ("value_sum", "value_sum_squares", "exposure"):
        frame[column] = frame[column].astype("float64")
    return frame


def filter_conditions(where: Where, period_from: str | None, period_to: str | None,
                      column=None) -> list:
    """The WHERE conditions of a filter mapping and a period range; `column(name)` is the
    SQL of a stratifier (default: its column in the count table)."""
    column = column or counts.column
    conditions = []
    for name, wanted in (where or {}).items():
        stratifier(name)  # an unknown name is refused with the list of known ones
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        conditions.append(column(name).in_([str(v) for v in values]))
    for bound, value in (("period_from", period_from), ("period_to", period_to)):
        if value is None:
            continue
        if not _PERIOD.fullmatch(str(value)):
            raise ValueError(f"{bound} must be a month as YYYY-MM, not {value!r}")
        period = column("period")
        conditions.append(period >= value if bound == "period_from" else period <= value)
    return conditions


def groups_present(name: str, database_url: str | None = None) -> list[str]:
    """The groups of a stratifier that have counted cases, in display order (filter menus)."""
    definition = stratifier(name)
    query = (select(counts.result_groups.c.label)
             .where(counts.result_groups.c.stratifier == name))
    counts.ensure(database_url)
    with get_engine(database_url).connect() as conn:
        values = [str(value) for value in conn.execute(query).scalars()]
    return sorted(values, key=definition.sort_key)
