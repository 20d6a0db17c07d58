"""Progress through Commit, Learn, Data, Vision and Launch.

Percent done per phase = items done / items on the checklist. Items with a rule are decided
by the data and marked `auto` (`facts` below says, for each rule, whether it is met and why);
the others are done when a person marks them done on the phase's page.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select

from metrics import privacy
from store import counts
from store.engine import ensure_schema
from store.schema import measures, patients, results
from store.vocabulary import NOT_KNOWN_GROUPS
from tracker import records, schema
from tracker.algorithms import reviewed
from tracker.seed import phase_names

COMPLETENESS_TARGET = 0.95
# The completeness checks of data_quality whose success in the latest validation completes
# "demographic completeness above target".
DEMOGRAPHIC_CHECKS = ("race_complete", "ethnicity_complete", "preferred_language_complete")
ASKED_WITHIN_DAYS = 365
THREE = 3

PHASES = tuple(phase_names().items())  # (("commit", "Commit"), ...) in the toolkit's order


def phase_progress(database_url: str | None = None, today: date | None = None) -> list[dict]:
    """[{id, name, percent, items: [{id, title, status, done, auto}]}] in phase order."""
    from tracker.checklist import checklist

    return [
        {"id": phase["id"], "name": phase["name"], "percent": phase["percent"],
         "items": [{"id": item["item_id"], "title": item["title"], "status": item["status"],
                    "done": item["done"], "auto": item["auto"]} for item in phase["items"]]}
        for phase in checklist(database_url, today)
    ]


def progress_report(database_url: str | None = None, today: date | None = None) -> dict:
    """What `python manage.py progress --format json` prints:
    {"phases": [{"id", "name", "percent", "items": [{"id", "title", "status", "done",
    "auto"}]}]} with the phases commit, learn, data, vision, launch in that order."""
    return {"phases": phase_progress(database_url, today)}


def progress_text(report: dict) -> str:
    """The report for a terminal: one line per phase, one per item ([x] done, (auto))."""
    lines = []
    for phase in report["phases"]:
        done = sum(item["done"] for item in phase["items"])
        lines.append(f"{phase['name']}: {phase['percent']:.0f} % "
                     f"({done} of {len(phase['items'])})")
        for item in phase["items"]:
            mark = "x" if item["done"] else " "
            auto = " (auto)" if item["auto"] else ""
            lines.append(f"  [{mark}] {item['title']}{auto} — {item['status']}")
    return "\n".join(lines)


def race_ethnicity_counts(database_url: str | None = None) -> tuple[int, int]:
    """(patients whose race and ethnicity are both recorded with a known value (not missing,
    Unknown or Asked but no answer), patients loaded)."""
    with ensure_schema(database_url).connect() as conn:
        if counts.current(conn):  # the import's patients by label: a few thousand rows
            table = counts.patient_counts
            known = [table.c[name].not_in(list(NOT_KNOWN_GROUPS))  # (NULL is "Missing")
                     for name in ("race", "ethnicity")]
            total, each = func.sum(table.c.patients), table.c.patients
        else:
            known = [column.is_not(None) & column.not_in(list(NOT_KNOWN_GROUPS))
                     for column in (patients.c.race, patients.c.ethnicity)]
            total, each = func.count(), 1
        total, recorded = conn.execute(select(
            total, func.sum(case((known[0] & known[1], each), else_=0)))).one()
    return int(recorded or 0), int(total or 0)


def race_ethnicity_recorded(database_url: str | None = None) -> float | None:
    """Share of patients whose race and ethnicity are both recorded with a known value;
    None when no patient is loaded. Exact: for decisions (the target); to show it, use
    `race_ethnicity_shown`."""
    recorded, total = race_ethnicity_counts(database_url)
    return recorded / total if total else None


def race_ethnicity_shown(database_url: str | None = None) -> tuple[float | None, str]:
    """The same share as it may be shown beside the patients loaded: (share, bound) from
    `metrics.privacy.shown_share` ("at least" when 1 to 10 patients lack it)."""
    return privacy.shown_share(*race_ethnicity_counts(database_url))


# --- the rules ----------------------------------------------------------------------------
def facts(database_url: str | None = None, today: date | None = None) -> dict[str, tuple]:
    """{rule: (met, evidence)} for every rule an item can name; evidence is a sentence."""
    today = today or date.today()
    engine = records.ready_engine(database_url)
    with engine.connect() as conn:
        # One index probe per catalog measure (ix_results_measure_period), not a scan of
        # the results: this runs again after every save in the tracker.
        counted = (select(results.c.measure_id)
                   .where(results.c.measure_id == measures.c.measure_id,
                          results.c.denominator == 1).exists())
        measured = conn.execute(select(func.count()).select_from(measures).where(counted)
                                ).scalar_one()
        known = conn.execute(select(func.count()).select_from(schema.questions).where(
            schema.questions.c.kind == "known")).scalar_one()
        answered = conn.execute(select(func.count()).select_from(schema.questions).where(
            schema.questions.c.kind == "known", schema.questions.c.answer.is_not(None),
            schema.questions.c.answer != "")).scalar_one()
        asked = {row.question_id: row.answer for row in conn.execute(
            select(schema.questions.c.question_id, schema.questions.c.answer).where(
                schema.questions.c.kind == "date"))}
        champions = conn.execute(select(func.count()).select_from(schema.champions)
                                 ).scalar_one()
        commitment = conn.execute(select(schema.commitments)).mappings().first()
        sessions = conn.execute(select(func.count()).select_from(schema.learning)
                                ).scalar_one()
        chartered = conn.execute(select(func.count()).select_from(schema.goals).where(
            schema.goals.c.status == "chartered")).scalar_one()
        running = _running_intervention(conn, today)
        algorithms_reviewed = reviewed(conn)

    return {
        "data_loaded": (measured > 0, f"{measured} measure(s) with counted cases loaded."),
        "three_measures": (measured >= THREE,
                           f"{measured} measure(s) with data, each stratified by race, "
                           f"ethnicity and language on the explorer (needs {THREE})."),
        "demographics_complete": demographics_complete(database_url),
        "self_assessment_answered": (
            known > 0 and answered == known,
            f"{answered} of {known} self-assessment questions answered."),
        "racism_asked_this_year": _asked(asked, today),
        "champions_named": (champions > 0, f"{champions} champion(s) on the roster."),
        "statement_signed": _signed(commitment),
        "learning_logged": (sessions > 0, f"{sessions} learning session(s) logged."),
        "goal_chartered": (chartered > 0, f"{chartered} SMART goal(s) chartered."),
        "intervention_running": running,
        "algorithms_reviewed": algorithms_reviewed,
    }


def _asked(answers: dict, today: date) -> tuple[bool, str]:
    if not answers:
        return False, "No question about asking patients and staff."
    dates = []
    for answer in answers.values():
        try:
            dates.append(date.fromisoformat(answer) if answer else None)
        except ValueError:
            dates.append(None)
    if any(d is None for d in dates):
        return False, "Not yet answered for both patients and staff."
    oldest = min(dates)
    recent = oldest >= today - timedelta(days=ASKED_WITHIN_DAYS)
    return recent, (f"Patients and staff last asked on {', '.join(d.isoformat() for d in dates)}"
                    + ("." if recent else f": more than {ASKED_WITHIN_DAYS} days ago."))


def _signed(commitment) -> tuple[bool, str]:
    if commitment is None or not (commitment["text"] or "").strip():
        return False, "No commitment statement written yet."
    if not commitment["signed_by"]:
        return False, "The statement is written but not signed."
    return True, (f"Signed by {commitment['signed_by']}"
                  + (f" ({commitment['signer_role']})" if commitment["signer_role"] else "")
                  + (f" on {commitment['signed_on'].isoformat()}."
                     if commitment["signed_on"] else "."))


def _running_intervention(conn, today: date) -> tuple[bool, str]:
    """An intervention that has started and not ended, on a chartered goal whose measure has
    data (so that its run chart can be drawn)."""
    i, g = schema.interventions, schema.goals
    with_data = select(results.c.measure_id).where(results.c.measure_id == g.c.measure_id,
                                                   results.c.denominator == 1).exists()
    found = conn.execute(
        select(i.c.name, g.c.title).select_from(i.join(g, g.c.goal_id == i.c.goal_id))
        .where(i.c.start_date <= today, or_(i.c.end_date.is_(None), i.c.end_date >= today),
               and_(g.c.status == "chartered", with_data))
        .order_by(i.c.start_date).limit(1)).first()
    if found is None:
        return False, "No intervention under way on a chartered goal with data."
    return True, f"{found.name!r} under way for the goal {found.title!r}."


def demographics_complete(database_url: str | None = None) -> tuple[bool, str]:
    """Race, ethnicity and preferred language recorded often enough: from the latest
    validation that ran the completeness checks (data_quality); without any, from the data
    directly (race and ethnicity both known for at least 95 % of patients)."""
    import data_quality

    report = data_quality.latest_run(database_url)
    looked = 0
    while report is not None and looked < 10:
        found = [r for r in report.results if r.check in DEMOGRAPHIC_CHECKS]
        if found:
            failed = [r.column for r in found if not r.success]
            when = report.started_at.strftime("%Y-%m-%d") if report.started_at else "?"
            if failed:
                return False, (f"Latest validation (run {report.run_id}, {when}): below target "
                               f"for {', '.join(failed)}.")
            return True, (f"Latest validation (run {report.run_id}, {when}): "
                          f"{', '.join(r.column for r in found)} complete above target.")
        looked += 1
        report = data_quality.latest_run(database_url, before=report.run_id)
    recorded, total = race_ethnicity_counts(database_url)
    if not total:
        return False, "No patients loaded."
    met = recorded / total >= COMPLETENESS_TARGET
    shown, bound = privacy.shown_share(recorded, total)
    share = ("a share not shown (fewer than 11 patients)" if shown is None
             else f"{bound + ' ' if bound else ''}{100 * shown:.1f} % of patients")
    return met, (f"No validation run stored yet; measured directly: race and ethnicity both "
                 f"recorded for {share} (target {100 * COMPLETENESS_TARGET:.0f} %).")
