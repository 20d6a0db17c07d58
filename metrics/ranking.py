"""The leaders' list: flagged gaps across measures and stratifiers, largest first."""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from scipy import stats as scipy_stats

from metrics.aggregate import COUNT_COLUMNS, Where, group_counts, multiplier
from metrics.disparity import disparity_table, relative_adverse_difference
from metrics.strata import stratifier
from store.engine import get_engine
from store.schema import measures

DEFAULT_STRATIFIERS = ("race", "ethnicity", "preferred_language", "payer", "age_group", "sex")
RANKING_COLUMNS = (
    "measure_id", "measure_name", "unit", "higher_is_better", "stratifier", "group",
    "reference_group", "denominator",
    "numerator", "rate", "reference_rate", "difference", "difference_lower",
    "difference_upper", "p_value", "relative_difference", "excess_events", "gap_previous",
    "gap_recent", "trend", "unstable",
)


def largest_gaps(
    by: Sequence[str] = DEFAULT_STRATIFIERS,
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    reference: str = "largest",
    recent_months: int = 6,
    database_url: str | None = None,
    kinds: Sequence[str] = ("proportion",),
) -> pd.DataFrame:
    """Every flagged gap of every measure of the given kinds by each stratifier, ordered by
    excess events: how many patients of the group would have needed a different outcome for
    the group to match its reference, (reference rate - group rate) x group denominator in the
    adverse direction. For rate measures (`kinds=("rate",)`, the harm events) excess events are
    the group's events beyond what the reference rate predicts for its exposure,
    (group rate - reference rate) x group exposure when lower is better; `denominator` counts
    the group's cases (stays), `numerator` its events, rates are per the unit's multiplier.
    Proportions and rates are ranked apart by default: excess patients and excess events are
    not the same unit. The trend compares the gap in the last `recent_months` months with the
    `recent_months` before ("narrowing", "widening", or "no clear change" when the change is
    within its 95 % interval). One GROUP BY per stratifier for all measures at once.
    """
    with get_engine(database_url).connect() as conn:
        catalog = {row.measure_id: row for row in conn.execute(
            measures.select().where(measures.c.kind.in_(list(kinds))))}
    found = []
    for name in by:
        stratifier(name)
        counts = group_counts(None, [name, "period"], where, period_from, period_to,
                              database_url)
        for measure_id, cells in counts.groupby("measure_id", sort=True):
            measure = catalog.get(measure_id)
            if measure is not None:
                found += _flagged(cells, name, measure, reference, recent_months)
    table = pd.DataFrame(found, columns=list(RANKING_COLUMNS))
    return table.sort_values("excess_events", ascending=False, ignore_index=True)


def _collapse(cells: pd.DataFrame, name: str) -> pd.DataFrame:
    return cells.groupby(name, as_index=False)[list(COUNT_COLUMNS)].sum()


def _flagged(cells, name, measure, reference, recent_months) -> list[dict]:
    higher, kind = measure.higher_is_better, measure.kind
    per = multiplier(kind, measure.unit)
    collapsed = _collapse(cells, name)
    whole = disparity_table(collapsed, [name], kind, higher, reference, multiplier=per)
    anchor = whole.attrs["reference_group"]
    if anchor is None or not whole["flagged"].any():
        return []
    reference_rate = _reference_rate(cells, name, anchor, kind, per)
    # What a case of the group weighs in excess events: one patient, or its exposure.
    size = (collapsed.set_index(name)["exposure"] / per if kind == "rate"
            else collapsed.set_index(name)["denominator"])
    months = sorted(cells["period"].unique())
    recent, previous = months[-recent_months:], months[-2 * recent_months:-recent_months]
    windows = [_window(cells, name, anchor, chosen, measure) for chosen in (previous, recent)]
    rows = []
    for _, row in whole[whole["flagged"]].iterrows():
        group = str(row[name])
        sign = 1 if higher else -1
        excess = sign * (reference_rate - row["rate"]) * size[row[name]]
        gap_previous, gap_recent = (_gap(window, group) for window in windows)
        rows.append({
            "measure_id": measure.measure_id,
            "measure_name": measure.name,
            "unit": measure.unit,
            "higher_is_better": bool(higher),
            "stratifier": name,
            "group": group,
            "reference_group": anchor,
            "denominator": int(row["denominator"]),
            "numerator": int(row["numerator"]),
            "rate": row["rate"],
            "reference_rate": reference_rate,
            "difference": row["difference"],
            "difference_lower": row["difference_lower"],
            "difference_upper": row["difference_upper"],
            "p_value": row["p_value"],
            "relative_difference": relative_adverse_difference(row["rate"], reference_rate,
                                                               higher, kind),
            "excess_events": excess,
            "gap_previous": gap_previous[0],
            "gap_recent": gap_recent[0],
            "trend": _trend(gap_previous, gap_recent, higher),
            "unstable": bool(row["unstable"]),
        })
    return rows


def _reference_rate(cells, name, anchor, kind, per) -> float:
    if anchor == "Overall":
        chosen = cells
    else:
        chosen = cells[cells[name].astype(str) == anchor]
    if kind == "rate":
        return chosen["numerator"].sum() / chosen["exposure"].sum() * per
    return chosen["numerator"].sum() / chosen["denominator"].sum()


def _window(cells, name, anchor, months, measure) -> dict | None:
    """The groups' differences from the reference over some months, by group (computed once
    for all the flagged groups of a measure and stratifier), or None when the reference is
    absent there."""
    if not months:
        return None
    window = cells[cells["period"].isin(months)]
    if anchor != "Overall" and anchor not in set(window[name].astype(str)):
        return None
    table = disparity_table(_collapse(window, name), [name], measure.kind,
                            measure.higher_is_better,
                            "overall" if anchor == "Overall" else anchor,
                            multiplier=multiplier(measure.kind, measure.unit))
    return {str(row[name]): row for _, row in table.iterrows()}


def _gap(window: dict | None, group: str) -> tuple[float, float]:
    """The group's difference from the reference over a window of months, and its standard
    error, or NaN when either side is suppressed or absent there."""
    row = None if window is None else window.get(group)
    if row is None or row["suppressed"] or math.isnan(row["difference"]):
        return math.nan, math.nan
    z = scipy_stats.norm.ppf(0.975)
    return row["difference"], (row["difference_upper"] - row["difference_lower"]) / (2 * z)


def _trend(previous, recent, higher) -> str:
    if any(math.isnan(v) for v in (*previous, *recent)):
        return "not enough data"
    # A gap is adverse when the group is below the reference on a higher-is-better measure.
    adverse_previous = -previous[0] if higher else previous[0]
    adverse_recent = -recent[0] if higher else recent[0]
    change = adverse_recent - adverse_previous
    if abs(change) <= scipy_stats.norm.ppf(0.975) * math.hypot(previous[1], recent[1]):
        return "no clear change"
    return "widening" if change > 0 else "narrowing"
