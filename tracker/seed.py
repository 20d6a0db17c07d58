"""The tracker's content as data (tracker/seed/*.json) and the seeding of a database.

Seeding adds what is missing and never changes what an organisation edits (owners, due
dates, statuses, evidence, answers): those survive every restart and every new release of the
seed files; items added to a later seed file appear on the next start. The fields of a
toolkit item that nobody can edit (its phase, place, title, why, rule and cross-walk) follow
the seed file of the release, so an item that a release moves or gives a rule follows it.

The race-based clinical algorithms (seed/algorithms.json) are loaded once: a tool is added
when it has never been in the inventory, so one the organisation removed (not used here)
stays removed, its removal kept in the history.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker import schema

SEED = Path(__file__).resolve().parent / "seed"
SEEDED_BY = "seed"


@functools.cache
def load(name: str) -> dict:
    """One seed file (items, questions, frameworks, resources, glossary) as parsed JSON."""
    return json.loads((SEED / f"{name}.json").read_text(encoding="utf-8"))


def phases() -> list[dict]:
    """[{id, name, items: [...]}] in the toolkit's order."""
    return load("items")["phases"]


def phase_names() -> dict[str, str]:
    return {phase["id"]: phase["name"] for phase in phases()}


def seed(engine: Engine) -> None:
    """Insert the seed items, questions, algorithms and the empty commitment that are not
    there yet; bring the toolkit items' fixed fields in line with the seed file."""
    for attempt in range(2):
        try:
            _seed(engine)
            return
        except IntegrityError:
            # Another process seeded the same rows at the same moment: look again.
            if attempt:
                raise


def _seed(engine: Engine) -> None:
    from tracker.records import now

    moment = now()
    stamp = {"version": 1, "changed_by": SEEDED_BY, "changed_at": moment}
    with engine.begin() as conn:
        have = set(conn.execute(select(schema.items.c.item_id)).scalars())
        new_items = [
            {"item_id": item["id"], "phase": phase["id"], "position": position,
             "title": item["title"], "why": item.get("why", ""), "owner": "",
             "status": "not started", "evidence": "", "rule": item.get("rule"),
             "crosswalk": json.dumps(item.get("crosswalk", [])), "source": "seed",
             "archived": False, **stamp}
            for phase in phases()
            for position, item in enumerate(phase["items"])
            if item["id"] not in have
        ]
        if new_items:
            conn.execute(insert(schema.items), new_items)
        _follow_seed_file(conn, have)
        have = set(conn.execute(select(schema.questions.c.question_id)).scalars())
        new_questions = [
            {"question_id": question["id"], "position": position, "kind": question["kind"],
             "question": question["question"], "answer": None, "note": "", **stamp}
            for position, question in enumerate(load("questions")["questions"])
            if question["id"] not in have
        ]
        if new_questions:
            conn.execute(insert(schema.questions), new_questions)
        if conn.execute(select(schema.commitments.c.commitment_id)).first() is None:
            conn.execute(insert(schema.commitments).values(commitment_id=1, text="", **stamp))
        _seed_algorithms(conn, stamp)


# The fields of a toolkit item that no one edits (tracker.checklist refuses title and why).
FIXED = ("phase", "position", "title", "why", "rule", "crosswalk")


def _follow_seed_file(conn, present: set[str]) -> None:
    stored = {row.item_id: row for row in conn.execute(
        select(schema.items.c.item_id, *(schema.items.c[name] for name in FIXED))
        .where(schema.items.c.item_id.in_(present), schema.items.c.source == "seed"))}
    for phase in phases():
        for position, item in enumerate(phase["items"]):
            row = stored.get(item["id"])
            if row is None:
                continue
            wanted = {"phase": phase["id"], "position": position, "title": item["title"],
                      "why": item.get("why", ""), "rule": item.get("rule"),
                      "crosswalk": json.dumps(item.get("crosswalk", []))}
            if any(getattr(row, name) != value for name, value in wanted.items()):
                conn.execute(update(schema.items)
                             .where(schema.items.c.item_id == item["id"]).values(**wanted))


def _seed_algorithms(conn, stamp: dict) -> None:
    table = schema.algorithm_reviews
    have = set(conn.execute(select(table.c.algorithm_id)).scalars())
    removed = set(conn.execute(select(schema.changes.c.entity_id).where(
        schema.changes.c.entity == "algorithm", schema.changes.c.action == "removed"))
        .scalars())
    new_tools = [
        {"algorithm_id": tool["id"], "position": position, "tool": tool["tool"],
         "where_used": "", "race_term": tool["race_term"],
         "replacement": tool["replacement"], "status": "identified", "owner": "",
         "decision_date": None, "justification": "", "evidence": tool.get("evidence", ""),
         "source": "seed", **stamp}
        for position, tool in enumerate(load("algorithms")["tools"])
        if tool["id"] not in have | removed
    ]
    if new_tools:
        conn.execute(insert(table), new_tools)
