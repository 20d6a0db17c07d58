"""Where the data lives: one engine per database URL, taken from EQUITY_DATABASE_URL."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from store.schema import metadata

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = f"sqlite:///{REPO / 'data' / 'equity.db'}"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else EQUITY_DATABASE_URL, else the embedded SQLite file."""
    return url or os.environ.get("EQUITY_DATABASE_URL") or DEFAULT_DATABASE_URL


def describe(url: str | None = None) -> str:
    """The URL with any password hidden, for messages and the status output."""
    return make_url(database_url(url)).render_as_string(hide_password=True)


CONNECT_TIMEOUT = 10  # seconds to wait for a server database to accept a connection

_ENGINES: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = _create(url)
    return _ENGINES[url]


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # How long a write waits for another writer (an import holds the write lock for
        # its whole transaction) before the page says the database is busy.
        engine = create_engine(url, connect_args={
            "timeout": _setting("EQUITY_SQLITE_BUSY_SECONDS", 30)})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A server database is shared by every session of the app: the pool bounds how many
    # connections one app process holds (see docs/deploy.md for sizing). pool_pre_ping tests
    # each pooled connection before use, so that connections left dead by a database restart
    # are replaced instead of failing a page, and the app recovers by itself when it is back.
    connect_args = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # A server that does not answer at all (not even "refused") gives the page its
        # "not answering" message after seconds, not the minutes of the TCP default.
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args,
                           pool_size=_setting("EQUITY_DB_POOL_SIZE", 5),
                           max_overflow=_setting("EQUITY_DB_MAX_OVERFLOW", 10),
                           pool_recycle=1800)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_settings)
    return engine


# The app's queries are short GROUP BYs over the count table, which a health system's server
# keeps in memory or on SSD. PostgreSQL's defaults assume spinning disks and long analytic
# queries: with random_page_cost 4 the planner chose a parallel scan of the whole count table
# (5M cells, 1.1 s) over the key range of one measure and months (0.13 s at 13.8M rows), and
# JIT compilation added 80-90 ms to a query that runs in less. 1.1 is the usual value for
# SSD or cached data. Set per session, so the server's own settings stay the DBA's.
POSTGRES_SESSION = {"jit": "off", "random_page_cost": "1.1"}


def _postgres_settings(dbapi_connection, _record) -> None:
    with dbapi_connection.cursor() as cursor:
        for name, value in POSTGRES_SESSION.items():
            cursor.execute(f"SET SESSION {name} = {value}")
    dbapi_connection.commit()  # (a SET in a transaction rolled back would be undone)


def _setting(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the dashboard keep reading the previous data while an import is being written,
    # which is what makes "one transaction" visible to readers as all-or-nothing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for a URL (default: EQUITY_DATABASE_URL or data/equity.db)."""
    return _engine_for(database_url(url))


def ensure_schema(url: str | None = None) -> Engine:
    """Create any missing table; safe to call on every start."""
    from store import audit  # registers the audit log on the metadata

    engine = get_engine(url)
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        _add_columns(conn)
        audit.protect(conn)
    return engine


def _add_columns(conn) -> None:
    """Add the nullable columns of `ADDED_COLUMNS` that an older database lacks (both
    dialects accept ALTER TABLE ... ADD COLUMN for a nullable column)."""
    from store.schema import ADDED_COLUMNS

    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    for table_name, column_name in ADDED_COLUMNS:
        if table_name not in tables or table_name not in metadata.tables:
            continue
        present = {column["name"] for column in inspector.get_columns(table_name)}
        if column_name in present:
            continue
        column = metadata.tables[table_name].c[column_name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {column_name} {kind}")


def schema_exists(url: str | None = None) -> bool:
    engine = get_engine(url)
    names = set(inspect(engine).get_table_names())
    return all(table in names for table in metadata.tables)


def dispose_engine(url: str | None = None) -> None:
    """Close the pooled connections of a URL's engine and forget it (tests, reloads)."""
    engine = _ENGINES.pop(database_url(url), None)
    if engine is not None:
        engine.dispose()
