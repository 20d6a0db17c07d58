"""Plotly figure builders: a DataFrame from `metrics` in, a `plotly.graph_objects.Figure` out.

The same figures serve the pages and the exports (PNG/SVG, slides, PDF), so each one explains
itself when printed: a title naming the measure and the stratifier, a subtitle with the
reference group, period and filters, axis titles with units, and caption lines under the
plot for suppressed or unstable groups. Every group keeps one colour-blind-safe colour on
every chart (`group_colour`), and flags are shown by shape and text, not colour alone.
`describe(fig)` returns a one-paragraph text summary of any figure built here; each chart
also has a `*_summary` function taking the same input. No streamlit here.

    >>> import metrics, charts                                            # doctest: +SKIP
    >>> fig = charts.disparity_dot_chart(metrics.stratify("cbp", "race"))  # doctest: +SKIP
    >>> charts.describe(fig)                                              # doctest: +SKIP
"""
from __future__ import annotations

from charts.disparity import (
    disparity_dot_chart,
    disparity_summary,
    share_chart,
    share_summary,
    small_multiples,
    small_multiples_summary,
)
from charts.over_time import control_chart, control_summary, trend_chart, trend_summary
from charts.overview import (
    gap_sentence,
    group_phrase,
    largest_gaps_chart,
    largest_gaps_summary,
    phase_progress_chart,
    phase_progress_summary,
)
from charts.palette import (
    OKABE_ITO,
    captions,
    describe,
    format_count,
    format_difference,
    format_p_value,
    format_percent,
    format_period,
    format_period_range,
    format_rate,
    format_share,
    format_total,
    group_colour,
    rate_scale,
)
from charts.quality import check_history_chart, completeness_chart, completeness_heatmap

__all__ = [
    "check_history_chart", "completeness_chart", "completeness_heatmap",
    "OKABE_ITO", "captions", "control_chart", "control_summary", "describe",
    "disparity_dot_chart", "disparity_summary", "format_count", "format_difference",
    "format_p_value", "format_percent", "format_period", "format_period_range", "format_rate",
    "format_share", "format_total",
    "gap_sentence", "group_colour", "group_phrase", "largest_gaps_chart",
    "largest_gaps_summary", "phase_progress_chart", "phase_progress_summary", "rate_scale",
    "share_chart", "share_summary", "small_multiples", "small_multiples_summary",
    "trend_chart", "trend_summary",
]
