"""Disparity tables as charts: dot-and-interval, shares of patients and of adverse outcomes,
and every measure for one stratifier side by side.

Input: the table of `metrics.stratify(...)` (or `metrics.disparity.disparity_table` with the
same `.attrs`). Suppressed rows never contribute a number to a figure, even when a hand-made
table still carries their counts: they are listed by name with the word "suppressed".
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from charts.palette import (
    FLAGGED_CAPTION,
    NEUTRAL,
    SUPPRESSED_CAPTION,
    UNSTABLE_CAPTION,
    Scale,
    as_number,
    by_label,
    finish,
    format_count,
    format_difference,
    format_number,
    format_p_value,
    format_percent,
    format_rate,
    group_colour,
    join_words,
    marker_symbol,
    measure_title,
    names_text,
    rate_scale,
    scaled,
    subtitle_parts,
    subtitle_text,
    translucent,
)
from metrics.disparity import JOIN, TABLE_COLUMNS

ROW_HEIGHT = 28
DIFFERENCE_COLUMNS = ("difference", "difference_lower", "difference_upper", "p_value")


@dataclass(frozen=True)
class Row:
    """One group of a disparity table, as a chart may show it (all numbers None when the
    group is suppressed)."""
    group: str
    shown: bool
    suppressed: bool
    reference: bool
    flagged: bool
    unstable: bool
    rate: float | None
    lower: float | None
    upper: float | None
    denominator: float | None
    numerator: float | None
    difference: float | None
    difference_lower: float | None
    difference_upper: float | None
    p_value: float | None


def group_columns(table: pd.DataFrame) -> list[str]:
    """The stratifier column(s) of a disparity table: `attrs["by"]`, else the columns
    before the counts."""
    by = table.attrs.get("by")
    if by:
        return [by] if isinstance(by, str) else list(by)
    return [c for c in table.columns if c not in TABLE_COLUMNS and c not in
            ("period", *DIFFERENCE_COLUMNS)][:2]


def table_rows(table: pd.DataFrame) -> list[Row]:
    """The table's groups in its order, with every number of a suppressed group blanked."""
    names = group_columns(table)
    labels = [JOIN.join(map(str, values)) for values in zip(*(table[n] for n in names))]
    rows = []
    for label, (_, record) in zip(labels, table.iterrows()):
        suppressed = bool(record.get("suppressed", False))

        def value(column, record=record, suppressed=suppressed):
            return None if suppressed else as_number(record.get(column))

        rate = value("rate")
        rows.append(Row(
            group=label, shown=not suppressed and rate is not None, suppressed=suppressed,
            reference=bool(record.get("is_reference", False)) and not suppressed,
            flagged=bool(record.get("flagged", False)) and not suppressed,
            unstable=bool(record.get("unstable", False)), rate=rate,
            lower=value("rate_lower"), upper=value("rate_upper"),
            denominator=value("denominator"), numerator=value("numerator"),
            difference=value("difference"), difference_lower=value("difference_lower"),
            difference_upper=value("difference_upper"), p_value=value("p_value")))
    return rows


def reference_rate(table: pd.DataFrame, rows: list[Row] | None = None) -> float | None:
    """The reference group's rate: its row's, or for "overall" the rate less the difference
    of any shown group (the same total for every group)."""
    rows = table_rows(table) if rows is None else rows
    for row in rows:
        if row.reference and row.rate is not None:
            return row.rate
    if table.attrs.get("reference_group") == "Overall":
        for row in rows:
            if row.shown and row.difference is not None:
                return row.rate - row.difference
    return None


def _kind_unit(attrs: Mapping) -> tuple[str, str]:
    kind = attrs.get("kind") or "proportion"
    unit = attrs.get("unit") or ("%" if kind == "proportion" else "")
    return kind, unit


def axis_title(kind: str, unit: str, word: str | None = None) -> str:
    scale = rate_scale(kind, unit)
    word = word or ("Mean" if kind == "mean" else "Rate")
    if scale.percent:
        return f"{word} (%)"
    return f"{word} ({scale.axis})" if scale.axis else word


def _status(row: Row) -> str:
    if row.suppressed:
        return "suppressed"
    if row.rate is None:
        return "no cases"
    words = []
    if row.reference:
        words.append("reference")
    if row.flagged:
        words.append("flagged")
    if row.unstable:
        words.append("few cases")
    return ", ".join(words)


def _tick_label(row: Row) -> str:
    if row.reference:
        return f"<b>{row.group}</b> (reference)" + (" (few cases)" if row.unstable else "")
    label = row.group
    if row.flagged:
        label += " \u25b2 flagged"
    if row.unstable and not row.suppressed:
        label += " (few cases)"
    return label


def _counts_text(row: Row, kind: str) -> str:
    if kind == "proportion":
        return f"{format_count(row.numerator)} of {format_count(row.denominator)}"
    if kind == "rate":
        return f"{format_count(row.numerator)} events, {format_count(row.denominator)} cases"
    return f"n = {format_count(row.denominator)}"


def _column_rate(rate, kind: str, unit: str) -> str:
    """A rate in the right-hand column: a rate's long unit ("per 1,000 patient-days") is on
    the axis already, and would not fit."""
    if kind == "rate":
        return format_number(scaled(rate, kind, unit), rate_scale(kind, unit).decimals)
    return format_rate(rate, kind, unit)


def _hover(row: Row, kind: str, unit: str, reference_group: str | None) -> str:
    lines = [f"<b>{row.group}</b>",
             f"{format_rate(row.rate, kind, unit)} (95 % CI {format_rate(row.lower, kind, unit)}"
             f" to {format_rate(row.upper, kind, unit)})",
             _counts_text(row, kind) + (" patients" if kind == "proportion" else "")]
    if row.reference:
        lines.append("Reference group")
    elif row.difference is not None:
        lines.append(
            f"Difference from {reference_group}: {format_difference(row.difference, kind, unit)}"
            f" (95 % CI {format_difference(row.difference_lower, kind, unit)} to "
            f"{format_difference(row.difference_upper, kind, unit)}), "
            f"{format_p_value(row.p_value)}")
    if row.flagged:
        lines.append("Flagged: meaningfully worse than the reference")
    if row.unstable:
        lines.append("Few cases: interpret with care")
    return "<br>".join(lines)


def _x_range(rows: list[Row], scale: Scale, reference: float | None) -> list[float]:
    values = [v for r in rows if r.shown for v in (r.lower, r.upper, r.rate) if v is not None]
    if reference is not None:
        values.append(reference)
    if not values:
        return [0.0, 100.0] if scale.percent else [0.0, 1.0]
    low, high = min(values) * scale.multiplier, max(values) * scale.multiplier
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    low, high = low - pad, high + pad
    if scale.multiplier != 1 or scale.percent:  # proportions cannot leave 0 to the maximum
        low = max(low, 0.0)
        high = min(high, scale.multiplier)
    return [low, high]


def _dot_trace(rows: list[Row], by: list[str], kind: str, unit: str, scale: Scale,
               reference_group: str | None, positions: list[int], **extra) -> go.Scatter:
    shown = [(i, r) for i, r in zip(positions, rows) if r.shown]
    m = scale.multiplier
    return go.Scatter(
        x=[r.rate * m for _, r in shown],
        y=[i for i, _ in shown],
        customdata=[r.group for _, r in shown],
        error_x=dict(type="data", symmetric=False, color=NEUTRAL, thickness=1.5, width=4,
                     array=[(r.upper - r.rate) * m if r.upper is not None else None
                           for _, r in shown],
                     arrayminus=[(r.rate - r.lower) * m if r.lower is not None else None
                                for _, r in shown]),
        mode="markers",
        marker=dict(
            color=[group_colour(by, r.group) for _, r in shown],
            symbol=[marker_symbol(r.flagged, r.reference, r.unstable) for _, r in shown],
            size=[14 if (r.reference or r.flagged) else 11 for _, r in shown],
            # An open symbol is drawn with the group's colour at this width.
            line=dict(color=NEUTRAL, width=[2 if r.unstable else 1 for _, r in shown])),
        hovertext=[_hover(r, kind, unit, reference_group) for _, r in shown],
        hovertemplate="%{hovertext}<extra></extra>",
        name="Rate and 95 % interval",
        showlegend=False,
        **extra,
    )


def _captions(rows: list[Row], intro: str) -> list[str]:
    captions = [intro]
    if any(r.flagged for r in rows):
        captions.append(FLAGGED_CAPTION)
    if any(r.suppressed for r in rows):
        captions.append(SUPPRESSED_CAPTION)
    if any(r.unstable and not r.suppressed for r in rows):
        captions.append(UNSTABLE_CAPTION)
    return captions


def disparity_dot_chart(table: pd.DataFrame, list_suppressed: bool = True) -> go.Figure:
    """Each group's rate with its 95 % interval, one row per group, against a dashed line at
    the reference group's rate. Flagged groups: a triangle and "flagged" in their label;
    the reference: a diamond and "(reference)"; unstable groups: open symbols and
    "(few cases)"; suppressed groups: their name and the word "suppressed", no dot. With
    `list_suppressed=False` (long crossed tables) suppressed groups get no row and are
    named in a caption instead. A right-hand column prints each rate and its counts."""
    attrs = table.attrs
    kind, unit = _kind_unit(attrs)
    scale = rate_scale(kind, unit)
    by = group_columns(table)
    all_rows = table_rows(table)
    rows = all_rows if list_suppressed else [r for r in all_rows if not r.suppressed]
    positions = list(range(len(rows)))
    reference = reference_rate(table, all_rows)
    reference_name = _reference_name(attrs)

    fig = go.Figure()
    notes: list[dict] = []  # annotations, added at once (one by one is quadratic in plotly)
    fig.add_trace(_dot_trace(rows, by, kind, unit, scale, reference_name, positions))
    if reference is not None:
        fig.add_vline(x=reference * scale.multiplier, line=dict(color=NEUTRAL, dash="dash",
                                                               width=1.5))
        notes.append(dict(
            x=reference * scale.multiplier, y=1, xref="x", yref="paper", yanchor="bottom",
            text=f"{reference_name}: {format_rate(reference, kind, unit)}", showarrow=False,
            font=dict(size=11, color=NEUTRAL), name="reference"))
    for i, row in zip(positions, rows):
        if row.shown:
            notes.append(dict(
                x=1, xref="paper", xanchor="left", xshift=8, y=i, yref="y", showarrow=False,
                align="left", font=dict(size=11), name="value",
                text=f"{_column_rate(row.rate, kind, unit)} \u00b7 {_counts_text(row, kind)}"))
        else:
            notes.append(dict(
                x=0.01, xref="x domain", xanchor="left", y=i, yref="y", showarrow=False,
                text=f"<i>{_status(row)}</i>", font=dict(size=11, color="#666666"),
                name="suppressed" if row.suppressed else "no cases"))
    notes.append(dict(x=1, xref="paper", xanchor="left", xshift=8, y=1, yref="paper",
                       yanchor="bottom", showarrow=False, align="left",
                       text="<b>Mean \u00b7 cases</b>" if kind == "mean"
                       else "<b>Rate \u00b7 cases</b>", font=dict(size=11), name="value header"))

    fig.layout.annotations = notes
    fig.update_xaxes(title_text=axis_title(kind, unit), range=_x_range(rows, scale, reference),
                     ticksuffix=" %" if scale.percent else "")
    fig.update_yaxes(tickmode="array", tickvals=positions,
                     ticktext=[_tick_label(r) for r in rows],
                     range=[max(len(rows), 1) - 0.5, -0.5], showgrid=True, title_text="")
    intro = ("Dots show each group's rate; bars show its 95 % confidence interval; "
             + (f"the dashed line marks the reference ({reference_name})." if reference
                is not None else "there is no reference group to compare with."))
    captions = _captions(all_rows, intro)
    left_out = [r.group for r in all_rows if r.suppressed and r not in rows]
    if left_out:
        captions.append(f"Suppressed and not drawn: {names_text(left_out, 12)}.")
    title = f"{measure_title(attrs)} by {by_label(by)}"
    row_height = ROW_HEIGHT if len(by) == 1 else ROW_HEIGHT - 6
    return finish(fig, title=title, subtitle=subtitle_text(attrs), captions=captions,
                  summary=disparity_summary(table), chart="disparity_dot",
                  plot_height=row_height * max(len(rows), 3) + 20, right=200)


def _reference_name(attrs: Mapping) -> str | None:
    group = attrs.get("reference_group")
    return "all groups together" if group == "Overall" else group


def _intro(attrs: Mapping, by: list[str], what: str = "") -> str:
    """'Controlling high blood pressure by race (all months; Site: X; higher is better).'"""
    details = [p for p in subtitle_parts(attrs) if not p.startswith(("reference:", "compared"))]
    head = f"{what}{measure_title(attrs)} by {by_label(by)}"
    return head + (f" ({'; '.join(details)})." if details else ".")


def disparity_summary(table: pd.DataFrame) -> str:
    """A paragraph saying what the dot chart shows."""
    attrs = table.attrs
    kind, unit = _kind_unit(attrs)
    by = group_columns(table)
    rows = table_rows(table)
    shown = [r for r in rows if r.shown]
    reference = reference_rate(table, rows)
    parts = [_intro(attrs, by)]
    if reference is not None:
        how = {"largest": " (the largest group)", "best": " (the best-performing group)"}.get(
            attrs.get("reference"), "")
        parts.append(f"The reference is {_reference_name(attrs)}{how} at "
                     f"{format_rate(reference, kind, unit)}.")
    if len(shown) > 1:
        low = min(shown, key=lambda r: r.rate)
        high = max(shown, key=lambda r: r.rate)
        parts.append(
            f"{len(shown)} of {len(rows)} groups are shown; rates range from "
            f"{format_rate(low.rate, kind, unit)} ({low.group}) to "
            f"{format_rate(high.rate, kind, unit)} ({high.group}).")
    elif shown:
        parts.append(f"Only {shown[0].group} can be shown, at "
                     f"{format_rate(shown[0].rate, kind, unit)}.")
    else:
        parts.append("No group can be shown.")
    flagged = [r for r in rows if r.flagged]
    if flagged:
        parts.append("Flagged as meaningfully worse than the reference: " + join_words(
            [f"{r.group} ({format_rate(r.rate, kind, unit)})" for r in flagged]) + ".")
    elif reference is not None:
        parts.append("No group is flagged as meaningfully worse than the reference.")
    hidden = [r.group for r in rows if r.suppressed]
    if hidden:
        parts.append(f"Hidden because of small numbers: {names_text(hidden)}.")
    unstable = [r.group for r in rows if r.unstable and not r.suppressed]
    if unstable:
        parts.append(f"Few cases, interpret with care: {names_text(unstable)}.")
    return " ".join(parts)


# --- shares -------------------------------------------------------------------------------

def _adverse_words(attrs: Mapping) -> str:
    if attrs.get("higher_is_better", True):
        return "missed care (patients not meeting the measure)"
    name = measure_title(attrs, "the outcome")
    return f"events ({name[:1].lower() + name[1:] if name[1:2].islower() else name})"


def _shares(table: pd.DataFrame) -> tuple[list[Row], list[float], list[float]]:
    attrs = table.attrs
    if (attrs.get("kind") or "proportion") != "proportion":
        raise ValueError("share_chart needs a proportion measure; "
                         f"{measure_title(attrs)} is a {attrs.get('kind')}")
    rows = [r for r in table_rows(table) if r.shown and r.denominator]
    higher = attrs.get("higher_is_better", True)
    adverse = [(r.denominator - r.numerator) if higher else r.numerator for r in rows]
    patients = sum(r.denominator for r in rows)
    events = sum(adverse)
    patient_share = [r.denominator / patients for r in rows]
    adverse_share = [a / events if events else math.nan for a in adverse]
    return rows, patient_share, adverse_share


def share_chart(table: pd.DataFrame) -> go.Figure:
    """Each shown group's share of the patients beside its share of the adverse outcomes
    (missed care for a higher-is-better measure, the events for a lower-is-better one).
    Shares are among the groups shown; suppressed groups are left out and named."""
    attrs = table.attrs
    rows, patient_share, adverse_share = _shares(table)
    hidden = [r.group for r in table_rows(table) if r.suppressed]
    by = group_columns(table)
    adverse_words = _adverse_words(attrs)
    labels = [r.group + (" (few cases)" if r.unstable else "") for r in rows]
    positions = list(range(len(rows)))
    colours = [group_colour(by, r.group) for r in rows]

    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=[s * 100 for s in patient_share], y=positions, orientation="h",
        name="Share of patients", customdata=[r.group for r in rows],
        marker=dict(color=[translucent(c, 0.25) for c in colours],
                    line=dict(color=colours, width=1.5),
                    pattern=dict(shape="/", fgcolor=colours, size=6)),
        text=[format_percent(s) for s in patient_share], textposition="outside",
        cliponaxis=False, hovertemplate="%{customdata}: %{text} of the patients<extra></extra>",
        offsetgroup="patients"))
    fig.add_trace(go.Bar(
        x=[s * 100 for s in adverse_share], y=positions, orientation="h",
        name=f"Share of {adverse_words}", customdata=[r.group for r in rows],
        marker=dict(color=colours, line=dict(color=NEUTRAL, width=0.5)),
        text=[format_percent(s) for s in adverse_share], textposition="outside",
        cliponaxis=False,
        hovertemplate="%{customdata}: %{text} of the " + adverse_words.split(" (")[0]
        + "<extra></extra>", offsetgroup="adverse"))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05,
                      legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom",
                                 xanchor="left", traceorder="normal"))
    top = max([*patient_share, *[s for s in adverse_share if not math.isnan(s)], 0.01])
    fig.update_xaxes(title_text="Share of the groups shown (%)", ticksuffix=" %",
                     range=[0, top * 100 * 1.18])
    fig.update_yaxes(tickmode="array", tickvals=positions, ticktext=labels,
                     range=[len(rows) - 0.5, -0.5], title_text="")
    captions = ["Hatched bars: the group's share of the patients; solid bars: its share of "
                f"the {adverse_words.split(' (')[0]}. A solid bar longer than the hatched one "
                "means the group carries more than its share."]
    if hidden:
        captions.append(f"Not shown, and not counted in the shares: {names_text(hidden, 12)}. "
                        + SUPPRESSED_CAPTION)
    if any(r.unstable for r in rows):
        captions.append("(few cases): fewer than 30 cases: interpret with care.")
    title = f"{measure_title(attrs)} by {by_label(by)}: who carries the gaps"
    return finish(fig, title=title, subtitle=subtitle_text(attrs), captions=captions,
                  summary=share_summary(table), chart="share",
                  plot_height=2 * ROW_HEIGHT * max(len(rows), 2) + 20, right=40, top=125)


def share_summary(table: pd.DataFrame) -> str:
    attrs = table.attrs
    rows, patient_share, adverse_share = _shares(table)
    by = group_columns(table)
    adverse = _adverse_words(attrs).split(" (")[0]
    if not rows:
        parts = [f"{measure_title(attrs)} by {by_label(by)}: no group can be shown."]
    else:
        parts = [f"{measure_title(attrs)} by {by_label(by)}: each group's share of the "
                 f"patients and of the {adverse}, among the {len(rows)} groups shown."]
    excess = sorted(((a - p, r, p, a) for r, p, a in zip(rows, patient_share, adverse_share)
                     if not math.isnan(a)), key=lambda item: item[0], reverse=True)
    over = [item for item in excess if item[0] > 0.005]
    if over:
        parts.append("Carrying more than their share: " + join_words([
            f"{r.group} ({format_percent(a)} of the {adverse}, {format_percent(p)} of the "
            "patients)" for _, r, p, a in over[:3]]) + ".")
    hidden = [r.group for r in table_rows(table) if r.suppressed]
    if hidden:
        parts.append(f"Left out because of small numbers: {names_text(hidden)}.")
    return " ".join(parts)


# --- small multiples ----------------------------------------------------------------------

def _panel_title(table: pd.DataFrame, key: str) -> str:
    attrs = table.attrs
    name = attrs.get("measure_name") or key
    direction = attrs.get("higher_is_better")
    arrow = "" if direction is None else ("higher is better" if direction
                                         else "lower is better")
    return f"<b>{name}</b>" + (f"<br><span style='font-size:11px'>{arrow}</span>"
                              if arrow else "")


def small_multiples(tables: Mapping[str, pd.DataFrame], columns: int = 3,
                    title: str | None = None) -> go.Figure:
    """Every measure for one stratifier, one panel per measure, groups on shared rows and in
    the same colours as on every other chart. Symbols as on the dot chart; a suppressed group
    is marked "suppressed" in its panel. `title` replaces "All measures by ..."."""
    if not tables:
        raise ValueError("small_multiples needs at least one table")
    items = list(tables.items())
    first = items[0][1]
    by = group_columns(first)
    order: list[str] = []
    for _, table in items:
        for row in table_rows(table):
            if row.group not in order:
                order.append(row.group)
    position = {group: i for i, group in enumerate(order)}
    columns = max(1, min(columns, len(items)))
    panel_rows = math.ceil(len(items) / columns)
    panel_height = 40 + 22 * len(order)
    gap = 120  # pixels between panel rows: x axis of the panel above, title of the one below
    plot_height = panel_rows * panel_height + (panel_rows - 1) * gap
    fig = make_subplots(rows=panel_rows, cols=columns, shared_yaxes=True,
                        horizontal_spacing=0.035, vertical_spacing=gap / plot_height,
                        subplot_titles=[_panel_title(t, k) for k, t in items])
    fig.update_annotations(font_size=12)  # the subplot titles, the only annotations so far
    any_flagged = any_hidden = any_unstable = False
    notes: list[dict] = list(fig.layout.annotations)  # the subplot titles
    for index, (_key, table) in enumerate(items):
        r, c = divmod(index, columns)
        r, c = r + 1, c + 1
        kind, unit = _kind_unit(table.attrs)
        scale = rate_scale(kind, unit)
        rows = table_rows(table)
        places = [position[row.group] for row in rows]
        reference = reference_rate(table, rows)
        reference_group = table.attrs.get("reference_group")
        trace = _dot_trace(rows, by, kind, unit, scale, reference_group, places,
                          meta={"measure": table.attrs.get("measure_id", _key)})
        trace.name = table.attrs.get("measure_name") or _key
        fig.add_trace(trace, row=r, col=c)
        if reference is not None:
            fig.add_vline(x=reference * scale.multiplier, row=r, col=c,
                          line=dict(color=NEUTRAL, dash="dash", width=1))
        subplot = fig.get_subplot(r, c)
        xref = subplot.xaxis.plotly_name.replace("axis", "")
        yref = subplot.yaxis.plotly_name.replace("axis", "")
        for place, row in zip(places, rows):
            if not row.shown:
                notes.append(dict(x=0.02, xref=f"{xref} domain", xanchor="left", y=place,
                                  yref=yref, showarrow=False, text=f"<i>{_status(row)}</i>",
                                  font=dict(size=10, color="#666666"), name="suppressed"))
        fig.update_xaxes(row=r, col=c, range=_x_range(rows, scale, reference),
                         ticksuffix=" %" if scale.percent else "",
                         title_text=axis_title(kind, unit), title_font_size=11)
        any_flagged |= any(row.flagged for row in rows)
        any_hidden |= any(row.suppressed for row in rows)
        any_unstable |= any(row.unstable and not row.suppressed for row in rows)
    fig.layout.annotations = notes
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(order))), ticktext=order,
                     range=[len(order) - 0.5, -0.5], showgrid=True)
    captions = ["Each panel is one measure: dots show the rate with its 95 % confidence "
                "interval; the dashed line marks that measure's reference group; "
                "\u25c6 reference group."]
    if any_flagged:
        captions.append(FLAGGED_CAPTION)
    if any_hidden:
        captions.append(SUPPRESSED_CAPTION)
    if any_unstable:
        captions.append(UNSTABLE_CAPTION)
    attrs = dict(first.attrs)
    attrs.pop("higher_is_better", None)
    title = title or f"All measures by {by_label(by)}"
    return finish(fig, title=title, subtitle=subtitle_text(attrs), captions=captions,
                  summary=small_multiples_summary(tables), chart="small_multiples",
                  plot_height=plot_height, top=135)


def small_multiples_summary(tables: Mapping[str, pd.DataFrame]) -> str:
    if not tables:
        return ""
    first = next(iter(tables.values()))
    by = group_columns(first)
    parts = [f"{len(tables)} measures by {by_label(by)}, one panel each."]
    for key, table in tables.items():
        rows = table_rows(table)
        flagged = [r.group for r in rows if r.flagged]
        name = table.attrs.get("measure_name") or key
        if flagged:
            parts.append(f"{name}: flagged {join_words(flagged)}.")
        else:
            parts.append(f"{name}: no group flagged.")
    hidden = sorted({r.group for t in tables.values() for r in table_rows(t) if r.suppressed})
    if hidden:
        parts.append(f"Hidden in at least one panel because of small numbers: "
                     f"{names_text(hidden)}.")
    return " ".join(parts)


__all__ = [
    "Row", "axis_title", "disparity_dot_chart", "disparity_summary", "group_columns",
    "reference_rate", "share_chart", "share_summary", "small_multiples",
    "small_multiples_summary", "table_rows",
]
