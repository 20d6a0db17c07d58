"""What is loaded: row counts and the last import batch."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from store import counts
from store.engine import describe, ensure_schema
from store.schema import import_batches, measures, patients, results


def _per_measure(conn, summarised: bool):
    """Each measure's counted cases and first and last months: the import's summary
    (`counts.result_measures`, a few rows) when it is current, else a GROUP BY over the raw
    rows (a database written outside the importer; 13 s at 10M rows on SQLite)."""
    if summarised:
        return counts.result_measures
    return (
        select(
            results.c.measure_id,
            func.sum(results.c.denominator).label("cases"),
            func.min(results.c.period).label("first_period"),
            func.max(results.c.period).label("last_period"),
        )
        .group_by(results.c.measure_id)
        .subquery()
    )


def status(database_url: str | None = None) -> dict:
    """Row counts of patients, results and measures, and the last import batch (or None)."""
    engine = ensure_schema(database_url)
    with engine.connect() as conn:
        totals = {"patients": select(func.count()).select_from(patients),
                  "results": select(func.count()).select_from(results),
                  "measures": select(func.count()).select_from(measures)}
        summarised = counts.current(conn)
        if summarised:  # the import's summaries: no count over 10M rows
            for name, column in (("patients", counts.patient_counts.c.patients),
                                 ("results", counts.result_measures.c.rows)):
                totals[name] = select(func.coalesce(func.sum(column), 0))
        loaded = {name: int(conn.execute(query).scalar_one()) for name, query in totals.items()}
        last = conn.execute(
            select(import_batches).order_by(import_batches.c.batch_id.desc()).limit(1)
        ).mappings().first()
        per_measure = _per_measure(conn, summarised)
        periods = conn.execute(select(func.min(per_measure.c.first_period),
                                      func.max(per_measure.c.last_period)))
        first_period, last_period = periods.one()
    batch = None
    if last is not None:
        batch = {
            "batch_id": last["batch_id"],
            "started_at": last["started_at"].isoformat() if last["started_at"] else None,
            "finished_at": last["finished_at"].isoformat() if last["finished_at"] else None,
            "source": last["source"],
            "outcome": last["outcome"],
            "patients": last["patients"],
            "results": last["results"],
            "measures": last["measures"],
            "files": json.loads(last["files"]),
        }
    return {
        "database": describe(database_url),
        **loaded,
        "periods": {"first": first_period, "last": last_period},
        "last_import": batch,
    }


def is_empty(database_url: str | None = None) -> bool:
    """True when no patient has been loaded yet."""
    engine = ensure_schema(database_url)
    with engine.connect() as conn:
        return conn.execute(select(patients.c.patient_key).limit(1)).first() is None


def measures_loaded(database_url: str | None = None) -> list[dict]:
    """Each catalog measure with its counted cases and the months that have data."""
    engine = ensure_schema(database_url)
    with engine.connect() as conn:
        cases = _per_measure(conn, counts.current(conn))
        query = (
            select(measures, cases.c.cases, cases.c.first_period, cases.c.last_period)
            .select_from(measures.outerjoin(cases, cases.c.measure_id == measures.c.measure_id))
            .order_by(measures.c.measure_id)
        )
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row["cases"] = int(row["cases"] or 0)
    return rows
