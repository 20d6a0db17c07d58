"""Learn: the learning log, the curated learning resources and the project's glossary."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from tracker import records, schema
from tracker.records import Invalid
from tracker.seed import load

FORMATS = ("Workshop", "Grand rounds", "Reading group", "E-learning",
           "Listening session with patients", "Listening session with staff",
           "Community meeting", "Other")
LOG_FIELDS = ("held_on", "topic", "format", "participants", "materials")


def _entry(values: dict, partial: bool = False) -> dict:
    unknown = set(values) - set(LOG_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cleaned = dict(values)
    if not partial or "topic" in cleaned:
        cleaned["topic"] = (cleaned.get("topic") or "").strip()
        if not cleaned["topic"]:
            raise Invalid("Say what the session was about (topic).")
    if (not partial or "format" in cleaned) and cleaned.get("format") not in FORMATS:
        raise Invalid(f"Format must be one of: {', '.join(FORMATS)}.")
    if (not partial or "held_on" in cleaned) and not isinstance(cleaned.get("held_on"), date):
        raise Invalid("Give the date the session was held.")
    if not partial or "participants" in cleaned:
        participants = cleaned.get("participants")
        if (isinstance(participants, bool) or not isinstance(participants, int)
                or participants < 0):
            raise Invalid("Participants is a whole number, 0 or more.")
    if "materials" in cleaned or not partial:
        cleaned["materials"] = (cleaned.get("materials") or "").strip()
    return cleaned


def learning_log(database_url: str | None = None) -> list[dict]:
    """The sessions, most recent first."""
    table = schema.learning
    return records.rows(database_url, select(table).order_by(table.c.held_on.desc(),
                                                             table.c.entry_id.desc()))


def log_learning(database_url: str | None, by: str, held_on: date, topic: str, format: str,
                 participants: int, materials: str = "") -> dict:
    values = _entry({"held_on": held_on, "topic": topic, "format": format,
                     "participants": participants, "materials": materials})
    with records.ready_engine(database_url).begin() as conn:
        return records.create(conn, schema.learning, values, by, "learning")


def update_learning(database_url: str | None, entry_id: int, expected_version: int, by: str,
                    **changes) -> dict:
    values = _entry(changes, partial=True)
    with records.ready_engine(database_url).begin() as conn:
        return records.change(conn, schema.learning, entry_id, expected_version, values, by,
                              "learning", "This learning-log entry")


def remove_learning(database_url: str | None, entry_id: int, expected_version: int,
                    by: str) -> None:
    with records.ready_engine(database_url).begin() as conn:
        records.remove(conn, schema.learning, entry_id, expected_version, by, "learning",
                       "This learning-log entry")


def resources() -> list[dict]:
    """The curated learning resources: id, kind, step, citation, why."""
    return list(load("resources")["resources"])


def glossary() -> list[dict]:
    """The glossary written for this project: term, definition, sources (resource ids),
    and `cited`: the full citations of those sources."""
    cited = {resource["id"]: resource["citation"] for resource in resources()}
    return [{**term, "cited": [cited[source] for source in term["sources"]]}
            for term in load("glossary")["terms"]]
