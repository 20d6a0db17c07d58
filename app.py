"""The health-equity dashboard: the frame around the pages (navigation, phase tracker,
global filters). Pages are short scripts under pages/; numbers come from the domain."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Health equity dashboard", layout="wide",
                   initial_sidebar_state="expanded")

from ui.database import ensure_data, guarded  # noqa: E402  (set_page_config must come first)
from ui.frame import PAGES, phase_of  # noqa: E402

ensure_data()
navigation = st.navigation(PAGES)
with guarded():
    from ui import data, filters, sidebar
    from ui.frame import phases

    version = data.data_version()
    sidebar.phase_tracker(phases(version), phase_of(navigation))
    st.session_state["filters"] = filters.global_filters(version)
navigation.run()
