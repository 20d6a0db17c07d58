"""Meeting packs: several views in one PowerPoint deck or PDF, regenerated on new data.

A pack is a title and a list of view specifications (`View`), stored as JSON in the
`meeting_packs` table or in a file, never as images: building it computes every view on the
data loaded now. The deck has a title slide, one slide per view (two when a view asks for
"since last time") and a methods slide; the PDF has the same pages.

Building overlaps work: the views are computed in two worker threads (their SQL runs in the
database) while the charts of those already computed are drawn by the one image server.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from snapshots import images
from snapshots.views import (
    MIME_TYPES,
    Export,
    Rendered,
    UnsafeExport,
    View,
    data_state,
    default_actor,
    render,
    safe_filename,
)

PACK_FORMATS = ("pptx", "pdf")
PACK_VERSION = 1


@dataclass(frozen=True)
class Pack:
    """A titled list of views."""
    title: str
    views: tuple[View, ...]

    def __post_init__(self):
        views = tuple(v if isinstance(v, View) else View.from_dict(v) for v in self.views)
        object.__setattr__(self, "views", views)
        if not str(self.title).strip():
            raise ValueError("a pack needs a title")
        if not views:
            raise ValueError("a pack needs at least one view")

    def to_dict(self) -> dict:
        return {"version": PACK_VERSION, "title": self.title,
                "views": [view.to_dict() for view in self.views]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Pack:
        version = data.get("version", PACK_VERSION)
        if version != PACK_VERSION:
            raise ValueError(f"unknown pack version {version!r} (this code reads "
                             f"{PACK_VERSION})")
        return cls(title=data["title"], views=tuple(data["views"]))

    @classmethod
    def from_json(cls, text: str) -> Pack:
        return cls.from_dict(json.loads(text))


def leaders_pack(measure_id: str = "cbp", by: Sequence[str] = ("race", "preferred_language"),
                 goal_group: str | None = None, where=None, period_from: str | None = None,
                 period_to: str | None = None, title: str = "Health equity: where we stand"
                 ) -> Pack:
    """A starting pack: the overview's top gaps, the measure's disparity chart by each
    stratifier in `by`, the phase progress and, with `goal_group`, that group's run chart
    (control chart) for the measure."""
    common = {"where": where, "period_from": period_from, "period_to": period_to}
    views = [View("largest_gaps", top=8, **common)]
    views += [View("disparity", measure_id, name, **common) for name in by]
    views.append(View("phases"))
    if goal_group:
        views.append(View("control", measure_id, by[0], group=goal_group, **common))
    return Pack(title, tuple(views))


# --- stored packs -------------------------------------------------------------------------

def save_pack(name: str, pack: Pack, database_url: str | None = None,
              actor: str | None = None) -> int:
    """Save (or replace) the pack called `name`; returns its id. Audited as `pack_save`."""
    from snapshots.schema import record_audit, save_pack_row
    from store import access

    access.require("export")
    if not str(name).strip():
        raise ValueError("a saved pack needs a name")
    actor = actor or default_actor()
    pack_id = save_pack_row(str(name).strip(), pack.title, pack.to_json(), actor,
                            database_url)
    record_audit("pack_save", actor, {"pack_id": pack_id, "name": name,
                                      "pack": pack.to_dict()}, database_url)
    return pack_id


def load_pack(name_or_id: str | int, database_url: str | None = None) -> Pack:
    """A saved pack by name or id."""
    from snapshots.schema import pack_row

    return Pack.from_json(pack_row(name_or_id, database_url)["views"])


def list_packs(database_url: str | None = None) -> list[dict]:
    """Saved packs: pack_id, name, title, views (count), updated_at, actor."""
    from snapshots.schema import aware, pack_rows

    return [{"pack_id": r["pack_id"], "name": r["name"], "title": r["title"],
             "views": len(json.loads(r["views"])["views"]),
             "updated_at": aware(r["updated_at"]), "actor": r["actor"]}
            for r in pack_rows(database_url)]


def read_pack(source: str | Path, database_url: str | None = None) -> tuple[str, Pack]:
    """A pack from a JSON file (when `source` is one) or from the database by name."""
    path = Path(source)
    if path.suffix.lower() == ".json" and path.is_file():
        return path.stem, Pack.from_json(path.read_text(encoding="utf-8"))
    return str(source), load_pack(str(source), database_url)


# --- building -----------------------------------------------------------------------------

def render_all(views: Iterable[View], database_url: str | None = None, ratio: float = 1.6,
               workers: int = 2) -> tuple[list[Rendered], list[bytes]]:
    """Compute every view (in `workers` threads) and draw each chart, for a box of
    width/height `ratio`, as soon as its view is ready. Returns the rendered views and their
    PNG charts, in the order given."""
    views = list(views)
    state = data_state(database_url)
    generated = datetime.now(UTC)
    rendered: list[Rendered | None] = [None] * len(views)
    charts: list[bytes | None] = [None] * len(views)
    images.start()
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="snapshot-view") as pool:
        futures = {pool.submit(render, view, database_url, state=state,
                               generated_at=generated): index
                   for index, view in enumerate(views)}
        for future in as_completed(futures):
            index = futures[future]
            rendered[index] = future.result()
            charts[index] = images.page_png(rendered[index].figure, ratio)
    return list(rendered), list(charts)


def build_pack(pack: Pack, fmt: str = "pptx", database_url: str | None = None,
               actor: str | None = None, name: str | None = None) -> Export:
    """The pack on the current data, as a PowerPoint deck or a PDF. Audited as
    `export_pack` (or `export_refused` when a view would leak a suppressed count)."""
    from snapshots import pdf, slides
    from snapshots.schema import record_audit
    from store import access

    access.require("export")
    if fmt not in PACK_FORMATS:
        raise ValueError(f"a pack is built as {' or '.join(PACK_FORMATS)}, not {fmt!r}")
    actor = actor or default_actor()
    try:
        ratio = slides.CHART_RATIO if fmt == "pptx" else pdf.CHART_RATIO
        rendered, charts = render_all(pack.views, database_url, ratio)
    except UnsafeExport as refused:
        record_audit("export_refused", actor, {"pack": name, "format": fmt,
                                               "reason": str(refused)}, database_url)
        raise
    if fmt == "pptx":
        data = slides.deck(rendered, charts, title=pack.title, state=rendered[0].state)
    else:
        data = pdf.pack_pdf(pack.title, rendered, charts, state=rendered[0].state)
    moment = rendered[0].generated_at
    filename = safe_filename("pack", name or pack.title,
                             moment.astimezone(UTC).strftime("%Y%m%d-%H%M"), ext=fmt)
    record_audit("export_pack", actor, {
        "pack": name, "title": pack.title, "format": fmt, "file": filename,
        "bytes": len(data), "views": [view.to_dict() for view in pack.views],
        "data_batch_id": rendered[0].state.batch_id,
        "data_as_of": rendered[0].state.as_of}, database_url)
    return Export(filename, MIME_TYPES[fmt], data)
