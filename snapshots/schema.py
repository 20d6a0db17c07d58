"""What exports leave behind in the database: the audit log, frozen snapshots, meeting packs.

Tables on `store.schema.metadata` (so `store.engine.ensure_schema` creates them once this
module is imported; `ensure_tables` does both):

- `audit_log` (defined in `store.audit`): append-only record of who did what, when —
  exports write to it here; sign-ins, imports, validation runs and tracker edits elsewhere.
- `snapshots` and `snapshot_rows`: a frozen snapshot of a view's numbers with its filters,
  its period, the data's as-of date and the share of patients with race and ethnicity
  recorded, so a later meeting can show what changed "since last time".
- `meeting_packs`: saved meeting packs, each a list of view specifications (JSON), never
  images, so a pack is regenerated on whatever data is loaded when it is built.

Frozen numbers are the aggregates an export shows, taken after small-cell suppression: a
suppressed group is stored with its name and no number.
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from store import audit
from store.audit import audit_log  # the store's table; TABLES below creates it too
from store.engine import get_engine
from store.schema import import_batches, metadata

snapshots = Table(
    "snapshots",
    metadata,
    Column("snapshot_id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("label", Text),
    Column("kind", String(32), nullable=False),
    # What "the same view" means for "since last time": family, measure, stratifiers,
    # filters and reference choice (not the months, which move from meeting to meeting).
    Column("match_key", String(512), nullable=False),
    Column("view", Text, nullable=False),  # JSON: the View specification
    Column("period_from", String(7)),
    Column("period_to", String(7)),
    Column("reference_group", Text),
    Column("data_batch_id", Integer),  # import_batches.batch_id of the data frozen
    Column("data_as_of", DateTime(timezone=True)),
    Column("completeness", Float),  # share of patients with race and ethnicity recorded
)
Index("ix_snapshots_match", snapshots.c.match_key, snapshots.c.snapshot_id)

snapshot_rows = Table(
    "snapshot_rows",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("snapshots.snapshot_id", ondelete="CASCADE"),
           primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("measure_id", String(64)),
    Column("stratifier", String(128), nullable=False),  # "race" or "race|payer"
    Column("group_label", Text, nullable=False),  # crossed groups as "A | B"
    Column("reference_group", Text),
    Column("denominator", Integer),
    Column("numerator", Integer),
    Column("rate", Float),
    Column("rate_lower", Float),
    Column("rate_upper", Float),
    Column("difference", Float),
    Column("difference_lower", Float),
    Column("difference_upper", Float),
    Column("p_value", Float),
    Column("excess_events", Float),
    Column("is_reference", Boolean, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("suppressed", Boolean, nullable=False),
    Column("unstable", Boolean, nullable=False),
)

meeting_packs = Table(
    "meeting_packs",
    metadata,
    Column("pack_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("views", Text, nullable=False),  # JSON: {"version": 1, "views": [View, ...]}
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
)

TABLES = (audit_log, snapshots, snapshot_rows, meeting_packs)
ROW_NUMBERS = ("denominator", "numerator", "rate", "rate_lower", "rate_upper", "difference",
               "difference_lower", "difference_upper", "p_value", "excess_events")


def ensure_tables(database_url: str | None = None) -> None:
    """Create every missing table of the schema, these included (idempotent)."""
    metadata.create_all(get_engine(database_url), checkfirst=True)


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything here is written in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def last_import(database_url: str | None = None) -> dict | None:
    """The last import batch (what `store.status()` reports as `last_import`): batch id and
    finish time, i.e. the data's as-of date; None before any import."""
    ensure_tables(database_url)
    with get_engine(database_url).connect() as conn:
        row = conn.execute(
            select(import_batches.c.batch_id, import_batches.c.finished_at,
                   import_batches.c.started_at, import_batches.c.source)
            .where(import_batches.c.outcome == "succeeded")
            .order_by(import_batches.c.batch_id.desc()).limit(1)
        ).mappings().first()
    if row is None:
        return None
    return {"batch_id": row["batch_id"], "source": row["source"],
            "as_of": aware(row["finished_at"] or row["started_at"])}


# --- the audit log ------------------------------------------------------------------------

def record_audit(action: str, actor: str, details: dict,
                 database_url: str | None = None) -> int:
    """Append one row to the audit log (`store.audit.record`) and return its id."""
    ensure_tables(database_url)
    return audit.record(action, details, actor=actor, database_url=database_url)


def audit_entries(database_url: str | None = None, action: str | None = None,
                  limit: int = 100) -> list[dict]:
    """The latest audit rows, newest first (`store.audit.entries`)."""
    ensure_tables(database_url)
    return audit.entries(database_url, action=action, limit=limit)


# --- frozen snapshots ---------------------------------------------------------------------

def _number(value):
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _integer(value):
    number = _number(value)
    return None if number is None else int(round(number))


def store_snapshot(header: dict, rows: list[dict], database_url: str | None = None) -> int:
    """Write one frozen snapshot (header and rows) in one transaction; return its id.

    Suppressed rows are written without numbers whatever the caller passed."""
    ensure_tables(database_url)
    with get_engine(database_url).begin() as conn:
        snapshot_id = conn.execute(
            insert(snapshots).returning(snapshots.c.snapshot_id), header).scalar_one()
        values = []
        for position, row in enumerate(rows):
            hidden = bool(row.get("suppressed", False))
            record = {
                "snapshot_id": snapshot_id, "position": position,
                "measure_id": row.get("measure_id"), "stratifier": row["stratifier"],
                "group_label": str(row["group_label"]),
                "reference_group": row.get("reference_group"),
                "is_reference": bool(row.get("is_reference", False)) and not hidden,
                "flagged": bool(row.get("flagged", False)) and not hidden,
                "suppressed": hidden, "unstable": bool(row.get("unstable", False)),
            }
            for column in ROW_NUMBERS:
                convert = _integer if column in ("denominator", "numerator") else _number
                record[column] = None if hidden else convert(row.get(column))
            values.append(record)
        if values:
            conn.execute(insert(snapshot_rows), values)
    return snapshot_id


def snapshot_list(database_url: str | None = None, match_key: str | None = None,
                  limit: int = 50) -> list[dict]:
    """Frozen snapshots, newest first (optionally only those of one view family)."""
    ensure_tables(database_url)
    query = select(snapshots).order_by(snapshots.c.snapshot_id.desc()).limit(limit)
    if match_key is not None:
        query = query.where(snapshots.c.match_key == match_key)
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_snapshot_header(r) for r in rows]


def _snapshot_header(row) -> dict:
    header = dict(row)
    header["view"] = json.loads(header["view"])
    for key in ("created_at", "data_as_of"):
        header[key] = aware(header[key])
    return header


def snapshot_rows_frame(snapshot_id: int, database_url: str | None = None) -> pd.DataFrame:
    """The rows of one frozen snapshot, in their order."""
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(
            select(snapshot_rows).where(snapshot_rows.c.snapshot_id == snapshot_id)
            .order_by(snapshot_rows.c.position)).mappings().all()
    columns = [c.name for c in snapshot_rows.columns]
    return pd.DataFrame([dict(r) for r in rows], columns=columns)


def snapshot_header(snapshot_id: int, database_url: str | None = None) -> dict:
    ensure_tables(database_url)
    with get_engine(database_url).connect() as conn:
        row = conn.execute(select(snapshots).where(
            snapshots.c.snapshot_id == snapshot_id)).mappings().first()
    if row is None:
        raise ValueError(f"no frozen snapshot {snapshot_id}")
    return _snapshot_header(row)


# --- meeting packs ------------------------------------------------------------------------

def save_pack_row(name: str, title: str, views_json: str, actor: str,
                  database_url: str | None = None) -> int:
    """Insert or replace the pack called `name`; return its id."""
    ensure_tables(database_url)
    moment = now()
    with get_engine(database_url).begin() as conn:
        existing = conn.execute(select(meeting_packs.c.pack_id).where(
            meeting_packs.c.name == name)).scalar_one_or_none()
        if existing is not None:
            conn.execute(update(meeting_packs).where(meeting_packs.c.pack_id == existing)
                         .values(title=title, views=views_json, updated_at=moment,
                                 actor=actor))
            return existing
        return conn.execute(
            insert(meeting_packs).returning(meeting_packs.c.pack_id),
            {"name": name, "title": title, "views": views_json, "created_at": moment,
             "updated_at": moment, "actor": actor}).scalar_one()


def pack_row(name_or_id: str | int, database_url: str | None = None) -> dict:
    ensure_tables(database_url)
    column = meeting_packs.c.pack_id if isinstance(name_or_id, int) else meeting_packs.c.name
    with get_engine(database_url).connect() as conn:
        row = conn.execute(select(meeting_packs).where(column == name_or_id)).mappings().first()
    if row is None:
        raise ValueError(f"no saved meeting pack {name_or_id!r}")
    return dict(row)


def pack_rows(database_url: str | None = None) -> list[dict]:
    ensure_tables(database_url)
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(select(meeting_packs).order_by(
            func.lower(meeting_packs.c.name))).mappings().all()
    return [dict(r) for r in rows]
