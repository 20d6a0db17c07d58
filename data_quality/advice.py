"""Where data capture fails and since when: the scorecard and the next steps, from counts."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import String, case, func, literal, select

from data_quality.completeness import completeness_by, completeness_counts, site_month_counts
from data_quality.suites import THRESHOLDS
from metrics import privacy
from store.engine import get_engine
from store.schema import patients
from store.vocabulary import ASKED_NO_ANSWER, UNKNOWN

SCORED_FIELDS = ("race", "ethnicity", "preferred_language", "sex", "birth_year", "payer")


def scorecard(database_url: str | None = None) -> pd.DataFrame:
    """One row per demographic field, over every patient (as the validation checks count):
    patients, recorded_percent (not empty), known_percent (not empty, Unknown or Asked but
    no answer), target_percent, meets_target (recorded against the check's threshold) and
    recorded_bound (known_bound): "at least" or "at most" when the percent is a bound, not
    the share, because 1 to 10 patients are not recorded or are (with the patients shown
    beside it, the share would give that small count back: `metrics.privacy.shown_share`);
    "" when it is the share."""
    counts = []
    for field in SCORED_FIELDS:
        column = patients.c[field]
        counts.append(func.sum(case((column.is_(None), 1), else_=0)).label(f"{field}_missing"))
        not_known = column.in_([UNKNOWN, ASKED_NO_ANSWER]) if isinstance(column.type, String) \
            else literal(False)
        counts.append(func.sum(case((not_known, 1), else_=0)).label(f"{field}_unknown"))
    with get_engine(database_url).connect() as conn:
        row = conn.execute(select(func.count().label("patients"), *counts)).mappings().one()
    total = int(row["patients"])
    columns = ["field", "patients", "recorded_percent", "known_percent", "target_percent",
               "meets_target", "recorded_bound", "known_bound"]
    if not total:
        return pd.DataFrame(columns=columns)
    rows = []
    for field in SCORED_FIELDS:
        missing, unknown = int(row[f"{field}_missing"] or 0), int(row[f"{field}_unknown"] or 0)
        recorded = 100 * (total - missing) / total
        target = 100 * THRESHOLDS[f"complete.{field}"]
        recorded_share, recorded_bound = privacy.shown_share(total - missing, total)
        known_share, known_bound = privacy.shown_share(total - missing - unknown, total)
        rows.append({"field": field, "patients": total,
                     "recorded_percent": _percent(recorded_share),
                     "known_percent": _percent(known_share),
                     "target_percent": target, "meets_target": recorded >= target,
                     "recorded_bound": recorded_bound, "known_bound": known_bound})
    return pd.DataFrame(rows, columns=columns)


def _percent(share: float | None) -> float | None:
    return None if share is None else 100 * share


def next_steps(database_url: str | None = None, limit: int = 5) -> list[dict]:
    """For each field below its target: the site that loses the most patients' values, its
    share recorded and the first month from which it stayed below target; and the months in
    which the whole system fell below target (a capture failure everywhere at once)."""
    card = scorecard(database_url)
    steps = []
    if card.empty:
        return steps
    by_site = completeness_counts("site", database_url, fields=SCORED_FIELDS)
    shown = completeness_by("site", database_url, fields=SCORED_FIELDS).set_index(
        ["field", "group"])
    by_month = completeness_counts("period", database_url, fields=SCORED_FIELDS)
    by_month["recorded_percent"] = 100 * (by_month["patients"] - by_month["missing"]) / by_month[
        "patients"]
    for _, field in card[~card["meets_target"]].iterrows():
        months = by_month[(by_month["field"] == field["field"])
                          & (by_month["recorded_percent"] < field["target_percent"])]
        sites = by_site[by_site["field"] == field["field"]].copy()
        sites["recorded_percent"] = 100 * (sites["patients"] - sites["missing"]) / sites[
            "patients"]
        worst = sites.sort_values("missing", ascending=False).iloc[0]
        monthly = site_month_counts(field["field"], database_url)
        monthly = monthly[monthly["site"] == worst["group"]].sort_values("period")
        below = monthly["complete_percent"] < field["target_percent"]
        since = None
        if below.any() and below.iloc[-1]:
            # The start of the last unbroken run of months below target.
            run_start = len(below) - 1
            while run_start > 0 and below.iloc[run_start - 1]:
                run_start -= 1
            since = monthly["period"].iloc[run_start]
        # Chosen on the counts, shown as the suppressed table shows them (None: hidden).
        seen = shown.loc[(field["field"], worst["group"])]
        hidden = pd.isna(seen["missing"]) or pd.isna(seen["patients"])
        steps.append({
            "field": field["field"], "site": worst["group"],
            "missing_patients": None if hidden else int(seen["missing"]),
            "site_patients": None if pd.isna(seen["patients"]) else int(seen["patients"]),
            "site_recorded_percent": None if hidden else float(worst["recorded_percent"]),
            "rank": int(worst["missing"]),
            "target_percent": float(field["target_percent"]), "below_target_since": since,
            "months_below_target": months["group"].tolist(),
        })
    ordered = sorted(steps, key=lambda step: -step["rank"])[:limit]
    for step in ordered:
        del step["rank"]
    return ordered
