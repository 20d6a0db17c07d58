"""The checklist of the five phases: items, their status, and the cross-walk to frameworks.

An item with a `rule` is decided by the data (the loaded quality data, the latest
validation, or what the team recorded in the tracker: champions, answers, goals...): it is
done exactly when its rule is met, and is marked `auto`. A person may still record an owner,
a due date, "in progress" and evidence on it, but cannot tick it done by hand. Items without
a rule are done when a person marks them done.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

from sqlalchemy import func, select

from tracker import records, schema
from tracker.records import Invalid
from tracker.seed import load, phase_names, phases

STATUSES = ("not started", "in progress", "done")
EDITABLE = ("owner", "due_date", "status", "evidence", "title", "why")


def _items(database_url: str | None) -> list[dict]:
    return records.rows(database_url, select(schema.items)
                        .where(schema.items.c.archived.is_(False))
                        .order_by(schema.items.c.phase, schema.items.c.position,
                                  schema.items.c.source.desc()))  # a seed item first


def checklist(database_url: str | None = None, today: date | None = None) -> list[dict]:
    """The phases in the toolkit's order, each {id, name, percent, done, total, items}; each
    item has its stored fields (item_id, title, why, owner, due_date, evidence, crosswalk,
    source, version, changed_by, changed_at, recorded_status) and what the rules decided:
    status, done, auto (decided by a rule), rule_met and rule_evidence (a sentence)."""
    from tracker.progress import facts

    decided = facts(database_url, today)
    by_phase: dict[str, list[dict]] = {phase_id: [] for phase_id in phase_names()}
    for item in _items(database_url):
        item["crosswalk"] = json.loads(item["crosswalk"] or "[]")
        item["recorded_status"] = item["status"]
        item["auto"] = item["rule"] is not None
        if item["auto"]:
            met, evidence = decided.get(item["rule"], (False, "rule not known"))
            item["rule_met"], item["rule_evidence"] = met, evidence
            item["done"] = met
            # "done" recorded by hand before a release gave the item its rule is not done.
            recorded = item["recorded_status"]
            item["status"] = "done" if met else (
                "in progress" if recorded == "done" else recorded)
        else:
            item["rule_met"], item["rule_evidence"] = None, ""
            item["done"] = item["status"] == "done"
        by_phase.setdefault(item["phase"], []).append(item)
    listed = []
    for phase_id, name in phase_names().items():
        items = by_phase.get(phase_id, [])
        done = sum(item["done"] for item in items)
        listed.append({"id": phase_id, "name": name, "done": done, "total": len(items),
                       "percent": round(100.0 * done / len(items), 1) if items else 0.0,
                       "items": items})
    return listed


def item(database_url: str | None, item_id: str) -> dict:
    for phase in checklist(database_url):
        for found in phase["items"]:
            if found["item_id"] == item_id:
                return found
    raise records.NotFound(f"No checklist item {item_id!r}.")


def _clean(changes: Mapping, rule: str | None, source: str) -> dict:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    cleaned = dict(changes)
    if "status" in cleaned:
        if cleaned["status"] not in STATUSES:
            raise Invalid(f"Status must be one of: {', '.join(STATUSES)}.")
        if rule is not None and cleaned["status"] == "done":
            raise Invalid("This item is decided by the data: it is marked done automatically "
                          "when its rule is met, not by hand.")
    if source == "seed" and ({"title", "why"} & set(cleaned)):
        raise Invalid("The title of a toolkit item is fixed (it carries the cross-walk); add "
                      "your own item instead.")
    for name in ("owner", "evidence", "title", "why"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "title" in cleaned and not cleaned["title"]:
        raise Invalid("An item needs a title.")
    if "due_date" in cleaned and cleaned["due_date"] is not None and not isinstance(
            cleaned["due_date"], date):
        raise Invalid("The due date must be a date.")
    return cleaned


def update_item(database_url: str | None, item_id: str, expected_version: int, by: str,
                **changes) -> dict:
    """Change an item's owner, due_date, status, evidence (and title, why on your own items)
    if it is still at `expected_version`; Conflict otherwise."""
    engine = records.ready_engine(database_url)
    with engine.begin() as conn:
        current = conn.execute(select(schema.items.c.rule, schema.items.c.source)
                               .where(schema.items.c.item_id == item_id)).first()
        if current is None:
            raise records.NotFound(f"No checklist item {item_id!r}.")
        cleaned = _clean(changes, current.rule, current.source)
        return records.change(conn, schema.items, item_id, expected_version, cleaned, by,
                              "item", f"The item {item_id!r}")


def add_item(database_url: str | None, phase: str, title: str, by: str, why: str = "",
             owner: str = "", due_date: date | None = None, status: str = "not started",
             evidence: str = "") -> dict:
    """Add the organisation's own item to a phase (decided by a person, no rule)."""
    if phase not in phase_names():
        raise Invalid(f"Phase must be one of: {', '.join(phase_names())}.")
    cleaned = _clean({"title": title, "why": why, "owner": owner, "due_date": due_date,
                      "status": status, "evidence": evidence}, None, "custom")
    engine = records.ready_engine(database_url)
    with engine.begin() as conn:
        position = conn.execute(select(func.coalesce(func.max(schema.items.c.position), -1))
                                .where(schema.items.c.phase == phase)).scalar_one() + 1
        count = conn.execute(select(func.count()).select_from(schema.items)
                             .where(schema.items.c.source == "custom")).scalar_one()
        taken = set(conn.execute(select(schema.items.c.item_id)).scalars())
        number = count + 1
        while f"{phase}.own{number}" in taken:
            number += 1
        return records.create(conn, schema.items, {
            "item_id": f"{phase}.own{number}", "phase": phase, "position": position,
            "rule": None, "crosswalk": "[]", "source": "custom", "archived": False,
            **cleaned}, by, "item")


def archive_item(database_url: str | None, item_id: str, expected_version: int,
                 by: str) -> dict:
    """Take one of the organisation's own items off the checklist (kept, with its history)."""
    engine = records.ready_engine(database_url)
    with engine.begin() as conn:
        source = conn.execute(select(schema.items.c.source)
                              .where(schema.items.c.item_id == item_id)).scalar()
        if source is None:
            raise records.NotFound(f"No checklist item {item_id!r}.")
        if source != "custom":
            raise Invalid("Toolkit items stay on the checklist; mark them done or leave them.")
        return records.change(conn, schema.items, item_id, expected_version,
                              {"archived": True}, by, "item", f"The item {item_id!r}",
                              action="removed")


# --- the cross-walk -----------------------------------------------------------------------
def frameworks() -> dict:
    """The frameworks cross-walked (CMS HCHE domains, TJC equity standard), as seeded."""
    return load("frameworks")


def crosswalk(database_url: str | None = None, phases_now: list[dict] | None = None,
              today: date | None = None) -> list[dict]:
    """The self-assessment: one row per framework element with the checklist items mapped
    to it and whether all of them are done (`met`). A framework's `points` are its met
    elements (CMS scores one point per domain)."""
    listed = phases_now if phases_now is not None else checklist(database_url, today)
    mapped: dict[str, list[dict]] = {}
    for phase in listed:
        for entry in phase["items"]:
            for element in entry["crosswalk"]:
                mapped.setdefault(element, []).append(
                    {"item_id": entry["item_id"], "phase": phase["name"],
                     "title": entry["title"], "done": entry["done"], "auto": entry["auto"]})
    rows = []
    for framework in frameworks()["frameworks"]:
        for element in framework["elements"]:
            items = mapped.get(element["id"], [])
            rows.append({
                "framework": framework["short"], "framework_name": framework["name"],
                "element_id": element["id"], "element": element["title"],
                "text": element["text"], "items": items,
                "done": sum(i["done"] for i in items), "total": len(items),
                "met": bool(items) and all(i["done"] for i in items),
            })
    return rows


def framework_scores(rows: list[dict]) -> dict[str, tuple[int, int]]:
    """{framework short name: (elements met, elements)} from `crosswalk` rows."""
    scores: dict[str, tuple[int, int]] = {}
    for row in rows:
        met, total = scores.get(row["framework"], (0, 0))
        scores[row["framework"]] = (met + row["met"], total + 1)
    return scores


__all__ = ["STATUSES", "add_item", "archive_item", "checklist", "crosswalk",
           "framework_scores", "frameworks", "item", "phases", "update_item"]
