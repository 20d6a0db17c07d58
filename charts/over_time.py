"""Month-by-month charts from `metrics.over_time(...)`: each group's trend with its gap to the
reference group, and one group's control chart (p, Laney p' or X-bar).

A suppressed month has no point and no limits (a gap in the line); a group hidden in every
month is not drawn and is named in the caption.
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.disparity import axis_title
from charts.palette import (
    FLAGGED_GLYPH,
    NEUTRAL,
    as_number,
    by_label,
    filters_text,
    finish,
    format_count,
    format_difference,
    format_period,
    format_period_range,
    format_rate,
    group_colour,
    is_known_group,
    join_words,
    marker_symbol,
    measure_title,
    rate_scale,
    reference_text,
    stratifier_label,
    translucent,
)
from metrics.disparity import SMALL_CELL, UNSTABLE_BELOW
from metrics.strata import STRATIFIERS

CHART_NAMES = {"p": "p-chart", "laney": "Laney p\u2032 chart", "xbar": "X-bar chart"}
BEYOND_COLOUR, SHIFT_COLOUR = "#D55E00", "#000000"
HIDDEN_MONTHS_CAPTION = (
    f"Gaps in a line: months with fewer than {SMALL_CELL[1] + 1} cases in a group are hidden "
    "(CMS cell-size rule).")


def _by(frame: pd.DataFrame) -> str:
    by = frame.attrs.get("by")
    if by:
        return by if isinstance(by, str) else list(by)[0]
    return str(frame.columns[0])


def _kind_unit(frame: pd.DataFrame, unit: str | None) -> tuple[str, str]:
    kind = frame.attrs.get("kind") or "proportion"
    unit = unit or frame.attrs.get("unit") or ("%" if kind == "proportion" else "")
    return kind, unit


def _month(period) -> str:
    """'2025-06' as the date '2025-06-01' for a date axis; full dates pass through."""
    text = str(period)
    return f"{text}-01" if len(text) == 7 else text


def _value(record, column) -> float | None:
    return as_number(record.get(column)) if not bool(record.get("suppressed")) else None


def _ordered_groups(frame: pd.DataFrame, by: str) -> list[str]:
    groups = list(dict.fromkeys(frame[by].astype(str)))
    definition = STRATIFIERS.get(by)
    return sorted(groups, key=definition.sort_key) if definition else groups


def _periods(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    if frame.empty:
        return None, None
    periods = sorted(frame["period"].astype(str))
    return periods[0], periods[-1]


def _subtitle(frame: pd.DataFrame, extra: str = "") -> str:
    attrs = frame.attrs
    first, last = _periods(frame)
    higher = attrs.get("higher_is_better")
    parts = [extra, reference_text(attrs) if attrs.get("reference_group") else "",
             format_period_range(first, last), filters_text(attrs.get("where")),
             "" if higher is None else ("higher is better" if higher else "lower is better")]
    text = " \u00b7 ".join(p for p in parts if p)
    return text[:1].upper() + text[1:]


def _select_groups(frame: pd.DataFrame, by: str, groups: Sequence[str] | None) -> list[str]:
    available = _ordered_groups(frame, by)
    if groups is None:
        return available
    wanted = [str(g) for g in groups]
    unknown = [g for g in wanted if g not in available]
    if unknown:
        raise ValueError(f"groups not in the frame: {', '.join(unknown)}; "
                         f"choose among: {', '.join(available)}")
    reference = frame.attrs.get("reference_group")
    if reference in available and reference not in wanted:
        wanted.append(reference)
    return [g for g in available if g in wanted]


def trend_chart(over_time_frame: pd.DataFrame, groups: Sequence[str] | None = None,
                show_gap: bool = False, *, measure_name: str | None = None,
                unit: str | None = None, compact: bool = False) -> go.Figure:
    """Each group's monthly rate as a line, the reference group thick; months in which a
    group was flagged carry a triangle, months with few cases open markers. With `show_gap`,
    a second panel shows each group's difference from the reference with its 95 % interval
    as a band. `groups` limits the lines (the reference group is always drawn).
    `measure_name` and `unit` override the frame's attrs (over_time frames may lack them).
    `compact` lays it out for a third of a page: the measure's name as the title, the
    legend above the plot, the rest of the title in the subtitle's lines.
    """
    frame = over_time_frame
    attrs = frame.attrs
    by = _by(frame)
    kind, unit = _kind_unit(frame, unit)
    scale = rate_scale(kind, unit)
    m = scale.multiplier
    reference = attrs.get("reference_group")
    chosen = _select_groups(frame, by, groups)
    if show_gap:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38],
                           vertical_spacing=0.07)
    else:
        fig = go.Figure()
    hidden, drawn = [], []
    any_flagged = any_gap_hidden = any_unstable = False
    for group in chosen:
        rows = frame[frame[by].astype(str) == group].sort_values("period")
        records = rows.to_dict("records")
        if all(bool(r.get("suppressed")) for r in records):
            hidden.append(group)
            continue
        drawn.append(group)
        is_reference = group == reference
        colour = group_colour(by, group)
        x = [_month(r["period"]) for r in records]
        y = [None if (v := _value(r, "rate")) is None else v * m for r in records]
        flagged = [bool(r.get("flagged")) and not bool(r.get("suppressed")) for r in records]
        unstable = [bool(r.get("unstable")) for r in records]
        any_flagged |= any(flagged)
        any_gap_hidden |= any(bool(r.get("suppressed")) for r in records)
        any_unstable |= any(u and v is not None for u, v in zip(unstable, y))
        name = f"{group} (reference)" if is_reference else group
        line = dict(color=colour, width=4 if is_reference else 2,
                    dash="solid" if is_known_group(group) else "dot")
        trace = go.Scatter(
            x=x, y=y, mode="lines+markers", name=name, legendgroup=group,
            customdata=[group] * len(x), connectgaps=False, line=line,
            marker=dict(color=colour, size=[11 if f else 6 for f in flagged],
                        symbol=[marker_symbol(f, False, u) for f, u in zip(flagged, unstable)],
                        line=dict(color=colour, width=1.5)),
            hovertext=[_trend_hover(group, r, kind, unit) for r in records],
            hovertemplate="%{hovertext}<extra></extra>")
        if show_gap:
            fig.add_trace(trace, row=1, col=1)
        else:
            fig.add_trace(trace)
        if show_gap and not is_reference:
            _add_gap(fig, group, records, colour, scale.multiplier)

    x_title = "Month"
    if show_gap:
        fig.update_yaxes(title_text=axis_title(kind, unit), row=1, col=1,
                         ticksuffix=" %" if scale.percent else "")
        unit_words = "percentage points" if scale.percent else scale.axis
        who = "all groups" if reference == "Overall" else reference
        fig.update_yaxes(title_text=f"Difference from {who}" + (f" ({unit_words})"
                                                               if unit_words else ""),
                         row=2, col=1, zeroline=True, zerolinecolor=NEUTRAL)
        fig.update_xaxes(title_text=x_title, row=2, col=1)
    else:
        fig.update_yaxes(title_text=axis_title(kind, unit),
                         ticksuffix=" %" if scale.percent else "")
        fig.update_xaxes(title_text=x_title)
    # Level labels, at most six: rotated date labels of a chart a third of a page wide run
    # into the axis title and the captions under it.
    fig.update_xaxes(type="date", tickformat="%b %Y", hoverformat="%b %Y", tickangle=0,
                     nticks=6)
    fig.update_layout(legend=dict(title_text=stratifier_label(by), traceorder="normal"),
                      hovermode="closest")

    reference_words = ("the thick line is the reference group "
                       f"({reference})" if reference in drawn else
                       "compared with all groups together" if reference == "Overall" else "")
    captions = ["Each line is one group's monthly rate" + (f"; {reference_words}."
                                                            if reference_words else ".")]
    if show_gap:
        captions.append("Lower panel: each group's difference from the reference month by "
                        "month; the shaded band is its 95 % confidence interval; 0 means no "
                        "difference.")
    if any_flagged:
        captions.append(f"{FLAGGED_GLYPH} A month in which the group was flagged: worse than "
                        "the reference with p \u2264 0.05 and at least 10 % worse in relative "
                        "terms (AHRQ rule).")
    if any_unstable:
        captions.append(f"Open markers: fewer than {UNSTABLE_BELOW} cases that month: "
                        "interpret with care.")
    if any_gap_hidden or hidden:
        captions.append(HIDDEN_MONTHS_CAPTION + (
            f" Hidden in every month, so not drawn: {join_words(hidden)}." if hidden else ""))
    name = measure_name or measure_title(attrs)
    title = f"{name} by {by_label(by)}, month by month"
    subtitle = _subtitle(frame)
    if compact:
        title = name
        first, last = _periods(frame)
        subtitle = "<br>".join(p for p in (f"By {by_label(by)}, month by month",
                                           format_period_range(first, last)) if p)
        fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.02,
                                      yanchor="bottom", title_text=""))
        fig.update_xaxes(nticks=3)
        return finish(fig, title=title, subtitle=subtitle, captions=captions,
                      summary=trend_summary(frame, groups, measure_name=name, unit=unit),
                      chart="trend", plot_height=300, right=10, left=10, top=150,
                      caption_width=42)
    return finish(fig, title=title, subtitle=subtitle, captions=captions,
                  summary=trend_summary(frame, groups, measure_name=name, unit=unit),
                  chart="trend", plot_height=560 if show_gap else 380, right=30)


def _trend_hover(group: str, record: dict, kind: str, unit: str) -> str:
    month = format_period(record["period"])
    if bool(record.get("suppressed")):
        return f"<b>{group}</b>, {month}: suppressed (small numbers)"
    lines = [f"<b>{group}</b>, {month}",
             f"{format_rate(record.get('rate'), kind, unit)} (95 % CI "
             f"{format_rate(record.get('rate_lower'), kind, unit)} to "
             f"{format_rate(record.get('rate_upper'), kind, unit)})"]
    if kind == "proportion":
        lines.append(f"{format_count(record.get('numerator'))} of "
                     f"{format_count(record.get('denominator'))} patients")
    else:
        lines.append(f"n = {format_count(record.get('denominator'))}")
    if as_number(record.get("difference")) is not None:
        lines.append("Difference from the reference: "
                     + format_difference(record.get("difference"), kind, unit))
    if record.get("flagged"):
        lines.append("Flagged this month")
    if record.get("unstable"):
        lines.append("Few cases: interpret with care")
    return "<br>".join(lines)


def _add_gap(fig: go.Figure, group: str, records: list[dict], colour: str,
             multiplier: float) -> None:
    x = [_month(r["period"]) for r in records]
    difference = [None if (v := _value(r, "difference")) is None else v * multiplier
                  for r in records]
    lower = [None if (v := _value(r, "difference_lower")) is None else v * multiplier
             for r in records]
    upper = [None if (v := _value(r, "difference_upper")) is None else v * multiplier
             for r in records]
    # The band: one closed polygon per run of months with an interval.
    band_x: list = []
    band_y: list = []
    run: list[int] = []
    for i in [*range(len(x)), None]:
        if i is not None and lower[i] is not None and upper[i] is not None:
            run.append(i)
            continue
        if run:
            if band_x:
                band_x.append(None)
                band_y.append(None)
            band_x += [x[j] for j in run] + [x[j] for j in reversed(run)]
            band_y += [upper[j] for j in run] + [lower[j] for j in reversed(run)]
            run = []
    fig.add_trace(go.Scatter(
        x=band_x, y=band_y, fill="toself", fillcolor=translucent(colour, 0.15),
        line=dict(width=0, color=colour), mode="lines", hoverinfo="skip", showlegend=False,
        legendgroup=group, name=f"{group}: 95 % interval of the difference",
        customdata=[group] * len(band_x)), row=2, col=1)
    fig.add_trace(go.Scatter(
        x=x, y=difference, mode="lines+markers", connectgaps=False, showlegend=False,
        legendgroup=group, name=f"{group}: difference", customdata=[group] * len(x),
        line=dict(color=colour, width=2, dash="solid" if is_known_group(group) else "dot"),
        marker=dict(size=5, color=colour),
        hovertemplate=f"{group}: %{{y:.1f}}<extra></extra>"), row=2, col=1)


def trend_summary(over_time_frame: pd.DataFrame, groups: Sequence[str] | None = None, *,
                  measure_name: str | None = None, unit: str | None = None) -> str:
    frame = over_time_frame
    attrs = frame.attrs
    by = _by(frame)
    kind, unit = _kind_unit(frame, unit)
    first, last = _periods(frame)
    chosen = _select_groups(frame, by, groups)
    name = measure_name or measure_title(attrs)
    reference = attrs.get("reference_group")
    parts = [f"{name} by {by_label(by)}, month by month, {format_period_range(first, last)}."]
    if reference:
        parts.append("Compared with all groups together." if reference == "Overall"
                     else f"The reference group is {reference}.")
    described, hidden = [], []
    for group in chosen:
        rows = frame[frame[by].astype(str) == group].sort_values("period")
        shown = rows[~rows["suppressed"].astype(bool)]
        if shown.empty:
            hidden.append(group)
            continue
        latest = shown.iloc[-1]
        flagged = int(shown["flagged"].astype(bool).sum())
        text = (f"{group}: {format_rate(latest['rate'], kind, unit)} in "
                f"{format_period(latest['period'])}")
        centre = as_number(shown["centre"].iloc[0]) if "centre" in shown else None
        if centre is not None:
            text += f", {format_rate(centre, kind, unit)} over the whole period"
        if flagged:
            text += f", flagged in {flagged} of {len(shown)} months"
        described.append(text)
    if described:
        parts.append("; ".join(described) + ".")
    if hidden:
        parts.append(f"Hidden in every month because of small numbers: {join_words(hidden)}.")
    return " ".join(parts)


# --- control chart ------------------------------------------------------------------------

def _group_rows(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    by = _by(frame)
    rows = frame[frame[by].astype(str) == str(group)].sort_values("period")
    if rows.empty:
        raise ValueError(f"group {group!r} is not in the frame; choose among: "
                         f"{', '.join(_ordered_groups(frame, by))}")
    return rows


def _chart_type(rows: pd.DataFrame) -> str:
    values = [str(v) for v in rows.get("chart", pd.Series(dtype=object)).dropna()]
    return values[0] if values else "p"


def control_chart(over_time_frame: pd.DataFrame, group: str,
                  annotations: Sequence[tuple[str, str]] | None = None, *,
                  measure_name: str | None = None, unit: str | None = None) -> go.Figure:
    """One group's control chart: monthly points, the centre line, the lower and upper
    control limits as steps; points beyond a limit ringed by a diamond, points in a shift
    (8 or more in a row on one side of the centre) by a square. `annotations` lists
    (month, text) pairs, e.g. an intervention's start, drawn as a labelled vertical line."""
    frame = over_time_frame
    rows = _group_rows(frame, group)
    by = _by(frame)
    kind, unit = _kind_unit(frame, unit)
    scale = rate_scale(kind, unit)
    m = scale.multiplier
    chart = _chart_type(rows)
    records = rows.to_dict("records")
    x = [_month(r["period"]) for r in records]

    def series(column):
        return [None if (v := _value(r, column)) is None else v * m for r in records]

    rate, lower, upper = series("rate"), series("lower_limit"), series("upper_limit")
    centre_value = as_number(rows["centre"].iloc[0]) if "centre" in rows else None
    centre = [None if centre_value is None else centre_value * m] * len(x)
    beyond = [bool(r.get("beyond_limits")) and v is not None for r, v in zip(records, rate)]
    shift = [bool(r.get("shift")) and v is not None for r, v in zip(records, rate)]
    colour = group_colour(by, group)

    fig = go.Figure()
    limit_line = dict(color="#7F7F7F", width=1.5, dash="dash", shape="vhv")
    fig.add_trace(go.Scatter(x=x, y=upper, mode="lines", name="Upper control limit",
                            line=limit_line, connectgaps=False,
                            hovertemplate="Upper limit: %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=lower, mode="lines", name="Lower control limit",
                            line=limit_line, connectgaps=False,
                            hovertemplate="Lower limit: %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=centre, mode="lines", name="Centre line",
                            line=dict(color=NEUTRAL, width=2),
                            hovertemplate="Centre: %{y:.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=rate, mode="lines+markers", name=f"{group}: monthly rate"
        if kind == "proportion" else f"{group}: monthly mean", connectgaps=False,
        line=dict(color=colour, width=1.5), marker=dict(color=colour, size=8,
                                                       line=dict(color=NEUTRAL, width=1)),
        hovertext=[_trend_hover(str(group), r, kind, unit) for r in records],
        hovertemplate="%{hovertext}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[xi for xi, b in zip(x, beyond) if b], y=[v for v, b in zip(rate, beyond) if b],
        mode="markers", name="Beyond a control limit",
        marker=dict(symbol="diamond-open", size=20, color=BEYOND_COLOUR,
                    line=dict(width=2.5, color=BEYOND_COLOUR)), hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[xi for xi, s in zip(x, shift) if s], y=[v for v, s in zip(rate, shift) if s],
        mode="markers", name="Shift: 8 or more months on one side",
        marker=dict(symbol="square-open", size=15, color=SHIFT_COLOUR,
                    line=dict(width=1.5, color=SHIFT_COLOUR)), hoverinfo="skip"))
    notes: list[dict] = []
    for period, text in annotations or ():
        fig.add_shape(type="line", x0=_month(period), x1=_month(period), xref="x", y0=0,
                      y1=1, yref="paper", line=dict(color=NEUTRAL, width=1.5, dash="dot"),
                      name="intervention")
        notes.append(dict(x=_month(period), xref="x", y=1, yref="paper", yanchor="bottom",
                          xanchor="left", text=str(text), showarrow=False,
                          font=dict(size=11, color=NEUTRAL), name="intervention"))

    fig.layout.annotations = notes
    fig.update_xaxes(title_text="Month", type="date", tickformat="%b %Y",
                     hoverformat="%b %Y")
    fig.update_yaxes(title_text=axis_title(kind, unit), ticksuffix=" %" if scale.percent else "")
    fig.update_layout(hovermode="closest")
    label = CHART_NAMES.get(chart, chart)
    captions = [_limits_caption(chart)]
    if any(bool(r.get("suppressed")) for r in records):
        captions.append(HIDDEN_MONTHS_CAPTION.replace("a group", "this group")
                        + " Their limits are hidden too.")
    if centre_value is None:
        captions.append("Every month of this group is hidden because of small numbers.")
    name = measure_name or measure_title(frame.attrs)
    title = f"{name}: {group}, control chart"
    where = filters_text(frame.attrs.get("where"))
    subtitle = " \u00b7 ".join(p for p in (label, format_period_range(*_periods(rows)), where)
                              if p)
    return finish(fig, title=title, subtitle=subtitle, captions=captions,
                  summary=control_summary(frame, group, measure_name=name, unit=unit),
                  chart="control", plot_height=380)


def _limits_caption(chart: str) -> str:
    if chart == "laney":
        how = ("Laney p\u2032 chart: the p-chart's 3-sigma limits widened by the month-to-month "
               "variation of the points (over-dispersion), as is usual with large monthly "
               "numbers")
    elif chart == "xbar":
        how = "X-bar chart: limits at 3 standard errors of each month's mean"
    else:
        how = "p-chart: limits at 3 sigma, wider in months with fewer cases"
    return (f"Solid grey line: the centre (the group's rate over all months shown); dashed "
            f"steps: control limits ({how}). Diamond: a point beyond a limit; square: part of a "
            "shift of 8 or more months on one side of the centre (IHI rules).")


def control_summary(over_time_frame: pd.DataFrame, group: str, *,
                    measure_name: str | None = None, unit: str | None = None) -> str:
    frame = over_time_frame
    rows = _group_rows(frame, group)
    kind, unit = _kind_unit(frame, unit)
    chart = _chart_type(rows)
    shown = rows[~rows["suppressed"].astype(bool)]
    name = measure_name or measure_title(frame.attrs)
    first, last = _periods(rows)
    parts = [f"{CHART_NAMES.get(chart, chart).capitalize()} of {name} for {group}, "
             f"{format_period_range(first, last)}."]
    if shown.empty:
        parts.append("Every month is hidden because of small numbers.")
        return " ".join(parts)
    centre = as_number(shown["centre"].iloc[0])
    parts.append(f"{len(shown)} months shown; centre line {format_rate(centre, kind, unit)}.")
    beyond = shown[shown["beyond_limits"].astype(bool)]
    if len(beyond):
        parts.append("Beyond a control limit: " + join_words([
            f"{format_period(r['period'])} ({format_rate(r['rate'], kind, unit)}, "
            f"{'above' if r['rate'] > r['centre'] else 'below'})"
            for _, r in beyond.iterrows()]) + ".")
    else:
        parts.append("No point is beyond a control limit.")
    shifted = shown[shown["shift"].astype(bool)]
    if len(shifted):
        side = "above" if (shifted["rate"] > shifted["centre"]).mean() >= 0.5 else "below"
        parts.append(f"A shift: {len(shifted)} months {side} the centre line, from "
                     f"{format_period(shifted['period'].iloc[0])} to "
                     f"{format_period(shifted['period'].iloc[-1])}.")
    else:
        parts.append("No shift.")
    hidden = len(rows) - len(shown)
    if hidden:
        parts.append(f"{hidden} month{'s' if hidden > 1 else ''} hidden because of small "
                     "numbers.")
    return " ".join(parts)


__all__ = ["control_chart", "control_summary", "trend_chart", "trend_summary"]
