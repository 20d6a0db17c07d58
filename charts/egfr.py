"""What replacing the race-based eGFR equation (CKD-EPI 2009) with the race-free one (2021)
changes for the patients of each group: a sentence for leaders and a diverging bar chart.

Input: `metrics.egfr.shown_reclassification`, whose suppressed cells are missing; nothing here
can show a count that suppression hid.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from charts.palette import (
    NEUTRAL,
    OKABE_ITO,
    finish,
    format_count,
    format_period_range,
    stratifier_label,
)
from metrics.egfr import BLACK, TOTAL

LESS_ADVANCED, MORE_ADVANCED = OKABE_ITO[0], OKABE_ITO[3]

#: What the chart can show: (label, column moved to a more advanced category, column moved to
#: a less advanced one or None).
MOVES = {
    "stage": ("CKD stage (KDIGO G1 to G5)", "higher_stage_2021", "lower_stage_2021"),
    "60": ("eGFR 60 (chronic kidney disease)", "below_60_2021", "above_60_2021"),
    "30": ("eGFR 30 (referral to nephrology)", "below_30_2021", "above_30_2021"),
    "20": ("eGFR 20 (kidney transplant waiting time)", "reached_20", None),
}
_WORDS = {
    "higher_stage_2021": "a more advanced CKD stage",
    "lower_stage_2021": "a less advanced CKD stage",
    "below_60_2021": "newly below eGFR 60",
    "above_60_2021": "no longer below eGFR 60",
    "below_30_2021": "newly below eGFR 30",
    "above_30_2021": "no longer below eGFR 30",
    "reached_20": "newly at eGFR 20 or less",
}


def _count(value) -> str:
    return "a number too small to show" if pd.isna(value) else format_count(value)


def _people(value) -> str:
    return f"{_count(value)} patient{'' if not pd.isna(value) and value == 1 else 's'}"


def reclassification_sentence(shown: pd.DataFrame) -> str:
    """The leader's sentence: what the 2021 equation changes for Black patients (by race), or
    for all patients (any other grouping), in plain words."""
    by = shown.columns[0]
    rows = shown.set_index(by)
    if by == "race" and BLACK in rows.index:
        row, who = rows.loc[BLACK], "your Black patients"
    elif TOTAL in rows.index:
        row, who = rows.loc[TOTAL], "your patients"
    else:
        return ""
    if pd.isna(row["results"]):
        return (f"Too few of {who} have a creatinine result in these months to show what the "
                "2021 equation changes (small-cell suppression).")
    who = who.replace("your ", f"your {format_count(row['results'])} ", 1)
    down = (f"Under the race-free 2021 equation, {_count(row['below_60_2021'])} of "
            f"{who} with a recent creatinine would now have an "
            f"eGFR below 60, the threshold for chronic kidney disease; "
            f"{_count(row['below_30_2021'])} would now cross below 30, where referral to "
            f"nephrology is advised; and {_count(row['reached_20'])} would now reach 20 or less, "
            "where waiting time for a kidney transplant starts.")
    up = ""
    if by == "race" and TOTAL in rows.index:
        up = (f" Across all patients, {_people(rows.loc[TOTAL, 'above_60_2021'])} would no "
              "longer be below 60, because the 2021 equation gives a slightly higher eGFR to "
              "patients not recorded as Black.")
    stage = (f" In all, {_count(row['higher_stage_2021'])} of them move to a more advanced "
             "CKD stage.")
    return down + stage + up


def reclassification_chart(shown: pd.DataFrame, moves: str = "stage") -> go.Figure:
    """Per group, the percent of patients whose category moves with the 2021 equation: to a
    more advanced one to the right, to a less advanced one to the left. A suppressed count
    has no bar and says so; `moves` is one of `MOVES`."""
    if moves not in MOVES:
        raise ValueError(f"moves must be one of {', '.join(MOVES)}, not {moves!r}")
    by = shown.columns[0]
    title, worse, better = MOVES[moves]
    groups = [str(g) for g in shown[by]][::-1]  # first group at the top
    table = shown.iloc[::-1]
    fig = go.Figure()
    notes = []
    widest = 0.0
    for column, sign, colour in ((worse, 1, MORE_ADVANCED), (better, -1, LESS_ADVANCED)):
        if column is None:
            continue
        values, texts, hover = [], [], []
        for group, count, patients in zip(groups, table[column], table["results"]):
            if pd.isna(count) or pd.isna(patients) or patients == 0:
                values.append(0.0)
                texts.append("suppressed" if pd.isna(count) or pd.isna(patients) else "")
                hover.append(f"{group}: suppressed (a count from 1 to 10)"
                             if texts[-1] else f"{group}: no patients")
                continue
            percent = 100.0 * float(count) / float(patients)
            values.append(sign * percent)
            widest = max(widest, percent)
            texts.append(f"{format_count(count)} ({percent:.1f} %)" if count else "")
            hover.append(f"{group}: {format_count(count)} of {format_count(patients)} patients "
                         f"({percent:.1f} %) {_WORDS[column]}")
        fig.add_trace(go.Bar(
            y=groups, x=values, orientation="h", name=_first_upper(_WORDS[column]),
            marker_color=colour, text=texts, textposition="outside", cliponaxis=False,
            hovertext=hover, hoverinfo="text"))
    fig.add_vline(x=0, line_color=NEUTRAL, line_width=1)
    fig.update_layout(barmode="relative", legend=dict(orientation="h", y=1.02, x=0,
                                                      yanchor="bottom"))
    fig.update_xaxes(title_text="Percent of the group's patients with a creatinine result "
                                "(left: less advanced, right: more advanced with 2021)",
                     ticksuffix=" %", zeroline=False,
                     # room for the labels outside the bars on both sides
                     range=[-1.6 * widest - 1 if better else -0.5, 1.6 * widest + 1])
    if shown["suppressed"].any():
        notes.append("Suppressed: a count from 1 to 10, or one that could be worked out from "
                     "the totals, is not shown (CMS cell-size rule).")
    notes.append("One result per patient: the most recent creatinine in the months shown. "
                 "CKD-EPI 2009 with its race coefficient against CKD-EPI 2021 without race.")
    attrs = shown.attrs
    period = format_period_range(attrs.get("period_from"), attrs.get("period_to"))
    summary = reclassification_sentence(shown)
    return finish(fig, title=f"What the race-free eGFR changes: {title}",
                  subtitle=f"By {stratifier_label(by).lower()} · {period}", captions=notes,
                  summary=summary, chart="egfr_reclassification",
                  plot_height=max(220, 30 * len(groups)), left=260, right=110)


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]
