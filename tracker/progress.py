"""Progress through Commit, Learn, Data, Vision and Launch.

Until champions record items themselves (the tracker pages), progress counts only what the
data can decide; every item says whether it was decided automatically (`auto`).
"""
from __future__ import annotations

from sqlalchemy import case, func, select

from store.engine import ensure_schema
from store.schema import patients, results
from store.vocabulary import NOT_KNOWN_GROUPS

COMPLETENESS_TARGET = 0.95

# (phase id, name, [(item id, title, rule or None)]); None = recorded by a person.
PHASES = (
    ("commit", "Commit", [
        ("assess", "Know whether access, screening, treatment or outcomes differ by race, "
                   "ethnicity or language", None),
        ("champions", "Identify equity champions", None),
        ("statement", "Commitment statement signed by leaders", None),
    ]),
    ("learn", "Learn", [
        ("sessions", "Learning sessions held on racism and equity", None),
        ("language", "Adopt the AMA-AAMC guide to language, narrative and concepts", None),
    ]),
    ("data", "Data", [
        ("loaded", "Patient quality data loaded", "data_loaded"),
        ("stratified", "At least three measures stratified by race, ethnicity and language",
         "three_measures"),
        ("complete", "Race and ethnicity recorded for at least 95 % of patients",
         "demographics_complete"),
        ("community", "Community data reviewed (payers, local health department)", None),
    ]),
    ("vision", "Vision", [
        ("charter", "At least one equity-focused SMART goal chartered", None),
        ("team", "Leaders working in teams on a few key measures", None),
    ]),
    ("launch", "Launch", [
        ("intervention", "An intervention under way with a run chart", None),
        ("report", "Progress reported to leaders", None),
    ]),
)


def phase_progress(database_url: str | None = None) -> list[dict]:
    """[{id, name, percent, items: [{id, title, status, done, auto}]}] in phase order."""
    facts = _facts(database_url)
    phases = []
    for phase_id, name, items in PHASES:
        listed = []
        for item_id, title, rule in items:
            done = bool(facts[rule]) if rule else False
            listed.append({
                "id": item_id, "title": title, "done": done, "auto": rule is not None,
                "status": "done" if done else "not started",
            })
        percent = 100.0 * sum(item["done"] for item in listed) / len(listed)
        phases.append({"id": phase_id, "name": name, "percent": percent, "items": listed})
    return phases


def race_ethnicity_recorded(database_url: str | None = None) -> float | None:
    """Share of patients whose race and ethnicity are both recorded with a known value (not
    missing, Unknown or Asked but no answer); None when no patient is loaded."""
    known = [
        column.is_not(None) & column.not_in(list(NOT_KNOWN_GROUPS))
        for column in (patients.c.race, patients.c.ethnicity)
    ]
    with ensure_schema(database_url).connect() as conn:
        total, recorded = conn.execute(select(
            func.count(), func.sum(case((known[0] & known[1], 1), else_=0)))).one()
    return (recorded or 0) / total if total else None


def _facts(database_url: str | None) -> dict[str, bool]:
    engine = ensure_schema(database_url)
    with engine.connect() as conn:
        counted = conn.execute(
            select(func.count(func.distinct(results.c.measure_id))).where(
                results.c.denominator == 1)
        ).scalar_one()
    recorded = race_ethnicity_recorded(database_url)
    return {
        "data_loaded": counted > 0,
        "three_measures": counted >= 3,
        "demographics_complete": recorded is not None and recorded >= COMPLETENESS_TARGET,
    }
