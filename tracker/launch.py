"""Launch: interventions with their PDSA cycles, and each goal's status from the data.

A goal's status compares the group's rate in the most recent months (up to 3, pooled, from
the start of its first intervention on) with the target and with where the goal should be by
now — the straight line from the baseline at the start to the target at the deadline:

- met: the recent rate is at or better than the target;
- on track: not met, but the recent rate is at or better than the line, or the line lies
  within the rate's 95 % interval (not distinguishable from being on track);
- off track: behind the line beyond the interval, or the deadline has passed unmet;
- waiting for data: no month since the start yet, or too few cases to show (1 to 10).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import func, select

from tracker import records, schema
from tracker.goals import month_index, period_of, show_rate
from tracker.records import Invalid

RECENT_MONTHS = 3
GOAL_STATUSES = ("met", "on track", "off track", "waiting for data")
INTERVENTION_FIELDS = ("name", "description", "owner", "start_date", "end_date")
PDSA_FIELDS = ("started_on", "plan", "do", "study", "act")


# --- interventions ------------------------------------------------------------------------
def _intervention(values: Mapping, partial: bool = False) -> dict:
    unknown = set(values) - set(INTERVENTION_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cleaned = dict(values)
    for name in ("name", "description", "owner"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if (not partial or "name" in cleaned) and not cleaned.get("name"):
        raise Invalid("Name the intervention.")
    if (not partial or "start_date" in cleaned) and not isinstance(
            cleaned.get("start_date"), date):
        raise Invalid("Give the date the intervention starts.")
    end = cleaned.get("end_date")
    if end is not None and not isinstance(end, date):
        raise Invalid("The end date must be a date.")
    if end is not None and cleaned.get("start_date") and end < cleaned["start_date"]:
        raise Invalid("The intervention cannot end before it starts.")
    return cleaned


def interventions(database_url: str | None = None, goal_id: int | None = None) -> list[dict]:
    """Interventions in order of their start, optionally of one goal."""
    table = schema.interventions
    query = select(table).order_by(table.c.start_date, table.c.intervention_id)
    if goal_id is not None:
        query = query.where(table.c.goal_id == goal_id)
    return records.rows(database_url, query)


def add_intervention(database_url: str | None, by: str, goal_id: int, name: str,
                     start_date: date, owner: str = "", description: str = "",
                     end_date: date | None = None) -> dict:
    values = _intervention({"name": name, "start_date": start_date, "owner": owner,
                            "description": description, "end_date": end_date})
    with records.ready_engine(database_url).begin() as conn:
        status = conn.execute(select(schema.goals.c.status)
                              .where(schema.goals.c.goal_id == goal_id)).scalar()
        if status is None:
            raise records.NotFound(f"No goal {goal_id}.")
        if status == "retired":
            raise Invalid("That goal is retired.")
        return records.create(conn, schema.interventions, {**values, "goal_id": goal_id}, by,
                              "intervention")


def update_intervention(database_url: str | None, intervention_id: int,
                        expected_version: int, by: str, **changes) -> dict:
    cleaned = _intervention(changes, partial=True)
    with records.ready_engine(database_url).begin() as conn:
        return records.change(conn, schema.interventions, intervention_id, expected_version,
                              cleaned, by, "intervention", "This intervention")


# --- PDSA cycles --------------------------------------------------------------------------
def pdsa_cycles(database_url: str | None = None,
                intervention_id: int | None = None) -> list[dict]:
    table = schema.pdsa_cycles
    query = select(table).order_by(table.c.intervention_id, table.c.number)
    if intervention_id is not None:
        query = query.where(table.c.intervention_id == intervention_id)
    return records.rows(database_url, query)


def _cycle(values: Mapping, partial: bool = False) -> dict:
    unknown = set(values) - set(PDSA_FIELDS)
    if unknown:
        raise Invalid(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cleaned = {name: (value or "").strip() if name != "started_on" else value
               for name, value in values.items()}
    if (not partial or "started_on" in cleaned) and not isinstance(
            cleaned.get("started_on"), date):
        raise Invalid("Give the date the cycle started.")
    if not partial and not cleaned.get("plan"):
        raise Invalid("Say what the cycle plans to test (Plan), with a prediction.")
    return cleaned


def add_pdsa(database_url: str | None, by: str, intervention_id: int, started_on: date,
             plan: str, do: str = "", study: str = "", act: str = "") -> dict:
    """Add the next Plan-Do-Study-Act cycle of an intervention (numbered 1, 2, ...)."""
    values = _cycle({"started_on": started_on, "plan": plan, "do": do, "study": study,
                     "act": act})
    table = schema.pdsa_cycles
    with records.ready_engine(database_url).begin() as conn:
        exists = conn.execute(select(schema.interventions.c.intervention_id).where(
            schema.interventions.c.intervention_id == intervention_id)).first()
        if exists is None:
            raise records.NotFound(f"No intervention {intervention_id}.")
        number = conn.execute(select(func.coalesce(func.max(table.c.number), 0)).where(
            table.c.intervention_id == intervention_id)).scalar_one() + 1
        return records.create(conn, table, {**values, "intervention_id": intervention_id,
                                            "number": number}, by, "pdsa")


def update_pdsa(database_url: str | None, cycle_id: int, expected_version: int, by: str,
                **changes) -> dict:
    cleaned = _cycle(changes, partial=True)
    with records.ready_engine(database_url).begin() as conn:
        return records.change(conn, schema.pdsa_cycles, cycle_id, expected_version, cleaned,
                              by, "pdsa", "This PDSA cycle")


# --- status from the data -----------------------------------------------------------------
def start_period(goal: Mapping, goal_interventions: Sequence[Mapping] = ()) -> str | None:
    """The month the work started: the first intervention's start, else the month after the
    baseline's last month."""
    starts = [i["start_date"] for i in goal_interventions if i.get("start_date")]
    if starts:
        return period_of(month_index(min(starts)))
    if goal.get("baseline_to"):
        return period_of(month_index(goal["baseline_to"]) + 1)
    return None


def expected_rate(goal: Mapping, start: str, period: str) -> float:
    """Where the group should be in `period`: on the straight line from the baseline (the
    month before `start`) to the target (the deadline's month)."""
    b, t = goal["baseline_rate"], goal["target_rate"]
    anchor = month_index(start) - 1
    span = month_index(goal["deadline"]) - anchor
    fraction = 1.0 if span <= 0 else min(max((month_index(period) - anchor) / span, 0.0), 1.0)
    return b + (t - b) * fraction


def judge(goal: Mapping, rate: float | None, lower: float | None, upper: float | None,
          start: str, latest: str) -> tuple[str, float | None, str]:
    """(status, expected rate, reason) of a goal whose recent rate (with its 95 % interval)
    ends in month `latest`; see the module's docstring for the rules."""
    unit = goal.get("unit")
    if rate is None:
        return "waiting for data", None, "Too few recent cases to show a rate."
    higher = bool(goal.get("higher_is_better", True))

    def at_least(x: float, y: float) -> bool:
        return x >= y - 1e-12 if higher else x <= y + 1e-12

    target = goal["target_rate"]
    expected = expected_rate(goal, start, latest)
    if at_least(rate, target):
        return "met", expected, (f"The recent rate {show_rate(rate, unit)} has reached the "
                                 f"target {show_rate(target, unit)}.")
    if month_index(latest) > month_index(goal["deadline"]):
        return "off track", expected, (f"The deadline {goal['deadline']:%Y-%m} has passed and "
                                       f"the rate is {show_rate(rate, unit)}, short of the "
                                       f"target {show_rate(target, unit)}.")
    within = lower is not None and upper is not None and lower <= expected <= upper
    if at_least(rate, expected) or within:
        how = "at or better than" if at_least(rate, expected) else "not distinguishable from"
        return "on track", expected, (f"The recent rate {show_rate(rate, unit)} is {how} "
                                      f"where the goal should be by {latest} "
                                      f"({show_rate(expected, unit)}).")
    return "off track", expected, (f"The recent rate {show_rate(rate, unit)} is behind where "
                                   f"the goal should be by {latest} "
                                   f"({show_rate(expected, unit)}), beyond its 95 % "
                                   "interval.")


def goal_status(goal: Mapping, database_url: str | None = None,
                goal_interventions: Sequence[Mapping] | None = None) -> dict:
    """The goal's status from the data: {status, reason, rate, rate_lower, rate_upper, n,
    expected, target, baseline, start, window_from, window_to}."""
    import metrics
    from store.engine import get_engine
    from store.schema import results

    if goal_interventions is None:
        goal_interventions = interventions(database_url, goal["goal_id"])
    start = start_period(goal, goal_interventions)
    outcome = {"status": "waiting for data", "reason": "", "rate": None, "rate_lower": None,
               "rate_upper": None, "n": None, "expected": None,
               "target": goal.get("target_rate"), "baseline": goal.get("baseline_rate"),
               "start": start, "window_from": None, "window_to": None}
    if goal.get("target_rate") is None or goal.get("deadline") is None or start is None:
        outcome["reason"] = "The goal has no target or deadline yet."
        return outcome
    with get_engine(database_url).connect() as conn:
        latest = conn.execute(select(func.max(results.c.period)).where(
            results.c.measure_id == goal["measure_id"])).scalar()
    if latest is None or month_index(latest) < month_index(start):
        outcome["reason"] = f"No month of data since the start ({start}) yet."
        return outcome
    window_from = period_of(max(month_index(start), month_index(latest) - RECENT_MONTHS + 1))
    outcome.update(window_from=window_from, window_to=latest)
    table = metrics.stratify(goal["measure_id"], goal["stratifier"],
                             dict(goal.get("filters") or {}), window_from, latest, "overall",
                             database_url=database_url)
    column = goal["stratifier"]
    row = table[table[column].astype(str) == str(goal["group_name"])]
    if row.empty or bool(row.iloc[0]["suppressed"]):
        outcome["reason"] = (f"Too few cases for {goal['group_name']} from {window_from} to "
                             f"{latest} to show a rate (1 to 10 are never shown).")
        return outcome
    found = row.iloc[0]
    rate, lower, upper = (float(found[c]) for c in ("rate", "rate_lower", "rate_upper"))
    status, expected, reason = judge(goal, rate, lower, upper, start, latest)
    outcome.update(status=status, reason=reason, rate=rate, rate_lower=lower,
                   rate_upper=upper, n=int(found["denominator"]), expected=expected)
    return outcome
