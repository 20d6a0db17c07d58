"""The leaders' screen: the largest meaningful gaps as bars and as plain sentences, and the
organisation's progress through the five phases (Commit, Learn, Data, Vision, Launch)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from charts.palette import (
    LIGHT,
    NEUTRAL,
    OKABE_ITO,
    as_number,
    finish,
    format_count,
    format_number,
    format_rate,
    group_colour,
    in_sentence,
    join_words,
    rate_scale,
    stratifier_label,
)
from metrics.disparity import UNSTABLE_BELOW
from store.vocabulary import ASKED_NO_ANSWER, MISSING, UNKNOWN

UNSTABLE_NOTE = "few cases: interpret with care"

#: How the sentence says what a measure counts, by measure id ("... 6.9 points less often").
#: A row may carry its own `phrase`; other measures fall back to their name.
MEASURE_PHRASES = {
    "cbp": "had their blood pressure controlled",
    "gsd_poor": "had glycemic status above 9 % (poorly controlled diabetes)",
    "bcs_e": "were screened for breast cancer",
    "col_e": "were up to date with colorectal cancer screening",
    "ppc_timely": "received timely prenatal care",
    "readmit_30d": "were readmitted within 30 days",
    "ed_analgesia": "received pain medication in the emergency department",
    "smm": "had severe maternal morbidity",
    "sdoh_screen": "were screened for social needs",
    "interpreter_use": "had an interpreter when they needed one",
    "falls_injury": "had a fall with injury in hospital",
}


def _get(row, key, default=None):
    """A field of a ranking row: a dict, a pandas Series or a named tuple."""
    if isinstance(row, (Mapping, pd.Series)):
        value = row.get(key, default)
    else:
        value = getattr(row, key, default)
    return default if value is None else value


def group_phrase(stratifier: str, group: str) -> str:
    """Who a group is, in words: 'Black or African American patients', 'Patients aged
    45-64', 'Patients preferring Spanish', 'Patients with no race recorded'."""
    label = in_sentence(stratifier_label(stratifier))
    group = str(group)
    if group == "Overall":
        return "all patients"
    if group == MISSING:
        return f"Patients with no {label} recorded"
    if group == UNKNOWN:
        return f"Patients whose {label} is recorded as unknown"
    if group == ASKED_NO_ANSWER:
        return f"Patients who were asked their {label} but did not answer"
    if stratifier == "age_group":
        return f"Patients aged {group}"
    if stratifier == "preferred_language":
        return f"Patients preferring {group}"
    if stratifier == "adi_decile":
        return f"Patients in ADI decile {group}"
    if stratifier == "interpreter_needed":
        return "Patients needing an interpreter" if group == "Yes" else \
            "Patients not needing an interpreter"
    if stratifier == "site":
        return f"Patients at {group}"
    return f"{group} patients"


def _lower_first(text: str) -> str:
    """'Patients aged 45-64' inside a sentence; group names keep their capitals."""
    return "p" + text[1:] if text.startswith("Patients") else text


def _higher_is_better(row) -> bool:
    explicit = _get(row, "higher_is_better")
    if explicit is not None and not pd.isna(explicit):
        return bool(explicit)
    # A ranked gap is always the worse side: below the reference means higher is better.
    return as_number(_get(row, "rate")) < as_number(_get(row, "reference_rate"))


def _measure_phrase(row, higher: bool) -> str:
    phrase = _get(row, "phrase") or MEASURE_PHRASES.get(str(_get(row, "measure_id", "")))
    if phrase:
        return str(phrase)
    name = in_sentence(str(_get(row, "measure_name") or _get(row, "measure_id") or "measure"))
    return f"met the {name} measure" if higher else f"had {name}"


def gap_sentence(row, include_trend: bool = True) -> str:
    """One ranked gap (a row of `metrics.largest_gaps()`) as a sentence a leader reads in
    seconds, e.g. "Black or African American patients had their blood pressure controlled
    6.9 points less often than White patients (36.6 % vs 43.6 %, 899 of 2,454)."

    The difference is taken between the two rates as printed, so the sentence adds up.
    Optional row keys: `unit` (default percent), `higher_is_better` (otherwise read from the
    direction of the gap, which is always the worse side), `phrase` (what the measure
    counts, e.g. "were readmitted within 30 days").
    """
    unit = _get(row, "unit") or "%"
    scale = rate_scale("proportion", unit)
    rate, reference = as_number(_get(row, "rate")), as_number(_get(row, "reference_rate"))
    higher = _higher_is_better(row)
    stratifier = str(_get(row, "stratifier", ""))
    subject = group_phrase(stratifier, _get(row, "group"))
    subject = subject[:1].upper() + subject[1:]
    other = _lower_first(group_phrase(stratifier, _get(row, "reference_group")))
    rate_text = format_number(rate * scale.multiplier, scale.decimals)
    reference_text = format_number(reference * scale.multiplier, scale.decimals)
    gap = abs(float(rate_text.replace(",", "")) - float(reference_text.replace(",", "")))
    gap_text = format_number(gap, scale.decimals)
    below = rate < reference
    verb = _measure_phrase(row, higher)
    if scale.percent:
        how = f"{gap_text} points {'less' if below else 'more'} often"
    else:
        how = f"at a rate {gap_text}{scale.difference} {'lower' if below else 'higher'}"
    counts = (f"{format_rate(rate, 'proportion', unit)} vs "
              f"{format_rate(reference, 'proportion', unit)}, "
              f"{format_count(_get(row, 'numerator'))} of "
              f"{format_count(_get(row, 'denominator'))}")
    unstable = bool(_get(row, "unstable", False))
    if unstable:
        counts += f"; {UNSTABLE_NOTE}"
    sentence = f"{subject} {verb} {how} than {other} ({counts})."
    trend = str(_get(row, "trend", "") or "")
    if include_trend:
        if trend in ("widening", "narrowing"):
            sentence += f" The gap is {trend}."
        elif trend == "no clear change":
            sentence += " The gap has not clearly changed recently."
    return sentence


def _gap_label(row) -> str:
    name = str(_get(row, "measure_name") or _get(row, "measure_id"))
    stratifier = in_sentence(stratifier_label(str(_get(row, "stratifier"))))
    label = (f"{name} \u00b7 {stratifier}: {_get(row, 'group')} vs "
             f"{_get(row, 'reference_group')}")
    return label + (" (few cases)" if bool(_get(row, "unstable", False)) else "")


def largest_gaps_chart(gaps: pd.DataFrame, top: int = 10) -> go.Figure:
    """The `top` largest flagged gaps as horizontal bars of excess events, largest on top,
    each labelled "measure · stratifier: group vs reference" with its trend as text."""
    shown = gaps.head(top)
    records = shown.to_dict("records")
    positions = list(range(len(records)))
    fig = go.Figure()
    notes: list[dict] = []
    if records:
        fig.add_trace(go.Bar(
            x=[float(r["excess_events"]) for r in records], y=positions, orientation="h",
            customdata=[_gap_label(r) for r in records],
            marker=dict(color=[group_colour(r["stratifier"], r["group"]) for r in records],
                        line=dict(color=NEUTRAL, width=0.5)),
            name="Excess events", hovertext=[gap_sentence(r) for r in records],
            hovertemplate="%{hovertext}<extra></extra>", showlegend=False))
        for i, r in zip(positions, records):
            notes.append(dict(
                x=1, xref="paper", xanchor="left", xshift=8, y=i, yref="y", showarrow=False,
                align="left", font=dict(size=11), name="value",
                text=f"{format_count(r['excess_events'])} patients<br>trend: {r['trend']}"))
        notes.append(dict(x=1, xref="paper", xanchor="left", xshift=8, y=1, yref="paper",
                          yanchor="bottom", showarrow=False, align="left",
                          text="<b>Excess \u00b7 trend</b>", font=dict(size=11),
                          name="value header"))
    else:
        notes.append(dict(text="No meaningful gap is flagged for these filters.",
                          xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                          font=dict(size=14), name="empty"))
        fig.update_xaxes(range=[0, 1])
    fig.layout.annotations = notes
    fig.update_xaxes(title_text="Excess events (patients)", rangemode="tozero")
    fig.update_yaxes(tickmode="array", tickvals=positions,
                     ticktext=[_gap_label(r).replace(" \u00b7 ", " \u00b7<br>", 1)
                              for r in records],
                     range=[max(len(records), 1) - 0.5, -0.5], title_text="")
    captions = [
        "Excess events: how many patients of the group would have needed a different outcome "
        "for the group to match its reference group, (reference rate - group rate) x group "
        "size in the adverse direction. It weighs each gap by the people it affects.",
        "Only flagged gaps are listed: worse than the reference with p \u2264 0.05 and a "
        "relative difference of at least 10 % (AHRQ rule). Trend: the gap over the last 6 "
        "months against the 6 before."]
    if any(bool(r.get("unstable")) for r in records):
        captions.append(f"(few cases): fewer than {UNSTABLE_BELOW} cases: interpret with care.")
    subtitle = (f"Top {len(records)} of {len(gaps)} flagged gaps, ranked by excess events"
                if len(gaps) else "")
    return finish(fig, title="Largest meaningful gaps", subtitle=subtitle, captions=captions,
                  summary=largest_gaps_summary(gaps, top), chart="largest_gaps",
                  plot_height=44 * max(len(records), 3) + 20, right=170)


def largest_gaps_summary(gaps: pd.DataFrame, top: int = 10) -> str:
    if gaps.empty:
        return "No meaningful gap is flagged."
    shown = gaps.head(top).to_dict("records")
    parts = [f"The {len(shown)} largest of {len(gaps)} flagged gaps, by excess events."]
    parts += [gap_sentence(r) for r in shown[:3]]
    if len(shown) > 3:
        parts.append("Also: " + join_words([_gap_label(r) for r in shown[3:]]) + ".")
    return " ".join(parts)


# --- the five phases ----------------------------------------------------------------------

PHASES = ("Commit", "Learn", "Data", "Vision", "Launch")
PROGRESS_COLOUR, DONE_COLOUR = OKABE_ITO[0], OKABE_ITO[2]


def _phase_list(phases: Sequence[Mapping]) -> list[tuple[str, float, str]]:
    cleaned = []
    for phase in phases:
        if "name" not in phase or "percent" not in phase:
            raise ValueError("each phase needs a 'name' and a 'percent' (0 to 100)")
        percent = as_number(phase["percent"])
        if percent is None:
            raise ValueError(f"phase {phase['name']!r} has no percent")
        cleaned.append((str(phase["name"]), min(max(percent, 0.0), 100.0),
                        str(phase.get("detail") or "")))
    return cleaned


def phase_progress_chart(phases: Sequence[Mapping]) -> go.Figure:
    """One horizontal progress bar per phase (Commit, Learn, Data, Vision, Launch), in the
    order given: a grey track to 100 % and the completed share, labelled "60 %" (and
    "complete" at 100 %). A phase may carry a `detail` text, e.g. "3 of 5 items"."""
    items = _phase_list(phases)
    positions = list(range(len(items)))
    fig = go.Figure()
    notes: list[dict] = []
    fig.add_trace(go.Bar(x=[100] * len(items), y=positions, orientation="h", name="To do",
                         marker=dict(color="#EEEEEE", line=dict(color=LIGHT, width=1)),
                         hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Bar(
        x=[p for _, p, _ in items], y=positions, orientation="h", name="Done",
        marker=dict(color=[DONE_COLOUR if p >= 100 else PROGRESS_COLOUR for _, p, _ in items],
                    pattern=dict(shape=["" if p < 100 else "x" for _, p, _ in items],
                                fgcolor="#FFFFFF", size=8)),
        customdata=[n for n, _, _ in items], showlegend=False,
        hovertemplate="%{customdata}: %{x:.0f} % done<extra></extra>"))
    for i, (_, percent, detail) in zip(positions, items):
        text = f"{percent:.0f} %" + (" \u00b7 complete" if percent >= 100 else "")
        if detail:
            text += f" \u00b7 {detail}"
        notes.append(dict(x=100, xref="x", xanchor="left", xshift=8, y=i, yref="y",
                          text=text, showarrow=False, align="left", name="progress"))
    fig.layout.annotations = notes
    fig.update_layout(barmode="overlay", bargap=0.35)
    fig.update_xaxes(range=[0, 100], title_text="Done (%)", ticksuffix=" %", dtick=25,
                     showgrid=True)
    fig.update_yaxes(tickmode="array", tickvals=positions, ticktext=[n for n, _, _ in items],
                     range=[max(len(items), 1) - 0.5, -0.5], title_text="", showline=False,
                     ticks="")
    return finish(fig, title="Progress through the five phases",
                  subtitle="AMA STEPS Forward health-equity toolkit",
                  captions=["Each bar is the share of a phase's checklist that is done; a "
                           "cross-hatched green bar is a completed phase."],
                  summary=phase_progress_summary(phases), chart="phases",
                  plot_height=44 * max(len(items), 1) + 20, right=190)


def phase_progress_summary(phases: Sequence[Mapping]) -> str:
    items = _phase_list(phases)
    if not items:
        return "No phase to show."
    done = [n for n, p, _ in items if p >= 100]
    parts = ["Progress through the phases: " + "; ".join(
        f"{n} {p:.0f} %" + (" (complete)" if p >= 100 else "") + (f", {d}" if d else "")
        for n, p, d in items) + "."]
    parts.append(f"{len(done)} of {len(items)} phases complete.")
    return " ".join(parts)


__all__ = [
    "MEASURE_PHRASES", "PHASES", "gap_sentence", "group_phrase", "largest_gaps_chart",
    "largest_gaps_summary", "phase_progress_chart", "phase_progress_summary",
]
