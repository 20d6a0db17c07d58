"""'Take this view to a meeting': the current view as slides, PDF, images or tables, into the
session's meeting pack, or saved so that the next meeting sees what changed.

Files are made only when a button is pressed (deferred download), from the same view
specification the command line uses, so the file holds exactly what is on screen — with the
suppression rules applied again by the exporter.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

import snapshots
import store
from snapshots.views import change_lines, changes_heading, match_key, stamp
from store import access
from ui.tracker_forms import as_this_user, user

_LABELS = {"pptx": "Slides (PPTX)", "pdf": "One-page PDF", "png": "Chart (PNG)",
           "svg": "Chart (SVG)", "csv": "Table (CSV)", "xlsx": "Table (XLSX)"}
PACK_LABELS = {"pptx": "Pack as slides (PPTX)", "pdf": "Pack as PDF"}
# The session's meeting pack: the views added to it, as JSON (a View is rebuilt from it, so
# the pack holds specifications, never numbers).
PACK_KEY = "meeting_pack_views"
PACK_TITLE_KEY = "meeting_pack_title"
DEFAULT_PACK_TITLE = "Health equity: where we stand"
# Views whose numbers can be frozen for "since last time" (snapshots.freeze).
SAVED_KINDS = ("disparity", "share", "trend", "control", "largest_gaps", "phases")


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
    url = store.database_url()
    return as_this_user(
        lambda actor: snapshots.export_bytes(view, fmt, database_url=url, actor=actor).data)


def meeting_panel(view: snapshots.View, key: str, version,
                  heading: str = "Take this view to a meeting") -> None:
    """Everything a champion does with the view on screen: download it in any format, add
    it to the meeting pack, save its numbers, and compare with the numbers saved last.
    Not shown to a role that cannot export (the export functions refuse it too)."""
    if not access.can("export"):
        return
    with st.expander(heading):
        last = last_saved(version, match_key(view))
        compare = False
        if last is not None:
            compare = st.toggle(
                f"Show what changed since the numbers saved {stamp(last['created_at'])} by "
                f"{last['actor']}", key=f"{key}_since",
                help="Each group's gap then and now. The exported files then carry a "
                     "'since last time' page too.")
        chosen = replace(view, since_last_time=True) if compare else view
        if compare:
            since_last_time(version, chosen, last["snapshot_id"])
        export_buttons(chosen, key)
        left, right = st.columns(2)
        in_pack = chosen.to_json() in pack_views_json()
        left.button("In the meeting pack" if in_pack else "Add to the meeting pack",
                    key=f"{key}_pack", on_click=add_to_pack, args=(chosen,),
                    disabled=in_pack,
                    help="Collect views here, then build one deck or PDF on the Meeting pack "
                         "page.")
        if view.kind in SAVED_KINDS:
            right.button("Save these numbers for the next meeting", key=f"{key}_freeze",
                         on_click=_freeze, args=(view, key),
                         help="Stores this view's shown numbers (after suppression) with its "
                              "filters and date, so the next meeting can see what changed.")
        saved = st.session_state.pop(f"{key}_frozen", None)
        if saved is not None:
            st.success(f"Saved as snapshot {saved}. Next time, “Show what changed” compares "
                       "with these numbers.")


def last_saved(version, key: str) -> dict | None:
    """The last frozen snapshot of views like this one (not cached: a save must show)."""
    found = snapshots.snapshot_list(version[0], match_key=key, limit=1)
    return found[0] if found else None


@st.cache_data(max_entries=32, show_spinner="Comparing with the saved numbers…")
def _changes(version, view_json: str, snapshot_id: int) -> pd.DataFrame | None:
    return snapshots.since_last_time(snapshots.View.from_json(view_json), version[0],
                                     snapshot_id)


def since_last_time(version, view: snapshots.View, snapshot_id: int) -> None:
    """The change in each gap (and in completeness) since the snapshot, in words and as a
    table."""
    changes = _changes(version, view.to_json(), snapshot_id)
    if changes is None or changes.empty:
        st.info("Nothing to compare: the saved snapshot holds no group shown today.")
        return
    st.markdown(f"**{changes_heading(changes)}**")
    st.markdown("\n".join(f"- {line}" for line in change_lines(changes, limit=8)))
    with st.popover("Every group, then and now"):
        table = changes.copy()
        table.attrs = {}  # dates and notes in attrs are not for the grid
        st.dataframe(table, hide_index=True)


def _freeze(view: snapshots.View, key: str) -> None:
    from ui.access import signed_in

    # A button's callback runs before the page sets its user: sign in again, so the
    # permission check and the audit see who pressed it.
    signed_in()
    st.session_state[f"{key}_frozen"] = snapshots.freeze(view, store.database_url(),
                                                         actor=user())


# --- the session's meeting pack ------------------------------------------------------------

def pack_views_json() -> list[str]:
    return list(st.session_state.get(PACK_KEY, []))


def pack_views() -> list[snapshots.View]:
    return [snapshots.View.from_json(text) for text in pack_views_json()]


def set_pack(views) -> None:
    st.session_state[PACK_KEY] = [view.to_json() for view in views]


def add_to_pack(view: snapshots.View) -> None:
    views = pack_views_json()
    if view.to_json() not in views:
        st.session_state[PACK_KEY] = [*views, view.to_json()]


def move_in_pack(index: int, step: int) -> None:
    """Move the view at `index` up (-1) or down (+1) in the pack; 0 removes it."""
    views = pack_views_json()
    if not 0 <= index < len(views):
        return
    if step == 0:
        views.pop(index)
    elif 0 <= index + step < len(views):
        views[index], views[index + step] = views[index + step], views[index]
    st.session_state[PACK_KEY] = views


def open_saved_pack(pack_id: int, url: str) -> None:
    chosen = snapshots.load_pack(int(pack_id), url)
    set_pack(chosen.views)
    st.session_state[PACK_TITLE_KEY] = chosen.title


def pack_buttons(pack: snapshots.Pack, name: str | None, key: str = "pack") -> None:
    """Download buttons that build the pack on the current data when pressed."""
    columns = st.columns(len(PACK_LABELS))
    moment = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    for column, (fmt, label) in zip(columns, PACK_LABELS.items()):
        column.download_button(
            label, data=_pack_maker(pack, fmt, name),
            file_name=snapshots.safe_filename("pack", name or pack.title, moment, ext=fmt),
            mime=snapshots.MIME_TYPES[fmt], key=f"{key}_{fmt}", on_click="ignore",
            type="primary" if fmt == "pptx" else "secondary")


def _pack_maker(pack: snapshots.Pack, fmt: str, name: str | None):
    url = store.database_url()
    return as_this_user(
        lambda actor: snapshots.build_pack(pack, fmt, url, actor=actor, name=name).data)
