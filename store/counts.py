"""The count table: additive counts of counted cases by measure, month, site and every
stratifier's label, so that the interactive path never scans (or joins) the raw rows.

`result_counts` holds one row per combination present of measure_id, period, site and the
labels of the demographic stratifiers (race, ethnicity, language, interpreter, sex, age group,
payer, ADI decile), with the sums of denominator, numerator, value and value². Every label is
compiled from the stratifier's own SQL expression (`store.labels`, which `metrics.strata`
uses too), so the table and a GROUP BY over the raw rows cannot disagree; a count over any
stratifiers, filters and period range is a GROUP BY over this table. Only counted cases
(denominator 1) are in it.

An import counts the cases as it writes them (`CountBuilder`, vectorised over each checked
chunk) and writes the cells inside its own transaction (`store.importer`): SQLite has no hash
aggregation, and its sorted GROUP BY of eleven text keys cost 178 s at 10M rows, against
seconds for the same counts taken from the chunks already in memory. `counts_select` is the
same table as one portable SQL statement: `refresh` rebuilds with it when the table is missing
or older than the last import (a database made before it existed, or rows written outside the
importer), and the tests hold the two ways to identical cells.
`result_groups` lists each stratifier's labels present, for filter menus. `metrics.counts`
reads it; the column of a stratifier is `metrics.strata.Stratifier.column`.

Two small summaries are written with it, the same two ways, for what the overview asks of
the whole data (at 10M rows a GROUP BY over the count table for each of its stratifiers took
20 s on SQLite, one over the raw rows for the measures loaded 13 s):
`result_margins`, the count table summed to one stratifier at a time (measure, month,
stratifier, label: a few thousand rows), which answers any request by one stratifier (and the
month) without filters; and `result_measures`, each measure's counted cases and first and
last month among all its raw rows (months with excluded cases only included, which the count
table cannot know); and `patient_counts`, the patients (with results or not) by their own
labels, for the completeness of their demographics (a scan of 2M patients took 2-6 s).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
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
    event,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from store import labels
from store.bulk import BATCH_ROWS, insert_frame
from store.engine import get_engine
from store.schema import import_batches, metadata, patients, results

# Stratifiers that come from the results row itself are key columns of their own.
_KEYS = ("measure_id", "period", "site")
LABELLED = tuple(name for name in labels.EXPRESSIONS if name not in _KEYS)
SUMS = ("denominator", "numerator", "value_sum", "value_sum_squares", "exposure")


def _label_column(name: str) -> Column:
    return Column(name, String(64), nullable=False)


def _sum_columns() -> list[Column]:
    """The columns of `SUMS`, for every table that holds them (one list, so that a new sum
    reaches the count table and its summaries alike)."""
    counted = {"denominator", "numerator"}  # every cell has them
    # value sums: mean-type measures; exposure: rate measures' patient-days or admissions
    return [Column(name, Integer, nullable=False) if name in counted else Column(name, Float)
            for name in SUMS]


result_counts = Table(
    "result_counts",
    metadata,
    Column("measure_id", String(64), nullable=False),
    Column("period", String(7), nullable=False),
    Column("site", Text, nullable=False),
    *[_label_column(name) for name in LABELLED],
    *_sum_columns(),
    # One row per cell; the key starts with what every request filters on (a measure and a
    # period range). On SQLite the table is stored in key order (WITHOUT ROWID), so such a
    # request reads one contiguous stretch of it.
    PrimaryKeyConstraint("measure_id", "period", "site", *LABELLED,
                         name="pk_result_counts"),
    sqlite_with_rowid=False,
)

# On PostgreSQL the table is a heap beside its indexes, and there the eleven-column key was an
# index nearly as large as the table (609 MB against 676 MB at 10M rows): a request read its
# measure's months through both. The server's tables have a narrow index on measure and month
# instead (28 MB): the bench's requests at 10M rows, median 44.5 -> 40.1 ms, p95 158 -> 87
# ms (bench/RESULTS.md). No write can break the key the constraint stood for: the cells are
# grouped by the whole key wherever they are made (`CountBuilder`, `counts_select`).
# `_server_layout` gives it to the table when it is made and to one made before.
SERVER_INDEX = "ix_result_counts_measure_period"

result_groups = Table(
    "result_groups",
    metadata,
    Column("stratifier", String(32), nullable=False),
    Column("label", Text, nullable=False),
    PrimaryKeyConstraint("stratifier", "label", name="pk_result_groups"),
)

# Which import the count tables were built from; no row means never built.
result_counts_state = Table(
    "result_counts_state",
    metadata,
    # The layout of the tables built (LAYOUT): tables built by an earlier version of this
    # module (without the summaries, say) are not current, and are rebuilt on first use.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("batch_id", Integer),  # the last succeeded import when built (None: no import)
    Column("rows", Integer, nullable=False),
    Column("built_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)

# The stratifiers summed one at a time (the month is a key of its own; the measure too).
MARGINS = tuple(name for name in labels.EXPRESSIONS if name != "period")

result_margins = Table(
    "result_margins",
    metadata,
    Column("stratifier", String(32), nullable=False),
    Column("measure_id", String(64), nullable=False),
    Column("period", String(7), nullable=False),
    Column("label", Text, nullable=False),
    *_sum_columns(),
    PrimaryKeyConstraint("stratifier", "measure_id", "period", "label",
                         name="pk_result_margins"),
    sqlite_with_rowid=False,
)

result_measures = Table(
    "result_measures",
    metadata,
    Column("measure_id", String(64), primary_key=True),
    Column("rows", Integer, nullable=False),  # raw rows, excluded cases too
    Column("cases", Integer, nullable=False),  # counted cases (denominator 1)
    Column("first_period", String(7), nullable=False),  # of any row, excluded cases too
    Column("last_period", String(7), nullable=False),
)

patient_counts = Table(
    "patient_counts",
    metadata,
    *[_label_column(name) for name in labels.PATIENT_LABELLED],
    Column("patients", Integer, nullable=False),
    PrimaryKeyConstraint(*labels.PATIENT_LABELLED, name="pk_patient_counts"),
)

_TABLES = [result_counts, result_groups, result_margins, result_measures, patient_counts,
           result_counts_state]


LAYOUT = 3  # 1: the count table and result_groups; 2: and the summaries; 3: margins sum exposure


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
            func.sum(results.c.exposure).label("exposure"),
        )
        .select_from(results.join(patients, patients.c.patient_key == results.c.patient_key))
        .where(results.c.denominator == 1)
        .group_by(*keys)
        .order_by(*keys)
    )


def build(conn: Connection) -> int:
    """Replace the count table's rows with the counts of the current raw rows, in SQL, in the
    open transaction of `conn`. Returns the number of cells written."""
    _clear(conn)
    columns = [result_counts.c[name] for name in (*_KEYS, *LABELLED, *SUMS)]
    conn.execute(insert(result_counts).from_select(columns, counts_select()))
    groups = [
        select(literal(name).label("stratifier"), column(name).label("label"))
        .group_by(column(name))
        for name in labels.EXPRESSIONS
    ]
    conn.execute(insert(result_groups).from_select(["stratifier", "label"],
                                                   union_all(*groups)))
    conn.execute(insert(result_margins).from_select(
        ["stratifier", "measure_id", "period", "label", *SUMS], margins_select()))
    conn.execute(insert(result_measures).from_select(
        ["measure_id", "rows", "cases", "first_period", "last_period"], measures_select()))
    conn.execute(insert(patient_counts).from_select(
        [*labels.PATIENT_LABELLED, "patients"], patient_counts_select()))
    cells = conn.execute(select(func.count()).select_from(result_counts)).scalar_one()
    _finish(conn, cells)
    return cells


def margins_select():
    """The SELECT that fills `result_margins` from the count table."""
    return union_all(*[
        select(literal(name).label("stratifier"), result_counts.c.measure_id,
               result_counts.c.period, column(name).label("label"),
               *[func.sum(result_counts.c[total]).label(total) for total in SUMS])
        .group_by(result_counts.c.measure_id, result_counts.c.period, column(name))
        for name in MARGINS
    ])


def patient_counts_select():
    """The SELECT that fills `patient_counts` from the patients."""
    keys = [labels.expression(name).label(name) for name in labels.PATIENT_LABELLED]
    return select(*keys, func.count()).select_from(patients).group_by(*keys)


def measures_select():
    """The SELECT that fills `result_measures` from the raw rows."""
    return (select(results.c.measure_id, func.count(), func.sum(results.c.denominator),
                   func.min(results.c.period), func.max(results.c.period))
            .group_by(results.c.measure_id))


def _clear(conn: Connection) -> None:
    metadata.create_all(conn, tables=_TABLES, checkfirst=True)
    _server_layout(conn)
    for table in reversed(_TABLES):
        conn.execute(delete(table))


def _server_layout(conn: Connection) -> None:
    """Give a PostgreSQL count table its layout (`SERVER_INDEX`, not the wide key) when it
    lacks it: when it is made, and once for a table made before. Only then: the ALTER TABLE
    locks readers out of the table until the import commits."""
    if conn.dialect.name != "postgresql":
        return
    old_key = conn.exec_driver_sql(
        "SELECT 1 FROM pg_constraint WHERE conname = 'pk_result_counts' "
        "AND conrelid = 'result_counts'::regclass").first()
    narrow = conn.exec_driver_sql(f"SELECT to_regclass('{SERVER_INDEX}')").scalar()
    if old_key:
        conn.exec_driver_sql("ALTER TABLE result_counts DROP CONSTRAINT pk_result_counts")
    if narrow is None:
        conn.exec_driver_sql(
            f"CREATE INDEX {SERVER_INDEX} ON result_counts (measure_id, period)")


@event.listens_for(result_counts, "after_create")
def _made(_table, conn: Connection, **_options) -> None:
    _server_layout(conn)


def _finish(conn: Connection, cells: int) -> None:
    if conn.dialect.name == "postgresql":
        # Fresh statistics, so the planner reads a measure's period range by the key (about
        # 1 s per million cells; allowed inside a transaction, unlike VACUUM).
        conn.exec_driver_sql("ANALYZE result_counts")
    conn.execute(insert(result_counts_state).from_select(
        ["id", "batch_id", "rows"], select(literal(LAYOUT), _last_import(), literal(cells))))


class _Codes:
    """Small integer codes for the distinct strings of a column, kept across chunks."""

    def __init__(self, known=()):
        self.codes = {value: code for code, value in enumerate(known)}

    def __call__(self, values: pd.Series) -> np.ndarray:
        coded = values.map(self.codes)
        if coded.isna().any():
            for value in pd.unique(values[coded.isna()]):
                self.codes[value] = len(self.codes)
            coded = values.map(self.codes)
        return coded.to_numpy(dtype=np.int32)

    def labels(self) -> np.ndarray:
        return np.array(list(self.codes), dtype=object)


def _ranks(values: np.ndarray) -> np.ndarray:
    """The dense rank of each value in text order (equal values, equal ranks; Python's order
    of str is SQLite's BINARY collation)."""
    return pd.factorize(values, sort=True)[0]


class CountBuilder:
    """The count table of an import, counted from the checked chunks as they are written.

    Gives exactly the cells of `counts_select` over the same rows (same labels, from
    `store.labels`; only the order of floating-point addition in the value sums differs).
    Memory: the patients' labels (one profile code and a birth year per patient) and the
    cells, never the raw rows.
    """

    _KEY = ("measure", "period", "site", "age", "profile")
    _MERGE_ROWS = 2_000_000  # partial cells held before they are added together

    def __init__(self) -> None:
        self._patients: list[pd.DataFrame] = []
        self._profile: np.ndarray | None = None
        self._measures, self._periods, self._sites = _Codes(), _Codes(), _Codes()
        self._partial: list[pd.DataFrame] = []
        self._partial_rows = 0
        self._merge_at = self._MERGE_ROWS
        self._measure_months: list[pd.DataFrame] = []  # rows and cases by measure and month

    def add_patients(self, patient_key: np.ndarray, columns: dict[str, pd.Series]) -> None:
        """Patients as stored (`patient_key` 1..N, each once; labels None when missing)."""
        # Kept as categories: 2M patients' labels as Python strings took 800 MB.
        frame = labels.patient_labels(columns).astype("category")
        frame["patient_key"] = patient_key
        frame["birth_year"] = pd.to_numeric(columns["birth_year"]).astype(float).to_numpy()
        self._patients.append(frame)

    def _patients_done(self) -> None:
        patients_ = (pd.concat(self._patients, ignore_index=True) if self._patients
                     else pd.DataFrame(columns=[*labels.PATIENT_LABELLED, "patient_key",
                                                "birth_year"]))
        self._patients = []
        size = int(patients_["patient_key"].max()) + 1 if len(patients_) else 1
        grouped = patients_.groupby(list(labels.PATIENT_LABELLED), sort=False, observed=True)
        self._profile = np.zeros(size, dtype=np.int32)
        where = patients_["patient_key"].to_numpy(dtype=np.int64)
        self._profile[where] = grouped.ngroup().to_numpy()
        sizes = grouped.size()  # (in the order of ngroup's codes, as the profiles)
        self._profiles = sizes.index.to_frame(index=False) if len(patients_) else (
            pd.DataFrame(columns=list(labels.PATIENT_LABELLED)))
        self._profiles_patients = sizes.to_numpy(dtype=np.int64) if len(patients_) else (
            np.zeros(0, dtype=np.int64))
        self._birth_year = np.full(size, np.nan)
        self._birth_year[where] = patients_["birth_year"].to_numpy(dtype=float)

    def add_results(self, patient_key: np.ndarray, measure_id: pd.Series, period: pd.Series,
                    site: pd.Series, numerator: np.ndarray, denominator: np.ndarray,
                    value: pd.Series, exposure=None) -> None:
        """Checked results as stored (`patient_key` of patients already added)."""
        if self._profile is None:
            self._patients_done()
        denominator = np.asarray(denominator)
        counted = denominator == 1
        # Every row's month, excluded cases too: result_measures' first and last months.
        measure_codes, period_codes = self._measures(measure_id), self._periods(period)
        self._measure_months.append(
            pd.DataFrame({"rows": 1, "cases": denominator}, dtype=np.int64)
            .groupby([measure_codes, period_codes], sort=False).sum())
        if not counted.any():
            return
        keys = np.asarray(patient_key)[counted]
        period_codes = period_codes[counted]
        years = np.array([float(month[:4]) for month in self._periods.codes])  # a few dozen
        year = years[period_codes]
        numbers = np.asarray(value, dtype=float)[counted]
        exposures = (np.full(len(keys), np.nan) if exposure is None
                     else np.asarray(exposure, dtype=float)[counted])
        chunk = pd.DataFrame({
            "measure": measure_codes[counted],
            "period": period_codes,
            "site": self._sites(site[counted]),
            "age": labels.age_group_codes(year, self._birth_year[keys]),
            "profile": self._profile[keys],
            "denominator": np.ones(len(keys), dtype=np.int32),
            "numerator": np.asarray(numerator, dtype=np.int32)[counted],
            "value_sum": numbers,
            "value_sum_squares": numbers * numbers,
            "exposure": exposures,
        })
        self._partial.append(self._added(chunk))
        self._partial_rows += len(self._partial[-1])
        if self._partial_rows > self._merge_at:
            self._partial = [self._added(self._take_partial())]
            self._partial_rows = len(self._partial[0])
            # Merge again when the partial cells have doubled: a fixed threshold would merge
            # on every chunk once the cells alone exceed it (quadratic at 10M rows).
            self._merge_at = max(self._MERGE_ROWS, 2 * self._partial_rows)

    def _take_partial(self) -> pd.DataFrame:
        """The partial cells as one frame, the list of them let go before they are added
        together: holding both while adding was the import's peak memory (at 1M patients,
        the partial cells and their copy took about 700 MB)."""
        partial, self._partial = self._partial, []
        return pd.concat(partial, ignore_index=True)

    def _added(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The cells of `frame` added together by their key. The five key codes are packed
        into one integer first: a group-by on one column needs a fraction of the memory and
        time of one on five (pandas keeps an index array per key column), and the merges of
        partial cells were the import's peak memory."""
        keys = [frame[name].to_numpy() for name in self._KEY]
        sizes = tuple(int(codes.max()) + 1 if len(codes) else 1 for codes in keys)
        if float(np.prod(sizes, dtype=float)) >= 2.0 ** 62:  # (never with real data)
            return frame.groupby(list(self._KEY), sort=False, as_index=False).sum(min_count=1)
        packed = np.ravel_multi_index(keys, sizes)
        del keys
        # min_count=1: a cell whose values are all missing has a NULL sum, as in SQL.
        added = frame[list(SUMS)].groupby(packed, sort=False).sum(min_count=1)
        cells = added.index.to_numpy()
        for name, codes in zip(self._KEY, np.unravel_index(cells, sizes)):
            added[name] = codes.astype(frame[name].dtype)
        return added.reset_index(drop=True)[[*self._KEY, *SUMS]]

    def _sorted_cells(self) -> tuple[dict, dict]:
        """Each key column as (its labels, the cells' codes into them) and the sums, in the
        table's key order (so that its B-tree is written in order)."""
        if self._profile is None:
            self._patients_done()
        if self._partial:
            added = self._added(self._take_partial())
        else:
            added = pd.DataFrame({name: np.zeros(0, dtype=np.int64)
                                  for name in (*self._KEY, *SUMS)})
        self._partial = []
        profile = added["profile"].to_numpy()
        codes = {
            "measure_id": (self._measures.labels(), added["measure"].to_numpy()),
            "period": (self._periods.labels(), added["period"].to_numpy()),
            "site": (self._sites.labels(), added["site"].to_numpy()),
            "age_group": (np.array(labels.AGE_LABELS, dtype=object), added["age"].to_numpy()),
            **{name: (self._profiles[name].to_numpy(dtype=object), profile)
               for name in labels.PATIENT_LABELLED},
        }
        order = [*_KEYS, *LABELLED]
        # Ranks of the few distinct labels, gathered for the cells: no sort of strings.
        ranks = [_ranks(codes[name][0])[codes[name][1]] for name in reversed(order)]
        sort = np.lexsort(ranks) if len(added) else np.zeros(0, dtype=np.int64)
        del ranks
        codes = {name: (codes[name][0], codes[name][1][sort]) for name in order}
        sums = {name: added[name].to_numpy()[sort] for name in SUMS}
        return codes, sums

    @staticmethod
    def _cells(codes: dict, sums: dict, start: int, stop: int) -> pd.DataFrame:
        """Rows `start`:`stop` of the count table, decoded to labels."""
        frame = pd.DataFrame({name: known[positions[start:stop]]
                              for name, (known, positions) in codes.items()})
        for name, values in sums.items():
            frame[name] = values[start:stop]
        return frame

    def write(self, conn: Connection) -> int:
        """Replace the count table with these cells in the open transaction of `conn`."""
        codes, sums = self._sorted_cells()
        cells = len(sums["denominator"])
        _clear(conn)
        for start in range(0, cells, BATCH_ROWS):  # decoded a batch at a time (memory)
            insert_frame(conn, result_counts,
                         self._cells(codes, sums, start, start + BATCH_ROWS))
        groups = pd.DataFrame(
            [(name, label) for name in labels.EXPRESSIONS
             for label in sorted(set(codes[name][0][np.unique(codes[name][1])]))],
            columns=["stratifier", "label"])
        insert_frame(conn, result_groups, groups)
        insert_frame(conn, result_margins, _margins(codes, sums))
        insert_frame(conn, result_measures, self._measures_frame())
        insert_frame(conn, patient_counts,
                     self._profiles.astype(object).assign(patients=self._profiles_patients))
        _finish(conn, cells)
        return cells

    def _measures_frame(self) -> pd.DataFrame:
        if not self._measure_months:
            return pd.DataFrame(columns=["measure_id", "rows", "cases", "first_period",
                                         "last_period"])
        cases = pd.concat(self._measure_months).groupby(level=[0, 1]).sum().reset_index()
        cases.columns = ["measure", "period", "rows", "cases"]
        cases["measure_id"] = self._measures.labels()[cases["measure"].to_numpy()]
        cases["period"] = self._periods.labels()[cases["period"].to_numpy()]
        summary = cases.groupby("measure_id", sort=True).agg(
            rows=("rows", "sum"), cases=("cases", "sum"), first_period=("period", "min"),
            last_period=("period", "max")).reset_index()
        return summary.astype({"rows": np.int64, "cases": np.int64})


def _margins(codes: dict, sums: dict) -> pd.DataFrame:
    """`result_margins` from the cells (as `_sorted_cells` gives them), summed on the codes."""
    measures_, measure = codes["measure_id"]
    periods, period = codes["period"]
    frames = []
    for name in MARGINS if len(measure) else ():
        # (A patient label's codes are profiles, many to a label: to the labels' own codes.)
        own, known = pd.factorize(codes[name][0])
        label = own[codes[name][1]]
        known = np.asarray(known, dtype=object)
        key = (measure.astype(np.int64) * len(periods) + period) * len(known) + label
        cells, inverse = np.unique(key, return_inverse=True)
        frame = pd.DataFrame({
            "stratifier": name,
            "measure_id": measures_[cells // (len(periods) * len(known))],
            "period": periods[cells // len(known) % len(periods)],
            "label": known[cells % len(known)],
        })
        for total in SUMS:
            values = sums[total]
            if values.dtype.kind == "f":
                present = ~np.isnan(values)
                added = np.bincount(inverse, np.where(present, values, 0.0), len(cells))
                # A sum over cells whose values are all missing is NULL, as in SQL.
                added[np.bincount(inverse, present, len(cells)) == 0] = np.nan
                frame[total] = added
            else:
                frame[total] = np.bincount(inverse, values, len(cells)).astype(np.int64)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[c.name for c in result_margins.columns])


def current(conn: Connection) -> bool:
    """Whether the count table was built from the last import (one small query)."""
    try:
        row = conn.execute(
            select(result_counts_state.c.batch_id, _last_import().label("last"))
            .where(result_counts_state.c.id == LAYOUT)
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

