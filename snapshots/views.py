"""A view on the dashboard as data: what to compute, and everything an export states about it.

A `View` is a specification (kind, measure, stratifiers, filters, months, reference group),
never numbers: `render(view)` computes its table with `metrics` (which applies small-cell and
complementary suppression), its figure with `charts`, and the `Context` every export prints
(measure, stratifier, filters, reference, period, data as-of date, generated-at time,
suppression, flag rule, methods). Packs store views as JSON and render them again on new data;
frozen snapshots store the numbers of a view so a later meeting can show "since last time".

Nothing here accepts counts from a caller, and `check_safe` re-checks every table before it
leaves: a suppressed row must carry no number and no shown count may be a small cell.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import func, select

import charts
import metrics
from charts.palette import (
    by_label,
    filters_text,
    format_difference,
    format_percent,
    format_period_range,
    format_share,
    stratifier_label,
)
from metrics.aggregate import normal_where
from metrics.disparity import JOIN, UNSTABLE_BELOW
from metrics.privacy import SMALL_CELL
from metrics.strata import stratifier
from store.engine import get_engine
from store.schema import results

KINDS = ("disparity", "share", "trend", "control", "largest_gaps", "phases", "completeness")
KIND_NAMES = {
    "disparity": "groups compared with the reference",
    "share": "shares of patients and of adverse outcomes",
    "trend": "month by month",
    "control": "control chart",
    "largest_gaps": "largest meaningful gaps",
    "phases": "progress through the five phases",
    "completeness": "demographic data recorded",
}
COMPLETENESS_BY = ("site", "period", "payer")
_MEASURE_KINDS = ("disparity", "share", "trend", "control")
_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

FLAG_RULE = (
    "A group is flagged when it is worse than the reference group with p \u2264 0.05 "
    "(two-sided) and a relative difference of at least 10 % in the adverse direction "
    "(AHRQ National Healthcare Quality and Disparities Report rule; Keppel & Pearcy).")
SUPPRESSION_RULE = (
    f"Small-cell suppression (CMS cell-size rule): a group whose cases, events or non-events "
    f"number {SMALL_CELL[0]} to {SMALL_CELL[1]} is hidden, and complementary suppression hides "
    "the next smallest group wherever a hidden count could be worked out from the totals. "
    "Exports always apply it, whatever the screen shows.")
METHODS_NOTE = (
    "Methods: rates with 95 % Wilson score intervals (means: Student t); differences from "
    "the reference with Newcombe's hybrid score interval (means: Welch); ratios with the "
    "Katz log interval; p from the pooled two-proportion z-test (means: Welch's t-test). "
    f"Groups with fewer than {UNSTABLE_BELOW} cases are marked unstable. Missing and unknown "
    "demographics are groups of their own. Full methods: docs/methods.md.")


def methods_sections(state: DataState | None = None) -> list[tuple[str, str]]:
    """The methods slide or page of a pack: (heading, text) pairs."""
    data = "Full methods and references: docs/methods.md."
    if state is not None:
        data = (f"Data as of {state.as_of_text}"
                + (f"; race and ethnicity recorded for {state.completeness_text} "
                   "of patients" if state.completeness is not None else "")
                + ". " + data)
    return [
        ("Rates and intervals",
         "Each group's rate with its 95 % Wilson score interval (means: Student t). Missing "
         "and unknown demographics are groups of their own, shown and counted, never dropped."),
        ("Comparison with the reference group",
         "Difference = group minus reference, with Newcombe's hybrid score interval; ratio "
         "with the Katz log interval; two-sided p from the pooled two-proportion z-test "
         "(means: Welch). The reference is the largest group with a known value unless "
         "another was chosen; automatic choices never pick Missing, Unknown or Asked but no "
         "answer."),
        ("Flag rule", FLAG_RULE),
        ("Small numbers", SUPPRESSION_RULE + f" Groups with fewer than {UNSTABLE_BELOW} cases "
         "are marked unstable: interpret with care."),
        ("Over time",
         "Control charts: p-chart with 3-sigma limits, Laney p\u2032 when monthly "
         "denominators average 1,000 or more; signals are a point beyond a limit and a shift "
         "of 8 or more months on one side of the centre line. Largest gaps are ranked by "
         "excess events; their trend compares the last 6 months with the 6 before."),
        ("Data", data),
    ]


#: Number columns that a suppressed row must leave empty.
GUARDED_COLUMNS = ("denominator", "numerator", "rate", "rate_lower", "rate_upper",
                   "difference", "difference_lower", "difference_upper", "ratio",
                   "ratio_lower", "ratio_upper", "p_value", "lower_limit", "upper_limit",
                   "excess_events")


class UnsafeExport(ValueError):
    """A table about to be exported would show a suppressed or small count: refused."""


# --- the specification --------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """What is on screen, as data. Lists and mappings are normalised to sorted tuples so
    that two equal views compare (and hash) equal.

    kind: "disparity" (dot chart), "share", "trend" (month by month, with the gap),
    "control" (one group's control chart: a goal's run chart), "largest_gaps" (the
    overview's top gaps), "phases" (progress through the five phases) or "completeness"
    (the share of patients with `field` recorded, by site, month or payer).
    """
    kind: str = "disparity"
    measure_id: str | None = None
    by: tuple[str, ...] = ()
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    period_from: str | None = None
    period_to: str | None = None
    reference: str = "largest"
    group: str | None = None  # control: the group charted
    groups: tuple[str, ...] = ()  # trend: the groups drawn (the reference always is)
    show_gap: bool = True  # trend: the lower panel with each group's gap
    top: int = 10  # largest_gaps: how many
    annotations: tuple[tuple[str, str], ...] = ()  # control: (YYYY-MM, text), e.g. a start
    title: str | None = None  # a heading of one's own (packs)
    since_last_time: bool = False  # add the changes since the last frozen snapshot
    field: str = "race"  # completeness: the demographic field

    def __post_init__(self):
        by = self.by
        by = (by,) if isinstance(by, str) else tuple(str(b) for b in (by or ()))
        if self.kind == "completeness" and not by:
            by = ("site",)
        where = normal_where(self.where)
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(
            str(g) for g in (self.groups or ()))
        notes = tuple((str(p), str(t)) for p, t in (self.annotations or ()))
        for name, value in (("by", by), ("where", where), ("groups", groups),
                            ("annotations", notes)):
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown view kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind in _MEASURE_KINDS:
            if not self.measure_id:
                raise ValueError(f"a {self.kind} view needs a measure")
            if not self.by:
                raise ValueError(f"a {self.kind} view needs a stratifier (by)")
        most = 2 if self.kind in ("disparity", "share") else 1
        if self.kind in _MEASURE_KINDS and len(self.by) > most:
            raise ValueError(f"a {self.kind} view takes at most {most} stratifier(s)")
        if len(set(self.by)) != len(self.by):
            raise ValueError("the two stratifiers must differ")
        for name in self.by:
            stratifier(name)
        for name, _values in self.where:
            stratifier(name)
        for bound in (self.period_from, self.period_to):
            if bound is not None and not _PERIOD.fullmatch(str(bound)):
                raise ValueError(f"months are written YYYY-MM, not {bound!r}")
        if self.period_from and self.period_to and self.period_from > self.period_to:
            raise ValueError(f"the first month {self.period_from} is after the last "
                             f"{self.period_to}")
        if not str(self.reference or "").strip():
            raise ValueError("reference must be largest, best, overall or a group's name")
        if self.kind == "completeness":
            from data_quality.completeness import FIELDS

            if len(self.by) != 1 or self.by[0] not in COMPLETENESS_BY:
                raise ValueError("a completeness view is by one of "
                                 f"{', '.join(COMPLETENESS_BY)}")
            if self.field not in FIELDS:
                raise ValueError(f"unknown demographic field {self.field!r}; choose one of "
                                 f"{', '.join(FIELDS)}")
            if self.where or self.period_from or self.period_to:
                raise ValueError("a completeness view covers every patient seen: it takes no "
                                 "filters and no months")
        if self.kind == "control" and not self.group:
            raise ValueError("a control view needs the group to chart")
        if not 1 <= int(self.top) <= 50:
            raise ValueError("top must be between 1 and 50")
        for period, _text in self.annotations:
            if not _PERIOD.fullmatch(period):
                raise ValueError(f"annotation months are written YYYY-MM, not {period!r}")

    @property
    def where_dict(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.where}

    def to_dict(self) -> dict:
        """A JSON-ready dict; `View.from_dict` reads it back."""
        out = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "where":
                value = self.where_dict
            elif spec.name == "annotations":
                value = [list(pair) for pair in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[spec.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> View:
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown view field(s): {', '.join(unknown)}")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> View:
        return cls.from_dict(json.loads(text))

    @classmethod
    def for_goal(cls, goal: Mapping, interventions: Sequence[Mapping] = ()) -> View:
        """A goal's run chart: the control chart of the goal's group for its measure, with
        its filters and reference group, and a labelled line where each intervention
        started. `goal` and `interventions` are the tracker's records (dicts with
        measure_id, stratifier, group_name, reference_group, filters, title; name,
        start_date)."""
        where = goal.get("filters") or {}
        if isinstance(where, str):
            where = json.loads(where or "{}")
        notes = []
        for item in interventions:
            start = item.get("start_date")
            month = start.strftime("%Y-%m") if hasattr(start, "strftime") else str(start)[:7]
            notes.append((month, f"{item.get('name', 'Intervention')} started"))
        return cls("control", goal["measure_id"], goal["stratifier"], where=where,
                   reference=goal.get("reference_group") or "largest",
                   group=goal["group_name"], annotations=tuple(notes),
                   title=f"Goal: {goal['title']}" if goal.get("title") else None)

    def label(self, measure_names: Mapping[str, str] | None = None) -> str:
        """A short name for agendas and audit rows; with `measure_names` (id -> name), the
        measure's name instead of its id."""
        if self.title:
            return self.title
        if self.kind == "largest_gaps":
            return f"Largest meaningful gaps (top {self.top})"
        if self.kind == "phases":
            return "Progress through the five phases"
        if self.kind == "completeness":
            return f"{_field_label(self.field)} recorded, by {by_label(list(self.by))}"
        measure = (measure_names or {}).get(self.measure_id, self.measure_id)
        what = f"{measure} by {by_label(list(self.by))}"
        if self.kind == "control":
            return f"{what}: {self.group}, control chart"
        return f"{what} ({KIND_NAMES[self.kind]})"


# --- what every export states -------------------------------------------------------------

@dataclass(frozen=True)
class DataState:
    """The loaded data at render time: last import (the as-of date) and completeness."""
    batch_id: int | None
    as_of: datetime | None
    # Share of patients with race and ethnicity recorded, as it may be shown
    # (`tracker.race_ethnicity_shown`): a bound when it rests on 1 to 10 patients.
    completeness: float | None
    completeness_bound: str = ""

    @property
    def completeness_text(self) -> str:
        return format_share(self.completeness, self.completeness_bound)

    @property
    def as_of_text(self) -> str:
        if self.as_of is None:
            return "no import recorded"
        return f"{stamp(self.as_of)} (import batch {self.batch_id})"


def data_state(database_url: str | None = None) -> DataState:
    import tracker
    from snapshots.schema import last_import

    loaded = last_import(database_url)
    return DataState(loaded["batch_id"] if loaded else None,
                     loaded["as_of"] if loaded else None,
                     *tracker.race_ethnicity_shown(database_url))


def stamp(moment: datetime) -> str:
    """'2026-11-24 10:05 UTC'."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Context:
    """The facts every export states, as (label, text) items plus the footnote."""
    title: str
    subtitle: str
    items: tuple[tuple[str, str], ...]
    methods: str = METHODS_NOTE
    flag_rule: str = FLAG_RULE
    suppression_rule: str = SUPPRESSION_RULE

    def get(self, label: str) -> str:
        return dict(self.items).get(label, "")

    def lines(self) -> list[str]:
        return [f"{label}: {text}" for label, text in self.items]


@dataclass
class Rendered:
    """A view computed on the current data: the figure, the (suppressed) table it draws, the
    context, the summary in words, and the changes since the last frozen snapshot."""
    view: View
    figure: go.Figure
    table: pd.DataFrame
    context: Context
    summary: str
    state: DataState
    generated_at: datetime
    changes: pd.DataFrame | None = None
    captions: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.context.title

    def assert_safe(self) -> None:
        check_safe(self.table)
        if self.changes is not None:
            check_changes_safe(self.changes)


def check_safe(table: pd.DataFrame) -> None:
    """Refuse (`UnsafeExport`) a table in which a suppressed row carries a number or a shown
    row carries a small count (1 to 10 cases, events or non-events)."""
    if table is None or table.empty:
        return
    guarded = [c for c in GUARDED_COLUMNS if c in table.columns]
    if "suppressed" in table.columns:
        hidden = table["suppressed"].fillna(False).astype(bool).to_numpy()
        for column in guarded:
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
            leaking = hidden & ~pd.isna(values)
            if leaking.any():
                raise UnsafeExport(
                    f"refused: {int(leaking.sum())} suppressed row(s) carry a value in "
                    f"{column!r}; exports show suppressed groups by name only")
        if "flagged" in table.columns and (hidden & table["flagged"].fillna(False)
                                           .astype(bool).to_numpy()).any():
            raise UnsafeExport("refused: a suppressed row is flagged")
        shown = ~hidden
    else:
        shown = pd.Series(True, index=table.index).to_numpy()
    kind = table.attrs.get("kind", "proportion")
    counts = []
    if "denominator" in table.columns:
        denominator = pd.to_numeric(table["denominator"], errors="coerce")
        counts.append(("cases", denominator))
        if "numerator" in table.columns and kind != "mean":
            numerator = pd.to_numeric(table["numerator"], errors="coerce")
            counts += [("events", numerator), ("non-events", denominator - numerator)]
    for name, values in counts:
        small = shown & values.between(SMALL_CELL[0], SMALL_CELL[1]).fillna(False).to_numpy()
        if small.any():
            raise UnsafeExport(f"refused: {int(small.sum())} shown row(s) have {name} from "
                               f"{SMALL_CELL[0]} to {SMALL_CELL[1]}")


def check_changes_safe(changes: pd.DataFrame) -> None:
    """Refuse a "since last time" table in which a side that was suppressed carries a
    number, or a change is given for a group suppressed on either side."""
    if changes is None or changes.empty:
        return
    for side in ("then", "now"):
        hidden = changes[f"suppressed_{side}"].fillna(False).astype(bool)
        for column in (f"rate_{side}", f"difference_{side}", "change"):
            if (hidden & changes[column].notna()).any():
                raise UnsafeExport(f"refused: a group suppressed {side} carries {column!r}")


# --- computing a view ---------------------------------------------------------------------

def render(view: View, database_url: str | None = None, *, state: DataState | None = None,
           generated_at: datetime | None = None) -> Rendered:
    """Compute a view on the current data: table (via `metrics`, suppressed), figure (via
    `charts`), context and summary. Refuses (`UnsafeExport`) a table that would leak a
    suppressed count, and a measure view without any counted case (`ValueError`)."""
    state = state or data_state(database_url)
    generated_at = generated_at or datetime.now(UTC)
    table, figure = _compute(view, database_url)
    check_safe(table)
    context = _context(view, table, figure, state, generated_at, database_url)
    changes = since_last_time(view, database_url) if view.since_last_time else None
    rendered = Rendered(view=view, figure=figure, table=table, context=context,
                        summary=charts.describe(figure), state=state,
                        generated_at=generated_at, changes=changes,
                        captions=charts.captions(figure))
    rendered.assert_safe()
    return rendered


def _compute(view: View, url: str | None) -> tuple[pd.DataFrame, go.Figure]:
    where = view.where_dict
    if view.kind in ("disparity", "share"):
        table = metrics.stratify(view.measure_id, list(view.by), where, view.period_from,
                                 view.period_to, view.reference, database_url=url)
        _require_cases(table, view)
        if view.kind == "share":
            return table, charts.share_chart(table)
        return table, charts.disparity_dot_chart(
            table, list_suppressed=len(view.by) == 1 or len(table) <= 24)
    if view.kind in ("trend", "control"):
        frame = metrics.over_time(view.measure_id, view.by[0], where, view.period_from,
                                  view.period_to, view.reference, database_url=url)
        _require_cases(frame, view)
        column = view.by[0]
        frame = hide_months_of_hidden_groups(frame, metrics.stratify(
            view.measure_id, [column], where, view.period_from, view.period_to,
            view.reference, database_url=url), column)
        if view.kind == "control":
            present = set(frame[column].astype(str))
            if view.group not in present:
                raise ValueError(f"group {view.group!r} has no counted case for this view; "
                                 f"groups: {', '.join(sorted(present))}")
            figure = charts.control_chart(frame, view.group, list(view.annotations) or None)
            table = frame[frame[column].astype(str) == view.group].reset_index(drop=True)
            table.attrs.update(frame.attrs)
            return table, figure
        groups = list(view.groups) or None
        figure = charts.trend_chart(frame, groups, view.show_gap)
        if groups:
            keep = set(groups) | {str(frame.attrs.get("reference_group"))}
            table = frame[frame[column].astype(str).isin(keep)].reset_index(drop=True)
            table.attrs.update(frame.attrs)
            return table, figure
        return frame, figure
    if view.kind == "completeness":
        table = completeness_table(view.field, view.by[0], url)
        if table.empty:
            raise ValueError("no patients are loaded: nothing to show")
        return table, charts.completeness_chart(table, view.field, view.by[0],
                                                table.attrs["target_percent"])
    if view.kind == "largest_gaps":
        gaps = largest_gaps(where, view.period_from, view.period_to, view.reference, url)
        table = gaps.head(view.top).reset_index(drop=True)
        table.attrs.update({"where": where, "period_from": view.period_from,
                            "period_to": view.period_to, "flagged_total": len(gaps),
                            "reference": view.reference})
        return table, charts.largest_gaps_chart(gaps, view.top)
    import tracker

    phases = tracker.phase_progress(url)
    shown = [{"name": p["name"], "percent": p["percent"],
              "detail": f"{sum(i['done'] for i in p['items'])} of {len(p['items'])} items"}
             for p in phases]
    table = pd.DataFrame({
        "phase": [p["name"] for p in phases],
        "percent": [float(p["percent"]) for p in phases],
        "items_done": [sum(i["done"] for i in p["items"]) for p in phases],
        "items": [len(p["items"]) for p in phases],
    })
    table.attrs["phases"] = phases
    return table, charts.phase_progress_chart(shown)


def _field_label(field: str) -> str:
    return "Birth year" if field == "birth_year" else stratifier_label(field)


def completeness_table(field: str, by: str, url: str | None) -> pd.DataFrame:
    """Patients seen per site, month or payer (denominator), those with `field` recorded
    with a known value (numerator) and their share (rate), with the same primary and
    complementary small-cell suppression as every measure: a group of 1 to 10 patients, or
    with 1 to 10 known or not known, is shown by name only."""
    import numpy as np

    from data_quality.completeness import completeness_counts
    from data_quality.suites import THRESHOLDS
    from metrics import privacy

    found = completeness_counts(by, url, fields=(field,))
    table = pd.DataFrame({
        by: found["group"].astype(str),
        "denominator": found["patients"].astype("int64"),
        "numerator": (found["patients"] - found["missing"] - found["unknown"]
                      - found["asked_but_no_answer"]).astype("int64"),
    })
    hidden = privacy.suppress(table, [by])
    table["rate"] = np.where(hidden, np.nan, table["numerator"] / table["denominator"])
    for column in ("denominator", "numerator"):
        table[column] = table[column].astype("Int64").mask(hidden)
    table["suppressed"] = hidden
    table.attrs.update({"kind": "proportion", "field": field, "by": by,
                        "target_percent": 100 * THRESHOLDS[f"complete.{field}"],
                        "measure_name": f"{_field_label(field)} recorded"})
    return table


def hide_months_of_hidden_groups(frame: pd.DataFrame, whole: pd.DataFrame,
                                 column: str) -> pd.DataFrame:
    """Hide every month of a group that is suppressed over the whole period.

    `metrics.over_time` suppresses each month's cells on their own. A group hidden over the
    whole period only by complementary suppression can have every month shown, and its
    months then add up to the total that was hidden (and, with the table's total, give back
    the small group it protects). Exports hide such a group's months too."""
    hidden = set(whole.loc[whole["suppressed"].astype(bool), column].astype(str))
    rows = frame[column].astype(str).isin(hidden).to_numpy() & ~frame["suppressed"].astype(
        bool).to_numpy()
    if not rows.any():
        return frame
    frame = frame.copy()
    numbers = [c for c in GUARDED_COLUMNS if c in frame.columns]
    for name in numbers:
        if name in ("denominator", "numerator"):
            frame[name] = frame[name].astype("Int64")
            frame.loc[rows, name] = pd.NA
        else:
            frame.loc[rows, name] = math.nan
    frame.loc[rows, "suppressed"] = True
    for name in ("flagged", "beyond_limits", "shift", "is_reference"):
        if name in frame.columns:
            frame.loc[rows, name] = False
    if "centre" in frame.columns:
        frame.loc[frame[column].astype(str).isin(hidden), "centre"] = math.nan
    frame.attrs.update(whole.attrs | frame.attrs)
    return frame


def largest_gaps(where, period_from, period_to, reference, url, workers: int = 2
                 ) -> pd.DataFrame:
    """`metrics.largest_gaps()` over its default stratifiers, one stratifier per task in
    `workers` threads (each stratifier's SQL runs in the database while another's
    statistics run in Python), concatenated in the same order and sorted by the same call,
    so the table is the one `metrics.largest_gaps()` returns."""
    from concurrent.futures import ThreadPoolExecutor

    from metrics.ranking import DEFAULT_STRATIFIERS

    def one(name: str) -> pd.DataFrame:
        return metrics.largest_gaps(by=[name], where=where, period_from=period_from,
                                    period_to=period_to, reference=reference, database_url=url)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot-gaps") as pool:
        parts = list(pool.map(one, DEFAULT_STRATIFIERS))
    parts = [part for part in parts if not part.empty]
    if not parts:
        return one(DEFAULT_STRATIFIERS[0]).iloc[0:0]
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values("excess_events", ascending=False, ignore_index=True)


def _require_cases(table: pd.DataFrame, view: View) -> None:
    if table.empty:
        raise ValueError(f"no counted cases for {view.label()} with these filters and months")


def _context(view: View, table: pd.DataFrame, figure: go.Figure, state: DataState,
             generated_at: datetime, url: str | None) -> Context:
    attrs = table.attrs
    title_block = figure.layout.title
    title = view.title or (title_block.text if title_block and title_block.text else
                           view.label())
    subtitle = ""
    if title_block is not None and title_block.subtitle is not None:
        subtitle = title_block.subtitle.text or ""
    items: list[tuple[str, str]] = []
    if view.kind in _MEASURE_KINDS:
        direction = "higher is better" if attrs.get("higher_is_better") else "lower is better"
        items.append(("Measure", f"{attrs.get('measure_name', view.measure_id)} "
                                 f"({view.measure_id}; {direction})"))
        strat = " \u00d7 ".join(stratifier_label(name) for name in view.by)
        if view.kind == "control":
            strat += f"; group: {view.group}"
        items.append(("Stratifier", strat))
    elif view.kind == "largest_gaps":
        from metrics.ranking import DEFAULT_STRATIFIERS

        items.append(("Measure", "every proportion measure"))
        items.append(("Stratifier", by_label(list(DEFAULT_STRATIFIERS)).replace(
            " and ", ", ").capitalize() + " (each alone)"))
    elif view.kind == "completeness":
        items.append(("Measure", f"{_field_label(view.field)} recorded with a known value "
                                 "(Unknown and Asked but no answer count as not known); "
                                 f"target {attrs.get('target_percent', 0):.0f} %"))
        items.append(("Stratifier", by_label(list(view.by)).capitalize()
                      + " where the patients were seen"))
    else:
        items.append(("Measure", "not applicable (checklist of the five phases)"))
        items.append(("Stratifier", "not applicable"))
    items.append(("Filters", filters_text(view.where_dict) or "none (all sites, all patients)"))
    if view.kind == "completeness":
        items[-1] = ("Filters", "none: every patient with at least one result")
    items.append(("Reference group", _reference_words(view, attrs)))
    items.append(("Period", _period_words(view, table, url)))
    items.append(("Data as of", state.as_of_text))
    items.append(("Generated", stamp(generated_at)))
    items.append(("Suppression", _suppression_words(view, table)))
    items.append(("Flag rule", "not applicable (no comparison between groups)"
                  if view.kind == "completeness" else
                  "p \u2264 0.05 and at least 10 % worse than the reference in "
                  "relative terms, adverse direction (AHRQ)"))
    if state.completeness is not None:
        items.append(("Race and ethnicity recorded",
                      f"{state.completeness_text} of patients"))
    return Context(title=title, subtitle=subtitle, items=tuple(items))


def _reference_words(view: View, attrs: Mapping) -> str:
    if view.kind in ("phases", "completeness"):
        return "not applicable"
    how = view.reference
    if view.kind == "largest_gaps":
        return {"largest": "in each table, the largest group with a known value",
                "best": "in each table, the best-performing group",
                "overall": "in each table, all groups together"}.get(how, how)
    group = attrs.get("reference_group")
    if how == "overall" or group == "Overall":
        return "all groups together (overall rate)"
    if group is None:
        return f"none available ({how}: no shown group qualifies)"
    detail = {"largest": "the largest group with a known value",
              "best": "the best-performing group"}.get(how, "chosen by name")
    return f"{group} ({detail})"


def _period_words(view: View, table: pd.DataFrame, url: str | None) -> str:
    if view.kind == "phases":
        return "current status"
    if view.kind == "completeness" and view.by[0] != "period":
        with get_engine(url).connect() as conn:
            first, last = conn.execute(select(func.min(results.c.period),
                                              func.max(results.c.period))).one()
        return f"all months loaded ({format_period_range(first, last)})"
    if view.period_from and view.period_to:
        return format_period_range(view.period_from, view.period_to)
    first, last = view.period_from, view.period_to
    if "period" in table.columns and len(table):
        periods = sorted(table["period"].astype(str))
        first, last = first or periods[0], last or periods[-1]
    elif view.measure_id:
        with get_engine(url).connect() as conn:
            chosen = results.c.measure_id == view.measure_id
            first = first or conn.execute(select(func.min(results.c.period))
                                          .where(chosen)).scalar()
            last = last or conn.execute(select(func.max(results.c.period))
                                        .where(chosen)).scalar()
    words = format_period_range(first, last)
    if not (view.period_from or view.period_to):
        return f"all months ({words})" if first or last else "all months"
    return words


def _suppression_words(view: View, table: pd.DataFrame) -> str:
    rule = f"applied (counts of {SMALL_CELL[0]} to {SMALL_CELL[1]} and complementary)"
    if view.kind == "phases":
        return "no patient counts in this view"
    if view.kind == "largest_gaps":
        return f"{rule}; only shown, flagged groups are ranked"
    if "suppressed" not in table.columns or table.empty:
        return rule
    hidden = int(table["suppressed"].astype(bool).sum())
    if view.kind in ("trend", "control"):
        return f"{rule}: {hidden} of {len(table)} group-months hidden"
    return f"{rule}: {hidden} of {len(table)} groups hidden"


# --- frozen snapshots and "since last time" -----------------------------------------------

def _family(view: View) -> str:
    return {"largest_gaps": "gaps", "phases": "phases",
            "completeness": "completeness"}.get(view.kind, "groups")


def match_key(view: View) -> str:
    """What makes two views "the same" for since-last-time: family, measure, stratifiers,
    filters and reference choice (not the months, which move between meetings)."""
    family = _family(view)
    key = {"family": family, "where": view.where_dict, "reference": view.reference}
    if family == "groups":
        key.update(measure_id=view.measure_id, by=list(view.by))
    return json.dumps(key, sort_keys=True)


def _frozen_rows(view: View, url: str | None) -> tuple[list[dict], dict]:
    """The rows a snapshot of this view stores, and facts about the table."""
    family = _family(view)
    if family == "completeness":
        raise ValueError("numbers of a completeness view are not saved yet: its changes "
                         "show on the Data quality page's history of checks")
    if family == "groups":
        table = metrics.stratify(view.measure_id, list(view.by), view.where_dict,
                                 view.period_from, view.period_to, view.reference,
                                 database_url=url)
        _require_cases(table, view)
        check_safe(table)
        labels = [JOIN.join(map(str, values)) for values in
                  zip(*(table[name] for name in view.by))]
        rows = []
        for label, record in zip(labels, table.to_dict("records")):
            record.update(stratifier="|".join(view.by), group_label=label,
                          measure_id=view.measure_id,
                          reference_group=table.attrs.get("reference_group"))
            rows.append(record)
        return rows, dict(table.attrs)
    if family == "gaps":
        gaps = largest_gaps(view.where_dict, view.period_from, view.period_to,
                            view.reference, url)
        check_safe(gaps)
        rows = [{**record, "group_label": record["group"], "is_reference": False,
                 "flagged": True, "suppressed": False}
                for record in gaps.to_dict("records")]
        return rows, {"reference_group": None}
    import tracker

    rows = [{"stratifier": "phase", "group_label": p["name"], "rate": p["percent"] / 100,
             "is_reference": False, "flagged": False, "suppressed": False, "unstable": False}
            for p in tracker.phase_progress(url)]
    return rows, {"reference_group": None}


def freeze(view: View, database_url: str | None = None, actor: str = "unknown",
           label: str | None = None) -> int:
    """Store the view's numbers (after suppression) with its filters, months, the data's
    as-of date and the share of patients with race and ethnicity recorded. Returns the
    snapshot id; the audit log gets a `snapshot_freeze` row."""
    from store import access

    access.require("export")
    from snapshots.schema import now, record_audit, store_snapshot

    state = data_state(database_url)
    rows, facts = _frozen_rows(view, database_url)
    header = {
        "created_at": now(), "actor": str(actor)[:200], "label": label, "kind": view.kind,
        "match_key": match_key(view), "view": view.to_json(),
        "period_from": view.period_from, "period_to": view.period_to,
        "reference_group": facts.get("reference_group"), "data_batch_id": state.batch_id,
        "data_as_of": state.as_of, "completeness": state.completeness,
    }
    snapshot_id = store_snapshot(header, rows, database_url)
    record_audit("snapshot_freeze", actor, {
        "snapshot_id": snapshot_id, "view": view.to_dict(), "label": label,
        "rows": len(rows), "data_batch_id": state.batch_id}, database_url)
    return snapshot_id


def since_last_time(view: View, database_url: str | None = None,
                    snapshot_id: int | None = None) -> pd.DataFrame | None:
    """Each group's gap then (the last frozen snapshot of the same view, or `snapshot_id`)
    and now, and the change; None when nothing was frozen. `attrs` say when the snapshot
    was taken, on which data, and the completeness then and now.

    Columns: measure_id, stratifier, group, rate_then, rate_now, difference_then,
    difference_now, change, flagged_then, flagged_now, suppressed_then, suppressed_now,
    status (in words). Each side shows only what its own table showed. A gap
    "narrowed" when the group's adverse difference from its reference shrank; this is a
    description, not a test.
    """
    from snapshots.schema import snapshot_header, snapshot_list, snapshot_rows_frame

    if snapshot_id is None:
        found = snapshot_list(database_url, match_key=match_key(view), limit=1)
        if not found:
            return None
        header = found[0]
    else:
        header = snapshot_header(snapshot_id, database_url)
        if header["match_key"] != match_key(view):
            raise ValueError(f"snapshot {snapshot_id} is of another view")
    then = snapshot_rows_frame(header["snapshot_id"], database_url)
    now_rows, facts = _frozen_rows(view, database_url)
    now = pd.DataFrame(now_rows)
    state = data_state(database_url)
    directions, kind, unit = _directions(view, facts, now, database_url)

    keys = ["measure_id", "stratifier", "group_label"]
    for frame in (then, now):
        for column in keys:
            if column not in frame.columns:
                frame[column] = None
        frame["measure_id"] = frame["measure_id"].astype(object).where(
            frame["measure_id"].notna(), "")
    wanted = ["rate", "difference", "flagged", "suppressed", "is_reference"]
    for frame in (then, now):
        for column in wanted:
            if column not in frame.columns:
                frame[column] = None
    then = then.assign(order=range(len(then)))
    now = now.assign(order=range(len(now)))
    merged = then[keys + wanted + ["order"]].merge(
        now[keys + wanted + ["order"]], on=keys, how="outer", suffixes=("_then", "_now"),
        indicator=True)
    # Today's order (the table as shown now), then the groups that are gone, in their order.
    merged["position"] = merged["order_now"].fillna(len(now) + merged["order_then"])
    merged = merged.sort_values("position", kind="stable")
    records = []
    for row in merged.to_dict("records"):
        higher = directions.get(row["measure_id"], True)
        records.append(_change_row(row, view, higher, kind, unit))
    changes = pd.DataFrame(records, columns=[
        "measure_id", "stratifier", "group", "rate_then", "rate_now", "difference_then",
        "difference_now", "change", "flagged_then", "flagged_now", "suppressed_then",
        "suppressed_now", "status"])
    changes.attrs.update({
        "snapshot_id": header["snapshot_id"], "frozen_at": header["created_at"],
        "frozen_by": header["actor"], "label": header["label"],
        "data_as_of_then": header["data_as_of"], "data_batch_then": header["data_batch_id"],
        "data_as_of_now": state.as_of, "data_batch_now": state.batch_id,
        "period_then": format_period_range(header["period_from"], header["period_to"]),
        "period_now": format_period_range(view.period_from, view.period_to),
        "completeness_then": header["completeness"], "completeness_now": state.completeness,
        "completeness_bound_now": state.completeness_bound,
        "completeness_change": None if header["completeness"] is None
        or state.completeness is None else state.completeness - header["completeness"],
        "kind": kind, "unit": unit, "family": _family(view),
    })
    return changes


def _directions(view: View, facts: Mapping, now: pd.DataFrame,
                url: str | None) -> tuple[dict, str, str]:
    family = _family(view)
    if family == "groups":
        return ({view.measure_id: bool(facts.get("higher_is_better", True))},
                facts.get("kind", "proportion"), facts.get("unit") or "%")
    if family == "gaps":
        from store.schema import measures

        with get_engine(url).connect() as conn:
            catalog = {r.measure_id: bool(r.higher_is_better) for r in conn.execute(
                select(measures.c.measure_id, measures.c.higher_is_better))}
        return catalog, "proportion", "%"
    return {}, "proportion", "%"


def _change_row(row: dict, view: View, higher: bool, kind: str, unit: str) -> dict:
    def number(value):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(value) else value

    family = _family(view)
    then_hidden, now_hidden = _flag(row["suppressed_then"]), _flag(row["suppressed_now"])
    # Each side shows what its own table showed: nothing of a side that was suppressed.
    rate_then = None if then_hidden else number(row["rate_then"])
    rate_now = None if now_hidden else number(row["rate_now"])
    diff_then = None if then_hidden else number(row["difference_then"])
    diff_now = None if now_hidden else number(row["difference_now"])
    presence = row["_merge"]
    if family == "phases":
        change = None if rate_then is None or rate_now is None else rate_now - rate_then
        status = ("new phase" if presence == "right_only" else "phase removed"
                  if presence == "left_only" else "no change" if not change else
                  f"{'up' if change > 0 else 'down'} {abs(change) * 100:.0f} points")
        diff_then, diff_now = None, None
    else:
        change = None if diff_then is None or diff_now is None else diff_now - diff_then
        status = _status_words(presence, then_hidden, now_hidden, row, change, higher, kind,
                               unit, family)
    return {
        "measure_id": row["measure_id"] or None, "stratifier": row["stratifier"],
        "group": row["group_label"], "rate_then": rate_then, "rate_now": rate_now,
        "difference_then": diff_then, "difference_now": diff_now, "change": change,
        "flagged_then": _flag(row["flagged_then"]), "flagged_now": _flag(row["flagged_now"]),
        "suppressed_then": then_hidden, "suppressed_now": now_hidden, "status": status,
    }


def _flag(value) -> bool:
    return bool(value) if value is not None and not pd.isna(value) else False


def _status_words(presence, then_hidden, now_hidden, row, change, higher, kind, unit,
                  family) -> str:
    if presence == "right_only":
        return "newly flagged" if family == "gaps" else (
            "new group, suppressed" if now_hidden else "new group")
    if presence == "left_only":
        return "no longer flagged" if family == "gaps" else "no longer present"
    if then_hidden or now_hidden:
        return ("suppressed then and now" if then_hidden and now_hidden else
                "suppressed then" if then_hidden else "suppressed now")
    if _flag(row.get("is_reference_now")) or _flag(row.get("is_reference_then")):
        return "reference group"
    if change is None:
        return "no comparison"
    adverse_change = -change if higher else change
    magnitude = format_difference(abs(change), kind, unit, signed=False)
    if magnitude.startswith("0") and float(magnitude.split()[0].replace(",", "")) == 0:
        return "no change"
    return f"gap {'wider' if adverse_change > 0 else 'narrower'} by {magnitude}"


def change_lines(changes: pd.DataFrame, limit: int = 12) -> list[str]:
    """'Black or African American: gap -15.0 points -> -5.0 points (gap narrower by 10.0
    points)', one line per group; a suppressed side reads "suppressed"."""
    if changes is None or changes.empty:
        return []
    kind, unit = changes.attrs.get("kind", "proportion"), changes.attrs.get("unit", "%")
    family = changes.attrs.get("family")
    lines = []
    for row in changes.to_dict("records")[:limit]:
        who = row["group"] if family != "gaps" else (
            f"{row['measure_id']} \u00b7 {stratifier_label(row['stratifier'])}: {row['group']}")
        if family == "phases":
            then, now = (("n/a" if pd.isna(row[c]) else f"{row[c] * 100:.0f} %")
                         for c in ("rate_then", "rate_now"))
            lines.append(f"{who}: {then} \u2192 {now} ({row['status']})")
            continue
        if row["status"] == "reference group":
            lines.append(f"{who}: reference group")
            continue
        then, now = (
            "suppressed" if row[f"suppressed_{side}"] else
            "none" if pd.isna(row[f"difference_{side}"]) else
            format_difference(row[f"difference_{side}"], kind, unit)
            for side in ("then", "now"))
        if row["status"].startswith(("new group", "newly flagged")):
            lines.append(f"{who}: {row['status']}; gap now {now}")
        elif row["status"] in ("no longer present", "no longer flagged"):
            lines.append(f"{who}: {row['status']}; gap then {then}")
        else:
            lines.append(f"{who}: gap {then} \u2192 {now} ({row['status']})")
    if len(changes) > limit:
        lines.append(f"... and {len(changes) - limit} more (see the table export)")
    return lines


def changes_heading(changes: pd.DataFrame) -> str:
    """'Since last time (snapshot 3, frozen 2026-10-01 09:00 UTC on data of ...)'."""
    attrs = changes.attrs
    parts = [f"Since last time: snapshot {attrs.get('snapshot_id')}"]
    if attrs.get("frozen_at"):
        parts.append(f"frozen {stamp(attrs['frozen_at'])}")
    if attrs.get("data_as_of_then"):
        parts.append(f"data as of {stamp(attrs['data_as_of_then'])}")
    then, now = attrs.get("completeness_then"), attrs.get("completeness_now")
    words = ", ".join(parts)
    if then is not None and now is not None:
        words += (f". Race and ethnicity recorded: {format_percent(then)} \u2192 "
                  f"{format_share(now, attrs.get('completeness_bound_now', ''))}")
    return words


# --- convenience --------------------------------------------------------------------------

def with_period(view: View, period_from: str | None, period_to: str | None) -> View:
    """The same view over other months (e.g. a pack rolled forward)."""
    return replace(view, period_from=period_from, period_to=period_to)




# --- what leaves: files -------------------------------------------------------------------

MIME_TYPES = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class Export:
    """A finished export: a safe file name, its MIME type and its bytes (what a download
    button or the command line writes)."""
    filename: str
    mime: str
    data: bytes


def safe_filename(*parts, ext: str | None = None, limit: int = 120) -> str:
    """A file name of ASCII letters, digits, '-', '_' and one '.' before the extension:
    accents are dropped, anything else becomes '-', never empty, never a reserved device
    name (CON, NUL, ...), never hidden (a leading dot)."""
    cleaned = []
    for part in parts:
        if part is None:
            continue
        ascii_text = unicodedata.normalize("NFKD", str(part)).encode("ascii", "ignore").decode()
        word = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", ascii_text)).strip("-_")
        if word:
            cleaned.append(word)
    name = "_".join(cleaned)[:limit].strip("-_") or "export"
    if name.split("_")[0].upper() in _RESERVED or name.upper() in _RESERVED:
        name = f"export_{name}"
    if ext is not None:
        extension = _UNSAFE.sub("", str(ext).lstrip(".")).lower()
        return f"{name}.{extension}" if extension else name
    return name


def file_name(view: View, fmt: str, moment: datetime) -> str:
    """e.g. 'disparity_cbp_race_20261124-1005.pdf'."""
    parts: list = [view.kind, view.measure_id, "-".join(view.by) or None]
    if view.kind == "control":
        parts.append(view.group)
    if view.kind == "completeness":
        parts.append(view.field)
    if view.where:
        parts.append("filtered")
    parts.append(moment.astimezone(UTC).strftime("%Y%m%d-%H%M"))
    return safe_filename(*parts, ext=fmt)


def default_actor() -> str:
    """Who is exporting when nobody said: the signed-in user (`store.access`), else the local
    operator (EQUITY_ACTOR or the operating-system user)."""
    from store import access

    return access.current_user().label


__all__ = [
    "FLAG_RULE", "KINDS", "METHODS_NOTE", "SUPPRESSION_RULE", "Context", "DataState",
    "Rendered", "UnsafeExport", "View", "change_lines", "changes_heading", "check_safe",
    "check_changes_safe",
    "data_state", "freeze", "match_key", "render", "since_last_time", "stamp",
    "with_period", "Export", "MIME_TYPES", "default_actor", "file_name", "safe_filename",
    "methods_sections",
]
