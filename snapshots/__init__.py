"""Meeting snapshots: export exactly what is on screen, as slides, PDF, images and tables.

No streamlit here. A page describes what it shows as a `View`; everything else is computed
again from the database through `metrics` (which suppresses small cells) and drawn through
`charts`, so an export can never hold more than the aggregates the rules allow.

    >>> from snapshots import View, export_bytes                           # doctest: +SKIP
    >>> view = View("disparity", "cbp", "race", where={"site": "Riverside"})  # doctest: +SKIP
    >>> file = export_bytes(view, "pptx", actor="jane@example.org")         # doctest: +SKIP
    >>> file.filename, file.mime, len(file.data)                            # doctest: +SKIP

Formats: png and svg (the chart, with the context drawn under it), csv and xlsx (its table),
pdf (a one-page summary) and pptx (a deck: the view and a methods slide). Every export states
the measure, stratifier, filters, reference group, period, data as-of date, generated-at time,
suppression and the flag rule, with a methods footnote, and is recorded in the audit log.

Meeting packs (`Pack`, `save_pack`, `build_pack`) put several views in one deck or PDF and
are stored as view specifications, so they regenerate on new data. Frozen snapshots
(`freeze`, `since_last_time`) keep a view's numbers so the next meeting sees what changed.
Command line: `snapshot(...)` and `pack(...)` (wired as `python manage.py snapshot|pack`).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from snapshots.images import ImageServerError
from snapshots.packs import (
    PACK_FORMATS,
    Pack,
    build_pack,
    leaders_pack,
    list_packs,
    load_pack,
    read_pack,
    save_pack,
)
from snapshots.schema import audit_entries, ensure_tables, record_audit, snapshot_list
from snapshots.tables import neutralise
from snapshots.views import (
    KINDS,
    MIME_TYPES,
    Context,
    Export,
    Rendered,
    UnsafeExport,
    View,
    check_safe,
    default_actor,
    file_name,
    freeze,
    render,
    safe_filename,
    since_last_time,
)
from store import access

FORMATS = tuple(MIME_TYPES)


def export_bytes(view: View, fmt: str, database_url: str | None = None,
                 actor: str | None = None) -> Export:
    """One view on the current data as `fmt` (png, svg, csv, xlsx, pdf or pptx): a safe file
    name, the MIME type and the bytes. The audit log gets an `export` row, or an
    `export_refused` row when the table would leak a suppressed count (`UnsafeExport`)."""
    from snapshots import images, pdf, slides, tables

    access.require("export")
    if fmt not in MIME_TYPES:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    actor = actor or default_actor()
    try:
        rendered = render(view, database_url)
        makers = {
            "png": images.to_png, "svg": images.to_svg, "csv": tables.to_csv,
            "xlsx": tables.to_xlsx, "pdf": pdf.one_pager,
            "pptx": lambda item: slides.deck([item]),
        }
        data = makers[fmt](rendered)
    except UnsafeExport as refused:
        record_audit("export_refused", actor, {"view": view.to_dict(), "format": fmt,
                                               "reason": str(refused)}, database_url)
        raise
    filename = file_name(view, fmt, rendered.generated_at)
    record_audit("export", actor, {
        "view": view.to_dict(), "label": view.label(), "format": fmt, "file": filename,
        "bytes": len(data), "data_batch_id": rendered.state.batch_id,
        "data_as_of": rendered.state.as_of}, database_url)
    return Export(filename, MIME_TYPES[fmt], data)


def export_listing(name: str, title: str, items: Sequence[tuple[str, str]],
                   headers: Sequence[str], rows: Sequence[Sequence], fmt: str,
                   database_url: str | None = None, actor: str | None = None) -> Export:
    """A listing that is not a view of the data (the clinical-algorithm inventory) as CSV or
    XLSX, its text cells neutralised like every export's; audited as an `export` row."""
    from datetime import UTC, datetime

    from snapshots import tables

    access.require("export")
    makers = {"csv": tables.listing_to_csv, "xlsx": tables.listing_to_xlsx}
    if fmt not in makers:
        raise ValueError(f"a listing is exported as csv or xlsx, not {fmt!r}")
    data = makers[fmt](title, [tuple(item) for item in items], list(headers),
                       [list(row) for row in rows])
    filename = safe_filename(name, datetime.now(UTC).strftime("%Y%m%d-%H%M"), ext=fmt)
    record_audit("export", actor or default_actor(), {
        "listing": name, "format": fmt, "file": filename, "rows": len(rows),
        "bytes": len(data)}, database_url)
    return Export(filename, MIME_TYPES[fmt], data)


def write(export_file: Export, out: str | Path) -> Path:
    """Write an export under `out`: into it when it is a folder (or ends with a slash), else
    as that file, its name reduced to safe characters and given the right extension. The
    file appears whole or not at all. Returns the path written."""
    folder_given = str(out).endswith(("/", os.sep))  # before Path() drops the slash
    out = Path(out)
    extension = Path(export_file.filename).suffix.lstrip(".")
    if out.is_dir() or folder_given:
        folder, name = out, export_file.filename
    else:
        stem = out.stem if out.suffix.lstrip(".").lower() in MIME_TYPES else out.name
        folder, name = out.parent, safe_filename(stem, ext=extension)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    handle, temporary = tempfile.mkstemp(prefix=".export-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(export_file.data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def export(view: View, fmt: str, out: str | Path, database_url: str | None = None,
           actor: str | None = None) -> Path:
    """`export_bytes` written to `out` (a folder or a file path); returns the path."""
    return write(export_bytes(view, fmt, database_url, actor), out)


def snapshot(
    measure_id: str,
    by: str | Sequence[str],
    where: dict[str, str | Sequence[str]] | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    fmt: str = "pdf",
    out: str | Path = ".",
    reference: str = "largest",
    database_url: str | None = None,
    actor: str | None = None,
    kind: str = "disparity",
    group: str | None = None,
) -> Path:
    """The command line's export (`python manage.py snapshot`): one view of a measure by one
    stratifier (or two crossed) written as pptx, pdf, png, svg, csv or xlsx under `out`
    (a folder, or a file path). `kind` may also be share, trend or control (with `group`).
    Raises ValueError (a refusal: bad input, no cases, `UnsafeExport`) or
    `images.ImageServerError` (no browser for charts)."""
    view = View(kind, measure_id, by, where=where or {}, period_from=period_from,
                period_to=period_to, reference=reference, group=group)
    return export(view, fmt, out, database_url, actor or f"{default_actor()} (command line)")


def pack(source: str | Path, fmt: str = "pptx", out: str | Path = ".",
         database_url: str | None = None, actor: str | None = None) -> Path:
    """The command line's meeting pack (`python manage.py pack`): a saved pack by name, or a
    pack JSON file, built on the current data as pptx or pdf under `out`."""
    name, chosen = read_pack(source, database_url)
    built = build_pack(chosen, fmt, database_url,
                       actor or f"{default_actor()} (command line)", name=name)
    return write(built, out)


__all__ = [
    "FORMATS", "KINDS", "PACK_FORMATS", "Context", "Export", "ImageServerError", "Pack",
    "Rendered",
    "UnsafeExport", "View", "audit_entries", "build_pack", "check_safe", "ensure_tables",
    "export", "export_bytes", "export_listing", "freeze", "leaders_pack", "list_packs",
    "load_pack",
    "neutralise", "pack", "read_pack", "render", "safe_filename", "save_pack",
    "since_last_time", "snapshot", "snapshot_list", "write",
]
