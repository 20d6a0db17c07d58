"""The count table as the metrics engine reads it (built by `store.counts`, see there)."""
from __future__ import annotations

from metrics.strata import stratifier
from store.counts import (
    current,
    ensure,
    refresh,
    result_counts,
    result_counts_state,
    result_groups,
    result_margins,
)

__all__ = ["column", "current", "ensure", "refresh", "result_counts", "result_counts_state",
           "result_groups", "result_margins"]


def column(name: str):
    """The count table's column of a stratifier (`Stratifier.column`)."""
    return result_counts.c[stratifier(name).column]
