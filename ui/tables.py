"""Tables as people read them: percent with one decimal, thousands separators, suppressed and
unstable cells explained where they appear."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import charts
from charts import palette
from metrics.disparity import UNSTABLE_BELOW
from metrics.privacy import SMALL_CELL

SUPPRESSED_NOTE = (f"Suppressed: a count from {SMALL_CELL[0]} to {SMALL_CELL[1]} (cases, events "
                   "or non-events) is never shown, nor a group from which one could be worked "
                   "out from the totals (CMS cell-size rule).")
UNSTABLE_NOTE = f"Unstable: fewer than {UNSTABLE_BELOW} cases; interpret with care."


def context_line(table: pd.DataFrame, filters) -> str:
    """Measure, stratifier, reference, months and every filter, in one line."""
    attrs = table.attrs
    reference = attrs.get("reference_group") or "none available"
    # Sites are already in the global filters' description.
    others = {k: v for k, v in (attrs.get("where") or {}).items() if k != "site"}
    return (f"{attrs.get('measure_name', '')} by {palette.by_label(attrs.get('by'))}; "
            f"reference: {reference}; {filters.describe()}"
            + (f"; {palette.filters_text(others)}" if others else ""))


def show_disparity(table: pd.DataFrame) -> None:
    """The full table with counts, rates, intervals, comparisons and flags."""
    kind, unit = table.attrs.get("kind", "proportion"), table.attrs.get("unit")
    by = list(table.attrs.get("by") or [table.columns[0]])
    shown = pd.DataFrame({column: table[column].astype(str) for column in by})
    shown["Cases"] = table["denominator"].map(charts.format_count)
    shown["Met"] = table["numerator"].map(charts.format_count) if kind == "proportion" else ""
    shown["Rate"] = table["rate"].map(lambda v: charts.format_rate(v, kind, unit))
    shown["95 % interval"] = [
        f"{charts.format_rate(lo, kind, unit)} to {charts.format_rate(hi, kind, unit)}"
        if pd.notna(lo) else "" for lo, hi in zip(table["rate_lower"], table["rate_upper"])]
    shown["Difference"] = table["difference"].map(
        lambda v: charts.format_difference(v, kind, unit))
    shown["Ratio"] = table["ratio"].map(lambda v: palette.format_number(v, 2))
    shown["p"] = table["p_value"].map(charts.format_p_value)
    shown["Status"] = [
        "reference" if ref else "suppressed" if sup else "flagged" if flag else ""
        for ref, sup, flag in zip(table["is_reference"], table["suppressed"], table["flagged"])]
    shown["Few cases"] = table["unstable"].map({True: "unstable", False: ""})
    # The domain left a suppressed group's counts empty; say why rather than "n/a".
    hidden = table["suppressed"].astype(bool).to_numpy()
    shown.loc[hidden, "Cases"] = "suppressed"
    if kind == "proportion":
        shown.loc[hidden, "Met"] = "suppressed"
    st.dataframe(shown, hide_index=True, column_config={
        "Difference": st.column_config.TextColumn(
            help="Group minus reference, with Newcombe's interval in the CSV."),
        "Status": st.column_config.TextColumn(
            help="Flagged: p ≤ 0.05 and at least 10 % worse than the reference (relative, "
                 "adverse direction; AHRQ rule)."),
    })
    if table["suppressed"].any():
        st.caption(SUPPRESSED_NOTE)
    if table["unstable"].any():
        st.caption(UNSTABLE_NOTE)


def show_adjusted(adjusted: pd.DataFrame, by: str) -> None:
    shown = pd.DataFrame({
        by: adjusted[by].astype(str),
        "Cases": adjusted["denominator"].map(charts.format_count),
        "Crude rate": adjusted["crude_rate"].map(charts.format_rate),
        "Age-adjusted rate": adjusted["adjusted_rate"].map(charts.format_rate),
        "Adjusted 95 % interval": [
            f"{charts.format_rate(lo)} to {charts.format_rate(hi)}" if pd.notna(lo) else ""
            for lo, hi in zip(adjusted["adjusted_lower"], adjusted["adjusted_upper"])],
    })
    shown.loc[adjusted["suppressed"].to_numpy(), "Cases"] = "suppressed"
    st.dataframe(shown, hide_index=True)
    if adjusted["suppressed"].any():
        st.caption(SUPPRESSED_NOTE)


def show_largest_gaps(gaps: pd.DataFrame, top: int) -> None:
    """The largest gaps as the chart ranks them, formatted as people read them (the raw
    columns are in the exports)."""
    shown = gaps.head(top)
    units = shown["unit"]  # (None: percent)
    table = pd.DataFrame({
        "Measure": shown["measure_name"].astype(str),
        "By": shown["stratifier"].map(palette.stratifier_label),
        "Group": shown["group"].astype(str),
        "Reference group": shown["reference_group"].astype(str),
        "Cases": shown["denominator"].map(charts.format_count),
        "Rate": [charts.format_rate(v, "proportion", u) for v, u in zip(shown["rate"], units)],
        "Reference rate": [charts.format_rate(v, "proportion", u)
                           for v, u in zip(shown["reference_rate"], units)],
        "Difference": [charts.format_difference(v, "proportion", u)
                       for v, u in zip(shown["difference"], units)],
        "p": shown["p_value"].map(charts.format_p_value),
        "Excess events": shown["excess_events"].map(lambda v: palette.format_number(v, 1)),
        "Trend": shown["trend"].astype(str),
    }).set_index(pd.RangeIndex(1, len(shown) + 1, name="Rank"))
    # A number keeps its unit on its line ("47.3 %", "-9.7 points", "p < 0.001").
    for name in ("Rate", "Reference rate", "Difference", "p"):
        table[name] = table[name].str.replace(" ", "\u00a0")
    st.table(table)
