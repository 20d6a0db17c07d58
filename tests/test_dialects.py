"""The aggregation SQL is portable: the queries the dashboard runs (a disparity table's
GROUP BY over the count table, the same over the raw rows, and the SELECT that builds the
count table) compile for SQLite, PostgreSQL and Trino, a distributed engine reached through
its SQLAlchemy dialect (docs/deploy.md), with filter values bound, never pasted in."""
from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, registry, sqlite

from metrics.aggregate import count_query
from store.counts import counts_select


def _trino():
    return registry.load("trino")()


DIALECTS = {"sqlite": sqlite.dialect, "postgresql": postgresql.dialect, "trino": _trino}
HOSTILE = "Riverside'; DROP TABLE results; --"


@pytest.mark.parametrize("name", DIALECTS)
def test_the_disparity_query_compiles_with_bound_filters(name):
    dialect = DIALECTS[name]()
    query, names = count_query("cbp", ["race", "preferred_language"],
                               {"site": [HOSTILE], "payer": "Medicaid"}, "2025-01", "2025-12")
    compiled = query.compile(dialect=dialect)
    sql = str(compiled)
    assert names == ["race", "preferred_language"]
    assert "result_counts" in sql and "GROUP BY" in sql.upper()
    assert "results" not in sql.replace("result_counts", "")  # never the raw rows
    assert HOSTILE not in sql and "DROP TABLE" not in sql
    assert HOSTILE in [str(v) for v in _flat(compiled.params.values())]


@pytest.mark.parametrize("name", DIALECTS)
def test_the_count_table_build_compiles(name):
    sql = str(counts_select().compile(dialect=DIALECTS[name]()))
    upper = sql.upper()
    assert "JOIN PATIENTS" in upper and "GROUP BY" in upper
    for label in ("race", "age_group", "adi_decile"):
        assert label in sql


def _flat(values):
    for value in values:
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value
