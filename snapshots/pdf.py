"""PDF with fpdf2: a one-page summary of one view, and a meeting pack of several.

A view page holds the chart (PNG from the persistent image server), its title and subtitle,
an "About this view" column (measure, stratifier, filters, reference group, period, data
as-of date, generated-at time, suppression, flag rule, completeness), the chart's summary in
words, the changes since the last frozen snapshot when asked for, and a footnote with the
suppression rule, the flag rule and the methods. Text is set in DejaVu Sans when the machine
has it (it covers every label's characters); otherwise in Helvetica with the few symbols
outside Latin-1 spelled out.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from snapshots import images
from snapshots.views import (
    DataState,
    Rendered,
    change_lines,
    changes_heading,
    methods_sections,
    stamp,
)

PAGE_WIDTH, PAGE_HEIGHT = 279.4, 215.9  # US Letter, landscape, millimetres
MARGIN = 12.0
CHART_WIDTH = 172.0  # the chart's column; "About this view" takes the rest
GAP = 5.0
CHART_RATIO = 1.3  # width / height of the chart's box on a page
INK, GREY, LIGHT_INK = (34, 34, 34), (90, 90, 90), (120, 120, 120)
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
             "/usr/share/fonts/TTF")
_LATIN1 = {"\u2264": "<=", "\u2265": ">=", "\u00d7": "x", "\u2192": "->", "\u25b2": "^",
           "\u25c6": "<>", "\u25cf": "o", "\u2032": "'", "\u2013": "-", "\u2014": "-",
           "\u2212": "-", "\u00b7": "-", "\u2026": "..."}


def _font_files() -> tuple[Path, Path] | None:
    for folder in FONT_DIRS:
        regular, bold = Path(folder) / "DejaVuSans.ttf", Path(folder) / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Document:
    """An FPDF document with the house fonts and a footer line on every page."""

    def __init__(self, title: str, footer: str, subject: str = ""):
        from fpdf import FPDF

        footer_text = footer

        class Page(FPDF):
            def footer(inner):  # noqa: N805 (fpdf2 calls it on the page object)
                inner.set_y(-9)
                self.font(6.5, colour=LIGHT_INK)
                inner.cell(0, 4, self.text(f"{footer_text} \u00b7 page {inner.page_no()}"),
                           align="L")

        self.pdf = Page(orientation="L", unit="mm", format="letter")
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(False)
        files = _font_files()
        self.unicode = files is not None
        if files:
            self.pdf.add_font("DejaVu", "", str(files[0]))
            self.pdf.add_font("DejaVu", "B", str(files[1]))
            self.family = "DejaVu"
        else:
            self.family = "Helvetica"
        self.pdf.set_title(self.text(title))
        self.pdf.set_subject(self.text(subject or title))
        self.pdf.set_creator("Health-equity dashboard (fpdf2)")
        self.pdf.set_lang("en")

    def text(self, value: str) -> str:
        value = str(value)
        if self.unicode:
            return value
        for symbol, words in _LATIN1.items():
            value = value.replace(symbol, words)
        return value.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False, colour=INK) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.set_text_color(*colour)

    def block(self, x: float, y: float, width: float, text: str, size: float,
              bold: bool = False, colour=INK, line: float | None = None,
              measure: bool = False) -> float:
        """Write wrapped text at (x, y); return its height (only measure it with
        `measure`)."""
        from fpdf.enums import MethodReturnValue, XPos, YPos

        self.font(size, bold, colour)
        self.pdf.set_xy(x, y)
        text = self.text(text)
        step = line or size * 0.45
        if "\n" not in text and self.pdf.get_string_width(text) <= width - 2 * self.pdf.c_margin:
            if not measure:  # one line: a plain cell is much faster than multi_cell
                self.pdf.cell(width, step, text, align="L")
            return step
        height = self.pdf.multi_cell(
            width, step, text, align="L", new_x=XPos.LEFT,
            new_y=YPos.NEXT, dry_run=measure, output=MethodReturnValue.HEIGHT)
        return float(height)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def one_pager(rendered: Rendered, chart_png: bytes | None = None) -> bytes:
    """One view on one page (two when it asks for "since last time" and it does not fit)."""
    rendered.assert_safe()
    document = _Document(rendered.context.title, _footer(rendered.state, rendered),
                         subject=rendered.summary[:200])
    view_page(document, rendered, chart_png)
    return document.output()


def pack_pdf(title: str, rendered: Sequence[Rendered], charts: Sequence[bytes | None] = (),
             state: DataState | None = None) -> bytes:
    """A meeting pack: title page, one page per view, methods page."""
    for item in rendered:
        item.assert_safe()
    state = state or (rendered[0].state if rendered else None)
    generated = rendered[0].generated_at if rendered else None
    document = _Document(title, _footer(state, rendered[0] if rendered else None),
                         subject="Meeting pack")
    _title_page(document, title, rendered, state, generated)
    for index, item in enumerate(rendered):
        view_page(document, item, charts[index] if index < len(charts) else None)
    _methods_page(document, state)
    return document.output()


def _footer(state: DataState | None, rendered: Rendered | None) -> str:
    parts = ["Health-equity dashboard"]
    if state is not None:
        parts.append(f"data as of {state.as_of_text}")
    if rendered is not None:
        parts.append(f"generated {stamp(rendered.generated_at)}")
    parts.append("aggregates only; small cells suppressed")
    return " \u00b7 ".join(parts)


def view_page(document: _Document, rendered: Rendered, chart_png: bytes | None = None) -> None:
    pdf = document.pdf
    pdf.add_page()
    width = PAGE_WIDTH - 2 * MARGIN
    y = MARGIN
    y += document.block(MARGIN, y, width, rendered.context.title, 15, bold=True, line=6.5)
    if rendered.context.subtitle:
        y += document.block(MARGIN, y, width, rendered.context.subtitle, 9, colour=GREY,
                            line=4.2)
    y += 2.5

    # The footnote sits at the bottom; chart, summary and changes flow down from the top.
    bottom = PAGE_HEIGHT - 11
    notes = (f"{rendered.context.suppression_rule} {rendered.context.flag_rule} "
             f"{rendered.context.methods}")
    notes_height = document.block(MARGIN, 0, width, notes, 6.8, line=3.0, measure=True)
    notes_top = bottom - notes_height

    def summary_height(span: float) -> float:
        if not rendered.summary:
            return 0.0
        return document.block(MARGIN, 0, span, rendered.summary, 8.5, line=3.8,
                              measure=True) + 3

    changes = change_lines(rendered.changes, limit=8) if rendered.changes is not None else []
    changes_text = "\n".join(changes) or "No change."

    def changes_height(span: float) -> float:
        if rendered.changes is None:
            return 0.0
        return 5 + document.block(MARGIN, 0, span, changes_text, 8, line=3.6, measure=True)

    about_bottom = _about(document, rendered, MARGIN + CHART_WIDTH + GAP, y,
                          width - CHART_WIDTH - GAP)
    limit, gap = notes_top - 2, 3.0
    below = summary_height(width) + changes_height(width)
    room = limit - y - gap - below
    move_changes = room < 70 and rendered.changes is not None
    if move_changes:  # keep the chart legible: the changes get a page of their own
        below -= changes_height(width)
        room = limit - y - gap - below
    chart_bottom = _chart(document, rendered, chart_png, MARGIN, y, CHART_WIDTH, room)

    cursor, span = max(chart_bottom, about_bottom) + gap, width
    if cursor + below > limit:  # the "About" column runs longer than the chart
        narrow = summary_height(CHART_WIDTH) + (
            0 if move_changes else changes_height(CHART_WIDTH))
        if chart_bottom + gap + narrow <= limit:
            cursor, span = chart_bottom + gap, CHART_WIDTH
        elif rendered.changes is not None and not move_changes:
            move_changes = True
    if rendered.summary:
        cursor += document.block(MARGIN, cursor, span, rendered.summary, 8.5, line=3.8) + 2
    if rendered.changes is not None and not move_changes:
        cursor += document.block(MARGIN, cursor, span, changes_heading(rendered.changes), 8.5,
                                 bold=True, line=4)
        document.block(MARGIN, cursor, span, changes_text, 8, line=3.6)
    pdf.set_draw_color(200, 200, 200)
    pdf.line(MARGIN, notes_top - 1.5, PAGE_WIDTH - MARGIN, notes_top - 1.5)
    document.block(MARGIN, notes_top, width, notes, 6.8, colour=GREY, line=3.0)

    if move_changes:
        pdf.add_page()
        top = MARGIN
        top += document.block(MARGIN, top, width, f"{rendered.context.title}: since last time",
                              14, bold=True, line=6.5)
        top += document.block(MARGIN, top + 2, width, changes_heading(rendered.changes), 9,
                              bold=True, line=4.2) + 4
        document.block(MARGIN, top, width, "\n".join(change_lines(rendered.changes, 40)), 8.5,
                       line=3.9)


def _chart(document: _Document, rendered: Rendered, png: bytes | None, x: float, y: float,
           width: float, height: float) -> float:
    """Place the chart in the box, keeping its proportions; return its bottom edge."""
    from PIL import Image

    png = png or images.page_png(rendered.figure, CHART_RATIO)
    with Image.open(io.BytesIO(png)) as image:
        pixels_w, pixels_h = image.size
    scale = min(width / pixels_w, height / pixels_h)
    document.pdf.image(io.BytesIO(png), x=x, y=y, w=pixels_w * scale, h=pixels_h * scale,
                       alt_text=document.text(rendered.summary or rendered.context.title))
    return y + pixels_h * scale


def _about(document: _Document, rendered: Rendered, x: float, y: float,
           width: float) -> float:
    """The "About this view" column; returns its bottom edge."""
    y += document.block(x, y, width, "About this view", 10, bold=True, line=5) + 1
    for label, text in rendered.context.items:
        y += document.block(x, y, width, label, 7.5, bold=True, colour=GREY, line=3.3)
        y += document.block(x, y, width, text, 8, line=3.5) + 1.4
    return y


def _title_page(document: _Document, title: str, rendered: Sequence[Rendered],
                state: DataState | None, generated) -> None:
    document.pdf.add_page()
    width = PAGE_WIDTH - 2 * MARGIN
    y = 45.0
    y += document.block(MARGIN, y, width, title, 26, bold=True, line=11) + 3
    facts = ["Meeting pack"]
    if state is not None:
        facts.append(f"Data as of {state.as_of_text}")
    if generated is not None:
        facts.append(f"Generated {stamp(generated)}")
    y += document.block(MARGIN, y, width, " \u00b7 ".join(facts), 11, colour=GREY,
                        line=5.5) + 8
    y += document.block(MARGIN, y, width, "In this pack", 12, bold=True, line=6) + 1
    for number, item in enumerate(rendered, start=1):
        y += document.block(MARGIN + 4, y, width - 4, f"{number}. {item.context.title}", 10.5,
                            line=5)
    document.block(MARGIN, y + 6, width, "Every page shows aggregates only: small cells are "
                   "suppressed, and each page states its filters, reference group, months and "
                   "the data's as-of date. Methods are on the last page.", 9, colour=GREY,
                   line=4.3)


def _methods_page(document: _Document, state: DataState | None) -> None:
    document.pdf.add_page()
    width = PAGE_WIDTH - 2 * MARGIN
    y = MARGIN
    y += document.block(MARGIN, y, width, "Methods", 18, bold=True, line=8) + 3
    for heading, text in methods_sections(state):
        y += document.block(MARGIN, y, width, heading, 10.5, bold=True, line=5)
        y += document.block(MARGIN, y, width, text, 9.5, line=4.5) + 3
