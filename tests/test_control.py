"""Control charts: p-chart and Laney p' limits by hand, and the IHI signal rules."""
from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.control import mean_chart, p_chart, shift_points


def test_p_chart_limits_by_hand():
    x, n = [20, 25, 30, 18], [100, 120, 110, 90]
    chart = p_chart(x, n, method="p")
    centre = sum(x) / sum(n)
    assert chart["centre"].iloc[0] == pytest.approx(centre)
    for i, size in enumerate(n):
        half = 3 * math.sqrt(centre * (1 - centre) / size)
        assert chart["lower_limit"].iloc[i] == pytest.approx(centre - half)
        assert chart["upper_limit"].iloc[i] == pytest.approx(centre + half)
    assert not chart["beyond_limits"].any() and (chart["chart"] == "p").all()


def test_laney_widens_limits_by_sigma_z_when_denominators_are_large():
    n = np.full(12, 5000)
    rates = np.array([0.30, 0.33, 0.29, 0.34, 0.31, 0.28, 0.35, 0.30, 0.32, 0.29, 0.33, 0.31])
    x = np.round(rates * n)
    p_limits = p_chart(x, n, method="p")
    laney = p_chart(x, n, method="auto")
    assert (laney["chart"] == "laney").all()
    centre = x.sum() / n.sum()
    sigma = np.sqrt(centre * (1 - centre) / n)
    z = (x / n - centre) / sigma
    sigma_z = np.mean(np.abs(np.diff(z))) / 1.128
    assert laney["upper_limit"].iloc[0] == pytest.approx(centre + 3 * sigma[0] * sigma_z)
    # Over-dispersed data: the ordinary p-chart signals nearly every month, p' does not.
    assert p_limits["beyond_limits"].sum() >= 4 and laney["beyond_limits"].sum() == 0


def test_a_point_beyond_the_limits_is_a_signal():
    chart = p_chart([10, 11, 9, 10, 40, 10], [100] * 6, method="p")
    assert chart["beyond_limits"].tolist() == [False, False, False, False, True, False]


def test_shift_needs_eight_in_a_row_on_one_side():
    above = [0.6] * 7 + [0.4] + [0.6] * 8
    flags = shift_points(np.array(above), 0.5)
    assert not flags[:7].any() and flags[8:].all()
    # A point on the centre line neither counts nor breaks the run.
    with_touch = np.array([0.6] * 4 + [0.5] + [0.6] * 4)
    assert shift_points(with_touch, 0.5).sum() == 8


def test_mean_chart_uses_the_pooled_standard_deviation():
    values = [[120.0, 130.0, 140.0], [125.0, 135.0], [118.0, 128.0, 138.0, 148.0]]
    sums = [sum(v) for v in values]
    squares = [sum(x * x for x in v) for v in values]
    counts = [len(v) for v in values]
    chart = mean_chart(sums, squares, counts)
    everything = np.concatenate(values)
    sd = everything.std(ddof=1)
    assert chart["centre"].iloc[0] == pytest.approx(everything.mean())
    assert chart["upper_limit"].iloc[1] == pytest.approx(everything.mean() + 3 * sd / math.sqrt(2))
