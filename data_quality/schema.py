"""The history of validation runs: tables on `store.schema.metadata`, and reading them back.

Every run is stored (time, data batch, suite, and per check: success, observed value,
unexpected percent and a sample of unexpected values), so completeness can be trended and a
run compared with the previous one. `store.engine.ensure_schema` creates these tables once
this module has been imported; `ensure_tables` does both.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
)

from data_quality.suites import CHECKS
from metrics import privacy
from store.engine import get_engine
from store.schema import import_batches, metadata

validation_runs = Table(
    "validation_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    # The import batch whose data was checked (import_batches.batch_id). No foreign key: the
    # gate may check a batch whose row is written later in the same transaction.
    Column("batch_id", Integer),
    Column("engine", String(8), nullable=False),  # gx (Great Expectations) | sql (the gate)
    Column("suite", String(64), nullable=False),
    Column("suite_fingerprint", String(16), nullable=False),  # declarations + thresholds
    Column("as_of", Date, nullable=False),  # the date the date-dependent checks used
    Column("success", Boolean, nullable=False),
    Column("checks", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("critical_failed", Integer, nullable=False),
    Column("settings", Text, nullable=False),  # JSON: thresholds, critical checks
)

validation_results = Table(
    "validation_results",
    metadata,
    Column("run_id", Integer, ForeignKey("validation_runs.run_id", ondelete="CASCADE"),
           primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("check_name", String(64), nullable=False),
    Column("suite", String(64), nullable=False),  # equity.patients | equity.results
    Column("expectation", String(96), nullable=False),
    Column("column_name", String(128)),
    Column("category", String(24), nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("element_count", BigInteger),
    Column("unexpected_count", BigInteger),
    Column("unexpected_percent", Float),
    Column("observed_value", Text),  # JSON
    Column("sample", Text),  # JSON list: a few unexpected values (or rows)
    Column("kwargs", Text, nullable=False),  # JSON: the expectation's resolved arguments
    Column("exception", Text),
)
Index("ix_validation_results_check", validation_results.c.check_name,
      validation_results.c.run_id)

HISTORY_TABLES = (validation_runs, validation_results)


def ensure_tables(database_url: str | None = None) -> None:
    """Create every missing table of the schema, these history tables included."""
    metadata.create_all(get_engine(database_url), checkfirst=True)


def _tables_exist(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names())
    return all(table.name in names for table in HISTORY_TABLES)


# --- writing ------------------------------------------------------------------------------
def _json(value) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def latest_batch_id(conn: Connection) -> int | None:
    """The last import batch that succeeded: the data now in the tables."""
    return conn.execute(
        select(func.max(import_batches.c.batch_id)).where(
            import_batches.c.outcome == "succeeded")
    ).scalar()


def record_run(report, conn: Connection) -> int:
    """Store a ValidationReport on this connection (its transaction decides); returns run_id."""
    metadata.create_all(conn, tables=list(HISTORY_TABLES), checkfirst=True)
    run_id = conn.execute(
        insert(validation_runs).returning(validation_runs.c.run_id),
        {
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "batch_id": report.batch_id,
            "engine": report.engine,
            "suite": report.suite,
            "suite_fingerprint": report.suite_fingerprint,
            "as_of": report.as_of,
            "success": report.success,
            "checks": len(report.results),
            "failed": len(report.failed),
            "critical_failed": len(report.blocking),
            "settings": json.dumps(report.settings, default=str, sort_keys=True),
        },
    ).scalar_one()
    if report.results:
        conn.execute(insert(validation_results), [
            {
                "run_id": run_id,
                "position": position,
                "check_name": result.check,
                "suite": result.suite,
                "expectation": result.expectation,
                "column_name": result.column,
                "category": result.category,
                "critical": result.critical,
                "success": result.success,
                "element_count": result.element_count,
                "unexpected_count": result.unexpected_count,
                "unexpected_percent": result.unexpected_percent,
                "observed_value": _json(result.observed_value),
                "sample": _json(result.sample),
                "kwargs": json.dumps(result.kwargs, default=str, sort_keys=True),
                "exception": result.exception,
            }
            for position, result in enumerate(report.results)
        ])
    return run_id


# --- reading ------------------------------------------------------------------------------
HISTORY_COLUMNS = (
    "run_id", "started_at", "batch_id", "engine", "run_success", "check", "suite",
    "expectation", "column", "category", "critical", "success", "element_count",
    "unexpected_count", "unexpected_percent", "observed_value",
)


def _loads(text):
    return json.loads(text) if isinstance(text, str) else None


def validation_history(database_url: str | None = None, limit: int = 20,
                       check: str | None = None) -> pd.DataFrame:
    """One row per check of each of the last `limit` runs, oldest run first (for trends).

    `check` keeps one check (e.g. "race_complete"). Empty frame when nothing was stored.
    """
    engine = get_engine(database_url)
    with engine.connect() as conn:
        if not _tables_exist(conn):
            return pd.DataFrame(columns=list(HISTORY_COLUMNS))
        runs = (select(validation_runs.c.run_id).order_by(validation_runs.c.run_id.desc())
                .limit(limit).subquery())
        r, v = validation_runs, validation_results
        query = (
            select(r.c.run_id, r.c.started_at, r.c.batch_id, r.c.engine,
                   r.c.success.label("run_success"), v.c.check_name.label("check"), v.c.suite,
                   v.c.expectation, v.c.column_name.label("column"), v.c.category,
                   v.c.critical, v.c.success, v.c.element_count, v.c.unexpected_count,
                   v.c.unexpected_percent, v.c.observed_value)
            .select_from(r.join(v, v.c.run_id == r.c.run_id))
            .where(r.c.run_id.in_(select(runs.c.run_id)))
            .order_by(r.c.run_id, v.c.position)
        )
        if check is not None:
            query = query.where(v.c.check_name == check)
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(HISTORY_COLUMNS))
    frame["observed_value"] = frame["observed_value"].map(_loads)
    return _shown_history(frame)


def _shown_history(frame: pd.DataFrame) -> pd.DataFrame:
    """The history as a screen may show it (`shown_counts` on every row)."""
    names = ["element_count", "unexpected_count", "unexpected_percent", "observed_value"]
    shown = [shown_counts(row.expectation, *(getattr(row, n) for n in names))
             for row in frame.itertuples(index=False)]
    shown = pd.DataFrame(shown, columns=[*names, "suppressed"], index=frame.index)
    for name in ("element_count", "unexpected_count"):
        frame[name] = shown[name].astype("Int64")
    frame["unexpected_percent"] = shown["unexpected_percent"].astype(float)
    frame["observed_value"], frame["suppressed"] = shown["observed_value"], shown["suppressed"]
    return frame


def shown_counts(expectation: str, element_count, unexpected_count, unexpected_percent,
                 observed_value) -> dict:
    """A check's counts as a screen or a file may show them (the small-cell rule,
    `metrics.privacy`): when the rows failing, the rows passing or the rows considered
    number 1 to 10, the failing count and its percent are hidden (the rows considered too
    when they are that few); a SQL check's count of rows found, or a table's rows, from 1 to
    10 too. The stored history keeps the exact counts. Returns the four counts and
    `suppressed`."""
    def known(value):
        return value is not None and not pd.isna(value)

    hidden = False
    if known(unexpected_count) and known(element_count):
        hidden = privacy.share_gives_back(unexpected_count, element_count)
    elif known(unexpected_count):
        hidden = privacy.small_cell(unexpected_count)
    if hidden:
        unexpected_count = unexpected_percent = None
    if known(element_count) and privacy.small_cell(element_count):
        element_count, hidden = None, True
    counted = ("unexpected_rows_expectation", "expect_table_row_count_to_be_between")
    if (expectation in counted and isinstance(observed_value, int | float)
            and privacy.small_cell(observed_value)):
        observed_value, hidden = None, True
    return {"element_count": element_count, "unexpected_count": unexpected_count,
            "unexpected_percent": unexpected_percent, "observed_value": observed_value,
            "suppressed": hidden}


def latest_run(database_url: str | None = None, before: int | None = None):
    """The last stored ValidationReport (or the last one before run `before`); None if none."""
    from data_quality.runner import CheckResult, ValidationReport

    engine = get_engine(database_url)
    with engine.connect() as conn:
        if not _tables_exist(conn):
            return None
        query = select(validation_runs).order_by(validation_runs.c.run_id.desc()).limit(1)
        if before is not None:
            query = query.where(validation_runs.c.run_id < before)
        run = conn.execute(query).mappings().first()
        if run is None:
            return None
        rows = conn.execute(
            select(validation_results).where(validation_results.c.run_id == run["run_id"])
            .order_by(validation_results.c.position)
        ).mappings().all()
    settings = json.loads(run["settings"])
    described = {check["name"]: check.get("description", "") for check in CHECKS}
    results = [
        CheckResult(
            check=row["check_name"], suite=row["suite"], expectation=row["expectation"],
            column=row["column_name"], category=row["category"], critical=row["critical"],
            success=row["success"], element_count=row["element_count"],
            unexpected_count=row["unexpected_count"],
            unexpected_percent=row["unexpected_percent"],
            observed_value=_loads(row["observed_value"]), sample=_loads(row["sample"]) or [],
            kwargs=json.loads(row["kwargs"]), exception=row["exception"],
            description=described.get(row["check_name"], ""),
        )
        for row in rows
    ]
    return ValidationReport(
        results=results, engine=run["engine"], suite=run["suite"],
        suite_fingerprint=run["suite_fingerprint"], as_of=run["as_of"],
        started_at=_aware(run["started_at"]), finished_at=_aware(run["finished_at"]),
        batch_id=run["batch_id"], run_id=run["run_id"], settings=settings,
    )


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; they were written in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


COMPARISON_COLUMNS = (
    "check", "expectation", "column", "critical", "success", "previous_success",
    "unexpected_percent", "previous_unexpected_percent", "change", "status",
)


def compare_with_previous(database_url: str | None = None,
                          run_id: int | None = None) -> pd.DataFrame:
    """Each check of a run (default: the latest) beside the run before it.

    `change` is the difference in unexpected percent (percentage points, positive = worse);
    `status` is one of: passing, failing, new failure, fixed, new check.
    """
    current = latest_run(database_url, before=None if run_id is None else run_id + 1)
    if current is None:
        return pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    previous = latest_run(database_url, before=current.run_id)
    # As a screen shows them: percents that rest on 1 to 10 rows are hidden.
    before = {r.check: r.shown() for r in previous.results} if previous else {}
    rows = []
    for result in (r.shown() for r in current.results):
        old = before.get(result.check)
        if old is None:
            status = "new check"
        elif result.success:
            status = "passing" if old.success else "fixed"
        else:
            status = "new failure" if old.success else "failing"
        change = None
        if (old is not None and result.unexpected_percent is not None
                and old.unexpected_percent is not None):
            change = result.unexpected_percent - old.unexpected_percent
        rows.append({
            "check": result.check, "expectation": result.expectation, "column": result.column,
            "critical": result.critical, "success": result.success,
            "previous_success": None if old is None else old.success,
            "unexpected_percent": result.unexpected_percent,
            "previous_unexpected_percent": None if old is None else old.unexpected_percent,
            "change": change, "status": status,
        })
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
