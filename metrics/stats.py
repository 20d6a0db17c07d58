"""Confidence intervals and two-group comparisons for proportions, counts, rates and means.

One function per statistical method, in the style of PHEindicatormethods (UKHSA): each docstring
names the method and its published reference. The project's conventions (see docs/methods.md):

- the normal quantile is exact, ``z = Phi^-1(1 - (1 - confidence) / 2)`` (1.959963984540054 at
  95 %), never the rounded 1.96;
- proportions: Wilson score interval without continuity correction;
- counts: exact (chi-square) limits below 10 events, Byar's approximation from 10 events;
- comparison with a reference group: difference with Newcombe's hybrid score interval, ratio with
  the Katz log interval, two-sided p-value from the pooled two-proportion z-test; for means,
  Welch's t (difference and p-value) and a log-scale delta-method ratio; for rates (events
  per person-time), the Wald rate difference and log rate ratio and the exact conditional
  (binomial) test.

Every function takes plain Python or numpy scalars and returns Python floats. A missing input
(``None`` or NaN) gives NaN results rather than an error, as PHEindicatormethods returns NA, so a
table with a missing cell still renders; impossible inputs (negative counts, a numerator above
its denominator, an unknown method) raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import functools
import math
import sys
from fractions import Fraction

import pandas as pd
from scipy import stats

__all__ = [
    "count_interval",
    "mean_difference",
    "mean_from_sums",
    "mean_interval",
    "mean_ratio",
    "proportion_difference",
    "proportion_interval",
    "proportion_ratio",
    "rate_difference",
    "rate_p_value",
    "rate_ratio",
    "two_proportion_p_value",
    "welch_p_value",
]

NAN = float("nan")

PROPORTION_METHODS = ("wilson", "wilson_cc", "clopper_pearson")
COUNT_METHODS = ("phe", "exact", "byar")
RATE_RATIO_METHODS = ("wald", "exact")

# Below this many events the PHE convention uses exact Poisson limits; Byar's approximation is
# accurate enough from here on and, unlike the exact limits, needs no quantile search.
BYAR_FROM = 10

_LOG_FLOAT_MAX = math.log(sys.float_info.max)


# --------------------------------------------------------------------------------------------
# argument checking (shared so that every function words its errors the same way)


def _check_confidence(confidence) -> float:
    try:
        level = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return level


@functools.lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    # Cached: a disparity table asks for the same quantile hundreds of times, and scipy's
    # ppf costs far more than the arithmetic around it.
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def _number(value, name: str) -> float:
    """``value`` as a float; NaN for a missing value (None or NaN); ValueError otherwise."""
    # pandas.NA refuses float() but is a missing value, not bad input.
    if value is None or value is pd.NA:
        return NAN
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isinf(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _count(value, name: str) -> float:
    number = _number(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def _positive(value, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def _numerator_denominator(x, n, x_name: str = "x", n_name: str = "n") -> tuple[float, float]:
    count = _count(x, x_name)
    size = _positive(n, n_name)
    if count > size:
        raise ValueError(f"{x_name} must be <= {n_name}, got {x_name}={x!r} > {n_name}={n!r}")
    return count, size


def _check_method(method, allowed: tuple[str, ...]) -> str:
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)}; got {method!r}")
    return method


def _any_nan(*values: float) -> bool:
    return any(math.isnan(v) for v in values)


# --------------------------------------------------------------------------------------------
# proportions


def _wilson(x: float, n: float, z: float) -> tuple[float, float]:
    # Limits are the roots of (n + z^2) p^2 - (2x + z^2) p + x^2 / n = 0. The upper root has no
    # cancellation; the lower one comes from the product of the roots, x^2 / (n (n + z^2)), so
    # it stays accurate (and exactly 0 at x = 0) even for n in the billions. Above one half
    # the interval is mirrored from that of the non-events, so it is exactly 1 at x = n too.
    if x > n / 2:
        lower, upper = _wilson(n - x, n, z)
        return 1.0 - upper, 1.0 - lower
    z2 = z * z
    upper = (2 * x + z2 + z * math.sqrt(z2 + 4 * x * (1 - x / n))) / (2 * (n + z2))
    lower = x * x / (n * (n + z2) * upper)
    return lower, upper


def _wilson_cc(x: float, n: float, z: float) -> tuple[float, float]:
    z2 = z * z
    p = x / n
    q = 1 - p
    denominator = 2 * (n + z2)
    if x == 0:
        lower = 0.0
    else:
        root = math.sqrt(max(z2 - 2 - 1 / n + 4 * p * (n * q + 1), 0.0))
        lower = max((2 * x + z2 - 1 - z * root) / denominator, 0.0)
    if x == n:
        upper = 1.0
    else:
        root = math.sqrt(max(z2 + 2 - 1 / n + 4 * p * (n * q - 1), 0.0))
        upper = min((2 * x + z2 + 1 + z * root) / denominator, 1.0)
    return lower, upper


def _clopper_pearson(x: float, n: float, confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    lower = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lower, upper


def proportion_interval(x, n, confidence=0.95, method="wilson") -> tuple[float, float]:
    """Confidence interval for a proportion ``x / n``, as fractions between 0 and 1.

    Methods
    -------
    ``"wilson"`` (default)
        Wilson score interval without continuity correction:
        ``(2x + z^2 -/+ z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2))``.
        Wilson EB. Probable inference, the law of succession, and statistical inference.
        J Am Stat Assoc 1927;22:209-212. As implemented in PHEindicatormethods
        (``phe_proportion``) and recommended by Newcombe RG. Two-sided confidence intervals
        for the single proportion: comparison of seven methods. Stat Med 1998;17:857-872
        (method 3).
    ``"wilson_cc"``
        Continuity-corrected score interval, Newcombe (1998, Stat Med 17:857-872) method 4;
        lower limit 0 when x = 0 and upper limit 1 when x = n.
    ``"clopper_pearson"``
        "Exact" interval from the beta distribution: lower ``Beta(a/2; x, n-x+1)`` (0 at
        x = 0), upper ``Beta(1-a/2; x+1, n-x)`` (1 at x = n).
        Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the
        case of the binomial. Biometrika 1934;26:404-413.

    ``x`` need not be a whole number (weighted counts are accepted). A missing ``x`` or ``n``
    gives ``(nan, nan)``. Raises ValueError for x < 0, n <= 0, x > n, an unknown method or a
    confidence outside (0, 1).
    """
    level = _check_confidence(confidence)
    _check_method(method, PROPORTION_METHODS)
    count, size = _numerator_denominator(x, n)
    if _any_nan(count, size):
        return NAN, NAN
    if method == "clopper_pearson":
        return _clopper_pearson(count, size, level)
    z = _z(level)
    if method == "wilson_cc":
        return _wilson_cc(count, size, z)
    return _wilson(count, size, z)


# --------------------------------------------------------------------------------------------
# counts and rates


def _exact_count(x: float, confidence: float) -> tuple[float, float]:
    alpha = 1 - confidence
    lower = 0.0 if x == 0 else float(stats.chi2.ppf(alpha / 2, 2 * x)) / 2
    upper = float(stats.chi2.ppf(1 - alpha / 2, 2 * x + 2)) / 2
    return lower, upper


def _byar_count(x: float, z: float) -> tuple[float, float]:
    base = 1 - 1 / (9 * x) - z / (3 * math.sqrt(x)) if x > 0 else -math.inf
    # The approximation breaks down for very small counts at high confidence (a negative
    # lower limit); PHE reports the limit as missing rather than clamp it to a misleading 0.
    # Testing the base first also keeps a tiny x from overflowing the cube.
    lower = NAN if base < 0 else x * base**3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
    return lower, upper


def count_interval(x, confidence=0.95, method="phe") -> tuple[float, float]:
    """Confidence interval for a Poisson count ``x`` (events observed).

    Methods
    -------
    ``"exact"``
        Limits from the chi-square distribution: lower ``chi2(a/2; 2x) / 2`` (0 when
        x = 0), upper ``chi2(1 - a/2; 2x + 2) / 2`` (Garwood F. Fiducial limits for the
        Poisson distribution. Biometrika 1936;28:437-442).
    ``"byar"``
        Byar's approximation (Breslow NE, Day NE. Statistical methods in cancer research,
        volume II: the design and analysis of cohort studies. IARC Scientific Publications
        No. 82. Lyon: IARC; 1987): lower ``x(1 - 1/(9x) - z/(3 sqrt(x)))^3``, upper
        ``(x+1)(1 - 1/(9(x+1)) + z/(3 sqrt(x+1)))^3``. A negative (or undefined, x = 0) lower
        limit is returned as NaN, as PHEindicatormethods ``byars_lower`` does.
    ``"phe"`` (default)
        Exact below 10 events, Byar from 10 events: the PHE/UKHSA convention
        (Public Health England. Technical Guide: Confidence intervals; PHEindicatormethods
        ``phe_rate``).

    Divide both limits by the person-time (and multiply by a multiplier) to get the limits of a
    crude rate. A missing ``x`` gives ``(nan, nan)``; x < 0 raises ValueError.
    """
    level = _check_confidence(confidence)
    _check_method(method, COUNT_METHODS)
    count = _count(x, "x")
    if math.isnan(count):
        return NAN, NAN
    if method == "exact" or (method == "phe" and count < BYAR_FROM):
        return _exact_count(count, level)
    return _byar_count(count, _z(level))


def _rates(x1, t1, x0, t0) -> tuple[float, float, float, float]:
    return (
        _count(x1, "x1"),
        _positive(t1, "t1"),
        _count(x0, "x0"),
        _positive(t0, "t0"),
    )


def rate_ratio(x1, t1, x0, t0, confidence=0.95, method="wald") -> tuple[float, float, float]:
    """Ratio of two Poisson rates, group 1 (``x1`` events in person-time ``t1``) over group 0.

    Returns ``(ratio, lower, upper)`` with ``ratio = (x1 / t1) / (x0 / t0)``.

    Methods
    -------
    ``"wald"`` (default)
        Normal approximation on the log scale, ``exp(log(ratio) -/+ z sqrt(1/x1 + 1/x0))``
        (Rothman KJ, Greenland S, Lash TL. Modern Epidemiology, 3rd edn. Philadelphia:
        Lippincott Williams & Wilkins; 2008). Undefined when either count is 0:
        the ratio (0 or inf) is returned with NaN limits.
    ``"exact"``
        Conditional (binomial) method: given ``N = x1 + x0``, ``x1`` is binomial with
        probability ``pi = t1 R / (t1 R + t0)``. The Clopper-Pearson limits ``p_L, p_U`` of
        ``x1 / N`` give ``R = p / (1 - p) * t0 / t1`` (Breslow and Day 1987;
        Ederer F, Mantel N. Confidence limits on the ratio of two Poisson variables. Am J
        Epidemiol 1974;100:165-167). Valid when one count is 0 (lower 0 or upper inf).

    When both counts are 0 nothing is known: ``(nan, nan, nan)``.
    """
    level = _check_confidence(confidence)
    _check_method(method, RATE_RATIO_METHODS)
    c1, time1, c0, time0 = _rates(x1, t1, x0, t0)
    if _any_nan(c1, time1, c0, time0) or c1 + c0 == 0:
        return NAN, NAN, NAN
    ratio = math.inf if c0 == 0 else (c1 / time1) / (c0 / time0)
    if method == "exact":
        p_lower, p_upper = _clopper_pearson(c1, c1 + c0, level)
        scale = time0 / time1
        lower = p_lower / (1 - p_lower) * scale
        upper = math.inf if p_upper == 1 else p_upper / (1 - p_upper) * scale
        return ratio, lower, upper
    if c1 == 0 or c0 == 0:
        return ratio, NAN, NAN
    half_width = _z(level) * math.sqrt(1 / c1 + 1 / c0)
    return ratio, ratio * math.exp(-half_width), ratio * math.exp(half_width)


def rate_difference(x1, t1, x0, t0, confidence=0.95) -> tuple[float, float, float]:
    """Difference of two Poisson rates, ``x1 / t1 - x0 / t0``, with a Wald interval.

    ``SE = sqrt(x1 / t1^2 + x0 / t0^2)``; limits ``difference -/+ z SE`` (Rothman KJ,
    Greenland S, Lash TL. Modern Epidemiology, 3rd edn. 2008). Rates are per unit
    of person-time: multiply all three numbers by the same multiplier to express them per
    1,000 or 100,000.
    """
    level = _check_confidence(confidence)
    c1, time1, c0, time0 = _rates(x1, t1, x0, t0)
    if _any_nan(c1, time1, c0, time0):
        return NAN, NAN, NAN
    difference = c1 / time1 - c0 / time0
    half_width = _z(level) * math.sqrt(c1 / time1**2 + c0 / time0**2)
    return difference, difference - half_width, difference + half_width


def rate_p_value(x1, t1, x0, t0) -> float:
    """Two-sided p-value of the conditional (exact binomial) test of equal Poisson rates.

    Given the ``N = x1 + x0`` events of both groups, under equal rates ``x1`` is binomial with
    ``N`` trials and probability ``t1 / (t1 + t0)``; the p-value sums the probabilities of
    every outcome no more likely than the one observed (scipy ``binomtest``, the "minlike"
    two-sided rule). Exact for the rare events of safety measures, and defined when either
    count is 0, unlike the Wald test on the log rate ratio (Breslow NE, Day NE. Statistical
    methods in cancer research, volume II. IARC Scientific Publications No. 82; 1987,
    section 2.5; Rothman, Greenland & Lash, Modern Epidemiology, 3rd edn, 2008, ch. 14).
    With no events in either group nothing differs: the p-value is 1.
    """
    c1, time1, c0, time0 = _rates(x1, t1, x0, t0)
    if _any_nan(c1, time1, c0, time0):
        return NAN
    total = c1 + c0
    if total == 0:
        return 1.0
    if c1 != int(c1) or c0 != int(c0):
        raise ValueError(f"the exact test needs whole event counts, got x1={x1!r}, x0={x0!r}")
    return float(stats.binomtest(int(c1), int(total), time1 / (time1 + time0)).pvalue)


# --------------------------------------------------------------------------------------------
# means


def mean_interval(n, mean, sd, confidence=0.95) -> tuple[float, float]:
    """Confidence interval for a mean from Student's t distribution.

    ``mean -/+ t(1 - a/2; n - 1) * sd / sqrt(n)``, where ``sd`` is the sample standard
    deviation with divisor n - 1 (Student. The probable error of a mean. Biometrika
    1908;6:1-25; as PHEindicatormethods ``phe_mean``). With n = 1 the standard deviation is
    undefined and the limits are NaN. Raises ValueError for n < 1 or sd < 0.
    """
    level = _check_confidence(confidence)
    size = _number(n, "n")
    if size < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    centre = _number(mean, "mean")
    spread = _count(sd, "sd")
    if _any_nan(size, centre, spread) or size < 2:
        return NAN, NAN
    half_width = float(stats.t.ppf(1 - (1 - level) / 2, size - 1)) * spread / math.sqrt(size)
    return centre - half_width, centre + half_width


def mean_from_sums(n, total, total_of_squares) -> tuple[float, float]:
    """Mean and sample standard deviation (divisor n - 1) from ``COUNT``, ``SUM(v)``, ``SUM(v*v)``.

    Lets the database aggregate (one pass, three sums) and Python finish:
    ``mean = total / n``, ``var = (total_of_squares - total^2 / n) / (n - 1)``.

    The subtraction is done in exact rational arithmetic on the float inputs, so it adds no
    rounding of its own; what remains is the rounding already in the database's sums, which
    can leave a tiny negative variance when all values are (nearly) equal: it is clamped to 0.
    When the values are large relative to their spread (e.g. timestamps), have the query sum
    ``v - c`` for a constant c near the mean and add c back to the mean. With n = 1 the
    standard deviation is NaN. Raises ValueError for n < 1 or a negative sum of squares.
    """
    size = _number(n, "n")
    if size < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    s1 = _number(total, "total")
    s2 = _count(total_of_squares, "total_of_squares")
    if _any_nan(size, s1, s2):
        return NAN, NAN
    mean = s1 / size
    if size < 2:
        return mean, NAN
    exact_n = Fraction(size)
    sum_squared_deviations = Fraction(s2) - Fraction(s1) ** 2 / exact_n
    variance = max(float(sum_squared_deviations / (exact_n - 1)), 0.0)
    return mean, math.sqrt(variance)


# --------------------------------------------------------------------------------------------
# two proportions: group 1 compared with reference group 0


def _two_proportions(x1, n1, x0, n0) -> tuple[float, float, float, float]:
    c1, size1 = _numerator_denominator(x1, n1, "x1", "n1")
    c0, size0 = _numerator_denominator(x0, n0, "x0", "n0")
    return c1, size1, c0, size0


def proportion_difference(x1, n1, x0, n0, confidence=0.95) -> tuple[float, float, float]:
    """Difference of two independent proportions, ``x1/n1 - x0/n0``, Newcombe hybrid score CI.

    Newcombe RG. Interval estimation for the difference between independent proportions:
    comparison of eleven methods. Stat Med 1998;17:873-890 (method 10). With ``l_i, u_i`` the
    Wilson limits of ``p_i``: ``lower = d - sqrt((p1 - l1)^2 + (u0 - p0)^2)``,
    ``upper = d + sqrt((u1 - p1)^2 + (p0 - l0)^2)``. Always within [-1, 1] and defined when a
    count is 0 or equals its denominator. Returns ``(difference, lower, upper)`` as fractions.
    """
    level = _check_confidence(confidence)
    c1, size1, c0, size0 = _two_proportions(x1, n1, x0, n0)
    if _any_nan(c1, size1, c0, size0):
        return NAN, NAN, NAN
    z = _z(level)
    p1, p0 = c1 / size1, c0 / size0
    l1, u1 = _wilson(c1, size1, z)
    l0, u0 = _wilson(c0, size0, z)
    difference = p1 - p0
    lower = difference - math.hypot(p1 - l1, u0 - p0)
    upper = difference + math.hypot(u1 - p1, p0 - l0)
    return difference, lower, upper


def proportion_ratio(x1, n1, x0, n0, confidence=0.95) -> tuple[float, float, float]:
    """Ratio of two independent proportions, ``(x1/n1) / (x0/n0)``, with the log (Katz) CI.

    Katz D, Baptista J, Azen SP, Pike MC. Obtaining confidence intervals for the risk ratio in
    cohort studies. Biometrics 1978;34:469-474.
    ``SE(log ratio) = sqrt(1/x1 - 1/n1 + 1/x0 - 1/n0)``; limits ``exp(log ratio -/+ z SE)``.
    The log interval is undefined when either count is 0: the ratio (0, or inf when the
    reference count is 0) is returned with NaN limits, and all NaN when both are 0.
    Returns ``(ratio, lower, upper)``.
    """
    level = _check_confidence(confidence)
    c1, size1, c0, size0 = _two_proportions(x1, n1, x0, n0)
    if _any_nan(c1, size1, c0, size0) or (c1 == 0 and c0 == 0):
        return NAN, NAN, NAN
    if c0 == 0:
        return math.inf, NAN, NAN
    ratio = (c1 / size1) / (c0 / size0)
    if c1 == 0:
        return ratio, NAN, NAN
    se = math.sqrt(max(1 / c1 - 1 / size1 + 1 / c0 - 1 / size0, 0.0))
    half_width = _z(level) * se
    return ratio, ratio * math.exp(-half_width), ratio * math.exp(half_width)


def two_proportion_p_value(x1, n1, x0, n0) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``x1/n1 = x0/n0``.

    ``p = (x1 + x0) / (n1 + n0)``, ``z = (x1/n1 - x0/n0) / sqrt(p (1 - p) (1/n1 + 1/n0))``,
    p-value ``2 (1 - Phi(|z|))``; identical to Pearson's chi-square test of the 2x2 table
    without continuity correction (Altman DG. Practical statistics for medical research.
    London: Chapman & Hall; 1991). When the pooled proportion is 0 or 1 both
    groups agree perfectly and the p-value is 1.
    """
    c1, size1, c0, size0 = _two_proportions(x1, n1, x0, n0)
    if _any_nan(c1, size1, c0, size0):
        return NAN
    pooled = (c1 + c0) / (size1 + size0)
    if pooled <= 0 or pooled >= 1:
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / size1 + 1 / size0))
    z = (c1 / size1 - c0 / size0) / se
    return float(2 * stats.norm.sf(abs(z)))


# --------------------------------------------------------------------------------------------
# two means: group 1 compared with reference group 0 (from n, mean and sd of each group)


def _two_means(n1, mean1, sd1, n0, mean0, sd0) -> tuple[float, ...]:
    values = []
    for (n, mean, sd), suffix in (((n1, mean1, sd1), "1"), ((n0, mean0, sd0), "0")):
        size = _number(n, f"n{suffix}")
        if size < 1:
            raise ValueError(f"n{suffix} must be >= 1, got {n!r}")
        values += [size, _number(mean, f"mean{suffix}"), _count(sd, f"sd{suffix}")]
    return tuple(values)


def _welch(n1, m1, s1, n0, m0, s0) -> tuple[float, float, float]:
    """Difference, its standard error and the Welch-Satterthwaite degrees of freedom."""
    v1, v0 = s1 * s1 / n1, s0 * s0 / n0
    se = math.sqrt(v1 + v0)
    df = (v1 + v0) ** 2 / (v1 * v1 / (n1 - 1) + v0 * v0 / (n0 - 1)) if se > 0 else math.inf
    return m1 - m0, se, df


def mean_difference(n1, mean1, sd1, n0, mean0, sd0, confidence=0.95) -> tuple[float, float, float]:
    """Difference of two independent means, ``mean1 - mean0``, with Welch's t interval.

    ``SE = sqrt(sd1^2/n1 + sd0^2/n0)``; limits ``difference -/+ t(1 - a/2; df) SE`` with the
    Welch-Satterthwaite degrees of freedom
    ``df = SE^4 / ((sd1^2/n1)^2/(n1 - 1) + (sd0^2/n0)^2/(n0 - 1))``, so unequal variances and
    group sizes are allowed. Welch BL. The generalization of "Student's" problem when several
    different population variances are involved. Biometrika 1947;34:28-35. Satterthwaite FE.
    An approximate distribution of estimates of variance components. Biometrics Bulletin
    1946;2:110-114. A group of one (sd undefined) gives NaN limits.
    """
    level = _check_confidence(confidence)
    n1, m1, s1, n0, m0, s0 = _two_means(n1, mean1, sd1, n0, mean0, sd0)
    if _any_nan(n1, m1, s1, n0, m0, s0):
        return NAN, NAN, NAN
    difference, se, df = _welch(n1, m1, s1, n0, m0, s0)
    if n1 < 2 or n0 < 2:
        return difference, NAN, NAN
    half_width = float(stats.t.ppf(1 - (1 - level) / 2, df)) * se if se > 0 else 0.0
    return difference, difference - half_width, difference + half_width


def mean_ratio(n1, mean1, sd1, n0, mean0, sd0, confidence=0.95) -> tuple[float, float, float]:
    """Ratio of two independent means, ``mean1 / mean0``, with a log-scale delta-method CI.

    ``SE(log ratio) = sqrt(sd1^2 / (n1 mean1^2) + sd0^2 / (n0 mean0^2))``; limits
    ``exp(log ratio -/+ z SE)``: the same form as the Katz interval for proportions, so the
    limits are positive and asymmetric (delta method: Armitage P, Berry G, Matthews JNS.
    Statistical methods in medical research, 4th edn. Oxford: Blackwell; 2002).
    Only defined for positive means: otherwise the ratio is returned (NaN when mean0 is 0)
    with NaN limits; a group of one (sd undefined) also gives NaN limits.
    """
    level = _check_confidence(confidence)
    n1, m1, s1, n0, m0, s0 = _two_means(n1, mean1, sd1, n0, mean0, sd0)
    if _any_nan(n1, m1, s1, n0, m0, s0) or m0 == 0:
        return NAN, NAN, NAN
    ratio = m1 / m0
    if m1 <= 0 or m0 < 0 or n1 < 2 or n0 < 2:
        return ratio, NAN, NAN
    half_width = _z(level) * math.sqrt(s1 * s1 / (n1 * m1 * m1) + s0 * s0 / (n0 * m0 * m0))
    log_ratio = math.log(ratio)
    # A mean near 0 with a wide spread can put the upper limit past the float range: that
    # limit is honestly unbounded, and math.exp would raise instead.
    log_upper = log_ratio + half_width
    upper = math.inf if log_upper > _LOG_FLOAT_MAX else math.exp(log_upper)
    return ratio, math.exp(log_ratio - half_width), upper


def welch_p_value(n1, mean1, sd1, n0, mean0, sd0) -> float:
    """Two-sided p-value of Welch's unequal-variances t-test of ``mean1 = mean0``.

    ``t = (mean1 - mean0) / SE`` on the Welch-Satterthwaite degrees of freedom (see
    :func:`mean_difference`; Welch 1947). With no spread in either group the p-value is 1 for
    equal means and 0 otherwise; a group of one gives NaN.
    """
    n1, m1, s1, n0, m0, s0 = _two_means(n1, mean1, sd1, n0, mean0, sd0)
    if _any_nan(n1, m1, s1, n0, m0, s0) or n1 < 2 or n0 < 2:
        return NAN
    difference, se, df = _welch(n1, m1, s1, n0, m0, s0)
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.t.sf(abs(difference) / se, df))
