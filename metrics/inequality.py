"""Summary measures of inequality across the groups of one stratifier.

One function per measure. Each takes plain sequences with one element per group (``estimate``,
``se``, ``population``, ...) on the indicator's own scale (e.g. percent), and returns a
:class:`Measure` (estimate, standard error, confidence limits, how the limits were obtained).
:func:`summary_measures` takes the small per-group table the dashboard already has and
computes every measure that applies to it, one row per measure.

Conventions (see docs/methods.md, "Summary measures of inequality"):

* ``z = Φ⁻¹(1 − (1 − confidence)/2)`` exactly, never 1.96.
* Population weights are shares ``p_j = pop_j / Σ pop``; only their ratios matter.
* ``higher_is_better`` is WHO's "favourable indicator"; it decides which group is *best*.
* Ordered dimensions (income, area deprivation) list groups from the **least** to the **most
  advantaged**, as both WHO healthequal and PHEindicatormethods do.
* Simulated intervals take a ``seed`` so that the same data always shows the same interval;
  the default seeds are fixed for that reason.

Sources: WHO Handbook on health inequality monitoring (2024) and the WHO ``healthequal`` R
package 1.0.1 (Schlotheuber & Hosseinpoor 2022; Ahn et al. 2018, 2019); Pearcy & Keppel 2002
and Keppel et al. 2005 for the index of disparity; Theil 1967; Low & Low 2004 and the PHE/UKHSA
``PHEindicatormethods`` R package (``phe_sii``) for the slope and relative index of inequality.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats

from store.vocabulary import NOT_KNOWN_GROUPS

__all__ = [
    "Measure",
    "SIIResult",
    "between_group_variance",
    "difference",
    "index_of_disparity",
    "mean_difference_from_best",
    "mean_difference_from_mean",
    "mean_difference_from_reference",
    "mean_log_deviation",
    "range_difference",
    "range_ratio",
    "ratio",
    "relative_index_of_inequality",
    "sii_rii",
    "slope_index_of_inequality",
    "summary_measures",
    "theil_index",
]

# healthequal's default seed, kept so that a chart shows the same interval on every rerun.
WHO_SEED = 123456
# PHEindicatormethods' default number of simulations for the SII.
SII_REPETITIONS = 100_000

ArrayLike = Sequence[float] | np.ndarray | pd.Series


@dataclass(frozen=True)
class Measure:
    """One summary measure with its uncertainty.

    ``se`` and the limits are NaN when they cannot be computed (no standard errors given, or
    the method has no analytic standard error). ``ci_method`` says how the limits were made.
    """

    measure: str
    label: str
    estimate: float
    se: float = math.nan
    lower: float = math.nan
    upper: float = math.nan
    confidence: float = 0.95
    ci_method: str = ""
    units: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SIIResult:
    """Slope and relative index of inequality as ``phe_sii`` reports them.

    ``sii_ci`` and ``rii_ci`` map each requested confidence level to ``(lower, upper)``; they
    are empty when no standard errors or limits were given. ``intercept`` is the fitted value
    at relative rank 0 (the least advantaged end).
    """

    sii: float
    rii: float
    intercept: float
    sii_ci: dict[float, tuple[float, float]] = field(default_factory=dict)
    rii_ci: dict[float, tuple[float, float]] = field(default_factory=dict)
    repetitions: int = SII_REPETITIONS
    value_type: str = "other"
    transform: bool = False
    multiplier: float = 1.0
    confidence: tuple[float, ...] = (0.95,)

    def _method(self) -> str:
        if not self.sii_ci:
            return ""
        scale = {"rate": "log", "proportion": "logit"}.get(self.value_type, "")
        how = f", fitted on the {scale} scale" if self.transform else ""
        return f"simulation ({self.repetitions} repetitions{how}; PHEindicatormethods phe_sii)"

    def sii_measure(self, confidence: float | None = None) -> Measure:
        conf = self.confidence[0] if confidence is None else _as_fraction(confidence)
        lo, hi = self.sii_ci.get(conf, (math.nan, math.nan))
        return Measure("sii", "Slope index of inequality", self.sii, math.nan, lo, hi, conf,
                       self._method(), "indicator units (× multiplier)")

    def rii_measure(self, confidence: float | None = None) -> Measure:
        conf = self.confidence[0] if confidence is None else _as_fraction(confidence)
        lo, hi = self.rii_ci.get(conf, (math.nan, math.nan))
        return Measure("rii", "Relative index of inequality", self.rii, math.nan, lo, hi, conf,
                       self._method(), "ratio")


# --------------------------------------------------------------------------------------------
# Input handling


def _vector(values: ArrayLike | None, name: str, n: int | None = None) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float).reshape(-1)
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} values; expected one per group ({n})")
    return arr


def _estimates(estimate: ArrayLike, minimum: int = 2) -> np.ndarray:
    est = _vector(estimate, "estimate")
    if est.size < minimum:
        raise ValueError(f"at least {minimum} groups are needed; got {est.size}")
    if not np.all(np.isfinite(est)):
        raise ValueError("estimates must be finite; drop suppressed or missing groups first")
    return est


def _standard_errors(se: ArrayLike | None, n: int) -> np.ndarray | None:
    arr = _vector(se, "se", n)
    if arr is None:
        return None
    if np.any(arr < 0):
        raise ValueError("standard errors must not be negative")
    # A missing SE in any group means no interval, as in healthequal (not an error).
    return None if np.any(np.isnan(arr)) else arr


def _shares(population: ArrayLike | None, n: int, required: bool = True) -> np.ndarray | None:
    pop = _vector(population, "population", n)
    if pop is None:
        if required:
            raise ValueError("population is required for this measure")
        return None
    if not np.all(np.isfinite(pop)) or np.any(pop < 0) or pop.sum() <= 0:
        raise ValueError("population must be finite, non-negative and not all zero")
    return pop / pop.sum()


def _as_fraction(confidence: float) -> float:
    # PHE accepts 95 as well as 0.95; so do we, for the same callers.
    conf = float(confidence)
    if conf > 1:
        conf /= 100
    if not 0 < conf < 1:
        raise ValueError(f"confidence must be in (0, 1) or (0, 100); got {confidence}")
    return conf


def _z(confidence: float) -> float:
    return float(special.ndtri(1 - (1 - _as_fraction(confidence)) / 2))


def _reference_index(reference: int | None, n: int) -> int | None:
    if reference is None:
        return None
    idx = int(reference)
    if not -n <= idx < n:
        raise ValueError(f"reference index {reference} is outside the {n} groups")
    return idx % n


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# Simple (pairwise) measures


def _pair(est: np.ndarray, higher_is_better: bool, reference: int | None,
          ordered: bool) -> tuple[int, int]:
    """Indices (y1, y2) of the two groups healthequal's D and R compare.

    Ordered: most vs least advantaged, arranged so a gap that disadvantages the least
    advantaged is positive. Non-ordered without a reference: highest vs lowest. With a
    reference: the reference against the worst group (the lowest estimate for a favourable
    indicator, the highest for an adverse one), again arranged so "reference better" is
    positive. As in healthequal, the worst group is sought over all groups, the reference
    included, so a reference that is itself the worst gives D = 0 and R = 1.
    """
    n = est.size
    if ordered:
        first, last = 0, n - 1
        return (last, first) if higher_is_better else (first, last)
    ref = _reference_index(reference, n)
    hi, lo = int(np.argmax(est)), int(np.argmin(est))
    if ref is None:
        return hi, lo
    return (ref, lo) if higher_is_better else (hi, ref)


def range_difference(estimate: ArrayLike, se: ArrayLike | None = None, *,
                     confidence: float = 0.95) -> Measure:
    """Range difference: highest minus lowest group estimate.

    ``RD = y_max − y_min`` with ``SE = √(se_max² + se_min²)`` (groups independent) and a
    normal interval. HD*Calc's "range difference"; WHO healthequal's ``d()`` for a non-ordered
    dimension without a reference subgroup (Schlotheuber & Hosseinpoor 2022).
    """
    est = _estimates(estimate)
    ses = _standard_errors(se, est.size)
    i, j = int(np.argmax(est)), int(np.argmin(est))
    return _difference_measure("range_difference", "Range difference", est, ses, i, j,
                               confidence, "analytic (normal)")


def range_ratio(estimate: ArrayLike, se: ArrayLike | None = None, *,
                confidence: float = 0.95) -> Measure:
    """Range ratio: highest divided by lowest group estimate.

    ``RR = y_max / y_min``; ``SE(ln RR) = √((se_max² + RR²·se_min²) / y_min²) / RR``
    (delta method, Ahn et al. 2018), interval ``RR·exp(∓z·SE)``. HD*Calc's "rate ratio"
    of the extremes; WHO healthequal's ``r()`` for a non-ordered dimension without a
    reference subgroup.
    """
    est = _estimates(estimate)
    ses = _standard_errors(se, est.size)
    i, j = int(np.argmax(est)), int(np.argmin(est))
    return _ratio_measure("range_ratio", "Range ratio", est, ses, i, j, confidence)


def difference(estimate: ArrayLike, se: ArrayLike | None = None, *,
               higher_is_better: bool = True, reference: int | None = None,
               ordered: bool = False, confidence: float = 0.95) -> Measure:
    """Difference (D) between two groups, chosen as WHO healthequal ``d()`` chooses them.

    ``D = y₁ − y₂``, ``SE = √(se₁² + se₂²)``, normal interval (WHO Handbook on health
    inequality monitoring, 2024; Schlotheuber & Hosseinpoor 2022):

    * ordered dimension (groups least → most advantaged): most − least advantaged for a
      favourable indicator, least − most advantaged for an adverse one;
    * non-ordered with ``reference`` (position of the reference group): reference − lowest
      for a favourable indicator, highest − reference for an adverse one;
    * non-ordered without reference: highest − lowest (the range difference).
    """
    est = _estimates(estimate)
    ses = _standard_errors(se, est.size)
    i, j = _pair(est, higher_is_better, reference, ordered)
    return _difference_measure("d", "Difference", est, ses, i, j, confidence,
                               "analytic (normal)")


def ratio(estimate: ArrayLike, se: ArrayLike | None = None, *,
          higher_is_better: bool = True, reference: int | None = None,
          ordered: bool = False, confidence: float = 0.95) -> Measure:
    """Ratio (R) between the two groups :func:`difference` compares (WHO healthequal ``r()``).

    ``R = y₁ / y₂``; ``SE(ln R) = √((se₁² + R²·se₂²) / y₂²) / R`` (delta method, Ahn et al.
    2018); interval ``R·exp(∓z·SE)``. The reported ``se`` is that of ln R, as healthequal does.
    """
    est = _estimates(estimate)
    ses = _standard_errors(se, est.size)
    i, j = _pair(est, higher_is_better, reference, ordered)
    return _ratio_measure("r", "Ratio", est, ses, i, j, confidence)


def _difference_measure(code: str, label: str, est: np.ndarray, ses: np.ndarray | None,
                        i: int, j: int, confidence: float, method: str) -> Measure:
    value = float(est[i] - est[j])
    conf = _as_fraction(confidence)
    if ses is None:
        return Measure(code, label, value, confidence=conf, units="indicator units")
    se = math.hypot(ses[i], ses[j])
    half = _z(conf) * se
    return Measure(code, label, value, se, value - half, value + half, conf, method,
                   "indicator units")


def _ratio_measure(code: str, label: str, est: np.ndarray, ses: np.ndarray | None,
                   i: int, j: int, confidence: float) -> Measure:
    conf = _as_fraction(confidence)
    y1, y2 = float(est[i]), float(est[j])
    value = y1 / y2 if y2 != 0 else math.nan
    if ses is None or not np.isfinite(value) or value <= 0:
        return Measure(code, label, value, confidence=conf, units="ratio")
    se_log = math.sqrt((ses[i] ** 2 + value**2 * ses[j] ** 2) / y2**2) / value
    z = _z(conf)
    return Measure(code, label, value, se_log, value * math.exp(-z * se_log),
                   value * math.exp(z * se_log), conf, "analytic (log scale)", "ratio")


# --------------------------------------------------------------------------------------------
# Complex measures for non-ordered dimensions


def between_group_variance(estimate: ArrayLike, population: ArrayLike,
                           se: ArrayLike | None = None, *, confidence: float = 0.95) -> Measure:
    """Between-group variance (BGV), WHO healthequal ``bgv()``.

    ``BGV = Σ pⱼ (yⱼ − μ)²`` with ``μ = Σ pⱼ yⱼ`` (Harper & Lynch 2005; WHO Handbook 2024).
    Analytic SE (Ahn et al. 2018), as healthequal computes it:
    ``SE² = 4 Σ pⱼ² seⱼ² (yⱼ − μ)² + 2 [(Σ pⱼ² seⱼ²)² − Σ pⱼ⁴ seⱼ⁴ + Σ pⱼ² (1 − pⱼ)² seⱼ⁴]``,
    with a normal interval. Units: squared indicator units.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size)
    ses = _standard_errors(se, est.size)
    mu = float(np.sum(p * est))
    value = float(np.sum(p * (est - mu) ** 2))
    conf = _as_fraction(confidence)
    units = "squared indicator units"
    if ses is None:
        return Measure("bgv", "Between-group variance", value, confidence=conf, units=units)
    v = p**2 * ses**2
    var = 4 * np.sum(v * (est - mu) ** 2) + 2 * (
        np.sum(v) ** 2 - np.sum(v**2) + np.sum(p**2 * (1 - p) ** 2 * ses**4))
    se_bgv = math.sqrt(max(float(var), 0.0))
    half = _z(conf) * se_bgv
    return Measure("bgv", "Between-group variance", value, se_bgv, value - half, value + half,
                   conf, "analytic (normal)", units)


def _log_ratios(est: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, float]:
    if np.any(est < 0):
        raise ValueError("mean log deviation and Theil index need non-negative estimates")
    # healthequal replaces zero estimates by 1e-6 so that the logarithm exists.
    nonzero = np.where(est == 0, 1e-6, est)
    mu = float(np.sum(p * nonzero))
    return nonzero / mu, mu


def mean_log_deviation(estimate: ArrayLike, population: ArrayLike,
                       se: ArrayLike | None = None, *, multiplier: float = 1000.0,
                       se_on_estimate_scale: bool = True,
                       confidence: float = 0.95) -> Measure:
    """Mean log deviation (MLD), WHO healthequal ``mld()``.

    ``MLD = multiplier · Σ pⱼ (−ln rⱼ)`` with ``rⱼ = yⱼ / μ``; WHO reports it ×1000.
    Delta-method SE of the unscaled MLD: ``√Σ (seⱼ² pⱼ² / μ²)(1 − 1/rⱼ)²`` (Ahn et al. 2018).

    healthequal 1.0.1 multiplies the estimate by 1000 but neither its SE nor the half-width
    of its interval, so its interval is 1000 times too narrow. By default this function puts
    the SE (and so the interval) on the estimate's scale; ``se_on_estimate_scale=False``
    reproduces healthequal's numbers exactly.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size)
    ses = _standard_errors(se, est.size)
    r, mu = _log_ratios(est, p)
    value = multiplier * float(np.sum(p * -np.log(r)))
    grad = (p / mu) * (1 - 1 / r)
    return _log_measure("mld", "Mean log deviation", value, ses, grad, multiplier,
                        se_on_estimate_scale, confidence)


def theil_index(estimate: ArrayLike, population: ArrayLike, se: ArrayLike | None = None, *,
                multiplier: float = 1000.0, se_on_estimate_scale: bool = True,
                confidence: float = 0.95) -> Measure:
    """Theil index (TI), WHO healthequal ``ti()``; Theil (1967).

    ``T = multiplier · Σ pⱼ rⱼ ln rⱼ`` with ``rⱼ = yⱼ / μ``; WHO reports it ×1000.
    Delta-method SE of the unscaled T (Ahn et al. 2018):
    ``√Σ (1 + ln rⱼ − Σₖ pₖ rₖ (1 + ln rₖ))² pⱼ² seⱼ² / μ²``.
    ``se_on_estimate_scale`` as in :func:`mean_log_deviation`.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size)
    ses = _standard_errors(se, est.size)
    r, mu = _log_ratios(est, p)
    value = multiplier * float(np.sum(p * r * np.log(r)))
    centre = float(np.sum(p * r * (1 + np.log(r))))
    grad = (1 + np.log(r) - centre) * p / mu
    return _log_measure("ti", "Theil index", value, ses, grad, multiplier,
                        se_on_estimate_scale, confidence)


def _log_measure(code: str, label: str, value: float, ses: np.ndarray | None,
                 grad: np.ndarray, multiplier: float, se_on_estimate_scale: bool,
                 confidence: float) -> Measure:
    conf = _as_fraction(confidence)
    units = f"× {multiplier:g}" if multiplier != 1 else "unitless"
    if ses is None:
        return Measure(code, label, value, confidence=conf, units=units)
    se = math.sqrt(float(np.sum(grad**2 * ses**2)))
    if se_on_estimate_scale:
        se *= abs(multiplier)
        method = "analytic (normal, delta method)"
    else:
        method = "analytic (normal; SE not scaled, as healthequal 1.0.1)"
    half = _z(conf) * se
    return Measure(code, label, value, se, value - half, value + half, conf, method, units)


def _upper_bound(scale: float, upper: float | None) -> float:
    # healthequal bounds simulated values above only for percentages (scale 100).
    if upper is not None:
        return float(upper)
    return 100.0 if scale == 100 else math.inf


def _truncated_draws(est: np.ndarray, se: np.ndarray, upper: float, sims: int,
                     rng: np.random.Generator) -> np.ndarray:
    """healthequal's simulated data sets: each estimate redrawn from N(est, se) until it lies
    in [0, upper] — that is, from a normal truncated to that range."""
    spread = np.where(se > 0, se, 1.0)
    a, b = (0.0 - est) / spread, (upper - est) / spread
    draws = stats.truncnorm.rvs(a, b, loc=est, scale=spread, size=(sims, est.size),
                                random_state=rng)
    # A zero SE is a point mass (R's rnorm(sd = 0) returns the mean).
    return np.where(se > 0, draws, est)


def _simulated_interval(code: str, label: str, value: float, stat, est: np.ndarray,
                        ses: np.ndarray | None, upper: float, sims: int, seed, confidence,
                        units: str) -> Measure:
    conf = _as_fraction(confidence)
    if ses is None:
        return Measure(code, label, value, confidence=conf, units=units)
    draws = _truncated_draws(est, ses, upper, int(sims), _rng(seed))
    simulated = stat(draws)
    alpha = (1 - conf) / 2
    # numpy's default "linear" quantile is R's type 7, which healthequal uses.
    lo, hi = np.nanquantile(simulated, [alpha, 1 - alpha])
    return Measure(code, label, value, math.nan, float(lo), float(hi), conf,
                   f"simulation ({int(sims)} draws, truncated normal; healthequal)", units)


def index_of_disparity(estimate: ArrayLike, population: ArrayLike | None = None,
                       se: ArrayLike | None = None, *, weighted: bool = False,
                       reference_value: float | None = None, scale: float = 100.0,
                       upper: float | None = None, confidence: float = 0.95, sims: int = 1000,
                       seed: int | np.random.Generator | None = WHO_SEED) -> Measure:
    """Index of disparity (IDIS), unweighted (IDISU) or population-weighted (IDISW).

    Pearcy & Keppel (2002); Keppel et al. (2005): the mean absolute deviation of the group rates
    from a reference rate, as a percentage of that rate. WHO healthequal ``idisu()``/``idisw()``:
    ``IDISU = 100/J · Σ |yⱼ − μ| / μ`` and ``IDISW = 100 · Σ pⱼ |yⱼ − μ| / μ``, with μ the
    population-weighted mean, or ``reference_value`` if given (healthequal's setting average;
    Healthy People 2010 used the best group rate).

    No analytic SE; the interval is healthequal's Monte Carlo one (Ahn et al. 2019): each
    estimate redrawn from a normal truncated to [0, ``upper``], the measure recomputed (μ
    too), and the 2.5th/97.5th percentiles (type 7) taken. ``upper`` defaults to
    healthequal's rule: 100 when ``scale`` (the indicator scale) is 100, else unbounded; pass
    ``upper=1`` for proportions on a 0-1 scale. healthequal uses 100 draws; the default here
    is 1000, whose limits vary between seeds about three times less.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size, required=weighted or reference_value is None)
    ses = _standard_errors(se, est.size)
    if weighted:
        code, label = "idisw", "Index of disparity (weighted)"
    else:
        code, label = "idisu", "Index of disparity (unweighted)"

    def stat(y: np.ndarray) -> np.ndarray:
        mu = np.full(y.shape[:-1], reference_value, dtype=float) if reference_value is not None \
            else y @ p
        dev = np.abs(y - mu[..., None])
        mean_dev = dev @ p if weighted else dev.mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mu != 0, 100 * mean_dev / mu, np.nan)

    value = float(stat(est[None, :])[0])
    return _simulated_interval(code, label, value, stat, est, ses, _upper_bound(scale, upper),
                               sims, seed, confidence, "% of the mean")


def _mean_difference(code: str, label: str, est: np.ndarray, p: np.ndarray | None,
                     ses: np.ndarray | None, target, weighted: bool, upper: float, sims: int,
                     seed, confidence: float) -> Measure:
    def stat(y: np.ndarray) -> np.ndarray:
        dev = np.abs(y - target(y)[..., None])
        return dev @ p if weighted else dev.mean(axis=-1)

    value = float(stat(est[None, :])[0])
    return _simulated_interval(code, label, value, stat, est, ses, upper, sims, seed,
                               confidence, "indicator units")


def mean_difference_from_mean(estimate: ArrayLike, population: ArrayLike | None = None,
                              se: ArrayLike | None = None, *, weighted: bool = False,
                              reference_value: float | None = None, scale: float = 100.0,
                              upper: float | None = None, confidence: float = 0.95,
                              sims: int = 1000,
                              seed: int | np.random.Generator | None = WHO_SEED) -> Measure:
    """Mean difference from the mean, unweighted (MDMU) or weighted (MDMW).

    WHO healthequal ``mdmu()``/``mdmw()``: ``MDMU = Σ |yⱼ − μ| / J``, ``MDMW = Σ pⱼ |yⱼ − μ|``,
    μ the population-weighted mean (or ``reference_value``). Simulated interval as for
    :func:`index_of_disparity`. Units: indicator units.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size, required=weighted or reference_value is None)
    ses = _standard_errors(se, est.size)

    def target(y: np.ndarray) -> np.ndarray:
        if reference_value is not None:
            return np.full(y.shape[:-1], reference_value, dtype=float)
        return y @ p

    code, label = ("mdmw", "Mean difference from mean (weighted)") if weighted else (
        "mdmu", "Mean difference from mean (unweighted)")
    return _mean_difference(code, label, est, p, ses, target, weighted,
                            _upper_bound(scale, upper), sims, seed, confidence)


def mean_difference_from_best(estimate: ArrayLike, population: ArrayLike | None = None,
                              se: ArrayLike | None = None, *, weighted: bool = False,
                              higher_is_better: bool = True, scale: float = 100.0,
                              upper: float | None = None, confidence: float = 0.95,
                              sims: int = 1000,
                              seed: int | np.random.Generator | None = WHO_SEED) -> Measure:
    """Mean difference from the best-performing group, unweighted (MDBU) or weighted (MDBW).

    WHO healthequal ``mdbu()``/``mdbw()``: best = max(y) for a favourable indicator, min(y)
    for an adverse one; ``MDBU = Σ |yⱼ − best| / J`` and ``MDBW = Σ pⱼ |yⱼ − best|``. In each
    simulated data set the best group is chosen again. Units: indicator units.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size, required=weighted)
    ses = _standard_errors(se, est.size)

    def target(y: np.ndarray) -> np.ndarray:
        return y.max(axis=-1) if higher_is_better else y.min(axis=-1)

    code, label = ("mdbw", "Mean difference from best (weighted)") if weighted else (
        "mdbu", "Mean difference from best (unweighted)")
    return _mean_difference(code, label, est, p, ses, target, weighted,
                            _upper_bound(scale, upper), sims, seed, confidence)


def mean_difference_from_reference(estimate: ArrayLike, population: ArrayLike | None = None,
                                   se: ArrayLike | None = None, *, reference: int,
                                   weighted: bool = False, scale: float = 100.0,
                                   upper: float | None = None, confidence: float = 0.95,
                                   sims: int = 1000,
                                   seed: int | np.random.Generator | None = WHO_SEED
                                   ) -> Measure:
    """Mean difference from a reference group, unweighted (MDRU) or weighted (MDRW).

    WHO healthequal ``mdru()``/``mdrw()``: ``MDRU = Σ |yⱼ − y_ref| / J`` (the reference's own
    zero included in the J) and ``MDRW = Σ pⱼ |yⱼ − y_ref|``. ``reference`` is the position of
    the reference group. Units: indicator units.
    """
    est = _estimates(estimate)
    p = _shares(population, est.size, required=weighted)
    ses = _standard_errors(se, est.size)
    ref = _reference_index(reference, est.size)

    def target(y: np.ndarray) -> np.ndarray:
        return y[..., ref]

    code, label = ("mdrw", "Mean difference from reference (weighted)") if weighted else (
        "mdru", "Mean difference from reference (unweighted)")
    return _mean_difference(code, label, est, p, ses, target, weighted,
                            _upper_bound(scale, upper), sims, seed, confidence)


# --------------------------------------------------------------------------------------------
# Ordered dimensions: slope and relative index of inequality (PHE method)

_VALUE_TYPES = {0: "other", 1: "rate", 2: "proportion",
                "other": "other", "rate": "rate", "proportion": "proportion"}


def _forward(values: np.ndarray, value_type: str) -> np.ndarray:
    if value_type == "rate":
        return np.log(values)
    if value_type == "proportion":
        return special.logit(values)
    return values


def _backward(values: np.ndarray, value_type: str) -> np.ndarray:
    if value_type == "rate":
        return np.exp(values)
    if value_type == "proportion":
        return special.expit(values)
    return values


def sii_rii(estimate: ArrayLike, population: ArrayLike, *, se: ArrayLike | None = None,
            lower_cl: ArrayLike | None = None, upper_cl: ArrayLike | None = None,
            value_type: str | int = "other", transform: bool = False,
            multiplier: float = 1.0, confidence: float | Iterable[float] = 0.95,
            cl_confidence: float = 0.95, repetitions: int = SII_REPETITIONS,
            seed: int | np.random.Generator | None = WHO_SEED) -> SIIResult:
    """Slope (SII) and relative (RII) index of inequality: PHEindicatormethods ``phe_sii``.

    Groups are ordered from the least to the most advantaged. Each gets the relative rank
    ``bⱼ`` = midpoint of its band in the cumulative population share, and weight ``aⱼ`` = its
    population share. The model ``yⱼ√aⱼ = β₀√aⱼ + β₁ bⱼ√aⱼ`` is fitted by least squares (a
    weighted regression of y on b; Low & Low 2004; Mackenbach & Kunst 1997).
    SII = β₁ (the fitted gap between rank 1 and rank 0) × ``multiplier``; RII = (β₀ + β₁)/β₀,
    inverted when ``multiplier`` is negative (the polarity flips).

    ``value_type`` ("other"/0, "rate"/1, "proportion"/2) decides the scale on which the
    uncertainty of each group is normal: log for rates, logit for proportions. Standard errors
    come from ``se`` (on that scale!) or from the ``cl_confidence`` limits ``lower_cl`` and
    ``upper_cl`` transformed to it: ``se = (g(U) − g(L)) / (2z)``.

    ``transform=True`` (rates and proportions only; limits required, as in PHE) fits the line
    on the log/logit scale and reports SII = (g⁻¹(β₀+β₁) − g⁻¹(β₀)) × multiplier and RII =
    g⁻¹(β₀+β₁)/g⁻¹(β₀); its limits come from the simulated slope placed symmetrically about
    the fitted value at rank ½. The intercept is g⁻¹(β₀)·|multiplier| then, β₀ otherwise.

    Limits come from ``repetitions`` simulated data sets (each group's value drawn from a
    normal with its SE on the transformed scale, back-transformed unless ``transform``), the
    SII/RII refitted, and the order statistics at positions round(n·α/2), round(n·(1−α/2)).
    PHE applies the polarity swap for a log-transformed rate when ``multiplier < 1``; this
    function swaps only for a negative multiplier (the same for every multiplier PHE tests).
    """
    vt = _VALUE_TYPES.get(value_type)
    if vt is None:
        raise ValueError(f"value_type must be other/0, rate/1 or proportion/2; got {value_type}")
    if transform and vt == "other":
        raise ValueError("transform=True needs value_type 'rate' or 'proportion'")
    if transform and se is not None:
        raise ValueError("transform=True needs lower_cl and upper_cl, not se (as phe_sii)")
    est = _estimates(estimate)
    n = est.size
    pop = _vector(population, "population", n)
    if not np.all(np.isfinite(pop)) or np.any(pop <= 0):
        raise ValueError("every group needs a positive population for the SII")
    if vt == "proportion" and np.any((est < 0) | (est > 1)):
        raise ValueError("proportions must lie between 0 and 1")
    if vt == "rate" and np.any(est <= 0):
        raise ValueError("rates must be positive to be log-transformed")
    levels = [_as_fraction(c) for c in (confidence if isinstance(confidence, Iterable)
                                        else [confidence])]
    reps = int(repetitions)
    if reps < 1:
        raise ValueError("repetitions must be positive")

    value_t = _forward(est, vt)
    if se is not None:
        se_t = _vector(se, "se", n)
    elif lower_cl is not None and upper_cl is not None:
        lo_t = _forward(_vector(lower_cl, "lower_cl", n), vt)
        hi_t = _forward(_vector(upper_cl, "upper_cl", n), vt)
        se_t = (hi_t - lo_t) / (2 * _z(cl_confidence))
    else:
        se_t = None
    if se_t is not None and (np.any(~np.isfinite(se_t)) or np.any(se_t < 0)):
        raise ValueError("standard errors (or limits) must be finite and consistent")

    share = pop / pop.sum()
    rank = np.cumsum(share) - share / 2
    root = np.sqrt(share)
    design = np.column_stack([root, rank * root])
    # Hat matrix of the no-intercept regression on (√a, b√a): coefficients = H @ (y√a).
    hat = np.linalg.solve(design.T @ design, design.T)

    y_fit = value_t if transform else est
    b0, b1 = hat @ (y_fit * root)
    if transform:
        low_end, high_end = _backward(np.array([b0, b0 + b1]), vt)
        sii = float((high_end - low_end) * multiplier)
        rii = float(high_end / low_end)
        intercept = float(low_end * abs(multiplier))
    else:
        sii = float(b1 * multiplier)
        rii = float((b0 + b1) / b0)
        intercept = float(b0)
    if multiplier < 0:
        rii = 1 / rii

    sii_ci: dict[float, tuple[float, float]] = {}
    rii_ci: dict[float, tuple[float, float]] = {}
    if se_t is not None:
        rng = _rng(seed)
        draws = value_t + se_t * rng.standard_normal((reps, n))
        if not transform:
            draws = _backward(draws, vt)
        coef = (draws * root) @ hat.T
        slopes, intercepts = coef[:, 1], coef[:, 0]
        if transform:
            sorted_slopes = np.sort(slopes)
            half_way = b0 + b1 / 2
        else:
            sorted_sii = np.sort(slopes * multiplier)
            sim_rii = (intercepts + slopes) / intercepts
            sorted_rii = np.sort(1 / sim_rii if multiplier < 0 else sim_rii)
        for conf in levels:
            upper_p = conf + (1 - conf) / 2
            # PHE takes order statistics at rounded positions rather than interpolating.
            i_lo = min(max(round(reps * (1 - upper_p)), 1), reps) - 1
            i_hi = min(max(round(reps * upper_p), 1), reps) - 1
            if transform:
                sii_ci[conf], rii_ci[conf] = _transformed_limits(
                    sorted_slopes[i_lo], sorted_slopes[i_hi], half_way, vt, multiplier)
            else:
                sii_ci[conf] = (float(sorted_sii[i_lo]), float(sorted_sii[i_hi]))
                rii_ci[conf] = (float(sorted_rii[i_lo]), float(sorted_rii[i_hi]))
    return SIIResult(sii, rii, intercept, sii_ci, rii_ci, reps, vt, transform,
                     float(multiplier), tuple(levels))


def _transformed_limits(slope_lo: float, slope_hi: float, half_way: float, vt: str,
                        multiplier: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Back-transform simulated slopes into SII/RII limits, as phe_sii does with transform:
    the line through the fitted value at rank ½ with the simulated slope."""
    ends = []
    for slope in (slope_lo, slope_hi):
        low_end, high_end = _backward(np.array([half_way - slope / 2, half_way + slope / 2]),
                                      vt)
        ends.append((float(high_end - low_end), float(high_end / low_end)))
    (gap_lo, ratio_lo), (gap_hi, ratio_hi) = ends
    if multiplier < 0:
        return ((gap_hi * multiplier, gap_lo * multiplier), (1 / ratio_hi, 1 / ratio_lo))
    return ((gap_lo * multiplier, gap_hi * multiplier), (ratio_lo, ratio_hi))


def slope_index_of_inequality(estimate: ArrayLike, population: ArrayLike,
                              **kwargs) -> Measure:
    """Slope index of inequality as a :class:`Measure` (at the first confidence level);
    arguments as :func:`sii_rii`."""
    return sii_rii(estimate, population, **kwargs).sii_measure()


def relative_index_of_inequality(estimate: ArrayLike, population: ArrayLike,
                                 **kwargs) -> Measure:
    """Relative index of inequality as a :class:`Measure` (at the first confidence level);
    arguments as :func:`sii_rii`."""
    return sii_rii(estimate, population, **kwargs).rii_measure()


# --------------------------------------------------------------------------------------------
# Everything for one stratifier


def summary_measures(table: pd.DataFrame, *, ordered: bool = False,
                     higher_is_better: bool = True, reference: str | None = None,
                     group_col: str | Sequence[str] = "group", estimate_col: str = "rate",
                     se_col: str = "se", population_col: str = "denominator",
                     numerator_col: str = "numerator", lower_col: str = "rate_lower",
                     upper_col: str = "rate_upper", kind: str | None = None,
                     scale: float = 1.0, confidence: float = 0.95, sims: int = 1000,
                     repetitions: int = SII_REPETITIONS, seed: int | None = WHO_SEED,
                     exclude_groups: Iterable[str] = NOT_KNOWN_GROUPS) -> pd.DataFrame:
    """Every applicable summary measure for one stratifier's groups, one row per measure.

    ``table`` has one row per group, as :func:`metrics.disparity.disparity_table` returns it:
    the group label(s) in ``group_col`` (several columns are joined with " | "), the rate in
    ``estimate_col`` on the indicator scale ``scale`` (1 for a 0-1 proportion, 100 for
    percent), and the denominator in ``population_col``, which weights the groups. The
    standard error comes from ``se_col`` if present; otherwise, for a proportion (``kind``,
    default ``table.attrs["kind"]`` or "proportion"), from the counts as ``scale·√(p(1−p)/n)``;
    otherwise from the limits in ``lower_col``/``upper_col`` as ``(U − L)/(2z)``. Without
    any of these the measures have no intervals.

    Groups labelled with one of ``exclude_groups`` (unknown demographics, also inside a crossed
    label) and groups without a rate (e.g. suppressed) are left out and listed in
    ``result.attrs["excluded"]``. ``reference`` names the reference group for D, R and the mean
    difference from reference (e.g. the disparity table's reference group; "Overall" is not a
    group, and an unknown name is an error).

    Non-ordered dimensions get the range difference and ratio, D and R, BGV, IDISU/IDISW, MLD,
    TI and the mean differences from the mean, the best group and the reference. Ordered ones
    (rows from the least to the most advantaged) get the range measures, D and R between the
    two ends, and SII/RII (normal errors on the indicator scale). Returns a DataFrame indexed
    by measure code with the fields of :class:`Measure`; a measure that cannot be computed
    for these data (a relative measure when every rate is zero) is NaN.
    """
    names = [group_col] if isinstance(group_col, str) else list(group_col)
    missing = [c for c in [*names, estimate_col, population_col] if c not in table]
    if missing:
        raise ValueError(f"table lacks the column(s) {', '.join(missing)}")
    kind = kind or table.attrs.get("kind", "proportion")
    all_labels = table[names].astype(str).agg(" | ".join, axis=1)
    unknown = set(exclude_groups)
    estimate_all = pd.to_numeric(table[estimate_col], errors="coerce").astype(float)
    population_all = pd.to_numeric(table[population_col], errors="coerce").astype(float)
    drop = (all_labels.map(lambda label: any(part in unknown for part in label.split(" | ")))
            | estimate_all.isna() | ~(population_all > 0))
    keep = ~drop.to_numpy()
    data = table.loc[keep]
    labels = all_labels[keep].tolist()
    est = estimate_all[keep].to_numpy()
    pop = population_all[keep].to_numpy()

    if se_col in data:
        se = pd.to_numeric(data[se_col], errors="coerce").to_numpy(dtype=float)
    elif kind == "proportion" and numerator_col in data:
        share = np.clip(est / scale, 0, 1)
        se = scale * np.sqrt(share * (1 - share) / pop)
    elif lower_col in data and upper_col in data:
        width = (pd.to_numeric(data[upper_col], errors="coerce")
                 - pd.to_numeric(data[lower_col], errors="coerce")).to_numpy(dtype=float)
        se = width / (2 * _z(confidence))
    else:
        se = None
    if se is not None and not np.all(np.isfinite(se)):
        se = None

    ref_idx = None
    if reference is not None:
        if str(reference) not in labels:
            raise ValueError(f"reference group {reference!r} is not among the analysed groups")
        ref_idx = labels.index(str(reference))

    conf = _as_fraction(confidence)
    sim = dict(scale=scale, upper=scale if kind == "proportion" else None, confidence=conf,
               sims=sims, seed=seed)
    measures: list[Measure] = []

    def attempt(code: str, label: str, fn, *args, **kwargs) -> None:
        # One degenerate measure (a zero mean, a zero rate in a ratio) must not hide the rest.
        try:
            measures.append(fn(*args, **kwargs))
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
            measures.append(Measure(code, label, math.nan, confidence=conf))

    if est.size >= 2:
        pair = dict(higher_is_better=higher_is_better, reference=None if ordered else ref_idx,
                    ordered=ordered, confidence=conf)
        attempt("range_difference", "Range difference", range_difference, est, se,
                confidence=conf)
        attempt("range_ratio", "Range ratio", range_ratio, est, se, confidence=conf)
        attempt("d", "Difference", difference, est, se, **pair)
        attempt("r", "Ratio", ratio, est, se, **pair)
    if ordered and est.size >= 2:
        try:
            result = sii_rii(est, pop, se=se, confidence=conf, repetitions=repetitions,
                             seed=seed)
            measures += [result.sii_measure(), result.rii_measure()]
        except (ValueError, np.linalg.LinAlgError):
            measures += [Measure("sii", "Slope index of inequality", math.nan, confidence=conf),
                         Measure("rii", "Relative index of inequality", math.nan,
                                 confidence=conf)]
    if not ordered and est.size >= 2:
        attempt("bgv", "Between-group variance", between_group_variance, est, pop, se,
                confidence=conf)
        for weighted, code, label in ((False, "idisu", "Index of disparity (unweighted)"),
                                      (True, "idisw", "Index of disparity (weighted)")):
            attempt(code, label, index_of_disparity, est, pop, se, weighted=weighted, **sim)
        attempt("mld", "Mean log deviation", mean_log_deviation, est, pop, se, confidence=conf)
        attempt("ti", "Theil index", theil_index, est, pop, se, confidence=conf)
        for weighted, suffix in ((False, "u"), (True, "w")):
            attempt("mdm" + suffix, "Mean difference from mean", mean_difference_from_mean,
                    est, pop, se, weighted=weighted, **sim)
        for weighted, suffix in ((False, "u"), (True, "w")):
            attempt("mdb" + suffix, "Mean difference from best", mean_difference_from_best,
                    est, pop, se, weighted=weighted, higher_is_better=higher_is_better, **sim)
        for weighted, suffix in ((False, "u"), (True, "w")) if ref_idx is not None else ():
            attempt("mdr" + suffix, "Mean difference from reference",
                    mean_difference_from_reference, est, pop, se, reference=ref_idx,
                    weighted=weighted, **sim)

    frame = pd.DataFrame([m.to_dict() for m in measures],
                         columns=list(Measure.__dataclass_fields__)).set_index("measure")
    frame.attrs.update(groups=labels, excluded=all_labels[~keep].tolist())
    return frame
