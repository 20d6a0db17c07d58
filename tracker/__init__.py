"""The five phases of the STEPS Forward toolkit — Commit, Learn, Data, Vision, Launch — as a
tracker kept in the database. No streamlit here: the pages, the command line and the tests
call these functions the same way.

Importing this package registers its tables (`tracker_*`) on `store.schema.metadata`, so
`store.ensure_schema` creates them; `ensure_tables(url)` also seeds the checklist and the
self-assessment questions from tracker/seed/*.json.

    phase_progress(url), progress_report(url)       percent done per phase; rules from data
    checklist(url), update_item(...), add_item(...), crosswalk(url)
    self_assessment, answer_question, champions, add_champion, commitment, sign_commitment
    learning_log, log_learning, resources(), glossary()
    baseline(...), check_smart(goal), create_goal(...), charter_goal(...), charter_html(goal)
    interventions, add_intervention, add_pdsa, goal_status(goal, url)
    algorithms(url), add_algorithm, update_algorithm, remove_algorithm,
    review_summary(url), leader_line(summary), inventory_table(url)
                                                     the race-based clinical algorithms
    history(url)                                     the audit trail (tracker_changes)

Every update names the version it read and raises `Conflict` ("changed by X at T —
reload") when someone else changed the row since; every change is written to the audit
table in the same transaction.
"""
from tracker import schema
from tracker.algorithms import STATUSES as REVIEW_STATUSES
from tracker.algorithms import (
    add_algorithm,
    algorithm,
    algorithms,
    inventory_table,
    leader_line,
    remove_algorithm,
    review_summary,
    update_algorithm,
)
from tracker.checklist import (
    STATUSES,
    add_item,
    archive_item,
    checklist,
    crosswalk,
    framework_scores,
    frameworks,
    item,
    update_item,
)
from tracker.commit import (
    KNOWN_ANSWERS,
    add_champion,
    answer_question,
    champions,
    commitment,
    remove_champion,
    save_commitment,
    self_assessment,
    sign_commitment,
    update_champion,
)
from tracker.goals import (
    baseline,
    baseline_from_table,
    charter_goal,
    charter_html,
    charter_markdown,
    check_smart,
    create_goal,
    display_scale,
    goal,
    goals,
    is_smart,
    plausible_limit,
    show_rate,
    suggested_title,
    update_goal,
)
from tracker.launch import (
    GOAL_STATUSES,
    add_intervention,
    add_pdsa,
    goal_status,
    interventions,
    judge,
    pdsa_cycles,
    start_period,
    update_intervention,
    update_pdsa,
)
from tracker.learn import (
    FORMATS,
    glossary,
    learning_log,
    log_learning,
    remove_learning,
    resources,
    update_learning,
)
from tracker.progress import (
    PHASES,
    facts,
    phase_progress,
    progress_report,
    progress_text,
    race_ethnicity_counts,
    race_ethnicity_recorded,
    race_ethnicity_shown,
)
from tracker.records import Conflict, Invalid, NotFound, history


def ensure_tables(database_url: str | None = None) -> None:
    """Create the tracker's tables (and every other missing table of the schema), then add
    the seed rows that are missing. Safe to call on every start."""
    from tracker import records

    records.ready_engine(database_url)


__all__ = [
    "FORMATS", "GOAL_STATUSES", "KNOWN_ANSWERS", "PHASES", "REVIEW_STATUSES", "STATUSES",
    "Conflict", "Invalid", "NotFound", "add_algorithm", "add_champion", "add_intervention",
    "add_item", "add_pdsa", "algorithm", "algorithms", "answer_question",
    "archive_item", "baseline", "baseline_from_table", "champions", "charter_goal",
    "charter_html", "charter_markdown", "check_smart", "checklist", "commitment",
    "create_goal", "crosswalk", "display_scale", "ensure_tables", "facts",
    "framework_scores", "frameworks",
    "glossary", "goal", "goal_status", "goals", "history", "interventions",
    "inventory_table", "is_smart", "item", "judge", "leader_line", "learning_log",
    "log_learning", "pdsa_cycles", "phase_progress", "plausible_limit", "progress_report",
    "progress_text", "race_ethnicity_counts", "race_ethnicity_recorded", "race_ethnicity_shown",
    "remove_algorithm", "remove_champion",
    "remove_learning", "resources", "review_summary", "save_commitment", "schema",
    "self_assessment", "show_rate", "sign_commitment", "start_period", "suggested_title",
    "update_algorithm", "update_champion", "update_goal", "update_intervention",
    "update_item", "update_learning", "update_pdsa",
]
