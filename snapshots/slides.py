"""PowerPoint with python-pptx: a slide per view, a methods slide, a title slide for packs.

A view slide holds the chart (PNG from the persistent image server, with the chart's summary
as its alternative text), the title and subtitle, an "About this view" panel (measure,
stratifier, filters, reference group, period, data as-of date, generated-at time,
suppression, flag rule, completeness), the summary in words and a footnote with the rules and
methods. Speaker notes carry the full summary and the chart's captions. A view that asks for
"since last time" gets a second slide with the change in each gap.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

from snapshots import images
from snapshots.views import (
    DataState,
    Rendered,
    change_lines,
    changes_heading,
    methods_sections,
    stamp,
)

SLIDE_WIDTH, SLIDE_HEIGHT = 13.333, 7.5  # inches, 16:9
LEFT = 0.45
CHART_BOX = (LEFT, 1.32, 8.45, 4.38)  # left, top, width, height
PANEL = (9.1, 1.32, 3.8, 4.38)
SUMMARY_BOX = (LEFT, 5.78, 12.45, 0.72)
NOTES_BOX = (LEFT, 6.55, 12.45, 0.85)
CHART_RATIO = CHART_BOX[2] / CHART_BOX[3]
SUMMARY_LIMIT = 460  # characters on the slide; the notes hold the rest
INK, GREY = "222222", "5A5A5A"


def deck(rendered: Sequence[Rendered], charts: Sequence[bytes | None] = (),
         title: str | None = None, state: DataState | None = None) -> bytes:
    """A deck: a title slide when `title` is given (meeting packs), one slide per view (two
    when it asks for "since last time"), and a methods slide."""
    from pptx import Presentation
    from pptx.util import Inches

    for item in rendered:
        item.assert_safe()
    presentation = Presentation()
    presentation.slide_width = Inches(SLIDE_WIDTH)
    presentation.slide_height = Inches(SLIDE_HEIGHT)
    state = state or (rendered[0].state if rendered else None)
    generated = rendered[0].generated_at if rendered else None
    if title is not None:
        _title_slide(presentation, title, rendered, state, generated)
    for index, item in enumerate(rendered):
        _view_slide(presentation, item, charts[index] if index < len(charts) else None)
        if item.changes is not None:
            _changes_slide(presentation, item)
    _methods_slide(presentation, state)
    core = presentation.core_properties
    core.title = title or (rendered[0].context.title if rendered else "Export")
    core.author = "Health-equity dashboard"
    core.subject = "Meeting pack" if title is not None else "Dashboard view"
    core.comments = (f"Data as of {state.as_of_text}" if state is not None else "")[:250]
    if generated is not None:
        core.created = generated.replace(tzinfo=None)
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def _blank(presentation):
    return presentation.slides.add_slide(presentation.slide_layouts[6])


def _text(slide, box, paragraphs, size=12, colour=INK, bold=False, space=0.0):
    """A text box; `paragraphs` is a list of strings or of [(text, bold), ...] runs, with
    `space` points after each."""
    from pptx.dml.color import RGBColor
    from pptx.util import Inches, Pt

    left, top, width, height = box
    shape = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
    frame = shape.text_frame
    frame.word_wrap = True
    for margin in ("margin_left", "margin_right", "margin_top", "margin_bottom"):
        setattr(frame, margin, Inches(0.02))
    for index, paragraph in enumerate(paragraphs):
        target = frame.paragraphs[0] if index == 0 else frame.add_paragraph()
        runs = paragraph if isinstance(paragraph, list) else [(paragraph, bold)]
        if space:
            target.space_after = Pt(space)
        for words, strong in runs:
            run = target.add_run()
            run.text = words
            run.font.size = Pt(size)
            run.font.bold = strong
            run.font.color.rgb = RGBColor.from_string(colour)
    return shape


def _heading(slide, title: str, subtitle: str = "") -> None:
    _text(slide, (LEFT, 0.28, 12.45, 0.62), [title], size=24, bold=True)
    if subtitle:
        _text(slide, (LEFT, 0.88, 12.45, 0.4), [subtitle], size=12, colour=GREY)


def _short(text: str, limit: int = SUMMARY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(". ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[:limit].rsplit(" ", 1)[0]) + \
        "\u2026 (continued in the notes)"


def _picture(slide, png: bytes, box, description: str):
    from PIL import Image
    from pptx.util import Inches

    left, top, width, height = box
    with Image.open(io.BytesIO(png)) as image:
        pixels_w, pixels_h = image.size
    scale = min(width / pixels_w, height / pixels_h)
    picture = slide.shapes.add_picture(io.BytesIO(png), Inches(left), Inches(top),
                                       Inches(pixels_w * scale), Inches(pixels_h * scale))
    # Alternative text for screen readers (the picture's "descr" attribute).
    picture._element.nvPicPr.cNvPr.set("descr", description)
    return picture


def _view_slide(presentation, rendered: Rendered, png: bytes | None) -> None:
    slide = _blank(presentation)
    context = rendered.context
    _heading(slide, context.title, context.subtitle)
    png = png or images.page_png(rendered.figure, CHART_RATIO)
    _picture(slide, png, CHART_BOX, rendered.summary or context.title)
    lines: list = [[("About this view", True)]]
    lines += [[(f"{label}: ", True), (text, False)] for label, text in context.items]
    _text(slide, PANEL, lines, size=10, space=2)
    if rendered.summary:
        _text(slide, SUMMARY_BOX, [_short(rendered.summary)], size=10.5)
    _text(slide, NOTES_BOX, [f"{context.suppression_rule} {context.flag_rule} "
                             f"{context.methods}"], size=7.5, colour=GREY)
    notes = [rendered.summary, *rendered.captions, *context.lines()]
    slide.notes_slide.notes_text_frame.text = "\n\n".join(n for n in notes if n)


def _changes_slide(presentation, rendered: Rendered) -> None:
    slide = _blank(presentation)
    _heading(slide, f"{rendered.context.title}: since last time",
             changes_heading(rendered.changes))
    lines = change_lines(rendered.changes, limit=16) or ["Nothing to compare."]
    _text(slide, (LEFT, 1.45, 12.45, 4.9), lines, size=13, space=3)
    _text(slide, NOTES_BOX, ["A gap is narrower when the group's difference from its reference "
                             "moved towards zero in the adverse direction; this describes the "
                             "change, it is not a statistical test. " +
                             rendered.context.suppression_rule],
          size=8, colour=GREY)


def _title_slide(presentation, title: str, rendered: Sequence[Rendered],
                 state: DataState | None, generated) -> None:
    slide = _blank(presentation)
    _text(slide, (LEFT + 0.3, 1.3, 12.0, 1.2), [title], size=36, bold=True)
    facts = ["Meeting pack"]
    if state is not None:
        facts.append(f"Data as of {state.as_of_text}")
    if generated is not None:
        facts.append(f"Generated {stamp(generated)}")
    _text(slide, (LEFT + 0.3, 2.55, 12.0, 0.5), [" \u00b7 ".join(facts)], size=15,
          colour=GREY)
    agenda = [[("In this pack", True)]] + [
        f"{number}. {item.context.title}" for number, item in enumerate(rendered, start=1)]
    _text(slide, (LEFT + 0.3, 3.35, 12.0, 3.0), agenda, size=15, space=3)
    _text(slide, (LEFT + 0.3, 6.55, 12.0, 0.6),
          ["Aggregates only: small cells are suppressed. Each slide states its filters, "
           "reference group, months and the data's as-of date; methods are on the last slide."],
          size=10, colour=GREY)


def _methods_slide(presentation, state: DataState | None) -> None:
    slide = _blank(presentation)
    _heading(slide, "Methods")
    paragraphs = []
    for heading, text in methods_sections(state):
        paragraphs.append([(f"{heading}. ", True), (text, False)])
    _text(slide, (LEFT, 1.05, 12.45, 6.2), paragraphs, size=14, space=8)
