"""The tracker's tables, on `store.schema.metadata` so that `store.ensure_schema` creates them.

Every editable row carries `version` (raised by one on each change), `changed_by` and
`changed_at`: an update names the version it was based on and is refused when the row has
moved on since (see `tracker.repository`). Every change is written to `tracker_changes` in the
same transaction as the change itself.
"""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from store.schema import metadata


def _versioned() -> list[Column]:
    return [
        Column("version", Integer, nullable=False, default=1),
        Column("changed_by", Text, nullable=False),
        Column("changed_at", DateTime(timezone=True), nullable=False),
    ]


# The checklist of the five phases: seeded from tracker/seed/items.json, extended by the
# organisation (source "custom"). `rule` names the rule that decides the item from the data.
items = Table(
    "tracker_items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("phase", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("why", Text, nullable=False, default=""),
    Column("owner", Text, nullable=False, default=""),
    Column("due_date", Date),
    Column("status", String(16), nullable=False, default="not started"),
    Column("evidence", Text, nullable=False, default=""),
    Column("rule", String(32)),
    Column("crosswalk", Text, nullable=False, default="[]"),  # JSON list of element ids
    Column("source", String(8), nullable=False),  # seed | custom
    Column("archived", Boolean, nullable=False, default=False),
    *_versioned(),
)

# Commit: the toolkit's self-assessment questions, seeded; the answers are edited in place.
questions = Table(
    "tracker_questions",
    metadata,
    Column("question_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # known | date
    Column("question", Text, nullable=False),
    Column("answer", Text),  # Yes | Partly | No | Not sure (known), or an ISO date (date)
    Column("note", Text, nullable=False, default=""),
    Column("answered_on", Date),
    *_versioned(),
)

champions = Table(
    "tracker_champions",
    metadata,
    Column("champion_id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False, default=""),
    Column("department", Text, nullable=False, default=""),
    Column("contact", Text, nullable=False, default=""),
    *_versioned(),
)

# One row (commitment_id 1): the statement and its sign-off. Changing the text after it was
# signed removes the signature (a signature is for the words signed).
commitments = Table(
    "tracker_commitments",
    metadata,
    Column("commitment_id", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False, default=""),
    Column("signed_by", Text),
    Column("signer_role", Text),
    Column("signed_on", Date),
    *_versioned(),
)

learning = Table(
    "tracker_learning",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("held_on", Date, nullable=False),
    Column("topic", Text, nullable=False),
    Column("format", String(32), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("materials", Text, nullable=False, default=""),
    *_versioned(),
)

# Vision: equity-focused SMART goals. The baseline is copied from the data when the goal is
# drafted, so the charter keeps saying what the team saw even after later imports.
goals = Table(
    "tracker_goals",
    metadata,
    Column("goal_id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("measure_id", String(64), nullable=False),
    Column("measure_name", Text, nullable=False),
    Column("unit", Text),
    Column("higher_is_better", Boolean, nullable=False),
    Column("stratifier", String(64), nullable=False),
    Column("group_name", Text, nullable=False),
    Column("reference_group", Text, nullable=False),
    Column("filters", Text, nullable=False, default="{}"),  # JSON: where of the baseline
    Column("baseline_rate", Float),
    Column("baseline_numerator", Integer),
    Column("baseline_n", Integer),
    Column("reference_rate", Float),
    Column("reference_n", Integer),
    Column("baseline_from", String(7)),
    Column("baseline_to", String(7)),
    Column("flagged", Boolean, nullable=False, default=False),
    Column("relevance", Text, nullable=False, default=""),
    Column("target_rate", Float),
    Column("deadline", Date),
    Column("owner", Text, nullable=False, default=""),
    Column("sponsor", Text, nullable=False, default=""),
    Column("team", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="draft"),  # draft|chartered|retired
    Column("chartered_by", Text),
    Column("chartered_at", DateTime(timezone=True)),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    *_versioned(),
)

interventions = Table(
    "tracker_interventions",
    metadata,
    Column("intervention_id", Integer, primary_key=True, autoincrement=True),
    Column("goal_id", Integer, ForeignKey("tracker_goals.goal_id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owner", Text, nullable=False, default=""),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date),
    *_versioned(),
)

pdsa_cycles = Table(
    "tracker_pdsa_cycles",
    metadata,
    Column("cycle_id", Integer, primary_key=True, autoincrement=True),
    Column("intervention_id", Integer, ForeignKey("tracker_interventions.intervention_id"),
           nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_on", Date, nullable=False),
    Column("plan", Text, nullable=False, default=""),
    Column("do", Text, nullable=False, default=""),
    Column("study", Text, nullable=False, default=""),
    Column("act", Text, nullable=False, default=""),
    *_versioned(),
)
Index("ix_tracker_pdsa_intervention", pdsa_cycles.c.intervention_id)

# The inventory of race-based clinical algorithms (issue #10): the tools of
# tracker/seed/algorithms.json, loaded once (source "seed"), and the system's own pathways
# (source "custom"). The review rules (tracker.algorithms) decide what a status needs.
algorithm_reviews = Table(
    "algorithm_reviews",
    metadata,
    Column("algorithm_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("tool", Text, nullable=False),
    Column("where_used", Text, nullable=False, default=""),
    Column("race_term", Text, nullable=False, default=""),
    Column("replacement", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False, default="identified"),
    Column("owner", Text, nullable=False, default=""),
    Column("decision_date", Date),
    Column("justification", Text, nullable=False, default=""),
    Column("evidence", Text, nullable=False, default=""),
    Column("source", String(8), nullable=False),  # seed | custom
    *_versioned(),
)

# The audit trail: who changed what, when, with the values before and after (JSON).
changes = Table(
    "tracker_changes",
    metadata,
    Column("change_id", Integer, primary_key=True, autoincrement=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", Text, nullable=False),
    Column("entity", String(32), nullable=False),  # item, question, champion, goal, algorithm, ...
    Column("entity_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # created | updated | removed | ...
    Column("before", Text),  # JSON object of the changed fields, or null when created
    Column("after", Text),  # JSON object, or null when removed
)
Index("ix_tracker_changes_entity", changes.c.entity, changes.c.entity_id)

TABLES = (items, questions, champions, commitments, learning, goals, interventions,
          pdsa_cycles, algorithm_reviews, changes)
