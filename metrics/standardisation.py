"""Direct and indirect standardisation of rates (e.g. by age band), PHEindicatormethods style.

- :func:`directly_standardised_rate`: the rate the group would have with the standard
  population's structure; Dobson et al. (1991) limits built on the limits of the total count,
  optionally widened for people who contribute more than one event.
- :func:`indirectly_standardised`: observed over expected events (a standardised ratio such as
  an SMR), or that ratio times the reference rate (an indirectly standardised rate).

Both return a small frozen dataclass; ``dataclasses.asdict(result)`` gives a plain dict for a
table row. Conventions and references are in docs/methods.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metrics.stats import BYAR_FROM, count_interval

__all__ = [
    "DirectlyStandardisedRate",
    "IndirectlyStandardised",
    "directly_standardised_rate",
    "indirectly_standardised",
]

NAN = float("nan")


@dataclass(frozen=True)
class DirectlyStandardisedRate:
    """A directly standardised rate per ``multiplier`` with its confidence limits.

    ``value``, ``lower`` and ``upper`` are NaN when ``total_count`` is below the minimum count
    (10 by default): such rates are too unstable to publish.
    """

    value: float
    lower: float
    upper: float
    total_count: float
    total_pop: float
    confidence: float
    multiplier: float
    method: str


@dataclass(frozen=True)
class IndirectlyStandardised:
    """An indirectly standardised ratio (``kind="ratio"``) or rate (``kind="rate"``).

    ``value = observed / expected * multiplier`` for a ratio, and
    ``observed / expected * reference_rate * multiplier`` for a rate. ``reference_rate`` is in
    events per unit of population (not multiplied), NaN for a ratio. ``method`` names the
    limits used for the observed count: ``"exact"`` below 10 events, ``"byar"`` from 10.
    """

    value: float
    lower: float
    upper: float
    observed: float
    expected: float
    reference_rate: float
    kind: str
    confidence: float
    multiplier: float
    method: str


# --------------------------------------------------------------------------------------------
# argument checking


def _array(values, name: str, ndim: int | tuple[int, ...] = 1) -> np.ndarray:
    # pandas nullable columns hold pd.NA, which numpy cannot cast to float directly.
    if hasattr(values, "to_numpy"):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {values!r}") from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        shapes = " or ".join(f"{d}-dimensional" for d in allowed)
        raise ValueError(f"{name} must be {shapes}, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be finite")
    return array


def _check_scalar(value, name: str, *, minimum: float = 0.0, inclusive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    too_small = number < minimum if inclusive else number <= minimum
    if not math.isfinite(number) or too_small:
        relation = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {value!r}")
    return number


def _check_confidence(confidence) -> float:
    # count_interval validates too, but only once there is a count to give it; fail early.
    level = _check_scalar(confidence, "confidence")
    if level >= 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return level


def _no_negatives(array: np.ndarray, name: str) -> None:
    if (array < 0).any():
        raise ValueError(f"{name} must all be >= 0")


# --------------------------------------------------------------------------------------------
# direct standardisation


def directly_standardised_rate(
    counts,
    populations,
    standard_populations,
    multiplier=100_000,
    confidence=0.95,
    independent_events=True,
    event_frequencies=None,
    min_total_count=10,
) -> DirectlyStandardisedRate:
    """Directly standardised rate (DSR) with Dobson confidence limits.

    Parameters
    ----------
    counts
        ``independent_events=True``: events in each stratum (e.g. age band), shape ``(k,)``.
        ``independent_events=False``: a ``(k, m)`` array of *people*: ``counts[i, j]`` people
        in stratum ``i`` who had exactly ``event_frequencies[j]`` events each.
        Missing counts (NaN/None) are taken as 0, as in PHEindicatormethods.
    populations
        Population (person-time) of each stratum, shape ``(k,)``; all > 0.
    standard_populations
        Standard population of each stratum (e.g. European Standard Population 2013), shape
        ``(k,)``; all >= 0, not all 0. Matched to the other arrays by position.
    multiplier
        Express the rate per this many people (default 100,000).
    confidence
        Confidence level in (0, 1).
    independent_events
        False when a person can contribute several events (e.g. repeat admissions): the
        variance is then built from the distribution of events per person, which widens the
        interval.
    event_frequencies
        Required when ``independent_events`` is False: the number of events per person that
        each column of ``counts`` stands for, shape ``(m,)``.
    min_total_count
        Below this total number of events the rate and limits are NaN (PHE: 10).

    Method
    ------
    With weights ``w_i = standard_i / population_i`` and ``W = sum(standard_i)``:
    ``DSR = sum(w_i x_i) / W``. Dobson's method scales the confidence limits ``(X_L, X_U)`` of
    the total count ``X = sum(x_i)`` onto the DSR:
    ``DSR + sqrt(var(DSR) / X) * (X_L - X)`` and ``DSR + sqrt(var(DSR) / X) * (X_U - X)``,
    with ``var(DSR) = sum(w_i^2 x_i) / W^2``. The count limits follow the project convention,
    exact below 10 events and Byar from 10, which equals PHEindicatormethods (always Byar,
    rates with fewer than 10 events suppressed) whenever a rate is published.

    For non-independent events (PHEindicatormethods ``calculate_dsr(independent_events =
    FALSE)``, v2): ``x_i = sum_j f_j n_ij`` events, and each frequency class contributes its
    own Poisson variance scaled by ``f_j^2``: ``var(DSR) = sum_j f_j^2 sum_i w_i^2 n_ij / W^2``.

    References
    ----------
    Dobson AJ, Kuulasmaa K, Eberle E, Scherer J. Confidence intervals for weighted sums of
    Poisson parameters. Stat Med 1991;10:457-462.
    Breslow NE, Day NE. Statistical methods in cancer research, volume II: the design and
    analysis of cohort studies. Lyon: IARC; 1987 (Byar's limits).
    UKHSA. PHEindicatormethods: common public health statistics and their confidence
    intervals, R package v2 (``calculate_dsr``); Fingertips technical guidance, "Directly
    standardised rates".
    """
    level = _check_confidence(confidence)
    scale = _check_scalar(multiplier, "multiplier")
    minimum = _check_scalar(min_total_count, "min_total_count", inclusive=True)

    pops = _array(populations, "populations")
    if np.isnan(pops).any() or (pops <= 0).any():
        raise ValueError("populations must all be present and > 0")
    standard = _array(standard_populations, "standard_populations")
    if standard.shape != pops.shape:
        raise ValueError(
            f"standard_populations must have one value per stratum like populations "
            f"({pops.size}), got {standard.size}"
        )
    if np.isnan(standard).any():
        raise ValueError("standard_populations must not have missing values")
    _no_negatives(standard, "standard_populations")
    total_standard = standard.sum()
    if total_standard <= 0:
        raise ValueError("standard_populations must not all be 0")

    if independent_events:
        if event_frequencies is not None:
            raise ValueError("event_frequencies is only used when independent_events is False")
        events = np.nan_to_num(_array(counts, "counts"), nan=0.0)
        if events.shape != pops.shape:
            raise ValueError(
                f"counts must have one value per stratum ({pops.size}), got shape {events.shape}"
            )
        _no_negatives(events, "counts")
        squared_weight_terms = events
    else:
        if event_frequencies is None:
            raise ValueError("event_frequencies is required when independent_events is False")
        people = np.nan_to_num(_array(counts, "counts", ndim=2), nan=0.0)
        frequencies = _array(event_frequencies, "event_frequencies")
        if people.shape != (pops.size, frequencies.size):
            raise ValueError(
                f"counts must have shape (strata, event_frequencies) = "
                f"({pops.size}, {frequencies.size}), got {people.shape}"
            )
        if np.isnan(frequencies).any():
            raise ValueError("event_frequencies must not have missing values")
        _no_negatives(people, "counts")
        _no_negatives(frequencies, "event_frequencies")
        events = people @ frequencies
        # A person with f events adds f to the count but f^2 to its variance.
        squared_weight_terms = people @ frequencies**2

    weights = standard / pops
    total_count = float(events.sum())
    total_pop = float(pops.sum())
    method = "Dobson" if independent_events else "Dobson, non-independent events"

    def result(value: float, lower: float, upper: float) -> DirectlyStandardisedRate:
        return DirectlyStandardisedRate(
            value, lower, upper, total_count, total_pop, level, scale, method
        )

    if total_count < minimum or total_count == 0:
        return result(NAN, NAN, NAN)
    dsr = float(weights @ events) / total_standard
    variance = float(weights**2 @ squared_weight_terms) / total_standard**2
    count_lower, count_upper = count_interval(total_count, level, method="phe")
    spread = math.sqrt(variance / total_count)
    return result(
        dsr * scale,
        (dsr + spread * (count_lower - total_count)) * scale,
        (dsr + spread * (count_upper - total_count)) * scale,
    )


# --------------------------------------------------------------------------------------------
# indirect standardisation


def indirectly_standardised(
    observed,
    expected=None,
    *,
    populations=None,
    reference_counts=None,
    reference_populations=None,
    reference_rate=None,
    kind="ratio",
    multiplier=None,
    confidence=0.95,
) -> IndirectlyStandardised:
    """Indirectly standardised ratio (e.g. SMR) or rate, with limits from the observed count.

    Parameters
    ----------
    observed
        Observed events: a total, or one value per stratum (summed; missing values taken as 0).
    expected
        Expected events: a total or one value per stratum. Give either ``expected`` or the
        three arrays below, from which ``expected = sum(population_i * reference_count_i /
        reference_population_i)``; strata where any of the three is missing add nothing.
    populations, reference_counts, reference_populations
        Per stratum: the group's population, and the events and population of the reference
        (e.g. national) population.
    reference_rate
        For ``kind="rate"``: the reference population's crude rate in events per unit of
        population (not multiplied). Defaults to ``sum(reference_counts) /
        sum(reference_populations)`` when those are given.
    kind
        ``"ratio"``: ``O / E * multiplier`` (multiplier default 1; use 100 for an SMR x 100).
        ``"rate"``: ``O / E * reference_rate * multiplier`` (multiplier default 100,000).
    confidence
        Confidence level in (0, 1).

    Method
    ------
    The limits of the observed count O (exact chi-square below 10 events, Byar from 10; see
    :func:`metrics.stats.count_interval`) are divided by E, treated as fixed, and scaled like
    the value (Breslow NE, Day NE. Statistical methods in cancer research, volume II. Lyon:
    IARC; 1987). As PHEindicatormethods ``calculate_ISRatio`` and
    ``calculate_ISRate`` (UKHSA, v2) and the PHE Technical Guide "Confidence intervals".
    """
    if kind not in ("ratio", "rate"):
        raise ValueError(f"kind must be 'ratio' or 'rate', got {kind!r}")
    level = _check_confidence(confidence)
    if multiplier is None:
        multiplier = 1 if kind == "ratio" else 100_000
    scale = _check_scalar(multiplier, "multiplier")

    observed_values = _array(observed, "observed", ndim=(0, 1))
    _no_negatives(np.nan_to_num(observed_values), "observed")
    total_observed = float(np.nansum(observed_values))

    reference_arrays = (populations, reference_counts, reference_populations)
    given = [a is not None for a in reference_arrays]
    if expected is not None and any(given):
        raise ValueError(
            "give either expected or populations, reference_counts and reference_populations, "
            "not both"
        )
    computed_reference_rate = NAN
    if expected is not None:
        expected_values = _array(expected, "expected", ndim=(0, 1))
        _no_negatives(np.nan_to_num(expected_values), "expected")
        total_expected = float(np.nansum(expected_values))
    elif all(given):
        pops = _array(populations, "populations")
        ref_counts = _array(reference_counts, "reference_counts")
        ref_pops = _array(reference_populations, "reference_populations")
        if not pops.shape == ref_counts.shape == ref_pops.shape:
            raise ValueError(
                "populations, reference_counts and reference_populations must have the same "
                f"length, got {pops.size}, {ref_counts.size}, {ref_pops.size}"
            )
        _no_negatives(np.nan_to_num(pops), "populations")
        _no_negatives(np.nan_to_num(ref_counts), "reference_counts")
        if (np.nan_to_num(ref_pops, nan=1.0) <= 0).any():
            raise ValueError("reference_populations must all be > 0")
        total_expected = float(np.nansum(pops * ref_counts / ref_pops))
        computed_reference_rate = float(np.nansum(ref_counts) / np.nansum(ref_pops))
    else:
        missing = [
            name
            for name, present in zip(
                ("populations", "reference_counts", "reference_populations"), given, strict=True
            )
            if not present
        ]
        raise ValueError(f"expected is required, or else {', '.join(missing)}")
    if total_expected <= 0:
        raise ValueError(f"expected must total more than 0, got {total_expected!r}")

    if kind == "rate":
        if reference_rate is not None:
            rate = _check_scalar(reference_rate, "reference_rate", inclusive=True)
        elif math.isnan(computed_reference_rate):
            raise ValueError(
                "reference_rate is required for kind='rate' unless reference_counts and "
                "reference_populations are given"
            )
        else:
            rate = computed_reference_rate
        value_scale = rate * scale
    else:
        rate = NAN
        value_scale = scale

    count_lower, count_upper = count_interval(total_observed, level, method="phe")
    factor = value_scale / total_expected
    return IndirectlyStandardised(
        value=total_observed * factor,
        lower=count_lower * factor,
        upper=count_upper * factor,
        observed=total_observed,
        expected=total_expected,
        reference_rate=rate,
        kind=kind,
        confidence=level,
        multiplier=scale,
        method="exact" if total_observed < BYAR_FROM else "byar",
    )
