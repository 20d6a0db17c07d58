"""The disparity table: each group's rate compared with a reference group, flagged honestly.

Conventions (docs/methods.md): Wilson intervals for proportions, Student t for means, exact
chi-square (below 10 events) or Byar limits for rates; difference = group - reference
(Newcombe hybrid score for proportions, Welch for means, Wald for rates); ratio = group /
reference (Katz log interval; delta method for means; log rate ratio for rates); two-sided p
from the pooled two-proportion z-test (Welch's t-test for means, the exact conditional
binomial test for rates). Rates are events / exposure x the unit's multiplier (e.g. per 1,000
patient-days). A group is flagged when p <= 0.05 and it is worse than the reference by a
relative difference of at least 10 % in the adverse direction (AHRQ National Healthcare
Quality and Disparities Report; Keppel & Pearcy).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from metrics import privacy, stats
from metrics.privacy import SMALL_CELL, small_cell  # noqa: F401  (their old home)
from metrics.strata import stratifier
from store.vocabulary import NOT_KNOWN_GROUPS

TABLE_COLUMNS = (
    "denominator", "numerator", "rate", "rate_lower", "rate_upper", "is_reference",
    "difference", "difference_lower", "difference_upper", "ratio", "ratio_lower",
    "ratio_upper", "p_value", "flagged", "suppressed", "unstable",
)
REFERENCE_CHOICES = ("largest", "best", "overall")
SIGNIFICANCE = 0.05
RELATIVE_DIFFERENCE = 0.10  # in the adverse direction
UNSTABLE_BELOW = 30  # denominators below this are marked unstable (NCHS)
UNSTABLE_EVENTS_BELOW = 20  # rates on fewer events are marked unstable (NCHS: RSE > 23 %)
JOIN = " | "  # how a crossed group is written, e.g. "Asian | Spanish"


def is_known(label: str) -> bool:
    return not any(part in NOT_KNOWN_GROUPS for part in label.split(JOIN))


def primary_suppression(counts: pd.DataFrame, kind: str) -> np.ndarray:
    """Groups whose numerator, denominator or non-events is a small cell (1 to 10) — for a
    rate its events or cases (non-events do not exist): the first step of
    `metrics.privacy.suppress`, kept under this name for its callers."""
    return privacy.primary(counts, kind)


def complementary_suppression(counts: pd.DataFrame, names: Sequence[str],
                              suppressed: np.ndarray, kind: str = "proportion") -> np.ndarray:
    """The second step of `metrics.privacy.suppress` over the margins of a table by `names`
    (the whole table, and each dimension of a crossed table), kept under this name."""
    return privacy.complementary(counts, privacy.margins_of(counts, names), suppressed,
                                 kind)


def choose_reference(labels: list[str], denominator: np.ndarray, rate: np.ndarray,
                     suppressed: np.ndarray, unstable: np.ndarray, reference: str,
                     higher_is_better: bool) -> int | None:
    """Row position of the reference group; None for "overall", or when no group qualifies.

    Automatic choices consider only known groups that are shown (never Missing, Unknown or
    Asked but no answer); "best" prefers groups that are not unstable.
    """
    if reference == "overall":
        return None
    candidates = [i for i, label in enumerate(labels) if is_known(label) and not suppressed[i]]
    if reference == "largest":
        return max(candidates, key=lambda i: denominator[i]) if candidates else None
    if reference == "best":
        stable = [i for i in candidates if not unstable[i]] or candidates
        if not stable:
            return None
        pick = max if higher_is_better else min
        return pick(stable, key=lambda i: rate[i])
    if reference in labels:
        return labels.index(reference)
    raise ValueError(
        f"reference group {reference!r} is not among the groups: {', '.join(labels)}; "
        f"or choose one of {', '.join(REFERENCE_CHOICES)}"
    )


def disparity_table(counts: pd.DataFrame, by: Sequence[str], kind: str,
                    higher_is_better: bool, reference: str = "largest",
                    confidence: float = 0.95, multiplier: float = 1) -> pd.DataFrame:
    """One row per group from counted cases (see metrics.aggregate.group_counts).

    For a rate measure (`kind="rate"`) the counts need an `exposure` column; rates, their
    limits and differences are per `multiplier` units of exposure (`rate_multiplier` of the
    measure's unit), ratios need none."""
    names = list(by)
    keys = [tuple(stratifier(name).sort_key(str(value)) for name, value in zip(names, row))
            for row in zip(*(counts[name] for name in names))]
    counts = counts.iloc[sorted(range(len(counts)), key=keys.__getitem__)]
    counts = counts.reset_index(drop=True)
    labels = [JOIN.join(map(str, row)) for row in zip(*(counts[name] for name in names))]
    exposure = (counts["exposure"].tolist() if "exposure" in counts
                else [math.nan] * len(counts))
    cells = [_Cells(*row) for row in zip(counts["denominator"].tolist(),
                                        counts["numerator"].tolist(),
                                        counts["value_sum"].tolist(),
                                        counts["value_sum_squares"].tolist(), exposure)]
    denominator = counts["denominator"].to_numpy()
    estimates = np.array([_estimate(cell, kind, confidence, multiplier) for cell in cells],
                         dtype=float).reshape(len(cells), 3)
    unstable = denominator < UNSTABLE_BELOW
    if kind == "rate":
        unstable |= counts["numerator"].to_numpy() < UNSTABLE_EVENTS_BELOW
    suppressed = privacy.suppress(counts, names, kind)

    position = choose_reference(labels, denominator, estimates[:, 0], suppressed, unstable,
                                reference, higher_is_better)
    if position is not None:
        base = cells[position]
    elif reference == "overall" and cells:
        base = _Cells(*(sum(values) for values in zip(*cells)))
    else:
        base = None
    # A hidden reference cannot anchor shown comparisons: its rate would be recoverable.
    usable = base is not None and (position is None or not suppressed[position])
    comparisons = np.array([
        _compare(cell, base, kind, higher_is_better, confidence, multiplier)
        if usable and i != position else (math.nan,) * 7 + (0.0,)
        for i, cell in enumerate(cells)
    ], dtype=float).reshape(len(cells), 8)
    comparisons[suppressed] = (math.nan,) * 7 + (0.0,)
    estimates[suppressed] = math.nan

    # Built in one go: assigning twenty columns one by one cost a third of a request.
    columns = {name: counts[name] for name in names}
    for column in ("denominator", "numerator"):
        shown = np.where(suppressed, 0, counts[column].to_numpy()).astype(np.int64)
        columns[column] = pd.Series(pd.arrays.IntegerArray(shown, suppressed.copy()))
    columns["rate"], columns["rate_lower"], columns["rate_upper"] = estimates.T
    columns["is_reference"] = np.arange(len(cells)) == (-1 if position is None else position)
    for offset, column in enumerate(("difference", "difference_lower", "difference_upper",
                                     "ratio", "ratio_lower", "ratio_upper", "p_value")):
        columns[column] = comparisons[:, offset]
    columns["flagged"] = comparisons[:, 7].astype(bool)
    columns["suppressed"] = suppressed
    columns["unstable"] = unstable
    table = pd.DataFrame(columns)
    table.attrs.update({
        "reference": reference,
        "reference_group": labels[position] if position is not None else
        ("Overall" if reference == "overall" else None),
        "kind": kind,
        "higher_is_better": higher_is_better,
        "multiplier": multiplier,
    })
    return table


class _Cells(NamedTuple):
    denominator: float
    numerator: float
    value_sum: float
    value_sum_squares: float
    exposure: float = math.nan


def _estimate(cell: _Cells, kind: str, confidence: float,
              multiplier: float = 1) -> tuple[float, float, float]:
    n = cell.denominator
    if n == 0:
        return math.nan, math.nan, math.nan
    if kind == "rate":
        if not cell.exposure > 0:
            return math.nan, math.nan, math.nan
        lower, upper = stats.count_interval(cell.numerator, confidence)
        scale = multiplier / cell.exposure
        return cell.numerator * scale, lower * scale, upper * scale
    if kind == "mean":
        mean, sd = stats.mean_from_sums(n, cell.value_sum, cell.value_sum_squares)
        return (mean, *stats.mean_interval(n, mean, sd, confidence))
    return (cell.numerator / n, *stats.proportion_interval(cell.numerator, n, confidence))


def _compare(group: _Cells, base: _Cells, kind: str, higher_is_better: bool,
             confidence: float, multiplier: float = 1) -> tuple:
    n1, n0 = group.denominator, base.denominator
    if n1 == 0 or n0 == 0:
        return (math.nan,) * 7 + (0.0,)
    if kind == "rate":
        x1, t1, x0, t0 = group.numerator, group.exposure, base.numerator, base.exposure
        if not (t1 > 0 and t0 > 0):
            return (math.nan,) * 7 + (0.0,)
        difference = tuple(value * multiplier
                           for value in stats.rate_difference(x1, t1, x0, t0, confidence))
        ratio = stats.rate_ratio(x1, t1, x0, t0, confidence)
        p_value = stats.rate_p_value(x1, t1, x0, t0)
        relative = relative_adverse_difference(x1 / t1, x0 / t0, higher_is_better, kind)
    elif kind == "mean":
        m1, s1 = stats.mean_from_sums(n1, group.value_sum, group.value_sum_squares)
        m0, s0 = stats.mean_from_sums(n0, base.value_sum, base.value_sum_squares)
        difference = stats.mean_difference(n1, m1, s1, n0, m0, s0, confidence)
        ratio = stats.mean_ratio(n1, m1, s1, n0, m0, s0, confidence)
        p_value = stats.welch_p_value(n1, m1, s1, n0, m0, s0)
        adverse_group, adverse_reference = (-m1, -m0) if higher_is_better else (m1, m0)
        relative = (adverse_group - adverse_reference) / abs(m0) if m0 else math.inf
    else:
        x1, x0 = group.numerator, base.numerator
        difference = stats.proportion_difference(x1, n1, x0, n0, confidence)
        ratio = stats.proportion_ratio(x1, n1, x0, n0, confidence)
        p_value = stats.two_proportion_p_value(x1, n1, x0, n0)
        relative = relative_adverse_difference(x1 / n1, x0 / n0, higher_is_better)
    flagged = p_value <= SIGNIFICANCE and relative >= RELATIVE_DIFFERENCE
    return (*difference, *ratio, p_value, float(flagged))


def relative_adverse_difference(rate: float, reference_rate: float,
                                higher_is_better: bool, kind: str = "proportion") -> float:
    """(adverse_group - adverse_reference) / adverse_reference, on the share who did not get
    the care for a higher-is-better proportion, on the rate itself otherwise (Keppel &
    Pearcy 2005); positive when the group is worse. A rate has no complement: when more is
    better, a group is worse by the share its rate falls short, (reference - rate) / reference."""
    if kind == "rate" and higher_is_better:
        if reference_rate == 0:
            return 0.0
        return (reference_rate - rate) / reference_rate
    adverse, adverse_reference = ((1 - rate, 1 - reference_rate) if higher_is_better
                                  else (rate, reference_rate))
    if adverse_reference == 0:
        return math.inf if adverse > 0 else 0.0
    return (adverse - adverse_reference) / adverse_reference
