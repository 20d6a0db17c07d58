"""Small-cell suppression: the one rule every count of patients passes on its way to a screen
or a file (docs/methods.md, "Small-cell suppression").

- **Primary**: a cell is hidden when one of its counts is from 1 to 10 (CMS cell-size
  suppression policy): for a proportion its denominator, numerator or non-events
  (denominator - numerator); for a plain count (patients with a missing race, say) the count.
- **Complementary**: a total (a margin) minus the cells shown gives back what is hidden. In
  every margin, more cells are hidden (the smallest shown first) until no hidden cell stands
  alone and the hidden cells together hold no count from 1 to 10. Margins: the whole table,
  and for a crossed table each of its two dimensions; the rule runs until nothing changes.

`suppress` is the function to call; `primary` and `complementary` are its two steps
(`metrics.disparity.primary_suppression` and `complementary_suppression` are these, under
their older names). No pandas object is changed: a boolean mask comes back, True = hidden.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

SMALL_CELL = (1, 10)  # a count in this range is never shown (CMS cell-size policy)
SHOWN_AS = f"<{SMALL_CELL[1] + 1}"  # what a hidden count reads as where a number was due
KINDS = ("proportion", "mean", "count", "rate")


def small(values) -> np.ndarray:
    """True where a count is from 1 to 10; empty (NaN, NA) counts are not small."""
    numbers = pd.to_numeric(pd.Series(np.atleast_1d(values)), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan)
    return (numbers >= SMALL_CELL[0]) & (numbers <= SMALL_CELL[1])


def small_cell(count) -> bool:
    if isinstance(count, int | float | np.integer | np.floating):  # (NaN compares False)
        return bool(SMALL_CELL[0] <= count <= SMALL_CELL[1])
    return bool(small(count)[0])


def share_gives_back(part, total) -> bool:
    """True when the share part / total, read beside its total (the patients on the
    overview, the rows of a check), would give back a count from 1 to 10: the part, the rest
    (total - part) or the total itself."""
    part, total = int(part or 0), int(total or 0)
    return small_cell(part) or small_cell(total - part) or small_cell(total)


def shown_share(part, total) -> tuple[float | None, str]:
    """The share part / total as it may be shown beside its total: (share, "") when no count
    it rests on is small; when the rest (total - part) is 1 to 10, the share with 10 left,
    floored to 0.1 % and read "at least"; when the part is 1 to 10, the share of 10, raised
    to 0.1 % and read "at most" (the same for every small count: nothing is given back, and
    the bound is true); (None, "") when the total is 0 or itself small, or when a bound
    would stand for one count."""
    part, total = int(part or 0), int(total or 0)
    if not total or small_cell(total):
        return None, ""
    if total <= SMALL_CELL[1] + 2 and (small_cell(part) or small_cell(total - part)):
        return None, ""  # 11 or 12: a bound would stand for one count (12 - 11 = 1)
    if small_cell(total - part):
        return math.floor(1000 * (total - SMALL_CELL[1]) / total) / 1000, "at least"
    if small_cell(part):
        return math.ceil(1000 * SMALL_CELL[1] / total) / 1000, "at most"
    return part / total, ""


def _counts(cells: pd.DataFrame, kind: str, denominator: str,
            numerator: str) -> np.ndarray:
    """The counts of each cell whose totals may be known: (denominator, numerator,
    non-events) for a proportion, (cases, events) for a rate, the denominator alone for a mean
    or a count."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    total = pd.to_numeric(cells[denominator]).to_numpy(dtype=float, na_value=np.nan)
    if kind in ("mean", "count"):
        return total.reshape(-1, 1)
    events = pd.to_numeric(cells[numerator]).to_numpy(dtype=float, na_value=np.nan)
    if kind == "rate":  # events and cases (stays); a stay may have several events
        return np.column_stack([total, events])
    return np.column_stack([total, events, total - events])


def primary(cells: pd.DataFrame, kind: str = "proportion", denominator: str = "denominator",
            numerator: str = "numerator") -> np.ndarray:
    """Cells with a count from 1 to 10 (see the module's docstring for which counts)."""
    counts = _counts(cells, kind, denominator, numerator)
    return small(counts.ravel()).reshape(counts.shape).any(axis=1)


def margins_of(cells: pd.DataFrame, names: Sequence[str]) -> list[np.ndarray]:
    """The whole table, and each dimension of a crossed table, as one key per cell."""
    margins = [np.zeros(len(cells), dtype=int)]
    if len(names) > 1:
        margins += [pd.factorize(cells[name])[0] for name in names]
    return margins


def complementary(cells: pd.DataFrame, margins: Sequence[np.ndarray], suppressed: np.ndarray,
                  kind: str = "proportion", denominator: str = "denominator",
                  numerator: str = "numerator") -> np.ndarray:
    """`suppressed` with more cells hidden until no margin gives a hidden count back.

    In a margin that holds hidden cells, the smallest shown cell with cases is hidden while
    exactly one hidden cell has cases, or while the hidden cells' counts add up to 1 to 10
    (total minus shown would be that small count). A key of -1 leaves a cell out of a margin.
    """
    suppressed = np.asarray(suppressed, dtype=bool).copy()
    counts = np.nan_to_num(_counts(cells, kind, denominator, numerator), nan=0.0)
    size = counts[:, 0]
    groups = [[np.flatnonzero(margin == key) for key in np.unique(margin) if key >= 0]
              for margin in (np.asarray(m) for m in margins)]
    changed = True
    while changed:
        changed = False
        for members in (m for margin in groups for m in margin if len(m) > 1):
            hidden = members[suppressed[members]]
            # Hiding an empty cell protects nothing: the next smallest with cases is hidden.
            shown = members[~suppressed[members] & (size[members] > 0)]
            if not len(hidden) or not len(shown):
                continue
            alone = (size[hidden] > 0).sum() == 1
            if alone or small(counts[hidden].sum(axis=0)).any():
                suppressed[shown[np.argmin(size[shown])]] = True
                changed = True
    return suppressed


def suppress(cells: pd.DataFrame, names: Sequence[str] = (), kind: str = "proportion",
             denominator: str = "denominator", numerator: str = "numerator",
             margins: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The cells to hide: primary, then complementary suppression over the margins of the
    table whose dimensions are `names` (or the `margins` given)."""
    margins = margins_of(cells, names) if margins is None else margins
    return complementary(cells, margins, primary(cells, kind, denominator, numerator), kind,
                         denominator, numerator)


def suppress_counts(frame: pd.DataFrame, columns: Sequence[str], within: Sequence[str] = (),
                    totals: Sequence[str] = (), also: np.ndarray | None = None,
                    rows: Sequence[Sequence[str]] = ()) -> pd.DataFrame:
    """`frame` with each count of `columns` from 1 to 10 replaced by NA (a nullable integer
    column), and complementary cells hidden so that no count can be worked out.

    Each column, across the rows, is a margin (its total over the groups can be known),
    taken within each value of the `within` columns when given (e.g. per field). When a row's
    `columns` add up to its count in `totals` (missing + unknown + asked + complete =
    patients), the row is a margin too, and a row whose total is from 1 to 10 is hidden
    whole. `also` (one row per row of `frame`, one column per count) marks more cells for
    primary suppression; `rows` names more groups of columns that add up within a row.
    """
    frame = frame.copy()
    columns = list(columns)
    n = len(frame)
    values = frame[columns].apply(pd.to_numeric).to_numpy(dtype=float, na_value=np.nan)
    long = pd.DataFrame({"count": values.ravel()})  # row-major: cell (i, j) is i * len + j
    row = np.repeat(np.arange(n), len(columns))
    column = np.tile(np.arange(len(columns)), n)
    keys = (frame[list(within)].astype(str).agg(" | ".join, axis=1).to_numpy() if within
            else np.zeros(n, dtype=object))
    margins = [pd.factorize(pd.Series(keys[row]).astype(str) + "\x00" + column.astype(str))[0]]
    hidden_total = np.zeros(n, dtype=bool)
    for total in totals:
        hidden_total |= small(frame[total].to_numpy())
    if totals:
        margins.append(row)
    for group in rows:
        wanted = np.isin(column, [columns.index(name) for name in group])
        margins.append(np.where(wanted, row, -1))
    first = small(values.ravel()) | hidden_total[row]
    if also is not None:
        first |= np.asarray(also, dtype=bool).ravel()
    hidden = complementary(long, margins, first, "count", denominator="count").reshape(
        n, len(columns))
    for total in totals:
        frame[total] = frame[total].astype("Int64").mask(hidden_total)
    for j, name in enumerate(columns):
        frame[name] = frame[name].astype("Int64").mask(hidden[:, j])
    return frame
