"""The data boundary of the pages: the domain functions, cached by their arguments.

Every cached call takes the data version (the last import batch) as an argument, so an
import invalidates the cache by itself; a filter change reruns only the calls whose
arguments changed.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

import data_quality
import metrics
import store
import tracker
from metrics import privacy
from metrics.aggregate import normal_where
from metrics.ranking import DEFAULT_STRATIFIERS

Where = tuple[tuple[str, tuple[str, ...]], ...]


def data_version() -> tuple[str, int | None]:
    """(database, last import batch): the key that makes an import invalidate the cache."""
    return store.database_url(), _last_batch(store.database_url())


@st.cache_data(ttl=10, show_spinner=False)
def _last_batch(url: str) -> int | None:
    loaded = store.status(url)["last_import"]
    return loaded["batch_id"] if loaded else None


def where_key(where) -> Where:
    """A hashable form of a filter mapping, dropping empty filters."""
    return normal_where(where)


def _where(key: Where) -> dict[str, list[str]]:
    return {column: list(values) for column, values in key}


@st.cache_data(max_entries=512, show_spinner=False)
def stratify(version, measure_id: str, by: tuple[str, ...], where: Where, period_from,
             period_to, reference: str) -> pd.DataFrame:
    return metrics.stratify(measure_id, list(by), _where(where), period_from, period_to,
                            reference, database_url=version[0])


@st.cache_data(max_entries=128, show_spinner=False)
def over_time(version, measure_id: str, by: str, where: Where, period_from, period_to,
              reference: str) -> pd.DataFrame:
    return metrics.over_time(measure_id, by, _where(where), period_from, period_to, reference,
                             database_url=version[0])


@st.cache_data(max_entries=128, show_spinner=False)
def age_adjusted(version, measure_id: str, by: str, where: Where, period_from,
                 period_to) -> pd.DataFrame:
    return metrics.age_adjusted(measure_id, by, _where(where), period_from, period_to,
                                database_url=version[0])


@st.cache_data(max_entries=64, show_spinner=False)
def largest_gaps(version, where: Where, period_from, period_to,
                 by: tuple[str, ...] = DEFAULT_STRATIFIERS,
                 kinds: tuple[str, ...] = ("proportion",)) -> pd.DataFrame:
    return metrics.largest_gaps(by, where=_where(where), period_from=period_from,
                                period_to=period_to, database_url=version[0], kinds=kinds)


@st.cache_data(max_entries=16, show_spinner=False)
def loaded(version) -> dict:
    return store.status(version[0])


@st.cache_data(max_entries=16, show_spinner=False)
def measures(version) -> pd.DataFrame:
    columns = ["measure_id", "name", "kind", "higher_is_better", "unit", "description",
               "cases", "first_period", "last_period"]
    return pd.DataFrame(store.measures_loaded(version[0]), columns=columns)


def measures_shown(version) -> pd.DataFrame:
    """`measures` as a table on a screen may show it: a measure's counted cases from 1 to 10
    hidden (NA), with the complementary cells of the small-cell rule."""
    return privacy.suppress_counts(measures(version), ["cases"])


@st.cache_data(max_entries=64, show_spinner=False)
def group_values(version, stratifier: str) -> list[str]:
    """The groups present in the data for a stratifier, in display order."""
    return metrics.groups_present(stratifier, database_url=version[0])


@st.cache_data(max_entries=16, show_spinner=False)
def completeness(version) -> tuple[float | None, str]:
    """Share of patients with race and ethnicity both recorded, as it may be shown beside
    the patients: (share, bound), a bound when it rests on 1 to 10 patients."""
    return tracker.race_ethnicity_shown(version[0])


@st.cache_data(max_entries=16, show_spinner=False)
def quality_scorecard(version) -> pd.DataFrame:
    return data_quality.scorecard(version[0])


@st.cache_data(max_entries=16, show_spinner=False)
def quality_next_steps(version) -> list[dict]:
    return data_quality.next_steps(version[0])


@st.cache_data(max_entries=64, show_spinner=False)
def completeness_cells(version, field: str) -> pd.DataFrame:
    return data_quality.completeness_by_site_and_month(field, version[0])


def validation_runs(version):
    """The latest stored validation and its comparison with the one before (not cached: a
    run started from the page must show at once)."""
    url = version[0]
    return (data_quality.latest_run(url), data_quality.compare_with_previous(url),
            data_quality.validation_history(url, limit=12))


@st.cache_data(max_entries=64, show_spinner=False)
def egfr_reclassification(version, by: str, period_from, period_to) -> pd.DataFrame:
    """The eGFR reclassification counts as they may be shown (suppressed), with a total row."""
    from metrics import egfr

    table = egfr.reclassification_table(by, period_from, period_to, database_url=version[0])
    return egfr.shown_reclassification(table) if not table.empty else table
