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
