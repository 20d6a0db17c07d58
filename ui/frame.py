"""The pages, grouped by the five STEPS Forward phases, and what the frame shares with them."""
from __future__ import annotations

import streamlit as st

import tracker

OVERVIEW = st.Page("pages/overview.py", title="Overview", default=True, url_path="overview")
EXPLORER = st.Page("pages/explorer.py", title="Disparity explorer", url_path="explorer")
SAFETY = st.Page("pages/safety.py", title="Harm events", url_path="safety")
LOADED = st.Page("pages/loaded.py", title="What is loaded", url_path="loaded")
EGFR = st.Page("pages/egfr.py", title="eGFR impact", url_path="egfr")
QUALITY = st.Page("pages/quality.py", title="Data quality", url_path="quality")
PACK = st.Page("pages/pack.py", title="Meeting pack", url_path="pack")
METHODS = st.Page("pages/methods.py", title="Methods", url_path="methods")
ADMIN = st.Page("pages/admin.py", title="Audit log", url_path="admin")
COMMIT = st.Page("pages/commit.py", title="Commit: where we stand", url_path="commit")
LEARN = st.Page("pages/learn.py", title="Learn: log and resources", url_path="learn")
VISION = st.Page("pages/vision.py", title="Vision: SMART goals", url_path="vision")
LAUNCH = st.Page("pages/launch.py", title="Launch: interventions", url_path="launch")
ALGORITHMS = st.Page("pages/algorithms.py", title="Clinical algorithms", url_path="algorithms")

# Sections follow the toolkit's steps; a phase appears once it has a page. Each url_path is
# its file's name: until st.navigation has run once, Streamlit resolves a first URL against
# the pages/ folder, and any other path opens with a "Page not found" notice.
PAGES = {
    "Overview": [OVERVIEW, SAFETY, PACK],
    "Commit": [COMMIT],
    "Learn": [LEARN],
    "Data": [EXPLORER, QUALITY, EGFR, LOADED],
    "Vision": [VISION],
    "Launch": [LAUNCH, ALGORITHMS],
    "About": [METHODS, ADMIN],
}
# What each page needs (store.access); every page checks it again, for deep links.
NEEDS = [(OVERVIEW, "view"), (EXPLORER, "view"), (METHODS, "view"), (QUALITY, "data_quality"),
         (LOADED, "data_quality"), (PACK, "export"), (COMMIT, "see_tracker"),
         (LEARN, "see_tracker"), (VISION, "see_tracker"), (LAUNCH, "see_tracker"),
         (ALGORITHMS, "see_tracker"), (EGFR, "data_quality"), (ADMIN, "configure"),
         (SAFETY, "view")]


def needs(page) -> str:
    return next(permission for known, permission in NEEDS if known is page)


def pages_for(user) -> dict:
    """The menu of a user: the pages their role allows, sections without any left out."""
    from store import access

    allowed = {section: [page for page in pages if access.can(needs(page), user)]
               for section, pages in PAGES.items()}
    return {section: pages for section, pages in allowed.items() if pages}
_PHASE_OF_PAGE = {"explorer": "Data", "quality": "Data", "loaded": "Data", "commit": "Commit",
                  "learn": "Learn", "vision": "Vision", "launch": "Launch",
                  "algorithms": "Launch", "egfr": "Data"}


def phase_of(page) -> str | None:
    return _PHASE_OF_PAGE.get(page.url_path)


@st.cache_data(max_entries=8, show_spinner=False)
def phases(version) -> list[dict]:
    return tracker.phase_progress(version[0])


def require_frame() -> None:
    """Make sure a page runs inside the frame of app.py, even as a fresh server's first
    request for a deep link (e.g. /quality).

    Until some session has run `st.navigation`, Streamlit treats the pages/ folder as a
    version-1 multipage app and would run the page script alone: no sidebar, no filters, the
    folder's file list as the menu. Streamlit has no public switch for this, so the flag it
    keeps is cleared here and the run restarted, which then goes through app.py.
    """
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    # AppTest resets that flag before every run, so a rerun here would swallow every click;
    # under AppTest a page runs as its own script after a first run of app.py has set up the
    # session it needs.
    if config.get_option("global.appTest"):
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
