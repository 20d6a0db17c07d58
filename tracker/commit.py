"""Commit: the self-assessment questions, the champions roster, the commitment statement."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from tracker import records, schema
from tracker.records import Invalid

KNOWN_ANSWERS = ("Yes", "Partly", "No", "Not sure")


# --- self-assessment ----------------------------------------------------------------------
def self_assessment(database_url: str | None = None) -> list[dict]:
    """The questions in order: question_id, kind (known | date), question, answer, note,
    answered_on, version, changed_by, changed_at."""
    return records.rows(database_url, select(schema.questions)
                        .order_by(schema.questions.c.position))


def answer_question(database_url: str | None, question_id: str, expected_version: int,
                    by: str, answer: str | date | None, note: str = "",
                    answered_on: date | None = None) -> dict:
    """Record an answer, dated (`answered_on`, default today). A `known` question takes one
    of KNOWN_ANSWERS; a `date` question takes the date patients or staff were last asked."""
    engine = records.ready_engine(database_url)
    with engine.begin() as conn:
        kind = conn.execute(select(schema.questions.c.kind)
                            .where(schema.questions.c.question_id == question_id)).scalar()
        if kind is None:
            raise records.NotFound(f"No question {question_id!r}.")
        if answer in (None, ""):
            stored = None
        elif kind == "known":
            if answer not in KNOWN_ANSWERS:
                raise Invalid(f"Answer one of: {', '.join(KNOWN_ANSWERS)}.")
            stored = answer
        else:
            if isinstance(answer, str):
                try:
                    answer = date.fromisoformat(answer)
                except ValueError as error:
                    raise Invalid("Give the date as YYYY-MM-DD.") from error
            if not isinstance(answer, date):
                raise Invalid("Give the date patients or staff were last asked.")
            if answer > date.today():
                raise Invalid("That date is in the future.")
            stored = answer.isoformat()
        return records.change(conn, schema.questions, question_id, expected_version, {
            "answer": stored, "note": (note or "").strip(),
            "answered_on": (answered_on or date.today()) if stored is not None else None,
        }, by, "question", "This question's answer", action="answered")


# --- champions ----------------------------------------------------------------------------
CHAMPION_FIELDS = ("name", "role", "department", "contact")


def _champion(values: dict) -> dict:
    cleaned = {name: (values.get(name) or "").strip() for name in CHAMPION_FIELDS
               if name in values}
    if "name" in cleaned and not cleaned["name"]:
        raise Invalid("A champion needs a name.")
    unknown = set(values) - set(CHAMPION_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
    return cleaned


def champions(database_url: str | None = None) -> list[dict]:
    return records.rows(database_url, select(schema.champions)
                        .order_by(schema.champions.c.champion_id))


def add_champion(database_url: str | None, by: str, name: str, role: str = "",
                 department: str = "", contact: str = "") -> dict:
    values = _champion({"name": name, "role": role, "department": department,
                        "contact": contact})
    with records.ready_engine(database_url).begin() as conn:
        return records.create(conn, schema.champions, values, by, "champion")


def update_champion(database_url: str | None, champion_id: int, expected_version: int,
                    by: str, **changes) -> dict:
    values = _champion(changes)
    with records.ready_engine(database_url).begin() as conn:
        return records.change(conn, schema.champions, champion_id, expected_version, values,
                              by, "champion", "This champion's entry")


def remove_champion(database_url: str | None, champion_id: int, expected_version: int,
                    by: str) -> None:
    with records.ready_engine(database_url).begin() as conn:
        records.remove(conn, schema.champions, champion_id, expected_version, by, "champion",
                       "This champion's entry")


# --- the commitment statement -------------------------------------------------------------
def commitment(database_url: str | None = None) -> dict:
    """The statement: text, signed_by, signer_role, signed_on, version, changed_by/at."""
    found = records.rows(database_url, select(schema.commitments)
                         .where(schema.commitments.c.commitment_id == 1))
    return found[0]


def save_commitment(database_url: str | None, expected_version: int, by: str,
                    text: str) -> dict:
    """Change the statement's words. A signed statement whose words change loses its
    signature: it must be signed again."""
    text = (text or "").strip()
    with records.ready_engine(database_url).begin() as conn:
        current = conn.execute(select(schema.commitments.c.text)
                               .where(schema.commitments.c.commitment_id == 1)).scalar()
        changes: dict = {"text": text}
        if text != current:
            changes.update(signed_by=None, signer_role=None, signed_on=None)
        return records.change(conn, schema.commitments, 1, expected_version, changes, by,
                              "commitment", "The commitment statement")


def sign_commitment(database_url: str | None, expected_version: int, by: str, signer: str,
                    role: str = "", signed_on: date | None = None) -> dict:
    """Sign off the statement as it stands (at `expected_version`: the words read)."""
    signer = (signer or "").strip()
    if not signer:
        raise Invalid("Who signs? Give the leader's name.")
    with records.ready_engine(database_url).begin() as conn:
        current = conn.execute(select(schema.commitments.c.text)
                               .where(schema.commitments.c.commitment_id == 1)).scalar()
        if not (current or "").strip():
            raise Invalid("Write the statement before it is signed.")
        return records.change(conn, schema.commitments, 1, expected_version, {
            "signed_by": signer, "signer_role": (role or "").strip(),
            "signed_on": signed_on or date.today()}, by, "commitment",
            "The commitment statement", action="signed")
