"""The audit log: who did what, when — sign-ins, imports, validation runs, tracker edits,
exports. Append-only: the database itself refuses to update, delete or truncate its rows
(triggers on SQLite and PostgreSQL), so the application cannot rewrite its own history;
docs/deploy.md also grants the app's role no more than INSERT and SELECT on it.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import (
    DDL,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    text,
)

from store import access
from store.engine import get_engine
from store.schema import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),  # sign_in, import, export, tracker_edit...
    Column("details", Text, nullable=False),  # JSON; counts and names, never patient rows
)
Index("ix_audit_log_at", audit_log.c.at)

REFUSAL = "the audit log is append-only"
_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$",
    "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]
for _statement in _SQLITE:
    event.listen(audit_log, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in _POSTGRES:
    event.listen(audit_log, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


def protect(conn: Connection) -> None:
    """Add the append-only triggers to an audit log made before they existed."""
    if conn.dialect.name == "sqlite":
        present = conn.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
            "AND name LIKE 'audit_log_no_%'")).scalar_one()
        statements = _SQLITE if present < len(_SQLITE) else []
    elif conn.dialect.name == "postgresql":
        present = conn.execute(text(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = 'audit_log' AND c.relnamespace = to_regnamespace("
            "current_schema()) AND t.tgname LIKE 'audit_log_%'")).scalar_one()
        statements = _POSTGRES if present < 2 else []
    else:
        statements = []
    for statement in statements:
        conn.execute(text(statement))


def now() -> datetime:
    return datetime.now(UTC)


def record(action: str, details: dict, actor: str | None = None,
           database_url: str | None = None, conn: Connection | None = None) -> int:
    """Append one row (in `conn`'s open transaction when given, so that it commits or rolls
    back with the change it records) and return its id. `actor` defaults to the current
    user (`store.access`)."""
    row = {"at": now(), "actor": str(actor or access.current_user().label)[:200],
           "action": action[:64], "details": json.dumps(details, default=str, sort_keys=True)}
    statement = insert(audit_log).returning(audit_log.c.id)
    if conn is not None:
        return conn.execute(statement, row).scalar_one()
    with get_engine(database_url).begin() as own:
        return own.execute(statement, row).scalar_one()


def entries(database_url: str | None = None, action: str | None = None,
            limit: int | None = 100, actor: str | None = None) -> list[dict]:
    """The latest rows, newest first: {id, at, actor, action, details (dict)}. Reading the
    whole log is for administrators (`configure`); anyone may read their own rows."""
    if actor is None or actor != access.current_user().label:
        access.require("configure")
    query = select(audit_log).order_by(audit_log.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{"id": r["id"], "at": _aware(r["at"]), "actor": r["actor"],
             "action": r["action"], "details": json.loads(r["details"])} for r in rows]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
