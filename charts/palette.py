"""One palette, one way of writing numbers, one house style for every chart and export.

Colours: the Okabe–Ito palette (Okabe & Ito, *Color Universal Design*, 2008), safe for the
common forms of colour-vision deficiency. A group keeps its colour on every chart: known
groups take the colour of their position in the stratifier's order (`metrics.strata`),
free-text groups (languages, sites) a colour chosen by a stable hash of their name, and the
not-known groups (Missing, Unknown, Asked but no answer) fixed greys. Ordered stratifiers
(age group, ADI decile) take steps of the cividis scale, which keeps their order visible and
is itself colour-vision-deficiency safe. Colour is never the only cue: charts also label
groups and mark flagged or unstable ones by shape and text.

Numbers: `format_rate`, `format_difference`, `format_count`, `format_p_value` and
`format_period` are the one place where the dashboard, its charts and its exports turn
numbers into text ("45.0 %", "241 per 10,000", "132.4 mmHg", "2,362"). All of them write
plain Latin-1 text, so a PDF made with a core font can print them.
"""
from __future__ import annotations

import math
import re
import textwrap
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from metrics.disparity import JOIN, SMALL_CELL, UNSTABLE_BELOW, UNSTABLE_EVENTS_BELOW
from metrics.privacy import SHOWN_AS, small_cell
from metrics.strata import STRATIFIERS
from store.vocabulary import ASKED_NO_ANSWER, MISSING, NOT_KNOWN_GROUPS, UNKNOWN

# --- colours ------------------------------------------------------------------------------

#: Okabe–Ito, most distinct first: blue, orange, bluish green, vermillion, reddish purple,
#: sky blue, yellow, black.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
#: Not-known groups: greys, darkest for Missing (the most common).
NOT_KNOWN_COLOURS = {MISSING: "#666666", UNKNOWN: "#8C8C8C", ASKED_NO_ANSWER: "#ADADAD"}
#: Cividis steps for ordered stratifiers (stops short of its palest yellow).
CIVIDIS = ("#00224E", "#10336C", "#31446D", "#4D566D", "#646770", "#7A7975", "#928C77",
           "#AAA072", "#C4B468", "#DFCA57")
NEUTRAL = "#444444"  # reference lines, error bars, centre lines
LIGHT = "#BBBBBB"  # tracks, limits, secondary marks

#: Marker symbols: the shape says what colour alone must not.
SYMBOL = "circle"
FLAGGED_SYMBOL = "triangle-up"
REFERENCE_SYMBOL = "diamond"
FLAGGED_GLYPH, REFERENCE_GLYPH, SYMBOL_GLYPH = "\u25b2", "\u25c6", "\u25cf"


def marker_symbol(flagged: bool = False, reference: bool = False,
                  unstable: bool = False) -> str:
    """Reference: diamond; flagged: triangle; otherwise a circle. Open when unstable."""
    symbol = REFERENCE_SYMBOL if reference else FLAGGED_SYMBOL if flagged else SYMBOL
    return f"{symbol}-open" if unstable else symbol


def group_colour(stratifier: str | Sequence[str], group: str) -> str:
    """The colour of a group, the same on every chart.

    `stratifier` is a stratifier's name (or the list of two for a crossed table, whose
    groups are written "A | B" and coloured by their first part). Unknown stratifiers and
    free-text groups fall back to a stable hash of the group's name.
    """
    names = [stratifier] if isinstance(stratifier, str) else list(stratifier)
    group = str(group)
    if JOIN in group:
        group = group.split(JOIN)[0]
    if group in NOT_KNOWN_COLOURS:
        return NOT_KNOWN_COLOURS[group]
    definition = STRATIFIERS.get(names[0]) if names else None
    order = definition.order if definition is not None else ()
    if definition is not None and definition.ordered and order:
        steps = _steps(len(order))
        if group in order:
            return steps[order.index(group)]
        return CIVIDIS[zlib.crc32(group.encode("utf-8")) % len(CIVIDIS)]
    if group in order:
        return OKABE_ITO[order.index(group) % len(OKABE_ITO)]
    # Free text: hash into the colours the known groups of this stratifier do not use.
    spare = OKABE_ITO[len(order):] if len(order) < len(OKABE_ITO) else OKABE_ITO
    return spare[zlib.crc32(group.strip().lower().encode("utf-8")) % len(spare)]


def _steps(count: int) -> tuple[str, ...]:
    if count >= len(CIVIDIS):
        return CIVIDIS
    last = len(CIVIDIS) - 1
    return tuple(CIVIDIS[round(i * last / max(count - 1, 1))] for i in range(count))


def translucent(colour: str, alpha: float) -> str:
    """`#RRGGBB` as `rgba(r,g,b,alpha)` with integer channels (plotly.js 4 reads CSS)."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha:g})"


# --- numbers as text ----------------------------------------------------------------------

MISSING_TEXT = "n/a"


@dataclass(frozen=True)
class Scale:
    """How a measure's values are shown: multiplier, decimals, and words for the unit."""
    multiplier: float
    decimals: int
    suffix: str  # after a value: " %", " per 10,000", " mmHg"
    axis: str  # in an axis title: "%", "per 10,000", "mmHg"
    difference: str  # after a difference: " points", " per 10,000", " mmHg"
    percent: bool


_PER = re.compile(r"^\s*per\s+([\d,. _]+)\s*$", re.IGNORECASE)


def rate_scale(kind: str = "proportion", unit: str | None = "%") -> Scale:
    """The display scale of a measure: proportions as percent (×100, one decimal) unless the
    unit says "per N" (×N, whole numbers); means and other kinds in their own unit."""
    unit = (unit or "").strip()
    per = _PER.match(unit)
    if per:
        base = int(re.sub(r"[^\d]", "", per.group(1)))
        words = f"per {base:,}"
        multiplier = base if kind == "proportion" else 1
        return Scale(multiplier, 0, f" {words}", words, f" {words}", False)
    if kind == "proportion":
        return Scale(100.0, 1, " %", "%", " points", True)
    suffix = f" {unit}" if unit else ""
    return Scale(1.0, 1, suffix, unit, suffix, False)


def scaled(value, kind: str = "proportion", unit: str | None = "%") -> float | None:
    """A value on its display scale (a proportion 0.45 becomes 45.0); None when missing."""
    number = as_number(value)
    return None if number is None else number * rate_scale(kind, unit).multiplier


def as_number(value) -> float | None:
    """A plain float, or None for None, NaN and pandas' NA."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def format_number(value, decimals: int = 1, missing: str = MISSING_TEXT) -> str:
    number = as_number(value)
    if number is None:
        return missing
    text = f"{number:,.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def format_rate(value, kind: str = "proportion", unit: str | None = "%",
                decimals: int | None = None, missing: str = MISSING_TEXT) -> str:
    """'45.0 %' for a proportion of 0.45, '241 per 10,000' for 0.0241 with unit
    'per 10000', '132.4 mmHg' for a mean; `missing` for an empty value."""
    scale = rate_scale(kind, unit)
    number = scaled(value, kind, unit)
    if number is None:
        return missing
    places = scale.decimals if decimals is None else decimals
    return format_number(number, places) + scale.suffix


def format_difference(value, kind: str = "proportion", unit: str | None = "%",
                      signed: bool = True, decimals: int | None = None,
                      missing: str = MISSING_TEXT) -> str:
    """A difference between two rates: '-9.7 points' (percentage points), '+24 per 10,000',
    '+3.3 mmHg'; unsigned with `signed=False`."""
    scale = rate_scale(kind, unit)
    number = scaled(value, kind, unit)
    if number is None:
        return missing
    places = scale.decimals if decimals is None else decimals
    text = format_number(abs(number) if not signed else number, places)
    if signed and not text.startswith("-") and float(text.replace(",", "")) != 0:
        text = "+" + text
    return text + scale.difference


def format_percent(value, decimals: int = 1, missing: str = MISSING_TEXT) -> str:
    """A share 0.123 as '12.3 %'."""
    number = as_number(value)
    return missing if number is None else format_number(number * 100, decimals) + " %"


BOUND_SIGNS = {"": "", "at least": "\u2265 ", "at most": "\u2264 "}


def format_share(share, bound: str = "", missing: str = MISSING_TEXT) -> str:
    """A share as `metrics.privacy.shown_share` gives it: '97.3 %', or a bound that stands
    for a small count, '\u2265 99.5 %' (at least) or '\u2264 0.5 %' (at most)."""
    text = format_percent(share, missing=missing)
    return text if text == missing else BOUND_SIGNS[bound] + text


def format_count(value, missing: str = MISSING_TEXT) -> str:
    """'2,362'; `missing` for an empty (for example suppressed) count."""
    return format_number(value, 0, missing)


def format_total(value) -> str:
    """A total shown on its own (the patients loaded): '<11' when it is from 1 to 10, which
    the small-cell rule never shows."""
    return SHOWN_AS if small_cell(value) else format_count(value)


def format_p_value(value, missing: str = MISSING_TEXT) -> str:
    """'p < 0.001', 'p = 0.03', 'p = 0.45'."""
    number = as_number(value)
    if number is None:
        return missing
    if number < 0.001:
        return "p < 0.001"
    return f"p = {number:.3f}" if number < 0.01 else f"p = {number:.2f}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_period(period) -> str:
    """'2024-11' as 'Nov 2024'; anything else unchanged."""
    text = "" if period is None else str(period)
    match = re.fullmatch(r"(\d{4})-(\d{2})(-\d{2})?", text)
    if match and 1 <= int(match.group(2)) <= 12:
        return f"{_MONTHS[int(match.group(2)) - 1]} {match.group(1)}"
    return text


def format_period_range(period_from=None, period_to=None) -> str:
    if period_from and period_to:
        if period_from == period_to:
            return format_period(period_from)
        return f"{format_period(period_from)} to {format_period(period_to)}"
    if period_from:
        return f"from {format_period(period_from)}"
    if period_to:
        return f"up to {format_period(period_to)}"
    return "all months"


# --- words for stratifiers, groups and filters --------------------------------------------

def stratifier_label(name: str) -> str:
    """'Race', 'Preferred language', 'ADI decile' (the name itself when unknown)."""
    definition = STRATIFIERS.get(name)
    return definition.label if definition else name.replace("_", " ").capitalize()


def in_sentence(label: str) -> str:
    """Lower-case the first letter unless the word is an acronym ('ADI decile' stays)."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def by_label(by: str | Sequence[str] | None) -> str:
    """'race', 'race and preferred language'."""
    names = [by] if isinstance(by, str) else list(by or [])
    return " and ".join(in_sentence(stratifier_label(name)) for name in names)


def filters_text(where: Mapping | None) -> str:
    """'Site: Riverside; Payer: Medicaid, Medicare' from a `where` mapping."""
    parts = []
    for name, value in (where or {}).items():
        values = [value] if isinstance(value, str) or not isinstance(value, Sequence) \
            else list(value)
        parts.append(f"{stratifier_label(name)}: {', '.join(map(str, values))}")
    return "; ".join(parts)


_REFERENCE_HOW = {"largest": "largest group", "best": "best-performing group"}


def reference_text(attrs: Mapping) -> str:
    group = attrs.get("reference_group")
    how = attrs.get("reference")
    if group is None:
        return "no reference group"
    if group == "Overall" or how == "overall":
        return "compared with all groups together"
    detail = _REFERENCE_HOW.get(how, "chosen")
    return f"reference: {group} ({detail})"


def direction_text(attrs: Mapping) -> str:
    higher = attrs.get("higher_is_better")
    if higher is None:
        return ""
    return "higher is better" if higher else "lower is better"


def subtitle_parts(attrs: Mapping, period_from=None, period_to=None) -> list[str]:
    """Reference group, period, filters and direction (the non-empty ones)."""
    parts = [reference_text(attrs) if attrs.get("reference_group") is not None else "",
             format_period_range(period_from or attrs.get("period_from"),
                                 period_to or attrs.get("period_to")),
             filters_text(attrs.get("where")), direction_text(attrs)]
    return [part for part in parts if part]


def subtitle_text(attrs: Mapping, period_from=None, period_to=None) -> str:
    """Reference group, period, filters and direction, separated by ' · '."""
    text = " \u00b7 ".join(subtitle_parts(attrs, period_from, period_to))
    return text[:1].upper() + text[1:]


def names_text(names: Sequence[str], limit: int = 8, noun: str = "groups") -> str:
    """'A, B and C', or '48 groups' with the first few named when there are many."""
    names = list(names)
    if len(names) <= limit:
        return join_words(names)
    return f"{len(names)} {noun} ({', '.join(names[:limit])}, ...)"


def measure_title(attrs: Mapping, fallback: str = "Measure") -> str:
    return str(attrs.get("measure_name") or attrs.get("measure_id") or fallback)


SUPPRESSED_CAPTION = (
    f"Groups with fewer than {SMALL_CELL[1] + 1} cases are hidden (CMS cell-size rule); "
    "when only one group would be hidden, the next smallest is hidden too, so that no hidden "
    "count can be worked out from the totals.")
UNSTABLE_CAPTION = (f"Open symbols: fewer than {UNSTABLE_BELOW} cases (for a rate, fewer than "
                    f"{UNSTABLE_EVENTS_BELOW} events): interpret with care.")
FLAGGED_CAPTION = (
    f"{FLAGGED_GLYPH} Flagged: worse than the reference group with p \u2264 0.05 and a "
    "relative difference of at least 10 % in the adverse direction (AHRQ rule).")


def is_known_group(group: str) -> bool:
    return not any(part in NOT_KNOWN_GROUPS for part in str(group).split(JOIN))


# --- house style --------------------------------------------------------------------------

FONT = "Arial, Helvetica, 'Liberation Sans', sans-serif"  # system fonts only, nothing fetched

TEMPLATE = go.layout.Template(layout=go.Layout(
    font=dict(family=FONT, size=13, color="#222222"),
    paper_bgcolor="#FFFFFF",
    plot_bgcolor="#FFFFFF",
    colorway=list(OKABE_ITO),
    hoverlabel=dict(font=dict(family=FONT, size=12)),
    xaxis=dict(gridcolor="#E6E6E6", linecolor=NEUTRAL, showline=True, ticks="outside",
               zeroline=False, automargin=True, title=dict(standoff=8)),
    yaxis=dict(gridcolor="#E6E6E6", linecolor=NEUTRAL, showline=True, ticks="outside",
               zeroline=False, automargin=True, title=dict(standoff=8)),
    legend=dict(bgcolor="rgba(255,255,255,0.8)"),
))

CAPTION_WIDTH = 120  # characters per caption line


def caption_lines(captions: Sequence[str], width: int = CAPTION_WIDTH) -> list[str]:
    lines = []
    for caption in captions:
        lines += textwrap.wrap(caption, width) or [""]
    return lines


def finish(fig: go.Figure, *, title: str, subtitle: str = "", captions: Sequence[str] = (),
           summary: str = "", chart: str = "", plot_height: int | None = None,
           bottom: int = 70, right: int = 30, left: int = 20,
           top: int | None = None, caption_width: int = CAPTION_WIDTH) -> go.Figure:
    """Title, subtitle, captions under the plot, the house template, and the text summary
    in `fig.layout.meta` (read it with `describe`). Captions wrap at `caption_width`
    characters.

    `plot_height` is the height of the plotting area in pixels; the figure's height adds the
    title (`top`), the x axis (`bottom`) and the caption lines to it.
    """
    lines = caption_lines(captions, caption_width)
    top = top if top is not None else (90 if subtitle else 60)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, subtitle=dict(text=subtitle, font=dict(size=13, color="#555555")),
                   x=0, xref="paper", xanchor="left", font=dict(size=18), automargin=True,
                   yref="container", y=1, yanchor="top", pad=dict(t=12)),
        margin=dict(t=top, b=bottom + 16 * len(lines) + 10, l=left, r=right),
        meta={"chart": chart, "summary": summary, "captions": list(captions)},
    )
    if plot_height is not None:
        fig.update_layout(height=top + plot_height + bottom + 16 * len(lines) + 10)
    if lines:
        fig.add_annotation(
            text="<br>".join(lines), xref="paper", yref="paper", x=0, y=0, xanchor="left",
            yanchor="top", yshift=-(bottom - 8), align="left", showarrow=False,
            font=dict(size=11, color="#444444"), name="caption")
    return fig


def describe(fig: go.Figure) -> str:
    """The one-paragraph text summary of a chart built here (for screen readers, for the
    text under a chart, and for exports)."""
    meta = fig.layout.meta
    if isinstance(meta, Mapping):
        return str(meta.get("summary", ""))
    return ""


def captions(fig: go.Figure) -> list[str]:
    """The caption lines printed under a chart built here."""
    meta = fig.layout.meta
    if isinstance(meta, Mapping):
        return list(meta.get("captions", []))
    return []


def join_words(words: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
