"""The health-equity dashboard: the frame around the pages (navigation and sidebar)."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Health equity dashboard", layout="wide")

from ui.database import ensure_data  # noqa: E402  (set_page_config must come first)

ensure_data()

navigation = st.navigation(
    {
        "Overview": [
            st.Page("pages/overview.py", title="What is loaded", default=True),
        ],
    }
)
navigation.run()
