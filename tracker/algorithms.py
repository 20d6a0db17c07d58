"""The inventory of race-based clinical algorithms: where each tool is used, its race term, the
race-neutral replacement, and the review's status, owner, decision date and evidence.

The tools of Vyas, Eisenstein and Jones (NEJM 2020) are preloaded once from
tracker/seed/algorithms.json; the system adds its own pathways. A review is open until it
ends in a decision:

    identified                   on the list, not yet looked at
    under review                 someone is looking at it
    replaced                     decided: the race-neutral replacement is in use
    retained with justification  decided: kept, and the justification says why

The rules hold in these functions, whatever a form shows: a decision ("replaced" or
"retained with justification") needs an owner and a decision date (not in the future), and
"retained with justification" needs the justification. Reading needs the `see_tracker`
permission, writing `edit_tracker`. The checklist item "Clinical pathways and algorithms that
use race reviewed" (Launch) is met when every tool in the inventory has a decision.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import Connection, func, select

from store import access
from tracker import records, schema
from tracker.records import Invalid

STATUSES = ("identified", "under review", "replaced", "retained with justification")
DECIDED = ("replaced", "retained with justification")
FIELDS = ("tool", "where_used", "race_term", "replacement", "status", "owner",
          "decision_date", "justification", "evidence")
# The inventory's columns as people read them (page, downloads, command line).
COLUMNS = (("tool", "Tool"), ("where_used", "Where it is used"), ("race_term", "Race term"),
           ("replacement", "Race-neutral replacement"), ("status", "Review status"),
           ("owner", "Owner"), ("decision_date", "Decision date"),
           ("justification", "Justification"), ("evidence", "Evidence"),
           ("source", "Source"))
SOURCES = {"seed": "preloaded (Vyas 2020)", "custom": "added here"}
LABELS = dict(COLUMNS)


# --- the rules ----------------------------------------------------------------------------
def _cleaned(values: Mapping) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise Invalid(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    cleaned = dict(values)
    for name in FIELDS:
        if name in cleaned and name not in ("decision_date", "status"):
            cleaned[name] = (cleaned[name] or "").strip()
    if isinstance(cleaned.get("decision_date"), str):
        text = cleaned["decision_date"].strip()
        try:
            cleaned["decision_date"] = date.fromisoformat(text) if text else None
        except ValueError:
            raise Invalid(f"Decision date: {text!r} is not a date; give it as YYYY-MM-DD."
                          ) from None
    return cleaned


def problems(row: Mapping, today: date | None = None) -> list[str]:
    """What breaks the review rules in a whole row, one sentence per rule, each naming the
    field (empty when the row may be stored)."""
    today = today or date.today()
    found = []
    status = row.get("status")
    if not (row.get("tool") or "").strip():
        found.append("Tool: a name is required (the algorithm, calculator or pathway).")
    if status not in STATUSES:
        found.append(f"Review status: {status!r} is not a status; choose one of "
                     f"{', '.join(STATUSES)}.")
    decision = row.get("decision_date")
    if decision is not None and not isinstance(decision, date):
        found.append("Decision date: must be a date (YYYY-MM-DD).")
    elif decision is not None and decision > today:
        found.append(f"Decision date: {decision.isoformat()} is in the future; record the day "
                     "the decision was made.")
    if status in DECIDED:
        if not (row.get("owner") or "").strip():
            found.append(f"Owner: required when the review status is “{status}” — name who "
                         "made the decision and answers for it.")
        if decision is None:
            found.append(f"Decision date: required when the review status is “{status}”.")
    if status == "retained with justification" and not (row.get("justification")
                                                         or "").strip():
        found.append("Justification: required when the review status is “retained with "
                     "justification” — say why the race term is kept (evidence, or no "
                     "race-neutral alternative yet).")
    return found


def _check(row: Mapping) -> None:
    found = problems(row)
    if found:
        raise Invalid("Not saved — " + " ".join(found))


# --- reading ------------------------------------------------------------------------------
def _ordered():
    table = schema.algorithm_reviews
    return select(table).order_by(table.c.position, table.c.algorithm_id)


def algorithms(database_url: str | None = None) -> list[dict]:
    """The inventory in its order (the preloaded tools first, then the system's own): every
    field of `algorithm_reviews` (algorithm_id, position, tool, where_used, race_term,
    replacement, status, owner, decision_date, justification, evidence, source, version,
    changed_by, changed_at) and `decided`."""
    access.require("see_tracker")
    listed = records.rows(database_url, _ordered())
    for row in listed:
        row["decided"] = row["status"] in DECIDED
    return listed


def algorithm(database_url: str | None, algorithm_id: str) -> dict:
    for row in algorithms(database_url):
        if row["algorithm_id"] == algorithm_id:
            return row
    raise records.NotFound(f"No tool {algorithm_id!r} in the clinical-algorithm inventory.")


def _summary(conn: Connection) -> dict:
    table = schema.algorithm_reviews
    listed = conn.execute(select(table.c.tool, table.c.status, table.c.owner)
                          .order_by(table.c.position, table.c.algorithm_id)).all()
    by_status = {status: 0 for status in STATUSES}
    for row in listed:
        by_status[row.status] = by_status.get(row.status, 0) + 1
    still_open = [row for row in listed if row.status not in DECIDED]
    return {"total": len(listed), "decided": len(listed) - len(still_open),
            "open": len(still_open), "all_decided": bool(listed) and not still_open,
            "by_status": by_status,
            "open_tools": [_open_tool(row) for row in still_open]}


def _open_tool(row) -> str:
    said = [part for part in (row.status if row.status != "identified" else "", row.owner)
            if part]
    return row.tool + (f" ({', '.join(said)})" if said else "")


def review_summary(database_url: str | None = None) -> dict:
    """{total, decided, open, all_decided, by_status: {status: count}, open_tools: ["tool
    (under review, owner)", ...]}: the inventory counted; `all_decided` is the Launch
    checklist's rule (every tool decided, and at least one tool)."""
    access.require("see_tracker")
    with records.ready_engine(database_url).connect() as conn:
        return _summary(conn)


def _tools(count: int) -> str:
    return f"race-adjusted tool{'' if count == 1 else 's'}"


def leader_line(summary: Mapping) -> str:
    """The inventory in one sentence, e.g. "3 of 8 race-adjusted tools reviewed; 5 still in
    use without a decision (2 under review)." Reviewed means decided: replaced, or retained
    with justification."""
    total, decided, still_open = summary["total"], summary["decided"], summary["open"]
    if total == 0:
        return "No race-adjusted tool in the inventory: add the ones this system uses."
    by_status = summary["by_status"]
    if still_open == 0:
        return (f"All {total} {_tools(total)} reviewed: {by_status['replaced']} replaced, "
                f"{by_status['retained with justification']} retained with justification.")
    under = by_status.get("under review", 0)
    return (f"{decided} of {total} {_tools(total)} reviewed; {still_open} still in use "
            "without a decision" + (f" ({under} under review)." if under else "."))


def reviewed(conn: Connection) -> tuple[bool, str]:
    """The checklist rule `algorithms_reviewed`: every tool in the inventory has a decision
    (and the inventory is not empty). Counts only, so no permission is needed."""
    summary = _summary(conn)
    evidence = leader_line(summary)
    if summary["open_tools"]:
        evidence += " Without a decision: " + "; ".join(summary["open_tools"]) + "."
    return summary["all_decided"], evidence


def inventory_table(database_url: str | None = None) -> tuple[list[str], list[list]]:
    """(headers, rows) of the inventory as people read it (`COLUMNS`): dates as YYYY-MM-DD,
    the source in words. What the page's downloads and `manage.py algorithms` write."""
    rows = []
    for row in algorithms(database_url):
        rows.append([
            row["decision_date"].isoformat() if name == "decision_date" and row[name]
            else SOURCES.get(row[name], row[name]) if name == "source"
            else row[name] or "" for name, _label in COLUMNS])
    return [label for _name, label in COLUMNS], rows


# --- writing ------------------------------------------------------------------------------
def add_algorithm(database_url: str | None, by: str, tool: str, where_used: str = "",
                  race_term: str = "", replacement: str = "", status: str = "identified",
                  owner: str = "", decision_date: date | None = None,
                  justification: str = "", evidence: str = "") -> dict:
    """Add one of the system's own pathways or tools (id own1, own2, ...) to the inventory."""
    access.require("edit_tracker")
    values = _cleaned({"tool": tool, "where_used": where_used, "race_term": race_term,
                       "replacement": replacement, "status": status, "owner": owner,
                       "decision_date": decision_date, "justification": justification,
                       "evidence": evidence})
    _check(values)
    table = schema.algorithm_reviews
    with records.ready_engine(database_url).begin() as conn:
        position = conn.execute(select(func.coalesce(func.max(table.c.position), -1))
                                ).scalar_one() + 1
        # Never an id that a removed pathway had: its history stays its own.
        taken = set(conn.execute(select(table.c.algorithm_id)).scalars()) | set(
            conn.execute(select(schema.changes.c.entity_id).where(
                schema.changes.c.entity == "algorithm")).scalars())
        number = sum(1 for key in taken if key.startswith("own")) + 1
        while f"own{number}" in taken:
            number += 1
        return records.create(conn, table, {"algorithm_id": f"own{number}",
                                            "position": position, "source": "custom",
                                            **values}, by, "algorithm")


def update_algorithm(database_url: str | None, algorithm_id: str, expected_version: int,
                     by: str, **changes) -> dict:
    """Change a tool's fields if it is still at `expected_version` (Conflict otherwise); the
    review rules are checked on the row as it would be stored."""
    access.require("edit_tracker")
    cleaned = _cleaned(changes)
    table = schema.algorithm_reviews
    with records.ready_engine(database_url).begin() as conn:
        current = records.as_dict(conn.execute(select(table).where(
            table.c.algorithm_id == algorithm_id)).mappings().first())
        if current is not None and current["version"] == expected_version:
            _check({**current, **cleaned})
        # A stale or missing row is refused by records.change (Conflict, NotFound).
        return records.change(conn, table, algorithm_id, expected_version, cleaned, by,
                              "algorithm", f"The review of {_name(current, algorithm_id)}")


def remove_algorithm(database_url: str | None, algorithm_id: str, expected_version: int,
                     by: str) -> None:
    """Take a tool off the inventory (not used here). A preloaded tool stays removed: the
    seed loads each tool once, and the removal is kept in the history."""
    access.require("edit_tracker")
    table = schema.algorithm_reviews
    with records.ready_engine(database_url).begin() as conn:
        current = conn.execute(select(table.c.tool).where(
            table.c.algorithm_id == algorithm_id)).first()
        records.remove(conn, table, algorithm_id, expected_version, by, "algorithm",
                       f"The review of {_name(current, algorithm_id)}")


def _name(row, algorithm_id: str) -> str:
    tool = row["tool"] if isinstance(row, Mapping) else getattr(row, "tool", None)
    return tool or algorithm_id


__all__ = ["COLUMNS", "DECIDED", "STATUSES", "add_algorithm", "algorithm", "algorithms",
           "inventory_table", "leader_line", "problems", "remove_algorithm",
           "review_summary", "reviewed", "update_algorithm"]
