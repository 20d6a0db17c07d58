"""Vision: equity-focused SMART goals and their project charter.

A goal is drafted from a gap the engine found (a measure, a stratifier, a group and its
reference): the baseline — the group's rate, the reference's rate, the months and the number
of cases — is filled from the data and copied into the goal, so the charter keeps saying
what the team saw. The goal is checked letter by letter (`check_smart`) and can be chartered
only when all five pass:

- Specific: one measure, one group, one reference group, and a title.
- Measurable: a baseline from the data with at least 30 cases (fewer is unstable), and a
  target that is a rate.
- Achievable: the target improves on the baseline and stays within a plausible range: at
  most halving the adverse rate (the share who did not get the care, or the rate of a
  bad outcome), or reaching the reference group's rate if that is further — another group
  already achieves it.
- Relevant: the gap is flagged by the engine (AHRQ rule), or the team says why it matters.
- Time-bound: a deadline after today, after the baseline's months, within 36 months.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy import func, select

from tracker import records, schema
from tracker.records import Invalid

ACHIEVABLE_MAX_REDUCTION = 0.5  # of the adverse rate
TIME_LIMIT_MONTHS = 36
MIN_BASELINE_CASES = 30  # metrics.disparity.UNSTABLE_BELOW: fewer cases are unstable
GOAL_STATUSES = ("draft", "chartered", "retired")
EDITABLE = ("title", "target_rate", "deadline", "relevance", "owner", "sponsor", "team")
BASELINE_FIELDS = (
    "measure_id", "measure_name", "unit", "higher_is_better", "stratifier", "group_name",
    "reference_group", "filters", "baseline_rate", "baseline_numerator", "baseline_n",
    "reference_rate", "reference_n", "baseline_from", "baseline_to", "flagged",
)
LETTERS = (("S", "Specific"), ("M", "Measurable"), ("A", "Achievable"), ("R", "Relevant"),
           ("T", "Time-bound"))


# --- display ------------------------------------------------------------------------------
def display_scale(unit: str | None) -> tuple[float, str]:
    """(multiplier, suffix) of a proportion measure's display: percent, or "per N"."""
    per = re.match(r"\s*per\s*([\d,]+)", unit or "")
    if per:
        base = int(per.group(1).replace(",", ""))
        return float(base), f" per {base:,}"
    return 100.0, " %"


def show_rate(rate: float | None, unit: str | None = "%") -> str:
    if rate is None:
        return "not available"
    multiplier, suffix = display_scale(unit)
    digits = 1 if multiplier == 100 else 0
    return f"{rate * multiplier:,.{digits}f}{suffix}"


def month_index(period: str | date) -> int:
    """'2026-10' (or a date) as a month count, for differences in months."""
    if isinstance(period, date):
        return period.year * 12 + period.month - 1
    year, month = str(period)[:7].split("-")
    return int(year) * 12 + int(month) - 1


def period_of(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- the baseline -------------------------------------------------------------------------
def baseline_from_table(table, group: str) -> dict:
    """A goal's baseline from a disparity table (`metrics.stratify` by one stratifier): the
    group's rate, cases and flag, its reference group's rate and cases, the months.

    Raises Invalid when the group is absent, hidden by small numbers, or is the reference.
    """
    attrs = table.attrs
    by = list(attrs.get("by") or [])
    if len(by) != 1:
        raise Invalid("A goal is set on one stratifier at a time.")
    if attrs.get("kind", "proportion") != "proportion":
        raise Invalid("SMART goals here are set on proportion measures (rates).")
    column = by[0]
    chosen = table[table[column].astype(str) == str(group)]
    if chosen.empty:
        raise Invalid(f"No counted cases for {group} with these filters.")
    row = chosen.iloc[0]
    if bool(row["suppressed"]):
        raise Invalid(f"The numbers for {group} are too small to show (CMS cell-size rule): "
                      "widen the months or the sites.")
    if bool(row["is_reference"]):
        raise Invalid(f"{group} is the reference group: choose another group, or another "
                      "reference.")
    reference = table[table["is_reference"]]
    if reference.empty or bool(reference.iloc[0]["suppressed"]):
        raise Invalid("No reference group to compare with for these filters.")
    ref = reference.iloc[0]

    def number(value):
        return None if value is None or value != value else float(value)

    return {
        "measure_id": attrs["measure_id"], "measure_name": attrs["measure_name"],
        "unit": attrs.get("unit"), "higher_is_better": bool(attrs["higher_is_better"]),
        "stratifier": column, "group_name": str(group),
        "reference_group": str(attrs["reference_group"]),
        "filters": dict(attrs.get("where") or {}),
        "baseline_rate": number(row["rate"]), "baseline_numerator": int(row["numerator"]),
        "baseline_n": int(row["denominator"]), "reference_rate": number(ref["rate"]),
        "reference_n": int(ref["denominator"]), "baseline_from": attrs.get("period_from"),
        "baseline_to": attrs.get("period_to"), "flagged": bool(row["flagged"]),
        "p_value": number(row["p_value"]),
    }


def baseline(measure_id: str, stratifier: str, group: str, reference: str = "largest",
             where: Mapping | None = None, period_from: str | None = None,
             period_to: str | None = None, database_url: str | None = None) -> dict:
    """The baseline of a goal computed from the data (see `baseline_from_table`); the months
    default to every month the measure has data for."""
    import metrics
    from store.engine import get_engine
    from store.schema import results

    if period_from is None or period_to is None:
        with get_engine(database_url).connect() as conn:
            first, last = conn.execute(
                select(func.min(results.c.period), func.max(results.c.period))
                .where(results.c.measure_id == measure_id)).one()
        period_from, period_to = period_from or first, period_to or last
    table = metrics.stratify(measure_id, stratifier, dict(where or {}), period_from,
                             period_to, reference, database_url=database_url)
    return baseline_from_table(table, group)


def suggested_title(base: Mapping, target_rate: float | None, deadline: date | None) -> str:
    verb = "Raise" if base.get("higher_is_better", True) else "Lower"
    text = (f"{verb} {base.get('measure_name', 'the measure')} for "
            f"{base.get('group_name', 'the group')} patients")
    if base.get("baseline_rate") is not None:
        text += f" from {show_rate(base['baseline_rate'], base.get('unit'))}"
    if target_rate is not None:
        text += f" to {show_rate(target_rate, base.get('unit'))}"
    if deadline is not None:
        text += f" by {deadline:%B %Y}"
    return text


# --- SMART --------------------------------------------------------------------------------
def _adverse(rate: float, higher_is_better: bool) -> float:
    return 1.0 - rate if higher_is_better else rate


def plausible_limit(goal: Mapping) -> float | None:
    """The most ambitious target still called achievable: halving the adverse rate, or the
    reference group's rate if that is further."""
    b = goal.get("baseline_rate")
    if b is None:
        return None
    higher = bool(goal.get("higher_is_better", True))
    limit = _adverse(b, higher) * (1 - ACHIEVABLE_MAX_REDUCTION)
    if goal.get("reference_rate") is not None:
        limit = min(limit, _adverse(goal["reference_rate"], higher))
    return 1.0 - limit if higher else limit


def check_smart(goal: Mapping, today: date | None = None) -> list[dict]:
    """Each letter of SMART: {letter, criterion, ok, reason}; `reason` says why, in words."""
    today = today or date.today()
    unit = goal.get("unit")
    higher = bool(goal.get("higher_is_better", True))
    b, t = goal.get("baseline_rate"), goal.get("target_rate")
    group, reference = goal.get("group_name"), goal.get("reference_group")
    checks = []

    def add(letter, ok, reason):
        checks.append({"letter": letter, "criterion": dict(LETTERS)[letter], "ok": bool(ok),
                       "reason": reason})

    # Specific
    if not (goal.get("measure_id") and goal.get("stratifier") and group and reference):
        add("S", False, "Choose a measure and a gap: one group and its reference group.")
    elif str(group) == str(reference):
        add("S", False, "The group and the reference group are the same.")
    elif not (goal.get("title") or "").strip():
        add("S", False, "Give the goal a title that says what will change, for whom.")
    else:
        add("S", True, f"{goal.get('measure_name') or goal['measure_id']} for {group}, "
                       f"compared with {reference}.")
    # Measurable
    n = goal.get("baseline_n")
    if b is None or n is None:
        add("M", False, "No baseline from the data for this group.")
    elif n < MIN_BASELINE_CASES:
        add("M", False, f"The baseline rests on {n} cases: fewer than {MIN_BASELINE_CASES} is "
                        "too unstable to follow; widen the months or the sites.")
    elif t is None or not 0 <= t <= 1:
        add("M", False, "Set a target rate (between 0 and 100 %).")
    else:
        months = (f"{goal.get('baseline_from')} to {goal.get('baseline_to')}"
                  if goal.get("baseline_from") else "all months")
        add("M", True, f"Baseline {show_rate(b, unit)} from {n:,} cases ({months}); "
                       f"target {show_rate(t, unit)}.")
    # Achievable
    if b is None or t is None or not 0 <= t <= 1:
        add("A", False, "Needs a baseline and a target to judge.")
    elif _adverse(t, higher) >= _adverse(b, higher):
        direction = "above" if higher else "below"
        add("A", False, f"The target does not improve on the baseline "
                        f"({show_rate(b, unit)}): set it {direction} the baseline.")
    else:
        limit = plausible_limit(goal)
        if (_adverse(t, higher) < _adverse(limit, higher) - 1e-9):
            add("A", False, f"The target is beyond a plausible range of the baseline: at most "
                            f"{show_rate(limit, unit)} (halving the share of patients with the "
                            f"adverse outcome, or reaching {reference}'s rate if that is "
                            "further).")
        else:
            add("A", True, f"Improves on {show_rate(b, unit)} and stays within the plausible "
                           f"range (up to {show_rate(limit, unit)}).")
    # Relevant
    if goal.get("flagged"):
        add("R", True, "On a gap the engine flagged (p ≤ 0.05 and at least 10 % worse, AHRQ "
                       "rule).")
    elif (goal.get("relevance") or "").strip():
        add("R", True, f"A gap the team chose: {goal['relevance'].strip()}")
    else:
        add("R", False, "This gap is not flagged by the engine: say why it matters (for "
                        "example what patients or staff told you).")
    # Time-bound
    deadline = goal.get("deadline")
    if not isinstance(deadline, date):
        add("T", False, "Set a deadline.")
    elif deadline <= today:
        add("T", False, f"The deadline {deadline.isoformat()} is not in the future.")
    elif month_index(deadline) - month_index(today) > TIME_LIMIT_MONTHS:
        add("T", False, f"The deadline is more than {TIME_LIMIT_MONTHS} months away: set a "
                        "nearer milestone.")
    elif goal.get("baseline_to") and month_index(deadline) <= month_index(goal["baseline_to"]):
        add("T", False, "The deadline falls inside the baseline's months.")
    else:
        months = month_index(deadline) - month_index(today)
        add("T", True, f"By {deadline.isoformat()}, {months} month(s) from today.")
    return checks


def is_smart(checks: Sequence[Mapping]) -> bool:
    return all(check["ok"] for check in checks)


def _not_smart(checks: Sequence[Mapping]) -> Invalid:
    failed = [f"{c['criterion']}: {c['reason']}" for c in checks if not c["ok"]]
    return Invalid("Not yet SMART — " + " ".join(failed))


# --- storing ------------------------------------------------------------------------------
def _editable(values: Mapping) -> dict:
    unknown = set(values) - set(EDITABLE) - {"status"}
    if unknown:
        raise Invalid(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    cleaned = dict(values)
    for name in ("title", "relevance", "owner", "sponsor", "team"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "title" in cleaned and not cleaned["title"]:
        raise Invalid("A goal needs a title.")
    if cleaned.get("target_rate") is not None:
        cleaned["target_rate"] = float(cleaned["target_rate"])
    if cleaned.get("deadline") is not None and not isinstance(cleaned["deadline"], date):
        raise Invalid("The deadline must be a date.")
    if "status" in cleaned and cleaned["status"] not in ("draft", "retired"):
        raise Invalid("Status is draft or retired here; charter a goal with charter_goal.")
    return cleaned


def _decoded(goal: dict) -> dict:
    goal["filters"] = json.loads(goal["filters"] or "{}")
    return goal


def create_goal(database_url: str | None, by: str, base: Mapping, title: str,
                target_rate: float | None, deadline: date | None, relevance: str = "",
                owner: str = "", sponsor: str = "", team: str = "", charter: bool = False,
                today: date | None = None) -> dict:
    """Store a goal from its baseline (see `baseline`), as a draft, or chartered when
    `charter` and every SMART letter passes (Invalid otherwise, nothing stored)."""
    values = {name: base.get(name) for name in BASELINE_FIELDS}
    values["filters"] = json.dumps(dict(base.get("filters") or {}), sort_keys=True)
    values["flagged"] = bool(values["flagged"])
    values.update(_editable({"title": title, "target_rate": target_rate,
                             "deadline": deadline, "relevance": relevance, "owner": owner,
                             "sponsor": sponsor, "team": team}))
    moment = records.now()
    values.update(status="draft", created_by=(by or "").strip(), created_at=moment)
    if charter:
        checks = check_smart(values, today)
        if not is_smart(checks):
            raise _not_smart(checks)
        values.update(status="chartered", chartered_by=(by or "").strip(),
                      chartered_at=moment)
    with records.ready_engine(database_url).begin() as conn:
        return _decoded(records.create(conn, schema.goals, values, by, "goal"))


def goals(database_url: str | None = None, include_retired: bool = False) -> list[dict]:
    """The goals, newest first, with `filters` decoded."""
    query = select(schema.goals).order_by(schema.goals.c.goal_id.desc())
    if not include_retired:
        query = query.where(schema.goals.c.status != "retired")
    return [_decoded(goal) for goal in records.rows(database_url, query)]


def goal(database_url: str | None, goal_id: int) -> dict:
    found = records.rows(database_url, select(schema.goals)
                         .where(schema.goals.c.goal_id == goal_id))
    if not found:
        raise records.NotFound(f"No goal {goal_id}.")
    return _decoded(found[0])


def update_goal(database_url: str | None, goal_id: int, expected_version: int, by: str,
                today: date | None = None, **changes) -> dict:
    """Change a goal's title, target, deadline, relevance, owner, sponsor, team or status
    (draft | retired). A chartered goal stays SMART: a change that breaks a letter is
    refused."""
    cleaned = _editable(changes)
    with records.ready_engine(database_url).begin() as conn:
        current = records.as_dict(conn.execute(select(schema.goals).where(
            schema.goals.c.goal_id == goal_id)).mappings().first())
        if current is None:
            raise records.NotFound(f"No goal {goal_id}.")
        if current["status"] == "chartered" and cleaned.get("status") != "retired":
            checks = check_smart({**current, **cleaned}, today)
            if not is_smart(checks):
                raise _not_smart(checks)
        return _decoded(records.change(conn, schema.goals, goal_id, expected_version, cleaned,
                                       by, "goal", "This goal"))


def charter_goal(database_url: str | None, goal_id: int, expected_version: int, by: str,
                 today: date | None = None) -> dict:
    """Charter a draft goal if every SMART letter passes (Invalid otherwise)."""
    with records.ready_engine(database_url).begin() as conn:
        current = records.as_dict(conn.execute(select(schema.goals).where(
            schema.goals.c.goal_id == goal_id)).mappings().first())
        if current is None:
            raise records.NotFound(f"No goal {goal_id}.")
        checks = check_smart(current, today)
        if not is_smart(checks):
            raise _not_smart(checks)
        return _decoded(records.change(
            conn, schema.goals, goal_id, expected_version,
            {"status": "chartered", "chartered_by": (by or "").strip(),
             "chartered_at": records.now()}, by, "goal", "This goal", action="chartered"))


# --- the charter --------------------------------------------------------------------------
def _charter_rows(goal: Mapping) -> list[tuple[str, str]]:
    unit = goal.get("unit")
    months = (f"{goal.get('baseline_from')} to {goal.get('baseline_to')}"
              if goal.get("baseline_from") else "all months")
    filters = goal.get("filters") or {}
    scope = "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}"
                      for k, v in filters.items()) or "all sites and patients"
    return [
        ("Measure", f"{goal.get('measure_name')} "
                    f"({'higher' if goal.get('higher_is_better') else 'lower'} is better)"),
        ("Group", f"{goal.get('group_name')} (by {goal.get('stratifier')})"),
        ("Reference group", str(goal.get("reference_group"))),
        ("Baseline", f"{show_rate(goal.get('baseline_rate'), unit)} of "
                     f"{goal.get('baseline_n') or 0:,} cases ({months})"),
        ("Reference at baseline", f"{show_rate(goal.get('reference_rate'), unit)} of "
                                  f"{goal.get('reference_n') or 0:,} cases"),
        ("Scope", scope),
        ("Target", show_rate(goal.get("target_rate"), unit)),
        ("Deadline", goal["deadline"].isoformat() if goal.get("deadline") else "not set"),
        ("Why this gap", "Flagged by the engine (AHRQ rule)" if goal.get("flagged")
         else (goal.get("relevance") or "not stated")),
        ("Lead", goal.get("owner") or "not named"),
        ("Executive sponsor", goal.get("sponsor") or "not named"),
        ("Team", goal.get("team") or "not named"),
        ("Status", f"chartered by {goal['chartered_by']} on "
                   f"{records.aware(goal['chartered_at']):%Y-%m-%d}"
         if goal.get("status") == "chartered" and goal.get("chartered_at")
         else str(goal.get("status", "draft"))),
    ]


def charter_markdown(goal: Mapping, checks: Sequence[Mapping] | None = None,
                     today: date | None = None) -> str:
    """The project charter as Markdown: the goal, its baseline, target, deadline, owners and
    the SMART check."""
    checks = checks if checks is not None else check_smart(goal, today)
    lines = [f"### Project charter: {goal.get('title')}", "", "| Charter | |", "|---|---|"]
    lines += [f"| {label} | {value.replace('|', '/')} |" for label, value in _charter_rows(goal)]
    lines += ["", "**SMART check**", ""]
    lines += [f"- {'✓' if c['ok'] else '✗'} **{c['criterion']}**: {c['reason']}"
              for c in checks]
    return "\n".join(lines)


def charter_html(goal: Mapping, checks: Sequence[Mapping] | None = None,
                 today: date | None = None) -> str:
    """The project charter as a standalone, printable HTML page (no external resources)."""
    checks = checks if checks is not None else check_smart(goal, today)
    e = html.escape
    rows = "".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>"
                   for label, value in _charter_rows(goal))
    smart = "".join(f"<li><b>{'Passed' if c['ok'] else 'Not met'} — {e(c['criterion'])}:</b> "
                    f"{e(c['reason'])}</li>" for c in checks)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Project charter: {e(str(goal.get('title')))}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;color:#222}"
        "th{text-align:left;vertical-align:top;padding:.3em 1em .3em 0;width:12em}"
        "td{padding:.3em 0}table{border-collapse:collapse}tr{border-bottom:1px solid #ddd}"
        "@media print{body{margin:0}}</style></head><body>"
        f"<h1>Project charter</h1><h2>{e(str(goal.get('title')))}</h2>"
        f"<table>{rows}</table><h3>SMART check</h3><ul>{smart}</ul>"
        "<p><small>Equity-focused SMART goal (AMA STEPS Forward, step 4: Vision). Baseline "
        "computed from the loaded data; counts from 1 to 10 are never shown.</small></p>"
        "</body></html>")
