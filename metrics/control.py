"""Control charts of a group's monthly rate: p-chart (Laney p' for large denominators), u-chart
for events per exposure.

Shewhart p-chart: centre line p = sum(x) / sum(n); limits p -/+ 3 sqrt(p (1 - p) / n_i).
With large denominators ordinary p-chart limits become so narrow that every month signals
(over-dispersion); Laney's p' chart widens them by sigma_z, the spread of the standardised
points estimated from their average moving range / 1.128 (Laney DB. Improved control charts
for attributes. Quality Engineering 2002;14:531-537). Signals follow the IHI run-chart and
control-chart rules: a point beyond a limit; a shift of 8 or more consecutive points on one
side of the centre line (Provost & Murray, The Health Care Data Guide, 2011).

u-chart (events per unit of exposure, e.g. falls per 1,000 patient-days): centre line
u = sum(events) / sum(exposure); limits u -/+ 3 sqrt(u / exposure_i), the lower one not below
0 (Montgomery DC. Introduction to statistical quality control, 7th edn. Wiley; 2013, ch. 7;
Provost & Murray 2011, ch. 7); Laney's u' widens them by sigma_z as for p'.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics import stats

SIGMA = 3.0
SHIFT_RUN = 8
LANEY_FROM = 1_000  # mean denominator per point from which the p' chart is used ("auto")
_D2 = 1.128  # bias constant of the moving range of two points


def shift_points(values: np.ndarray, centre: float, run: int = SHIFT_RUN) -> np.ndarray:
    """True for every point inside a run of `run` or more consecutive points on one side of
    the centre line; points on the line neither count nor break a run; NaN breaks a run."""
    flags = np.zeros(len(values), dtype=bool)
    side, members = 0, []
    for i, value in enumerate(values):
        if math.isnan(value):
            side, members = 0, []
            continue
        here = int(np.sign(value - centre))
        if here == 0:
            continue
        if here != side:
            side, members = here, []
        members.append(i)
        if len(members) >= run:
            flags[members] = True
    return flags


def p_chart(numerators, denominators, method: str = "auto") -> pd.DataFrame:
    """Centre line, limits and signals for a series of monthly proportions.

    `method`: "p" (Shewhart), "laney" (p'), or "auto" (p' when the mean denominator is at
    least LANEY_FROM). Returns columns rate, centre, lower_limit, upper_limit,
    beyond_limits, shift and the method used.
    """
    x = np.asarray(numerators, dtype=float)
    n = np.asarray(denominators, dtype=float)
    if method not in ("auto", "p", "laney"):
        raise ValueError("method must be 'auto', 'p' or 'laney'")
    use = method if method != "auto" else ("laney" if n.mean() >= LANEY_FROM else "p")
    rate = np.divide(x, n, out=np.full(len(n), np.nan), where=n > 0)
    centre = x.sum() / n.sum() if n.sum() else math.nan
    sigma = np.sqrt(centre * (1 - centre) / np.where(n > 0, n, np.nan))
    if use == "laney":
        sigma = sigma * _sigma_z((rate - centre) / sigma)
    lower = np.clip(centre - SIGMA * sigma, 0, 1)
    upper = np.clip(centre + SIGMA * sigma, 0, 1)
    return _chart(rate, centre, lower, upper, use)


def u_chart(events, exposures, multiplier: float = 1, method: str = "auto") -> pd.DataFrame:
    """Centre line, limits and signals for a series of monthly rates (events per exposure,
    times `multiplier`). `method`: "u" (Shewhart), "laney" (u'), or "auto" (u' when the mean
    exposure per point is at least LANEY_FROM, the size rule of the p' chart). Same columns
    as `p_chart`."""
    x = np.asarray(events, dtype=float)
    t = np.asarray(exposures, dtype=float)
    if method not in ("auto", "u", "laney"):
        raise ValueError("method must be 'auto', 'u' or 'laney'")
    exposed = np.where(t > 0, t, np.nan)
    centre = x.sum() / np.nansum(exposed) if np.nansum(exposed) else math.nan
    use = method if method != "auto" else (
        "laney" if np.nanmean(exposed) >= LANEY_FROM else "u")
    rate = x / exposed
    sigma = np.sqrt(centre / exposed)
    if use == "laney":
        sigma = sigma * _sigma_z((rate - centre) / sigma)
    lower = np.clip(centre - SIGMA * sigma, 0, None)
    upper = centre + SIGMA * sigma
    return _chart(rate * multiplier, centre * multiplier, lower * multiplier,
                  upper * multiplier, use)


def mean_chart(value_sums, value_sums_of_squares, counts) -> pd.DataFrame:
    """X-bar chart of monthly means with limits from the pooled standard deviation."""
    s1 = np.asarray(value_sums, dtype=float)
    s2 = np.asarray(value_sums_of_squares, dtype=float)
    n = np.asarray(counts, dtype=float)
    rate = np.divide(s1, n, out=np.full(len(n), np.nan), where=n > 0)
    centre, sd = (stats.mean_from_sums(n.sum(), s1.sum(), s2.sum()) if n.sum() else
                  (math.nan, math.nan))
    sigma = sd / np.sqrt(np.where(n > 0, n, np.nan))
    return _chart(rate, centre, centre - SIGMA * sigma, centre + SIGMA * sigma, "xbar")


def _sigma_z(z: np.ndarray) -> float:
    z = z[~np.isnan(z)]
    if len(z) < 2:
        return 1.0
    return float(np.mean(np.abs(np.diff(z))) / _D2)


def _chart(rate, centre, lower, upper, method) -> pd.DataFrame:
    beyond = (rate < lower) | (rate > upper)
    return pd.DataFrame({
        "rate": rate,
        "centre": centre,
        "lower_limit": lower,
        "upper_limit": upper,
        "beyond_limits": np.nan_to_num(beyond, nan=False).astype(bool),
        "shift": shift_points(rate, centre),
        "chart": method,
    })
