"""The pages, grouped by the five STEPS Forward phases, and what the frame shares with them."""
from __future__ import annotations

import streamlit as st

import tracker

OVERVIEW = st.Page("pages/overview.py", title="Overview", default=True, url_path="overview")
EXPLORER = st.Page("pages/explorer.py", title="Disparity explorer", url_path="explorer")
LOADED = st.Page("pages/loaded.py", title="What is loaded", url_path="loaded")
METHODS = st.Page("pages/methods.py", title="Methods", url_path="methods")

# Sections follow the toolkit's steps; a phase appears once it has a page.
PAGES = {
    "Overview": [OVERVIEW],
    "Data": [EXPLORER, LOADED],
    "About": [METHODS],
}
_PHASE_OF_PAGE = {"explorer": "Data", "loaded": "Data"}


def phase_of(page) -> str | None:
    return _PHASE_OF_PAGE.get(page.url_path)


@st.cache_data(max_entries=8, show_spinner=False)
def phases(version) -> list[dict]:
    return tracker.phase_progress(version[0])
