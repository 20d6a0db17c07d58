"""Shareable state: every filter and choice lives in the URL's query parameters.

A widget takes its value from the URL when the URL says something new (a copied link, or a
link from another page), and every rerun writes the current values back, so the address bar
always reopens the same view. A value in the URL that is not one of the options is dropped
with a note on the page and the default is used: never an exception.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import streamlit as st

_NOTES = "_url_notes"
_MULTI = "_url_multi"
_WRITTEN = "_url_written"  # what this session last wrote, to tell our echo from a new link


def seed(key: str, options: Sequence[Any], default: Any, *, multi: bool = False,
         label: str | None = None) -> None:
    """Set the widget `key`'s value before it is drawn: from the URL when the URL holds a
    value this session did not write, else the current value, else the default."""
    st.session_state.setdefault(_MULTI, {})[key] = multi
    written = st.session_state.setdefault(_WRITTEN, {})
    raw = st.query_params.get_all(key) if multi else st.query_params.get(key)
    fresh = raw not in (None, []) and raw != written.get(key)
    name = label or key
    if fresh and multi:
        unknown = [value for value in raw if value not in options]
        if unknown:
            shown = ", ".join(map(_shown, unknown[:5]))
            more = f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else ""
            _note(f"The link asked for {name} {shown}{more}, which this data does not have; "
                  "left out.")
        st.session_state[key] = list(dict.fromkeys(value for value in raw if value in options))
    elif fresh:
        if raw in options:
            st.session_state[key] = raw
        else:
            _note(f"The link asked for {name} {_shown(raw)}, which is not available here; "
                  f"showing {_shown(default)} instead.")
            st.session_state[key] = default
    elif key not in st.session_state:
        # A widget that was not drawn on the last run loses its state; the URL still has it.
        if multi and raw:
            st.session_state[key] = list(dict.fromkeys(value for value in raw if value in options))
        elif not multi and raw in options:
            st.session_state[key] = raw
        else:
            st.session_state[key] = list(default) if multi else default
    # Options can change under a kept value (another measure, another import).
    if multi:
        kept = [value for value in st.session_state[key] if value in options]
        if kept != list(st.session_state[key]):
            st.session_state[key] = kept
    elif st.session_state[key] not in options:
        st.session_state[key] = default


def _shown(value: Any) -> str:
    """A value from the URL for a note: shortened, its invisible characters escaped (repr),
    as inline code, so that a link's text never renders as markdown (a link, an icon, a
    formula) on the page."""
    text = str(value)
    text = repr(text if len(text) <= 60 else text[:57] + "...")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def _note(text: str) -> None:
    st.session_state.setdefault(_NOTES, []).append(text)


def show_notes() -> None:
    """Say, once, which parts of a link could not be honoured."""
    for text in st.session_state.pop(_NOTES, []):
        st.info(text)


def publish(*keys: str) -> None:
    """Write the current values of these widgets into the URL."""
    multi = st.session_state.get(_MULTI, {})
    written = st.session_state.setdefault(_WRITTEN, {})
    for key in keys:
        value = st.session_state.get(key)
        if value is None or value == [] or value == "":
            if key in st.query_params:
                del st.query_params[key]
            written[key] = None
        elif multi.get(key):
            st.query_params[key] = written[key] = [str(v) for v in value]
        else:
            st.query_params[key] = written[key] = str(value)
