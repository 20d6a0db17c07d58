"""The engine of a server database: its pool is sized from the environment (docs/deploy.md)."""
from __future__ import annotations

import pytest

from store import engine as store_engine

URL = "postgresql+psycopg://equity_app@127.0.0.1:5432/pool_sizing_only"  # never connected


def test_the_pool_is_sized_from_the_environment(monkeypatch):
    monkeypatch.setenv("EQUITY_DB_POOL_SIZE", "3")
    monkeypatch.setenv("EQUITY_DB_MAX_OVERFLOW", "7")
    created = store_engine._create(URL)
    try:
        assert created.pool.size() == 3 and created.pool._max_overflow == 7
    finally:
        created.dispose()
    monkeypatch.delenv("EQUITY_DB_POOL_SIZE")
    monkeypatch.delenv("EQUITY_DB_MAX_OVERFLOW")
    default = store_engine._create(URL)
    try:
        assert default.pool.size() == 5 and default.pool._max_overflow == 10
    finally:
        default.dispose()


def test_a_pool_size_that_is_not_a_number_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("EQUITY_DB_POOL_SIZE", "lots")
    with pytest.raises(ValueError, match="EQUITY_DB_POOL_SIZE must be a whole number"):
        store_engine._create(URL)


def test_postgres_sessions_plan_for_data_in_memory_and_skip_jit(database_url):
    """Every pooled PostgreSQL connection runs with the app's planner settings (a parallel
    scan of the whole count table was chosen over one measure's key range without them),
    and keeps them after a rolled-back transaction; every SQLite connection is in WAL mode
    (readers see the previous data while an import writes)."""
    from sqlalchemy import text

    from store.engine import POSTGRES_SESSION, get_engine

    engine = get_engine(database_url)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        return
    for _ in range(2):
        with engine.connect() as conn:
            shown = {name: conn.execute(text(f"SHOW {name}")).scalar_one()
                     for name in POSTGRES_SESSION}
            conn.rollback()
        assert shown == POSTGRES_SESSION
