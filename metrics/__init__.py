"""Quality measures stratified by demographic groups, with honest statistics.

No streamlit here: every number a page shows comes from a function in this package that a
test, the command line and an export can call the same way.

    >>> import metrics
    >>> metrics.stratify("cbp", "race")                       # doctest: +SKIP
    >>> metrics.stratify("ed_analgesia", ["race", "preferred_language"],
    ...                  where={"site": "Riverside Medical Center"}, reference="best")
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from metrics.adjustment import age_adjusted
from metrics.aggregate import Where, as_list, group_counts, groups_present, measure_definition
from metrics.disparity import disparity_table
from metrics.over_time import over_time
from metrics.ranking import largest_gaps


def stratify(
    measure_id: str,
    by: str | Sequence[str],
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    reference: str = "largest",
    database_url: str | None = None,
) -> pd.DataFrame:
    """The disparity table of a measure by one stratifier or two crossed.

    `where` maps a stratifier to a value or a list of values; `reference` is "largest" (the
    known group with the most cases), "best", "overall" or a group's name (crossed groups are
    written "A | B"). Columns: the stratifier(s), then denominator, numerator, rate,
    rate_lower, rate_upper, is_reference, difference, difference_lower, difference_upper,
    ratio, ratio_lower, ratio_upper, p_value, flagged, suppressed, unstable.
    """
    names = as_list(by)
    measure = measure_definition(measure_id, database_url)
    counts = group_counts(measure_id, names, where, period_from, period_to, database_url)
    table = disparity_table(counts, names, measure["kind"], measure["higher_is_better"],
                            reference, multiplier=measure["multiplier"])
    table.attrs.update({
        "measure_id": measure_id,
        "measure_name": measure["name"],
        "unit": measure["unit"],
        "by": names,
        "where": dict(where or {}),
        "period_from": period_from,
        "period_to": period_to,
    })
    return table


def summary(
    measure_id: str,
    by: str,
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    reference: str = "largest",
    database_url: str | None = None,
) -> pd.DataFrame:
    """Summary measures of inequality across the groups of one stratifier (one row per
    measure): range difference and ratio, between-group variance, index of disparity, mean
    log deviation, Theil index; the slope and relative index of inequality for ordered
    stratifiers (age group, ADI decile). Suppressed and not-known groups are left out."""
    from metrics.inequality import summary_measures
    from metrics.strata import stratifier

    table = stratify(measure_id, by, where, period_from, period_to, reference, database_url)
    shown = table[~table["suppressed"]]
    reference_group = table.attrs.get("reference_group")
    return summary_measures(
        shown, ordered=stratifier(by).ordered, higher_is_better=table.attrs["higher_is_better"],
        reference=reference_group if reference_group in set(shown[by].astype(str)) else None,
        group_col=by, kind=table.attrs["kind"],
    )


__all__ = [
    "age_adjusted", "groups_present", "largest_gaps", "over_time", "stratify", "summary",
]
