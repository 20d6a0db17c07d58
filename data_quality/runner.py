"""Running the declared checks in the database: with Great Expectations, or as plain SQL.

Two engines, one meaning (data_quality.suites):

- `gx` (default): Great Expectations 1.x through its SQL data source (SQLite, PostgreSQL, or
  any SQLAlchemy URL). Every check is a SQL query that GE runs in the database; no table is
  loaded into pandas. GE is imported here, inside the function that runs it (it costs seconds
  to import), with analytics off, progress bars off, an ephemeral context and no Data Docs.
- `sql`: the same checks compiled to SQLAlchemy Core and run on a Connection you pass. This is
  the import gate: GE 1.x cannot validate through an existing connection or transaction (its
  data sources build their own engine from a URL; handing it the importer's DBAPI connection
  makes SQLAlchemy's first-connect rollback silently discard the uncommitted import), so
  inside the importer's transaction the checks run as plain SQL on the importer's Connection,
  where the uncommitted rows are visible.
"""
from __future__ import annotations

import contextlib
import os
import re
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import Connection, and_, case, func, literal, not_, or_, select, text
from sqlalchemy.engine import make_url

from data_quality import suites
from data_quality.schema import latest_batch_id, record_run, shown_counts
from metrics import privacy
from store import access, audit
from store.engine import database_url as resolve_url
from store.engine import get_engine
from store.schema import measures, patients, results

TABLES = {"patients": patients, "results": results, "measures": measures}
DEFAULT_CRITICAL = suites.DEFAULT_CRITICAL
SAMPLE_SIZE = 20


@dataclass
class CheckResult:
    """The outcome of one check, the same from either engine."""

    check: str
    suite: str  # equity.patients | equity.results
    expectation: str  # the GE expectation type
    column: str | None
    category: str
    critical: bool
    success: bool
    element_count: int | None = None  # rows considered (the table, or the `where` rows)
    unexpected_count: int | None = None
    unexpected_percent: float | None = None  # of the rows with a value (GE's definition)
    observed_value: object = None  # row count, or unexpected rows found by a SQL check
    sample: list = field(default_factory=list)  # a few unexpected values, or rows
    kwargs: dict = field(default_factory=dict)
    description: str = ""
    exception: str | None = None  # the check could not run (counts as a failure)
    suppressed: bool = False  # counts hidden by `shown` (small-cell rule)

    def shown(self) -> CheckResult:
        """This result as a screen or a file may show it: counts that rest on 1 to 10 rows
        hidden (`data_quality.schema.shown_counts`); a SQL check's sample rows (one row per
        case) never leave. Value examples stay: they are what a data steward fixes."""
        counts = shown_counts(self.expectation, self.element_count, self.unexpected_count,
                              self.unexpected_percent, self.observed_value)
        return replace(self, sample=[v for v in self.sample if not isinstance(v, dict)],
                       **counts)

    def to_dict(self) -> dict:
        """As `shown`: what `manage.py validate --format json` prints."""
        shown = self.shown()
        return {
            "expectation": shown.expectation, "column": shown.column, "success": shown.success,
            "unexpected_percent": shown.unexpected_percent, "check": shown.check,
            "suite": shown.suite, "category": shown.category, "critical": shown.critical,
            "element_count": shown.element_count, "unexpected_count": shown.unexpected_count,
            "observed_value": shown.observed_value, "sample": shown.sample,
            "kwargs": shown.kwargs, "description": shown.description,
            "exception": shown.exception, "suppressed": shown.suppressed,
        }

    def examples(self) -> list:
        """A few of the unexpected values (empty ones say nothing: "missing" is what the
        check is about)."""
        return [value for value in self.sample if value not in (None, "")][:3]

    def message(self, examples: bool = True) -> str:
        """One line for a person: what was checked, whether it was met, and how much; with
        `examples`, a few unexpected values (never for a log: they may be identifiers)."""
        if self.exception:
            return f"check {self.check} could not run: {self.exception}"
        shown = self.shown()
        how_much = self._how_much(shown)
        values = shown.examples() if examples else []
        example = f"; e.g. {values}" if values and not self.success else ""
        verdict = "met" if self.success else "not met"
        return (f"{self.suite.split('.')[-1]}: {self.description or self.check} — "
                f"{self.check} {verdict}: {how_much}{example}")

    def _how_much(self, shown: CheckResult) -> str:
        few = privacy.SHOWN_AS
        if shown.unexpected_count is not None and shown.element_count:
            how_much = f"{shown.unexpected_count:,} of {shown.element_count:,} rows"
            if shown.unexpected_percent is not None:
                how_much += f" ({shown.unexpected_percent:.2f} %)"
            return how_much
        if shown.suppressed and shown.element_count is None and self.element_count:
            return f"{few} rows considered (counts not shown: small-cell rule)"
        if shown.suppressed and self.element_count:
            if privacy.small_cell(self.unexpected_count):
                return f"{few} of {shown.element_count:,} rows (small-cell rule)"
            return (f"all but {few} of {shown.element_count:,} rows (small-cell rule)")
        if shown.suppressed:
            return f"{few} rows (small-cell rule)"
        return f"observed {shown.observed_value}"


@dataclass
class ValidationReport:
    results: list[CheckResult]
    engine: str  # gx | sql
    suite: str
    suite_fingerprint: str
    as_of: date
    started_at: datetime
    finished_at: datetime
    batch_id: int | None = None
    run_id: int | None = None  # set once stored in the history
    settings: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if not result.success]

    @property
    def blocking(self) -> list[CheckResult]:
        """Failed critical checks: these refuse an import."""
        return [result for result in self.results if result.critical and not result.success]

    @property
    def blocks_import(self) -> bool:
        return bool(self.blocking)

    @property
    def exit_code(self) -> int:
        """For `manage.py validate`: 0 when every check passed, 1 when any failed."""
        return 0 if self.success else 1

    def result(self, check: str) -> CheckResult:
        for result in self.results:
            if result.check == check:
                return result
        raise KeyError(check)

    def to_dict(self) -> dict:
        """What `manage.py validate` prints (json.dumps(..., default=str))."""
        return {
            "success": self.success,
            "results": [result.to_dict() for result in self.results],
            "run_id": self.run_id, "batch_id": self.batch_id, "engine": self.engine,
            "suite": self.suite, "as_of": self.as_of.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "blocking": [result.check for result in self.blocking],
        }


# --- the entry points -----------------------------------------------------------------------
def run_checks(
    database_url: str | None = None,
    connection: Connection | None = None,
    batch_id: int | None = None,
    critical=DEFAULT_CRITICAL,
    checks=None,
    thresholds: dict | None = None,
    today: date | None = None,
    sample_size: int = SAMPLE_SIZE,
    store: bool = True,
    engine: str | None = None,
) -> ValidationReport:
    """Run the declared checks in the database and (by default) store the run in the history.

    database_url  the database (default EQUITY_DATABASE_URL or data/equity.db)
    connection    an open SQLAlchemy Connection, e.g. inside the importer's transaction: the
                  checks run as plain SQL on it (engine "sql") and see its uncommitted rows;
                  with store=True the history rows are written on it too, so they commit or
                  roll back with that transaction
    batch_id      the import batch checked (default: the last succeeded import)
    critical      names of the checks whose failure blocks an import
    checks        names of the checks to run (default: all)
    thresholds    overrides of suites.THRESHOLDS, e.g. {"complete.race": 0.9}
    today         the date for plausibility and freshness (default: today)
    engine        "gx" (Great Expectations, the default without a connection) or "sql"
    """
    if engine is None:
        engine = "sql" if connection is not None else "gx"
    if engine not in ("gx", "sql"):
        raise ValueError(f"engine must be 'gx' or 'sql', not {engine!r}")
    if connection is not None and engine == "gx":
        raise ValueError(
            "Great Expectations cannot validate through an open connection: it builds its own "
            "engine and would not see (or would end) the transaction. Use engine='sql' with a "
            "connection, or run the GE checks after commit with database_url.")
    access.require("data_quality")
    today = today or date.today()
    declared = suites.build_checks(thresholds, today, names=checks, critical=critical)
    started_at = datetime.now(UTC)
    if engine == "sql":
        with _connection(database_url, connection) as conn:
            outcomes = _run_sql(conn, declared, sample_size)
    else:
        url = resolve_url(database_url)
        outcomes = _run_gx(url, declared, sample_size)
        with get_engine(url).connect() as conn:  # the percent of SQL checks: row counts
            _percent_of_rows(conn, declared, outcomes)
    report = ValidationReport(
        results=[_result(check, outcomes[check["name"]]) for check in declared],
        engine=engine, suite=suites.SUITE, suite_fingerprint=suites.fingerprint(thresholds),
        as_of=today, started_at=started_at, finished_at=datetime.now(UTC), batch_id=batch_id,
        settings={"thresholds": suites.settings(thresholds, today),
                  "critical": sorted(c["name"] for c in declared if c["critical"])},
    )
    if store or report.batch_id is None:
        with _connection(database_url, connection, write=store) as conn:
            if report.batch_id is None:
                report.batch_id = latest_batch_id(conn)
            if store:
                report.run_id = record_run(report, conn)
                audit.record("validation", {
                    "run_id": report.run_id, "batch_id": report.batch_id, "engine": engine,
                    "checks": len(report.results), "not_met": len(report.failed)}, conn=conn)
    return report


def gate(connection: Connection, critical=DEFAULT_CRITICAL, thresholds: dict | None = None,
         today: date | None = None, store: bool = False) -> ValidationReport:
    """The import gate: the critical checks as plain SQL on the importer's open connection.

    Sees the transaction's uncommitted rows; writes nothing unless store=True.
    `report.blocks_import` says whether to refuse; `report.blocking` lists why.
    """
    return run_checks(connection=connection, critical=critical, checks=critical,
                      thresholds=thresholds, today=today, store=store, engine="sql")


@contextlib.contextmanager
def _connection(database_url, connection, write=False):
    if connection is not None:
        yield connection
        return
    engine = get_engine(database_url)
    with (engine.begin() if write else engine.connect()) as conn:
        yield conn


def _result(check: dict, outcome: dict) -> CheckResult:
    kwargs = check["kwargs"]
    column = kwargs.get("column")
    if column is None and "column_A" in kwargs:
        column = f"{kwargs['column_A']}, {kwargs['column_B']}"
    return CheckResult(
        check=check["name"], suite=f"{suites.SUITE}.{check['table']}",
        expectation=check["expectation"], column=column, category=check["category"],
        critical=check["critical"], success=bool(outcome.get("success")),
        element_count=_int(outcome.get("element_count")),
        unexpected_count=_int(outcome.get("unexpected_count")),
        unexpected_percent=_float(outcome.get("unexpected_percent")),
        observed_value=outcome.get("observed_value"),
        sample=list(outcome.get("sample") or []),
        kwargs={**kwargs, **({"where": check["where"]} if check["where"] else {})},
        description=check.get("description", ""), exception=outcome.get("exception"),
    )


def _int(value):
    return None if value is None else int(value)


def _float(value):
    return None if value is None else float(value)


def _percent_of_rows(conn: Connection, declared: list[dict], outcomes: dict) -> None:
    """GE reports a count for a SQL check; over the table's rows it is a percent too."""
    counts: dict[str, int] = {}
    for check in declared:
        outcome = outcomes[check["name"]]
        if not check["per_row"] or outcome.get("unexpected_count") is None:
            continue
        table = check["table"]
        if table not in counts:
            counts[table] = conn.execute(select(func.count()).select_from(TABLES[table])
                                         ).scalar_one()
        outcome["element_count"] = counts[table]
        if counts[table]:
            outcome["unexpected_percent"] = 100 * outcome["unexpected_count"] / counts[table]


# --- Great Expectations ------------------------------------------------------------------------
def _import_gx():
    """Import GE offline (analytics off). GE imports the deprecated modules sre_constants and
    sre_parse, whose DeprecationWarning is an error under -W error: filtered narrowly, here."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"module 'sre_(constants|parse)' is deprecated",
                                category=DeprecationWarning)
        import great_expectations as gx
    return gx


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _expectation(gx, check: dict):
    from great_expectations.expectations.row_conditions import Column

    kwargs = dict(check["kwargs"])
    if check["where"]:
        conditions = [Column(name).is_null() if value is None else Column(name) == value
                      for name, value in check["where"].items()]
        condition = conditions[0]
        for more in conditions[1:]:
            condition = condition & more
        kwargs["row_condition"] = condition
    cls = getattr(gx.expectations, _camel(check["expectation"]))
    return cls(**kwargs, meta={"check": check["name"]}, catch_exceptions=True,
               severity="critical" if check["critical"] else "warning",
               description=check.get("description") or None)


def _add_source(context, url: str):
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is private to its connection: "
                             "Great Expectations cannot reach it; use engine='sql'")
        return context.data_sources.add_or_update_sqlite(name="equity", connection_string=url)
    if backend == "postgresql":
        return context.data_sources.add_or_update_postgres(name="equity",
                                                           connection_string=url)
    return context.data_sources.add_or_update_sql(name="equity", connection_string=url)


def _run_gx(url: str, declared: list[dict], sample_size: int) -> dict[str, dict]:
    gx = _import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # Ephemeral: everything in memory, no Data Docs site (they fetch CSS and a logo from the
    # internet), no analytics, no progress bars.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = _add_source(context, url)
    outcomes: dict[str, dict] = {}
    try:
        for table in dict.fromkeys(check["table"] for check in declared):
            on_table = [check for check in declared if check["table"] == table]
            asset = source.add_table_asset(name=table, table_name=table)
            batch = asset.add_batch_definition_whole_table(f"{table}-whole").get_batch()
            # Column checks in one suite (GE bundles their metrics into few queries); a
            # sample of unexpected values comes with the SUMMARY format.
            column_checks = [c for c in on_table if not c["distinct"]
                             and c["expectation"] != "unexpected_rows_expectation"]
            if column_checks:
                suite = context.suites.add_or_update(gx.ExpectationSuite(
                    name=f"{suites.SUITE}.{table}",
                    expectations=[_expectation(gx, check) for check in column_checks]))
                validated = batch.validate(suite, result_format={
                    "result_format": "SUMMARY", "partial_unexpected_count": sample_size})
                for item in validated.results:
                    outcomes[item.expectation_config.meta["check"]] = _gx_outcome(item)
            # SQL checks one by one: the COMPLETE format returns their rows (GE fetches at
            # most 200), the sample of what is wrong.
            for check in on_table:
                if check["expectation"] == "unexpected_rows_expectation":
                    item = batch.validate(_expectation(gx, check), result_format="COMPLETE")
                    outcomes[check["name"]] = _gx_outcome(item, sample_size)
                elif check["distinct"]:
                    outcomes[check["name"]] = _gx_by_distinct_value(gx, source, check, url,
                                                                    sample_size)
    finally:
        _close(source)
    for check in declared:
        outcomes.setdefault(check["name"], {"success": False,
                                            "exception": "no result from Great Expectations"})
    return outcomes


def _gx_by_distinct_value(gx, source, check: dict, url: str, sample_size: int) -> dict:
    """A `distinct` check (data_quality.suites): Great Expectations validates the column's
    distinct values; the rows are counted here, as `_regex_by_distinct_value` counts them
    for the SQL engine (so both engines give the same counts)."""
    table, name = TABLES[check["table"]], check["kwargs"]["column"]
    column = table.c[name]
    # OFFSET 0 fences the subquery: without it SQLite pushes GE's outer WHERE (the regex)
    # down into the DISTINCT, and matches every row again (15 s at 13.8M rows).
    # (SQLite takes OFFSET only after a LIMIT; -1 is none. Names from the declarations.)
    fence = "LIMIT -1 OFFSET 0" if make_url(url).get_backend_name() == "sqlite" else "OFFSET 0"
    query = f"SELECT DISTINCT {name} FROM {table.name} {fence}"
    asset = source.add_query_asset(name=f"{check['name']}-distinct", query=query)
    batch = asset.add_batch_definition_whole_table(f"{check['name']}-values").get_batch()
    item = batch.validate(_expectation(gx, check), result_format="COMPLETE")
    outcome = _gx_outcome(item)
    if outcome.get("exception"):
        return outcome
    wrong = [value for value in (item.result or {}).get("unexpected_list") or []
             if value is not None]
    with get_engine(url).connect() as conn:
        rows, considered = conn.execute(select(func.count(), func.count(column))
                                        .select_from(table)).one()
        unexpected = conn.execute(select(column, func.count()).where(column.in_(wrong))
                                  .group_by(column)).all() if wrong else []
    found = sum(count for _, count in unexpected)
    sample: list = []
    for value, count in unexpected:
        sample.extend([_plain(value)] * min(count, sample_size - len(sample)))
    outcome.update({
        "success": _mostly(considered, found, check["kwargs"].get("mostly", 1.0)),
        "element_count": rows, "unexpected_count": found,
        "unexpected_percent": 100 * found / considered if considered else None,
        "sample": sample,
    })
    return outcome


def _gx_outcome(item, sample_size: int = SAMPLE_SIZE) -> dict:
    result = item.result or {}
    outcome = {
        "success": bool(item.success),
        "element_count": result.get("element_count"),
        "unexpected_count": result.get("unexpected_count"),
        "unexpected_percent": result.get("unexpected_percent"),
        "observed_value": result.get("observed_value"),
        "sample": [_plain(v) for v in result.get("partial_unexpected_list") or []],
    }
    if item.expectation_config.type == "unexpected_rows_expectation":
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        outcome["unexpected_count"] = result.get("observed_value")
        outcome["sample"] = [{k: _plain(v) for k, v in dict(row).items()}
                             for row in rows[:sample_size]]
    problem = _exception_message(item.exception_info)
    if problem:
        outcome["success"] = False
        outcome["exception"] = problem
    return outcome


def _exception_message(info) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    if isinstance(info, dict):
        for value in info.values():
            if isinstance(value, dict) and value.get("exception_message"):
                return str(value["exception_message"]).strip().splitlines()[0]
    return None


def _plain(value):
    """JSON-friendly values (numpy scalars, tuples of a column pair)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(Exception):
            return value.item()
    return value


def _close(source) -> None:
    """Close GE's engine and the connection it keeps open for SQLite."""
    with contextlib.suppress(Exception):
        execution_engine = source.get_execution_engine()
        kept = getattr(execution_engine, "_connection", None)
        if kept is not None:
            kept.close()
        execution_engine.close()
    with contextlib.suppress(Exception):
        source.get_engine().dispose()


# --- plain SQL (the gate) -------------------------------------------------------------------
def _run_sql(conn: Connection, declared: list[dict], sample_size: int) -> dict[str, dict]:
    outcomes = {}
    for check in declared:
        try:
            if conn.dialect.name == "postgresql":
                # A failing check must not abort the caller's transaction: a savepoint.
                with conn.begin_nested():
                    outcomes[check["name"]] = _sql_outcome(conn, check, sample_size)
            else:
                outcomes[check["name"]] = _sql_outcome(conn, check, sample_size)
        except Exception as error:  # reported as a failed check, like GE's catch_exceptions
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            outcomes[check["name"]] = {"success": False, "exception": reason}
    return outcomes


def _mostly(considered: int, unexpected: int, mostly: float) -> bool:
    # GE's rule: vacuously true without rows; else the share meeting it >= mostly.
    if not considered:
        return True
    return (considered - unexpected) / considered >= mostly


def _sql_outcome(conn: Connection, check: dict, sample_size: int) -> dict:
    kind = check["expectation"]
    kwargs = check["kwargs"]
    table = TABLES[check["table"]]

    if kind == "expect_table_row_count_to_be_between":
        rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        success = (low is None or rows >= low) and (high is None or rows <= high)
        return {"success": success, "observed_value": rows}

    if kind == "unexpected_rows_expectation":
        query = kwargs["unexpected_rows_query"].format(batch=table.name)
        found = conn.execute(text(f"SELECT COUNT(*) FROM ({query}) AS unexpected")).scalar_one()
        sample = conn.execute(
            text(f"SELECT * FROM ({query}) AS unexpected LIMIT {int(sample_size)}")
        ).mappings().all() if found else []
        outcome = {"success": found == 0, "observed_value": found, "unexpected_count": found,
                   "sample": [dict(row) for row in sample]}
        if check["per_row"]:
            rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
            outcome["element_count"] = rows
            outcome["unexpected_percent"] = 100 * found / rows if rows else None
        return outcome

    where = [table.c[name].is_(None) if value is None else table.c[name] == value
             for name, value in (check["where"] or {}).items()]
    if kind == "expect_column_values_to_match_regex" and conn.dialect.name == "sqlite":
        return _regex_by_distinct_value(conn, table.c[kwargs["column"]], kwargs["regex"],
                                        where, kwargs.get("mostly", 1.0), sample_size)
    if kind == "expect_column_values_to_be_unique":
        return _unique_by_groups(conn, table, table.c[kwargs["column"]], where,
                                 kwargs.get("mostly", 1.0), sample_size)
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = table.c[kwargs["column_A"]], table.c[kwargs["column_B"]]
        considered = not_(and_(a.is_(None), b.is_(None)))
        unexpected = not_(a >= b) if kwargs.get("or_equal") else not_(a > b)
        shown = (a, b)
    else:
        column = table.c[kwargs["column"]]
        shown = (column,)
        considered = column.is_not(None)
        if kind == "expect_column_values_to_not_be_null":
            considered, unexpected = literal(True), column.is_(None)
        elif kind == "expect_column_values_to_be_in_set":
            unexpected = column.not_in(kwargs["value_set"])
        elif kind == "expect_column_values_to_not_be_in_set":
            unexpected = column.in_(kwargs["value_set"])
        elif kind == "expect_column_values_to_be_between":
            bounds = []
            if kwargs.get("min_value") is not None:
                bounds.append(column < kwargs["min_value"])
            if kwargs.get("max_value") is not None:
                bounds.append(column > kwargs["max_value"])
            unexpected = or_(*bounds)
        elif kind == "expect_column_values_to_match_regex":
            unexpected = not_(column.regexp_match(kwargs["regex"]))
        else:
            raise ValueError(f"no SQL form for {kind}: add one to data_quality.runner")

    counted = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((considered, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(considered, unexpected), 1), else_=0)), 0),
        ).select_from(table).where(*where)
    ).one()
    element_count, considered_count, unexpected_count = (int(v) for v in counted)
    sample_rows = conn.execute(
        select(*shown).where(*where, considered, unexpected).limit(sample_size)
    ).all() if unexpected_count else []
    sample = [list(row) if len(shown) > 1 else row[0] for row in sample_rows]
    if kind == "expect_column_values_to_not_be_null":
        considered_count = element_count
    percent = 100 * unexpected_count / considered_count if considered_count else None
    if kind == "expect_column_values_to_not_be_null" and not element_count:
        percent = None
    return {
        "success": _mostly(considered_count, unexpected_count, kwargs.get("mostly", 1.0)),
        "element_count": element_count,
        "unexpected_count": unexpected_count,
        "unexpected_percent": percent,
        "sample": sample,
    }


def _unique_by_groups(conn: Connection, table, column, where, mostly: float,
                      sample_size: int) -> dict:
    """Rows whose value occurs more than once, counted from one GROUP BY. The form
    `value IN (duplicated values)` inside the count made PostgreSQL re-run the subquery per
    row once its hash no longer fit in work_mem (minutes at 2M patients)."""
    element_count, considered_count = (int(v) for v in conn.execute(
        select(func.count(), func.count(column)).select_from(table).where(*where)).one())
    groups = (select(column.label("value"), func.count().label("rows"))
              .where(*where, column.is_not(None)).group_by(column).subquery())
    duplicated = groups.c.rows > 1
    unexpected_count = int(conn.execute(
        select(func.coalesce(func.sum(groups.c.rows), 0)).where(duplicated)).scalar_one())
    sample = list(conn.execute(select(groups.c.value).where(duplicated)
                               .limit(sample_size)).scalars()) if unexpected_count else []
    return {
        "success": _mostly(considered_count, unexpected_count, mostly),
        "element_count": element_count,
        "unexpected_count": unexpected_count,
        "unexpected_percent": 100 * unexpected_count / considered_count
        if considered_count else None,
        "sample": sample,
    }


def _regex_by_distinct_value(conn: Connection, column, regex: str, where, mostly: float,
                             sample_size: int) -> dict:
    """SQLite has no regular expressions of its own: SQLAlchemy calls Python's `re` once per
    row (2.5 s for 1M results). Matching each distinct value once, with its row count, gives
    the same counts (periods have a few dozen distinct values)."""
    pattern = re.compile(regex)
    element_count = conn.execute(select(func.count()).select_from(column.table).where(*where)
                                 ).scalar_one()
    considered = unexpected = 0
    sample = []
    values = conn.execute(select(column, func.count()).where(*where, column.is_not(None))
                          .group_by(column))
    for value, rows in values:
        considered += rows
        if pattern.search(str(value)) is None:
            unexpected += rows
            sample.extend([value] * min(rows, sample_size - len(sample)))
    return {
        "success": _mostly(considered, unexpected, mostly),
        "element_count": element_count,
        "unexpected_count": unexpected,
        "unexpected_percent": 100 * unexpected / considered if considered else None,
        "sample": sample,
    }
