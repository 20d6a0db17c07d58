"""What is loaded: row counts and the last import batch."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from store.engine import describe, ensure_schema
from store.schema import import_batches, measures, patients, results


def status(database_url: str | None = None) -> dict:
    """Row counts of patients, results and measures, and the last import batch (or None)."""
    engine = ensure_schema(database_url)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in (("patients", patients), ("results", results),
                                ("measures", measures))
        }
        last = conn.execute(
            select(import_batches).order_by(import_batches.c.batch_id.desc()).limit(1)
        ).mappings().first()
        periods = conn.execute(select(func.min(results.c.period), func.max(results.c.period)))
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
        **counts,
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
    cases = (
        select(
            results.c.measure_id,
            func.sum(results.c.denominator).label("cases"),
            func.min(results.c.period).label("first_period"),
            func.max(results.c.period).label("last_period"),
        )
        .group_by(results.c.measure_id)
        .subquery()
    )
    query = (
        select(measures, cases.c.cases, cases.c.first_period, cases.c.last_period)
        .select_from(measures.outerjoin(cases, cases.c.measure_id == measures.c.measure_id))
        .order_by(measures.c.measure_id)
    )
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row["cases"] = int(row["cases"] or 0)
    return rows
