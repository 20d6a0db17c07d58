"""The tracker's content as data (tracker/seed/*.json) and the seeding of a database.

Seeding adds what is missing and never changes a row that exists: an organisation's edits
(owners, statuses, answers) survive every restart and every new release of the seed files;
items added to a later seed file appear on the next start.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

from sqlalchemy import Engine, insert, select
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
    """Insert the seed items, questions and the empty commitment that are not there yet."""
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
