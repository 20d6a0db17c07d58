"""Data quality at a glance: where and since when the demographic fields go unrecorded."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from charts.palette import finish, format_period, stratifier_label

# A sequential, colour-blind-safe scale: dark where capture fails, light where it is complete.
_SCALE = "cividis"


def completeness_heatmap(cells: pd.DataFrame, field: str, target: float) -> go.Figure:
    """Sites by month, coloured by the share of patients seen with `field` recorded with a
    known value; each cell's text is the percent. `cells` comes from
    `data_quality.completeness_by_site_and_month`: a suppressed cell (small numbers) has
    no colour, no percent and no count, and reads "suppressed"."""
    if "suppressed" not in cells.columns:
        cells = cells.assign(suppressed=False)
    grid = cells.pivot(index="site", columns="period", values="complete_percent")
    counts = cells.pivot(index="site", columns="period", values="patients")
    hidden = cells.pivot(index="site", columns="period", values="suppressed")
    months = list(grid.columns)
    text = [[("" if pd.isna(v) else f"{v:.0f}") for v in row] for row in grid.to_numpy()]
    hover = [[(f"{site}, {format_period(month)}: suppressed (small numbers)"
               if pd.notna(h) and bool(h)
               else f"{site}, {format_period(month)}: {v:.1f} % of {int(n):,} patients"
               if pd.notna(v) else f"{site}, {format_period(month)}: no patients")
              for month, v, n, h in zip(months, values, ns, hs)]
             for site, values, ns, hs in zip(grid.index, grid.to_numpy(), counts.to_numpy(),
                                             hidden.to_numpy())]
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy().tolist(), x=[format_period(m) for m in months], y=list(grid.index),
        text=text, texttemplate="%{text}", hovertext=hover, hoverinfo="text",
        colorscale=_SCALE, zmin=min(50.0, float(cells["complete_percent"].min() or 50)),
        zmax=100, colorbar={"title": {"text": "% known"}},
    ))
    fig.update_yaxes(autorange="reversed")
    label = stratifier_label(field).lower() if field != "birth_year" else "birth year"
    worst = cells.dropna(subset=["complete_percent"]).sort_values("complete_percent").head(1)
    summary = (f"Share of patients seen at each site each month whose {label} is recorded with "
               f"a known value. Target {target:.0f} %.")
    if not worst.empty:
        row = worst.iloc[0]
        summary += (f" The lowest cell is {row['site']} in {format_period(row['period'])}: "
                    f"{row['complete_percent']:.1f} % of {int(row['patients']):,} patients.")
    return finish(fig, title=f"{stratifier_label(field) if field != 'birth_year' else 'Birth year'}"
                  " recorded, by site and month",
                  subtitle=f"Percent of patients seen with a known value · target {target:.0f} %",
                  captions=["Unknown and Asked but no answer count as not known."]
                  + (["Empty cells marked suppressed: 1 to 10 patients, known or not known "
                      "(small-cell rule)."] if cells["suppressed"].astype(bool).any() else []),
                  summary=summary, chart="completeness_heatmap",
                  plot_height=max(220, 34 * len(grid.index)), left=200)


def check_history_chart(history: pd.DataFrame, checks: list[str]) -> go.Figure:
    """The unexpected percent of some checks across the stored validation runs."""
    fig = go.Figure()
    for check in checks:
        rows = history[history["check"] == check]
        fig.add_trace(go.Scatter(
            x=[str(run) for run in rows["run_id"]], y=rows["unexpected_percent"].tolist(),
            mode="lines+markers", name=check))
    fig.update_xaxes(title_text="Validation run", type="category")
    fig.update_yaxes(title_text="Rows not meeting the check (%)", rangemode="tozero")
    runs = history["run_id"].nunique() if not history.empty else 0
    return finish(fig, title="Checks over the last validation runs",
                  subtitle=f"{runs} run{'s' if runs != 1 else ''}",
                  summary=f"Share of rows failing each of {len(checks)} checks over {runs} "
                          "stored validation runs.", chart="check_history")


def completeness_chart(table: pd.DataFrame, field: str, by: str, target: float) -> go.Figure:
    """One bar per group (site, month or payer): the share of the patients seen there whose
    `field` is recorded with a known value, against the target. `table` has columns `by`,
    denominator (patients), numerator (known), rate (0-1) and suppressed; suppressed groups
    get no bar and are named in a caption."""
    field_label = "Birth year" if field == "birth_year" else stratifier_label(field)
    shown = table[~table["suppressed"].astype(bool)]
    hidden = table.loc[table["suppressed"].astype(bool), by].astype(str).tolist()
    labels = [format_period(g) if by == "period" else str(g) for g in shown[by]]
    percent = (shown["rate"].astype(float) * 100).round(1)
    colours = ["#0072B2" if p >= target else "#D55E00" for p in percent]
    fig = go.Figure(go.Bar(
        x=percent.tolist(), y=labels, orientation="h", marker_color=colours,
        text=[f"{p:.1f} % of {int(n):,}" for p, n in zip(percent, shown["denominator"])],
        textposition="inside", insidetextanchor="end", textfont_color="white",
        hovertemplate="%{y}: %{x:.1f} % known<extra></extra>", showlegend=False))
    fig.add_vline(x=target, line_dash="dash", line_color="#333333",
                  annotation_text=f"target {target:.0f} %", annotation_position="top")
    fig.update_xaxes(range=[0, 112], title_text="Patients with a known value (%)",
                     ticksuffix=" %")
    fig.update_yaxes(autorange="reversed")
    below = [f"{g} ({p:.1f} %)" for g, p in zip(labels, percent) if p < target]
    by_words = {"site": "site", "period": "month", "payer": "payer"}.get(by, by)
    summary = (f"{field_label} recorded with a known value, by {by_words}: "
               f"{len(shown)} groups shown, target {target:.0f} %. ")
    summary += (f"Below target (orange): {', '.join(below)}." if below
                else "Every group shown meets the target.")
    if hidden:
        summary += f" Hidden because of small numbers: {', '.join(hidden)}."
    notes = ["Unknown and Asked but no answer count as not known; bars in orange are below "
             "target."]
    if hidden:
        notes.append(f"Hidden because of small numbers: {', '.join(hidden)}.")
    return finish(fig, title=f"{field_label} recorded, by {by_words}",
                  subtitle=f"Percent of patients seen with a known value · target {target:.0f} %",
                  captions=notes, summary=summary, chart="completeness",
                  plot_height=max(200, 30 * len(labels)), left=160)
