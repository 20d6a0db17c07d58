"""'Take this view to a meeting': the current view as slides, PDF, images or tables.

Files are made only when a button is pressed (deferred download), from the same view
specification the command line uses, so the file holds exactly what is on screen — with the
suppression rules applied again by the exporter.
"""
from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

import snapshots
import store
from ui.tracker_forms import user

_LABELS = {"pptx": "Slides (PPTX)", "pdf": "One-page PDF", "png": "Chart (PNG)",
           "svg": "Chart (SVG)", "csv": "Table (CSV)", "xlsx": "Table (XLSX)"}


def export_buttons(view: snapshots.View, key: str) -> None:
    """One download button per format for `view`."""
    st.caption("Every file states the measure, filters, reference group, months, data as-of "
               "date and the flag rule, and applies small-cell suppression again.")
    columns = st.columns(len(_LABELS))
    for column, (fmt, label) in zip(columns, _LABELS.items()):
        name = snapshots.file_name(view, fmt, datetime.now(UTC))
        column.download_button(
            label, data=_maker(view, fmt), file_name=name,
            mime=snapshots.MIME_TYPES[fmt], key=f"{key}_{fmt}", on_click="ignore")


def _maker(view: snapshots.View, fmt: str):
    def make() -> bytes:
        return snapshots.export_bytes(view, fmt, database_url=store.database_url(),
                                      actor=user()).data
    return make
