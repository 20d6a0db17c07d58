"""Tables derived from the imported rows (aggregates), rebuilt inside the import transaction.

The database layer does not know what is derived from its rows: a layer above (the metrics
engine's count table) registers a builder here, and the importer runs every registered
builder on the new rows, in the same transaction, so readers see new rows and their
aggregates together or not at all. A builder must also be safe to run on its own (a database
made before the builder existed, or rows written outside the importer).
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

Builder = Callable[[Connection], object]

_BUILDERS: dict[str, Builder] = {}


def register(name: str, builder: Builder) -> None:
    """Run `builder(conn)` at the end of every import (registering a name again replaces it)."""
    _BUILDERS[name] = builder


def rebuild_all(conn: Connection) -> None:
    """Rebuild every registered derived table in the open transaction of `conn`."""
    for builder in _BUILDERS.values():
        builder(conn)
