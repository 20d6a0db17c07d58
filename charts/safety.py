"""Harm events for leaders: each flagged gap of a safety measure (a rate per 1,000 patient-days
or per 1,000 admissions) as one plain sentence, and the harm measures side by side."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from charts.disparity import small_multiples
from charts.overview import UNSTABLE_NOTE, _get, _lower_first, group_phrase
from charts.palette import (
    as_number,
    by_label,
    format_count,
    format_number,
    format_p_value,
    format_rate,
)


def harm_sentence(row, include_trend: bool = True) -> str:
    """One flagged gap of a rate measure (a row of `metrics.largest_gaps(kinds=("rate",))`)
    in words, e.g. "Adverse drug events: 10.1 per 1,000 patient-days for patients preferring
    Spanish vs 4.0 for patients preferring English (2.5 times as often, p < 0.001); about 25
    more events than at the reference rate."

    The ratio is taken between the two rates as printed, so the sentence adds up."""
    unit = str(_get(row, "unit") or "")
    rate, reference = as_number(_get(row, "rate")), as_number(_get(row, "reference_rate"))
    stratifier = str(_get(row, "stratifier", ""))
    group = _lower_first(group_phrase(stratifier, _get(row, "group")))
    other = _lower_first(group_phrase(stratifier, _get(row, "reference_group")))
    name = str(_get(row, "measure_name") or _get(row, "measure_id"))
    rate_text = format_rate(rate, "rate", unit)
    reference_text = format_number(reference, 1)
    printed = float(rate_text.split(" ")[0].replace(",", ""))
    shown_reference = float(reference_text.replace(",", ""))
    if shown_reference > 0:
        times = f"{format_number(printed / shown_reference, 1)} times the rate"
    else:
        times = "where the reference group had none"
    sentence = (f"{name}: {rate_text} for {group} vs {reference_text} for {other} "
                f"({times}, {format_p_value(_get(row, 'p_value'))}")
    if bool(_get(row, "unstable", False)):
        sentence += f"; {UNSTABLE_NOTE}"
    sentence += ")"
    excess = as_number(_get(row, "excess_events"))
    if excess is not None and excess >= 0.5:
        sentence += (f"; about {format_count(excess)} more events than the reference rate "
                     f"predicts for their {format_count(_get(row, 'denominator'))} cases")
    sentence += "."
    trend = str(_get(row, "trend", "") or "")
    if include_trend and trend in ("widening", "narrowing"):
        sentence += f" The gap is {trend}."
    return sentence


def harm_chart(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """The harm measures by one stratifier (tables of `metrics.stratify`), one panel each."""
    first = next(iter(tables.values()))
    by = first.attrs.get("by") or []
    return small_multiples(tables, columns=min(3, len(tables)),
                           title=f"Harm events by {by_label(by)}")


def harm_summary(gaps: pd.DataFrame, measures: int) -> str:
    """What the list of flagged harm gaps says, in one line."""
    if gaps.empty:
        return (f"No group is flagged on any of the {measures} harm measures: no rate is "
                "meaningfully worse than its reference group's (p ≤ 0.05 and at least 10 % "
                "higher).")
    names = sorted(set(gaps["measure_name"]))
    return (f"{len(gaps)} flagged gap{'s' if len(gaps) != 1 else ''} on "
            f"{len(names)} of the {measures} harm measures, largest excess first.")
