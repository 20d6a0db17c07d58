"""The disparity table month by month, with each group's control chart and its gap."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics import privacy
from metrics.aggregate import COUNT_COLUMNS, Where, group_counts, measure_definition
from metrics.control import mean_chart, p_chart, u_chart
from metrics.disparity import disparity_table

CHART_COLUMNS = ("centre", "lower_limit", "upper_limit", "beyond_limits", "shift", "chart")


def over_time(
    measure_id: str,
    by: str,
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    reference: str = "largest",
    chart: str = "auto",
    database_url: str | None = None,
) -> pd.DataFrame:
    """One row per group and month: the disparity-table columns (the gap to the reference in
    the same month), then the group's control chart: centre, lower_limit, upper_limit,
    beyond_limits, shift, chart.

    The reference group is chosen once, on the whole period range, so that every month is
    compared with the same group. Small-cell suppression applies to each month's cells.
    """
    measure = measure_definition(measure_id, database_url)
    kind, higher, multiplier = measure["kind"], measure["higher_is_better"], measure["multiplier"]
    counts = group_counts(measure_id, [by, "period"], where, period_from, period_to,
                          database_url)
    whole = disparity_table(counts.groupby(by, as_index=False)[list(COUNT_COLUMNS)].sum(),
                            [by], kind, higher, reference, multiplier=multiplier)
    anchor = whole.attrs["reference_group"]
    if anchor is None:
        anchor = "overall"

    months = []
    for _period, month in counts.groupby("period", sort=True):
        present = month[by].astype(str).tolist()
        month_reference = anchor if anchor == "overall" or anchor in present else None
        if month_reference is None:
            table = disparity_table(month, [by], kind, higher, "largest",
                                    multiplier=multiplier)
            table[["is_reference", "difference", "difference_lower", "difference_upper",
                   "ratio", "ratio_lower", "ratio_upper", "p_value"]] = [False] + [math.nan] * 7
            table["flagged"] = False
        else:
            table = disparity_table(month, [by], kind, higher, month_reference,
                                    multiplier=multiplier)
        table.insert(1, "period", month["period"].iat[0])
        months.append(table)
    if not months:
        empty = _empty(by, whole)
        empty.attrs.update(whole.attrs)
        empty.attrs.update(_describe(measure, by, where, period_from, period_to))
        return empty
    series = pd.concat(months, ignore_index=True).sort_values([by, "period"],
                                                              ignore_index=True)

    charts = []
    for group, rows in counts.sort_values("period").groupby(by, sort=False):
        if kind == "mean":
            figure = mean_chart(rows["value_sum"], rows["value_sum_squares"], rows["denominator"])
        elif kind == "rate":
            figure = u_chart(rows["numerator"], rows["exposure"], multiplier,
                             {"p": "u"}.get(chart, chart))
        else:
            figure = p_chart(rows["numerator"], rows["denominator"], chart)
        figure.insert(0, by, group)
        figure.insert(1, "period", rows["period"].to_numpy())
        charts.append(figure.drop(columns="rate"))
    result = series.merge(pd.concat(charts, ignore_index=True), on=[by, "period"], how="left")
    # A group hidden over the whole range is hidden in every month too: its shown months
    # would otherwise add up towards the hidden total. The months are a crossed table (group
    # by month) whose margins, the group's whole-range total and the month's total, are
    # shown elsewhere: its complementary suppression hides a month that total minus the
    # other months would give back.
    hidden_groups = set(whole.loc[whole["suppressed"], by].astype(str))
    crossed = privacy.suppress(counts, [by, "period"], kind)
    crossed_keys = set(zip(counts.loc[crossed, by].astype(str), counts.loc[crossed, "period"]))
    whole_hidden = result[by].astype(str).isin(hidden_groups).to_numpy()
    crossed_hidden = np.array([key in crossed_keys for key in
                               zip(result[by].astype(str), result["period"])], dtype=bool)
    # A month whose reference is hidden has no shown comparison (it would give its rate).
    hidden_reference = set(result.loc[(whole_hidden | crossed_hidden)
                                      & result["is_reference"].astype(bool), "period"])
    result.loc[result["period"].isin(hidden_reference), [
        "difference", "difference_lower", "difference_upper", "ratio", "ratio_lower",
        "ratio_upper", "p_value"]] = np.nan
    result.loc[result["period"].isin(hidden_reference), "flagged"] = False
    whole_hidden = whole_hidden | crossed_hidden
    result.loc[whole_hidden, "suppressed"] = True
    blank = whole_hidden.copy()
    if kind == "rate":
        # Rare events: with the months of 1 to 10 events hidden, the months left shown would
        # be mostly the empty ones and the trend would read as zero. A group with a hidden
        # month hides its months without events too.
        short = set(result.loc[result["suppressed"].to_numpy(), by].astype(str))
        empty = (result["numerator"].fillna(-1).to_numpy() == 0) & result[by].astype(
            str).isin(short).to_numpy()
        result.loc[empty, "suppressed"] = True
        blank |= empty
    numbers = ["denominator", "numerator", "rate", "rate_lower", "rate_upper", "difference",
               "difference_lower", "difference_upper", "ratio", "ratio_lower", "ratio_upper",
               "p_value"]
    for column in numbers:
        result.loc[blank, column] = pd.NA if column in ("denominator",
                                                        "numerator") else np.nan
    result.loc[blank, "flagged"] = False
    # A hidden month must not be recoverable from its limits (they depend on its count).
    hidden = result["suppressed"].to_numpy()
    for column in ("lower_limit", "upper_limit"):
        result.loc[hidden, column] = np.nan
    result.loc[hidden, ["beyond_limits", "shift"]] = False
    result.loc[result[by].astype(str).isin(hidden_groups).to_numpy(), "centre"] = np.nan
    result.attrs.update(whole.attrs)
    result.attrs.update(_describe(measure, by, where, period_from, period_to))
    return result


def _describe(measure: dict, by: str, where, period_from, period_to) -> dict:
    return {"measure_id": measure["measure_id"], "measure_name": measure["name"],
            "unit": measure["unit"], "by": [by], "where": dict(where or {}),
            "period_from": period_from, "period_to": period_to}


def _empty(by: str, whole: pd.DataFrame) -> pd.DataFrame:
    columns = [by, "period", *whole.columns[1:], *CHART_COLUMNS]
    return pd.DataFrame(columns=columns)
