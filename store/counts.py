"""The count table: additive counts of counted cases by measure, month, site and every
stratifier's label, so that the interactive path never scans (or joins) the raw rows.

`result_counts` holds one row per combination present of measure_id, period, site and the
labels of the demographic stratifiers (race, ethnicity, language, interpreter, sex, age group,
payer, ADI decile), with the sums of denominator, numerator, value and value². Every label is
compiled from the stratifier's own SQL expression (`store.labels`, which `metrics.strata`
uses too), so the table and a GROUP BY over the raw rows cannot disagree; a count over any
stratifiers, filters and period range is a GROUP BY over this table. Only counted cases
(denominator 1) are in it.

It is rebuilt in SQL (INSERT ... SELECT ... GROUP BY) inside every import's transaction
(`store.importer`), and on first use when it is missing or older than the last import (a
database made before it existed, or rows written outside the importer: call `refresh`).
`result_groups` lists each stratifier's labels present, for filter menus. `metrics.counts`
reads it; the column of a stratifier is `metrics.strata.Stratifier.column`.
"""
from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from store import labels
from store.engine import get_engine
from store.schema import import_batches, metadata, patients, results

# Stratifiers that come from the results row itself are key columns of their own.
_KEYS = ("measure_id", "period", "site")
LABELLED = tuple(name for name in labels.EXPRESSIONS if name not in _KEYS)
SUMS = ("denominator", "numerator", "value_sum", "value_sum_squares")


def _label_column(name: str) -> Column:
    return Column(name, String(64), nullable=False)


result_counts = Table(
    "result_counts",
    metadata,
    Column("measure_id", String(64), nullable=False),
    Column("period", String(7), nullable=False),
    Column("site", Text, nullable=False),
    *[_label_column(name) for name in LABELLED],
    Column("denominator", Integer, nullable=False),
    Column("numerator", Integer, nullable=False),
    Column("value_sum", Float),
    Column("value_sum_squares", Float),
    # One row per cell; the key starts with what every request filters on (a measure and a
    # period range). On SQLite the table is stored in key order (WITHOUT ROWID), so such a
    # request reads one contiguous stretch of it.
    PrimaryKeyConstraint("measure_id", "period", "site", *LABELLED,
                         name="pk_result_counts"),
    sqlite_with_rowid=False,
)

result_groups = Table(
    "result_groups",
    metadata,
    Column("stratifier", String(32), nullable=False),
    Column("label", Text, nullable=False),
    PrimaryKeyConstraint("stratifier", "label", name="pk_result_groups"),
)

# Which import the count table was built from; no row means never built.
result_counts_state = Table(
    "result_counts_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("batch_id", Integer),  # the last succeeded import when built (None: no import)
    Column("rows", Integer, nullable=False),
    Column("built_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)

_TABLES = [result_counts, result_groups, result_counts_state]


def column(name: str):
    """The count table's column of a stratifier's label."""
    return result_counts.c[name]


def _last_import():
    return (select(func.max(import_batches.c.batch_id))
            .where(import_batches.c.outcome == "succeeded").scalar_subquery())


def counts_select():
    """The SELECT that fills the count table: counted cases of the raw rows grouped by
    measure, month, site and every stratifier's label (portable SQLAlchemy Core)."""
    keys = [results.c.measure_id.label("measure_id")] + [
        labels.expression(name).label(name) for name in (*_KEYS[1:], *LABELLED)
    ]
    return (
        select(
            *keys,
            func.count().label("denominator"),
            func.sum(results.c.numerator).label("numerator"),
            func.sum(results.c.value).label("value_sum"),
            func.sum(results.c.value * results.c.value).label("value_sum_squares"),
        )
        .select_from(results.join(patients, patients.c.patient_key == results.c.patient_key))
        .where(results.c.denominator == 1)
        .group_by(*keys)
        .order_by(*keys)
    )


def build(conn: Connection) -> int:
    """Replace the count table's rows with the counts of the current raw rows, in SQL, in the
    open transaction of `conn`. Returns the number of cells written."""
    metadata.create_all(conn, tables=_TABLES, checkfirst=True)
    conn.execute(delete(result_groups))
    conn.execute(delete(result_counts))
    conn.execute(delete(result_counts_state))
    columns = [result_counts.c[name] for name in (*_KEYS, *LABELLED, *SUMS)]
    conn.execute(insert(result_counts).from_select(columns, counts_select()))
    groups = [
        select(literal(name).label("stratifier"), column(name).label("label"))
        .group_by(column(name))
        for name in labels.EXPRESSIONS
    ]
    conn.execute(insert(result_groups).from_select(["stratifier", "label"],
                                                   union_all(*groups)))
    cells = conn.execute(select(func.count()).select_from(result_counts)).scalar_one()
    if conn.dialect.name == "postgresql":
        # Fresh statistics, so the planner reads a measure's period range by the key (about
        # 1 s per million cells; allowed inside a transaction, unlike VACUUM).
        conn.exec_driver_sql("ANALYZE result_counts")
    conn.execute(insert(result_counts_state).from_select(
        ["id", "batch_id", "rows"], select(literal(1), _last_import(), literal(cells))))
    return cells


def current(conn: Connection) -> bool:
    """Whether the count table was built from the last import (one small query)."""
    try:
        row = conn.execute(
            select(result_counts_state.c.batch_id, _last_import().label("last"))
        ).first()
    except DBAPIError:  # the tables do not exist yet (a database made before them)
        conn.rollback()
        return False
    return row is not None and row.batch_id == row.last


def ensure(database_url: str | None = None) -> None:
    """Build the count table when it is missing or older than the last import."""
    engine = get_engine(database_url)
    with engine.connect() as conn:
        if current(conn):
            return
    refresh(database_url)


def refresh(database_url: str | None = None) -> int:
    """Rebuild the count table now, in a transaction of its own (after rows were written
    outside the importer). Returns the number of cells."""
    with get_engine(database_url).begin() as conn:
        return build(conn)

