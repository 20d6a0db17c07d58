"""Age-standardised rates beside crude ones (direct standardisation)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metrics import privacy
from metrics.aggregate import COUNT_COLUMNS, Where, group_counts, measure_definition
from metrics.disparity import disparity_table
from metrics.standardisation import directly_standardised_rate
from metrics.strata import AGE_GROUPS
from store.vocabulary import MISSING


def age_adjusted(
    measure_id: str,
    by: str,
    where: Where = None,
    period_from: str | None = None,
    period_to: str | None = None,
    standard: Mapping[str, float] | None = None,
    confidence: float = 0.95,
    database_url: str | None = None,
) -> pd.DataFrame:
    """Crude and age-standardised rate per group of a proportion measure.

    The standard is the age distribution (counted cases by age group) of the whole filtered
    population unless `standard` maps age groups to weights. Cases with no birth year cannot
    be standardised and are left out of the adjusted rate only (the crude rate keeps them);
    `standardised_cases` says how many cases each adjusted rate rests on. Dobson limits; NaN
    below 10 events, or when the group has no case in an age group of the standard.
    Suppression follows the disparity table.
    """
    measure = measure_definition(measure_id, database_url)
    if measure["kind"] != "proportion":
        raise ValueError("age adjustment applies to proportion measures")
    counts = group_counts(measure_id, [by, "age_group"], where, period_from, period_to,
                          database_url)
    known_age = counts[counts["age_group"] != MISSING]
    if standard is None:
        weights = known_age.groupby("age_group")["denominator"].sum()
    else:
        unknown = set(standard) - set(AGE_GROUPS)
        if unknown:
            raise ValueError(f"standard has unknown age groups: {sorted(unknown)}; "
                             f"use {', '.join(AGE_GROUPS)}")
        weights = pd.Series(standard, dtype=float)
    weights = weights.reindex(AGE_GROUPS, fill_value=0.0).astype(float)

    crude = disparity_table(
        counts.groupby(by, as_index=False)[list(COUNT_COLUMNS)].sum(), [by], "proportion",
        measure["higher_is_better"])
    adjusted = []
    for group in crude[by]:
        cells = counts[(counts[by] == group) & (counts["age_group"] != MISSING)]
        aged = cells.set_index("age_group")[["denominator", "numerator"]].reindex(
            AGE_GROUPS, fill_value=0)
        weighted = (weights > 0).to_numpy()
        value = lower = upper = np.nan
        # Every group is standardised to the same standard, or not at all: a group with no
        # cases in a weighted age group has no comparable adjusted rate.
        if weighted.any() and (aged["denominator"].to_numpy()[weighted] > 0).all():
            result = directly_standardised_rate(
                aged["numerator"].to_numpy()[weighted], aged["denominator"].to_numpy()[weighted],
                weights.to_numpy()[weighted], multiplier=1, confidence=confidence)
            value, lower, upper = result.value, result.lower, result.upper
        adjusted.append((value, lower, upper, int(aged["denominator"].sum())))

    table = crude[[by, "denominator", "rate", "rate_lower", "rate_upper", "suppressed",
                   "unstable"]].rename(columns={"rate": "crude_rate", "rate_lower": "crude_lower",
                                                "rate_upper": "crude_upper"})
    for offset, column in enumerate(("adjusted_rate", "adjusted_lower", "adjusted_upper",
                                     "standardised_cases")):
        table[column] = [row[offset] for row in adjusted]
    hidden = table["suppressed"].to_numpy()
    table.loc[hidden, ["adjusted_rate", "adjusted_lower", "adjusted_upper"]] = np.nan
    table["standardised_cases"] = table["standardised_cases"].astype("Int64")
    # The cases left out of the adjusted rate (no birth year) are a count of their own.
    left_out = table["denominator"].astype("Float64") - table["standardised_cases"]
    table.loc[hidden | privacy.small(table["standardised_cases"])
              | privacy.small(left_out), "standardised_cases"] = pd.NA
    table.attrs.update({"standard": weights.to_dict(), "measure_id": measure_id, "by": [by]})
    return table
