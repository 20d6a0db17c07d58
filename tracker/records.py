"""Versioned rows and their audit trail: the one way the tracker writes.

Each write runs in one transaction that also appends to `tracker_changes`. An update or a
removal names the version it was based on; when the row has moved on since, the write is
refused with `Conflict` ("changed by X at T — reload"), so two people editing the same row
never silently overwrite each other. The guard is in the UPDATE itself
(`WHERE version = :expected`), which holds on SQLite and on PostgreSQL under concurrency.
"""
from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from store import access
from store import audit as store_audit
from store.engine import ensure_schema, get_engine
from tracker import schema

_READY: weakref.WeakSet[Engine] = weakref.WeakSet()


class Conflict(Exception):
    """The row was changed by someone else since it was read."""

    def __init__(self, what: str, changed_by: str | None, changed_at: datetime | None,
                 current: Mapping | None):
        self.what = what
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current = dict(current) if current is not None else None
        if current is None:
            message = (f"{what} was removed by someone else since you opened it — reload the "
                       "page; your text is still in the form.")
        else:
            message = (f"{what} was changed by {changed_by} at {format_moment(changed_at)} "
                       "— reload to see their version; your text is still in the form.")
        super().__init__(message)


class NotFound(LookupError):
    """No row with that key."""


class Invalid(ValueError):
    """A value a person entered cannot be stored; the message says why, in plain words."""


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def format_moment(moment: datetime | None) -> str:
    moment = aware(moment)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "an unknown time"


def plain(value: Any) -> Any:
    """A value as JSON can hold it (dates as ISO text)."""
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def as_dict(row: Mapping | None) -> dict | None:
    """A row as a plain dict, datetimes made timezone-aware."""
    if row is None:
        return None
    return {key: aware(value) if isinstance(value, datetime) else value
            for key, value in dict(row).items()}


# --- engines ------------------------------------------------------------------------------
def ready_engine(database_url: str | None = None) -> Engine:
    """The engine of a URL with every table created and the seed rows present (checked once
    per engine and process)."""
    from tracker.seed import seed

    engine = get_engine(database_url)
    if engine not in _READY:
        ensure_schema(database_url)
        seed(engine)
        _READY.add(engine)
    return engine


# --- writing ------------------------------------------------------------------------------
def _key_column(table: Table):
    return next(iter(table.primary_key.columns))


def audit(conn: Connection, by: str, moment: datetime, entity: str, entity_id, action: str,
          before: Mapping | None, after: Mapping | None) -> None:
    def encode(values):
        if values is None:
            return None
        return json.dumps({k: plain(v) for k, v in values.items()}, sort_keys=True)

    conn.execute(insert(schema.changes).values(
        changed_at=moment, changed_by=by, entity=entity, entity_id=str(entity_id),
        action=action, before=encode(before), after=encode(after)))
    store_audit.record("tracker_edit", {"entity": entity, "id": str(entity_id),
                                        "action": action, "by": by}, conn=conn)


def _who(by: str) -> str:
    name = (by or "").strip()
    if not name:
        raise Invalid("Say who you are (your name) before saving: every change is recorded "
                      "with its author.")
    return name


def create(conn: Connection, table: Table, values: Mapping, by: str, entity: str) -> dict:
    """Insert a row (version 1) and record it; returns the stored row."""
    access.require("edit_tracker")
    by = _who(by)
    moment = now()
    row = conn.execute(
        insert(table).values(**values, version=1, changed_by=by, changed_at=moment)
        .returning(*table.c)).mappings().one()
    stored = as_dict(row)
    key = stored[_key_column(table).name]
    audit(conn, by, moment, entity, key, "created", None,
          {k: v for k, v in stored.items() if k not in ("version", "changed_by", "changed_at")})
    return stored


def _current(conn: Connection, table: Table, key) -> dict | None:
    return as_dict(conn.execute(select(table).where(_key_column(table) == key))
                   .mappings().first())


def _same(old, new) -> bool:
    if isinstance(old, float) and isinstance(new, float | int):
        return abs(old - float(new)) < 1e-12
    return old == new


def change(conn: Connection, table: Table, key, expected_version: int, changes: Mapping,
           by: str, entity: str, what: str, action: str = "updated") -> dict:
    """Apply `changes` to the row `key` if it is still at `expected_version`.

    Raises Conflict when someone changed (or removed) it since, NotFound when it never
    existed. Returns the stored row (unchanged, same version, when nothing differs).
    """
    access.require("edit_tracker")
    by = _who(by)
    column = _key_column(table)
    before = _current(conn, table, key)
    if before is None:
        raise NotFound(f"{what} does not exist (any more).")
    if before["version"] != expected_version:
        raise Conflict(what, before["changed_by"], before["changed_at"], before)
    changed = {name: value for name, value in changes.items()
               if not _same(before[name], value)}
    if not changed:
        return before
    moment = now()
    result = conn.execute(
        update(table).where(column == key, table.c.version == expected_version)
        .values(**changed, version=expected_version + 1, changed_by=by, changed_at=moment))
    if result.rowcount != 1:  # changed between our read and our write
        current = _current(conn, table, key)
        raise Conflict(what, current and current["changed_by"],
                       current and current["changed_at"], current)
    audit(conn, by, moment, entity, key, action, {name: before[name] for name in changed},
          changed)
    return _current(conn, table, key)


def remove(conn: Connection, table: Table, key, expected_version: int, by: str, entity: str,
           what: str) -> None:
    """Delete the row `key` if it is still at `expected_version` (Conflict otherwise)."""
    access.require("edit_tracker")
    by = _who(by)
    column = _key_column(table)
    before = _current(conn, table, key)
    if before is None:
        raise NotFound(f"{what} does not exist (any more).")
    if before["version"] != expected_version:
        raise Conflict(what, before["changed_by"], before["changed_at"], before)
    result = conn.execute(delete(table).where(column == key,
                                              table.c.version == expected_version))
    if result.rowcount != 1:
        current = _current(conn, table, key)
        raise Conflict(what, current and current["changed_by"],
                       current and current["changed_at"], current)
    audit(conn, by, now(), entity, key, "removed",
          {k: v for k, v in before.items() if k not in ("changed_by", "changed_at")}, None)


# --- reading ------------------------------------------------------------------------------
def rows(database_url: str | None, query) -> list[dict]:
    with ready_engine(database_url).connect() as conn:
        return [as_dict(row) for row in conn.execute(query).mappings()]


def history(database_url: str | None = None, entity: str | None = None,
            entity_id: str | int | None = None, limit: int = 200) -> list[dict]:
    """The audit trail, newest first: change_id, changed_at, changed_by, entity, entity_id,
    action, before and after (dicts of the changed fields)."""
    table = schema.changes
    query = select(table).order_by(table.c.change_id.desc()).limit(limit)
    if entity is not None:
        query = query.where(table.c.entity == entity)
    if entity_id is not None:
        query = query.where(table.c.entity_id == str(entity_id))
    found = rows(database_url, query)
    for row in found:
        for side in ("before", "after"):
            row[side] = json.loads(row[side]) if row[side] else None
    return found
